"""The handover rules that need no database: allowed moves, and each move's evidence checked.

- ``ALLOWED_MOVES``: ``prospect → partial_caretaking → full_takeover → terminated`` (also
  ``prospect → full_takeover`` and ``partial_caretaking → terminated``);
- ``check_agreement``, ``check_vote``, ``check_checklist``: a caretaking agreement, an owners'
  vote's totals and a handover checklist, each cleaned, with its field errors (whether the
  vote passes is ``art278.art278_result``'s answer);
- the field limits (``MAX_*``, shared with the forms and schemas), the labels of stages,
  caretaking services and checklist statuses, and the input helpers the service uses too
  (``FieldErrors``, ``clean_text``, ``as_date``).
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from ruihe_saas.estates.models import HandoverStage
from ruihe_saas.handover.art278 import exact_decimal
from ruihe_saas.handover.models import ChecklistStatus

Stage = HandoverStage

ALLOWED_MOVES: dict[HandoverStage, tuple[HandoverStage, ...]] = {
    Stage.PROSPECT: (Stage.PARTIAL_CARETAKING, Stage.FULL_TAKEOVER),
    Stage.PARTIAL_CARETAKING: (Stage.FULL_TAKEOVER, Stage.TERMINATED),
    Stage.FULL_TAKEOVER: (Stage.TERMINATED,),
    Stage.TERMINATED: (),
}

STAGE_LABELS = {
    Stage.PROSPECT: _l("Prospect"),
    Stage.PARTIAL_CARETAKING: _l("Partial caretaking"),
    Stage.FULL_TAKEOVER: _l("Full takeover"),
    Stage.TERMINATED: _l("Terminated"),
}


class CaretakingService(enum.StrEnum):
    """What a caretaking agreement may put in scope (a fixed list)."""

    CLEANING = "cleaning"
    GREENING = "greening"
    SECURITY = "security"
    REPAIRS = "repairs"
    FEE_COLLECTION = "fee_collection"
    PARKING = "parking"
    LIFTS = "lifts"
    OTHER = "other"


SERVICE_LABELS = {
    CaretakingService.CLEANING: _l("Cleaning"),
    CaretakingService.GREENING: _l("Greening"),
    CaretakingService.SECURITY: _l("Security"),
    CaretakingService.REPAIRS: _l("Repairs"),
    CaretakingService.FEE_COLLECTION: _l("Fee collection"),
    CaretakingService.PARKING: _l("Parking"),
    CaretakingService.LIFTS: _l("Lifts"),
    CaretakingService.OTHER: _l("Other"),
}

CHECKLIST_STATUS_LABELS = {
    ChecklistStatus.OPEN: _l("Open"),
    ChecklistStatus.DONE: _l("Done"),
    ChecklistStatus.CARRIED_OVER: _l("Carried over"),
    ChecklistStatus.NOT_APPLICABLE: _l("Not applicable"),
}

MAX_NOTE = 5000
MAX_TITLE = 100
MAX_RESPONSIBLE = 100
MAX_ITEM_NOTE = 1000
MAX_COUNTERPARTY = 200
MAX_CHECKLIST_ITEMS = 200
MAX_OWNERS = 10_000_000
MAX_AREA = Decimal("9999999999.99")  # NUMERIC(12, 2)
CENT = Decimal("0.01")


# --- input checking (shared by the evidence checks and the service) -------------------------


class FieldErrors(dict):
    """Field errors: each field's list of messages."""

    def add(self, name: str, message) -> None:
        self.setdefault(name, []).append(message)


def clean_text(value) -> str:
    """``value`` as text without surrounding blanks (``None`` gives ``""``)."""
    return "" if value is None else str(value).strip()


def as_date(value, name: str, errors: FieldErrors, *, required: bool = True) -> date | None:
    """``value`` (a date, datetime or ``YYYY-MM-DD``) as a date, or ``None`` and an error."""
    if value is None or value == "":
        if required:
            errors.add(name, _l("Required."))
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors.add(name, _l("Not a valid date (YYYY-MM-DD)."))
        return None


def _as_int(value, name: str, errors: FieldErrors, low: int, high: int) -> int | None:
    if value is None or value == "":
        errors.add(name, _l("Required."))
        return None
    if isinstance(value, bool):
        errors.add(name, _l("Not a whole number."))
        return None
    try:
        number = Decimal(str(value)) if not isinstance(value, int) else value
        if isinstance(number, Decimal) and number != number.to_integral_value():
            raise ValueError
        number = int(number)
    except (InvalidOperation, ValueError, TypeError):
        errors.add(name, _l("Not a whole number."))
        return None
    if not low <= number <= high:
        errors.add(name, _l("Must be between %(low)s and %(high)s.", low=low, high=high))
        return None
    return number


def _as_area(value, name: str, errors: FieldErrors) -> Decimal | None:
    if value is None or value == "":
        errors.add(name, _l("Required."))
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        area = exact_decimal(value)
        if not area.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError, TypeError):
        errors.add(name, _l("Not a number."))
        return None
    if not Decimal(0) <= area <= MAX_AREA:
        errors.add(name, _l("Must be between 0 and %(high)s m².", high=MAX_AREA))
        return None
    if area != area.quantize(CENT):
        errors.add(name, _l("At most 2 decimals."))
        return None
    return area


# --- evidence ------------------------------------------------------------------------------


def check_agreement(agreement: dict) -> tuple[dict, FieldErrors]:
    """A caretaking agreement's fields, cleaned, and its field errors."""
    errors = FieldErrors()
    counterparty = clean_text(agreement.get("counterparty"))
    if not counterparty:
        errors.add("counterparty", _l("Required."))
    elif len(counterparty) > MAX_COUNTERPARTY:
        errors.add("counterparty", _l("At most %(n)s characters.", n=MAX_COUNTERPARTY))
    services: list[str] = []
    raw_services = agreement.get("services") or []
    if isinstance(raw_services, str):
        raw_services = [raw_services]
    for raw in raw_services:
        try:
            service = CaretakingService(str(raw))
        except ValueError:
            errors.add("services", _l("Unknown service: %(name)s.", name=str(raw)[:40]))
            continue
        if service.value not in services:
            services.append(service.value)
    if not services and "services" not in errors:
        errors.add("services", _l("Choose at least one service in scope."))
    start_date = as_date(agreement.get("start_date"), "start_date", errors)
    term_months = _as_int(agreement.get("term_months"), "term_months", errors, 1, 600)
    notes = clean_text(agreement.get("notes"))
    if len(notes) > MAX_NOTE:
        errors.add("notes", _l("At most %(n)s characters.", n=MAX_NOTE))
    cleaned = {
        "counterparty": counterparty,
        "services": services,
        "start_date": start_date,
        "term_months": term_months,
        "notes": notes,
    }
    return cleaned, errors


VOTE_COUNTS = ("total_owners", "participating_owners", "approving_owners")
VOTE_AREAS = ("total_area", "participating_area", "approving_area")


def check_vote(vote: dict, effective_date: date | None = None) -> tuple[dict, FieldErrors]:
    """An owners' vote's totals, cleaned, and their field errors: every number ≥ 0, totals
    > 0, participating ≤ total, approving ≤ participating; the meeting not after the
    transition. Whether it passes art. 278 is ``art278_result``'s answer."""
    errors = FieldErrors()
    meeting_date = as_date(vote.get("meeting_date"), "meeting_date", errors)
    if meeting_date and effective_date and meeting_date > effective_date:
        errors.add("meeting_date", _l("The meeting must be on or before the effective date."))
    cleaned: dict = {"meeting_date": meeting_date}
    for name in VOTE_COUNTS:
        cleaned[name] = _as_int(vote.get(name), name, errors, 0, MAX_OWNERS)
    for name in VOTE_AREAS:
        cleaned[name] = _as_area(vote.get(name), name, errors)
    for kind in ("owners", "area"):
        total, part, approving = (
            cleaned[f"{prefix}_{kind}"] for prefix in ("total", "participating", "approving")
        )
        if total is not None and total <= 0:
            errors.add(f"total_{kind}", _l("Must be more than 0."))
        if total is not None and part is not None and part > total:
            errors.add(f"participating_{kind}", _l("Cannot exceed the total."))
        if part is not None and approving is not None and approving > part:
            errors.add(f"approving_{kind}", _l("Cannot exceed the participants."))
    return cleaned, errors


def check_checklist(items: list[dict], template: list[str]) -> tuple[list[dict], dict]:
    """The handover checklist, cleaned, and its errors: ``{"_schema": [...], "<index>":
    {"status": [...], …}}``. Every title of ``template`` (the tenant's active template
    items, ``checklists.checklist_template``) must be present and every item non-open;
    carried-over items need a responsible person and a due date."""
    errors: dict = {}
    cleaned: list[dict] = []
    seen: set[str] = set()
    if len(items) > MAX_CHECKLIST_ITEMS:
        return [], {"_schema": [_l("At most %(n)s items.", n=MAX_CHECKLIST_ITEMS)]}
    for index, item in enumerate(items):
        row = FieldErrors()
        if not isinstance(item, dict):
            errors[str(index)] = {"_schema": [_l("Not an item.")]}
            continue
        title = clean_text(item.get("title"))
        if not title:
            row.add("title", _l("Required."))
        elif len(title) > MAX_TITLE:
            row.add("title", _l("At most %(n)s characters.", n=MAX_TITLE))
        elif title in seen:
            row.add("title", _l("Listed twice."))
        seen.add(title)
        status = None
        try:
            status = ChecklistStatus(clean_text(item.get("status")))
        except ValueError:
            row.add("status", _l("Choose done, carried over or not applicable."))
        if status == ChecklistStatus.OPEN:
            row.add("status", _l("Still open: mark it done, carried over or not applicable."))
        responsible = clean_text(item.get("responsible"))
        if len(responsible) > MAX_RESPONSIBLE:
            row.add("responsible", _l("At most %(n)s characters.", n=MAX_RESPONSIBLE))
        due_date = as_date(item.get("due_date"), "due_date", row, required=False)
        if status == ChecklistStatus.CARRIED_OVER:
            if not responsible:
                row.add("responsible", _l("A carried-over item needs someone responsible."))
            if due_date is None and "due_date" not in row:
                row.add("due_date", _l("A carried-over item needs a due date."))
        note = clean_text(item.get("note"))
        if len(note) > MAX_ITEM_NOTE:
            row.add("note", _l("At most %(n)s characters.", n=MAX_ITEM_NOTE))
        if row:
            errors[str(index)] = dict(row)
        cleaned.append(
            {
                "title": title,
                "status": status,
                "responsible": responsible,
                "due_date": due_date,
                "note": note,
                "position": index + 1,
            }
        )
    missing = [title for title in template if title not in seen]
    if missing:
        errors["_schema"] = [_l("Missing checklist items: %(titles)s.", titles="、".join(missing))]
    return cleaned, errors
