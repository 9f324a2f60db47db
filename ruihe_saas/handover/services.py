"""The handover lifecycle: dated transitions between stages, each with its evidence.

``prospect → partial_caretaking → full_takeover → terminated`` (also ``prospect →
full_takeover`` and ``partial_caretaking → terminated``). Rules, all enforced here:

- a move outside ``ALLOWED_MOVES`` is a ``Conflict`` (409);
- each move needs its evidence (``ValidationFailed``, 422, with field errors): a caretaking
  agreement (to partial caretaking), an owners' vote passing art. 278 of the Civil Code and a
  complete handover checklist (to full takeover), an acknowledged settlement summary (to
  terminated);
- effective dates never go back: a new record (advance or reversal) is dated on or after the
  latest record of the history (409 otherwise), so the history reads the same in recording
  and in date order, and the stage on any date is well defined;
- records are never edited or deleted: only the latest advance still in effect can be
  reversed, by a new dated ``REVERSAL`` record with a reason.

``Estate.stage`` / ``Estate.stage_since`` are a cache of the history, written only here, in
the same flush as the record (``derived_stage`` recomputes them from the history). Every
operation validates everything first and then writes in one flush; the estate row is locked
(``SELECT … FOR UPDATE`` on PostgreSQL) so two concurrent transitions of an estate queue up.
Services flush, never commit.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db
from ruihe_saas.handover.models import (
    CaretakingAgreement,
    ChecklistStatus,
    ChecklistTemplateItem,
    HandoverChecklistItem,
    HandoverTransition,
    OwnersVote,
    TransitionKind,
)
from ruihe_saas.ids import new_id
from ruihe_saas.tenancy.context import current_actor_user_id, require_tenant_id
from ruihe_saas.web.pagination import Page, paginate

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

# The default handover checklist (承接查验) of a tenant: tenant data, kept in Chinese.
DEFAULT_CHECKLIST = (
    "房屋及设施资料",  # building and facility records
    "钥匙",  # keys
    "电梯设备",  # lift equipment
    "消防设施",  # fire equipment
    "绿化",  # greening
    "管网",  # pipes and drains
    "前物业遗留欠费",  # outstanding arrears of the previous manager
    "遗留投诉",  # legacy complaints
)

MAX_NOTE = 5000
MAX_TITLE = 100
MAX_RESPONSIBLE = 100
MAX_ITEM_NOTE = 1000
MAX_COUNTERPARTY = 200
MAX_CHECKLIST_ITEMS = 200
MAX_OWNERS = 10_000_000
MAX_AREA = Decimal("9999999999.99")  # NUMERIC(12, 2)
CENT = Decimal("0.01")


# --- art. 278 of the Civil Code ------------------------------------------------------------


def percent(ratio: Fraction) -> str:
    """``Fraction(2, 3)`` → ``"66.67"``: a ratio as a percentage, 2 decimals, half up, exact."""
    scaled = ratio * 10000  # hundredths of a percent
    hundredths = (2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _ratio(numerator, denominator) -> Fraction:
    return Fraction(numerator) / Fraction(denominator) if denominator else Fraction(0)


@dataclass(frozen=True)
class Art278Check:
    """One of the four tests: ``numerator / denominator`` against ``threshold``."""

    name: str
    numerator: int | Decimal
    denominator: int | Decimal
    ratio: Fraction
    threshold: str  # "2/3" (at least) or "1/2" (more than)
    passed: bool

    @property
    def percent(self) -> str:
        return percent(self.ratio)

    @property
    def rule(self) -> str:
        return f"≥ {self.threshold}" if self.threshold == "2/3" else f"> {self.threshold}"


@dataclass(frozen=True)
class Art278Result:
    """Whether an owners' vote passes art. 278: participation of at least 2/3 of the area
    and of the owners, approval by more than 1/2 of the participating area and owners.

    Ratios are exact fractions (a zero denominator gives 0); ``percent(ratio)`` shows one."""

    participation_area: Fraction
    participation_owners: Fraction
    approval_area: Fraction
    approval_owners: Fraction
    participation_area_passed: bool
    participation_owners_passed: bool
    approval_area_passed: bool
    approval_owners_passed: bool
    passed: bool
    checks: dict[str, Art278Check] = field(compare=False, repr=False)

    @property
    def percents(self) -> dict[str, str]:
        return {name: check.percent for name, check in self.checks.items()}


ART278_LABELS = {
    "participation_area": _l("Participating area / total area"),
    "participation_owners": _l("Participating owners / all owners"),
    "approval_area": _l("Approving area / participating area"),
    "approval_owners": _l("Approving owners / participating owners"),
}


def art278_result(
    total_owners,
    total_area,
    participating_owners,
    participating_area,
    approving_owners,
    approving_area,
) -> Art278Result:
    """The four ratios and tests, in exact arithmetic (integer cross-multiplication on the
    decimal amounts, never floats). Totals are not checked here: see ``check_vote``."""
    values = {
        "total_owners": int(total_owners),
        "participating_owners": int(participating_owners),
        "approving_owners": int(approving_owners),
        "total_area": _exact(total_area),
        "participating_area": _exact(participating_area),
        "approving_area": _exact(approving_area),
    }
    t_o, p_o, a_o = (values[f"{k}_owners"] for k in ("total", "participating", "approving"))
    t_a, p_a, a_a = (values[f"{k}_area"] for k in ("total", "participating", "approving"))
    tests = {
        # ≥ 2/3  ⇔  3·part ≥ 2·total;   > 1/2  ⇔  2·approving > participating
        "participation_area": (p_a, t_a, "2/3", t_a > 0 and 3 * p_a >= 2 * t_a),
        "participation_owners": (p_o, t_o, "2/3", t_o > 0 and 3 * p_o >= 2 * t_o),
        "approval_area": (a_a, p_a, "1/2", p_a > 0 and 2 * a_a > p_a),
        "approval_owners": (a_o, p_o, "1/2", p_o > 0 and 2 * a_o > p_o),
    }
    checks = {
        name: Art278Check(name, num, den, _ratio(num, den), threshold, bool(ok))
        for name, (num, den, threshold, ok) in tests.items()
    }
    return Art278Result(
        participation_area=checks["participation_area"].ratio,
        participation_owners=checks["participation_owners"].ratio,
        approval_area=checks["approval_area"].ratio,
        approval_owners=checks["approval_owners"].ratio,
        participation_area_passed=checks["participation_area"].passed,
        participation_owners_passed=checks["participation_owners"].passed,
        approval_area_passed=checks["approval_area"].passed,
        approval_owners_passed=checks["approval_owners"].passed,
        passed=all(check.passed for check in checks.values()),
        checks=checks,
    )


def _exact(value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest decimal that reads back as this float
    return Decimal(str(value))


# --- input checking (shared by the evidence checks) -----------------------------------------


class _Errors(dict):
    def add(self, name: str, message) -> None:
        self.setdefault(name, []).append(message)


def _text(value) -> str:
    return "" if value is None else str(value).strip()


def _as_date(value, name: str, errors: _Errors, *, required: bool = True) -> date | None:
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


def _as_int(value, name: str, errors: _Errors, low: int, high: int) -> int | None:
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


def _as_area(value, name: str, errors: _Errors) -> Decimal | None:
    if value is None or value == "":
        errors.add(name, _l("Required."))
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        area = _exact(value)
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


def local_today() -> date:
    """Today where the tenant works (``BABEL_DEFAULT_TIMEZONE``, Asia/Shanghai)."""
    zone = current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai"
    return datetime.now(ZoneInfo(zone)).date()


# --- evidence ------------------------------------------------------------------------------


def check_agreement(agreement: dict) -> tuple[dict, _Errors]:
    """A caretaking agreement's fields, cleaned, and its field errors."""
    errors = _Errors()
    counterparty = _text(agreement.get("counterparty"))
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
    start_date = _as_date(agreement.get("start_date"), "start_date", errors)
    term_months = _as_int(agreement.get("term_months"), "term_months", errors, 1, 600)
    notes = _text(agreement.get("notes"))
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


def check_vote(vote: dict, effective_date: date | None = None) -> tuple[dict, _Errors]:
    """An owners' vote's totals, cleaned, and their field errors: every number ≥ 0, totals
    > 0, participating ≤ total, approving ≤ participating; the meeting not after the
    transition. Whether it passes art. 278 is ``art278_result``'s answer."""
    errors = _Errors()
    meeting_date = _as_date(vote.get("meeting_date"), "meeting_date", errors)
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


def art278_errors(result: Art278Result) -> dict:
    """The failed tests as field errors, each naming its ratio."""
    errors = {}
    for name, check in result.checks.items():
        if check.passed:
            continue
        value = check.percent
        if name == "participation_area":
            message = _l(
                "Participating area is %(percent)s%% of the total area: art. 278 needs at "
                "least 2/3.",
                percent=value,
            )
        elif name == "participation_owners":
            message = _l(
                "Participating owners are %(percent)s%% of all owners: art. 278 needs at "
                "least 2/3.",
                percent=value,
            )
        elif name == "approval_area":
            message = _l(
                "Approving area is %(percent)s%% of the participating area: art. 278 needs "
                "more than half.",
                percent=value,
            )
        else:
            message = _l(
                "Approving owners are %(percent)s%% of the participating owners: art. 278 "
                "needs more than half.",
                percent=value,
            )
        errors[name] = [message]
    return errors


def check_checklist(items: list[dict]) -> tuple[list[dict], dict]:
    """The handover checklist, cleaned, and its errors: ``{"_schema": [...], "<index>":
    {"status": [...], …}}``. Every active template item must be present (by title) and
    every item non-open; carried-over items need a responsible person and a due date."""
    errors: dict = {}
    cleaned: list[dict] = []
    seen: set[str] = set()
    if len(items) > MAX_CHECKLIST_ITEMS:
        return [], {"_schema": [_l("At most %(n)s items.", n=MAX_CHECKLIST_ITEMS)]}
    for index, item in enumerate(items):
        row = _Errors()
        if not isinstance(item, dict):
            errors[str(index)] = {"_schema": [_l("Not an item.")]}
            continue
        title = _text(item.get("title"))
        if not title:
            row.add("title", _l("Required."))
        elif len(title) > MAX_TITLE:
            row.add("title", _l("At most %(n)s characters.", n=MAX_TITLE))
        elif title in seen:
            row.add("title", _l("Listed twice."))
        seen.add(title)
        status = None
        try:
            status = ChecklistStatus(_text(item.get("status")))
        except ValueError:
            row.add("status", _l("Choose done, carried over or not applicable."))
        if status == ChecklistStatus.OPEN:
            row.add("status", _l("Still open: mark it done, carried over or not applicable."))
        responsible = _text(item.get("responsible"))
        if len(responsible) > MAX_RESPONSIBLE:
            row.add("responsible", _l("At most %(n)s characters.", n=MAX_RESPONSIBLE))
        due_date = _as_date(item.get("due_date"), "due_date", row, required=False)
        if status == ChecklistStatus.CARRIED_OVER:
            if not responsible:
                row.add("responsible", _l("A carried-over item needs someone responsible."))
            if due_date is None and "due_date" not in row:
                row.add("due_date", _l("A carried-over item needs a due date."))
        note = _text(item.get("note"))
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
    missing = [item.title for item in checklist_template() if item.title not in seen]
    if missing:
        errors["_schema"] = [_l("Missing checklist items: %(titles)s.", titles="、".join(missing))]
    return cleaned, errors


# --- the checklist template ----------------------------------------------------------------


def checklist_template() -> list[ChecklistTemplateItem]:
    """The tenant's active checklist items, in order. A tenant that has never saved a
    template gets the defaults (unsaved; ``ensure_default_checklist_template`` saves them),
    so a full takeover is never checked against an empty list by accident."""
    require_tenant_id()
    saved = list(
        db.session.scalars(
            select(ChecklistTemplateItem).order_by(
                ChecklistTemplateItem.position, ChecklistTemplateItem.title
            )
        )
    )
    if not saved:
        return [
            ChecklistTemplateItem(title=title, position=position, active=True)
            for position, title in enumerate(DEFAULT_CHECKLIST, start=1)
        ]
    return [item for item in saved if item.active]


def ensure_default_checklist_template() -> list[ChecklistTemplateItem]:
    """Save the default items the tenant does not have yet (by title); idempotent."""
    require_tenant_id()
    existing = set(db.session.scalars(select(ChecklistTemplateItem.title)))
    top = len(existing)
    for title in DEFAULT_CHECKLIST:
        if title not in existing:
            top += 1
            db.session.add(ChecklistTemplateItem(title=title, position=top, active=True))
    db.session.flush()
    return checklist_template()


# --- settlement ----------------------------------------------------------------------------


def open_bills_of(estate: Estate) -> dict:
    """Extension point: the estate's unpaid bills. Billing comes in a later issue; until then
    nothing is known (``available: False``) and the amounts are zero."""
    return {"available": False, "count": 0, "amount": "0.00"}


def prepaid_balances_of(estate: Estate) -> dict:
    """Extension point: prepayments held for the estate's households. Payments come in a
    later issue; until then nothing is known (``available: False``)."""
    return {"available": False, "count": 0, "amount": "0.00"}


def carried_over_items_of(estate: Estate) -> list[HandoverChecklistItem]:
    """Checklist items carried over by the estate's takeovers still in effect."""
    reversed_ids = select(HandoverTransition.reverses_id).where(
        HandoverTransition.estate_id == estate.id, HandoverTransition.reverses_id.is_not(None)
    )
    return list(
        db.session.scalars(
            select(HandoverChecklistItem)
            .where(
                HandoverChecklistItem.estate_id == estate.id,
                HandoverChecklistItem.status == ChecklistStatus.CARRIED_OVER,
                HandoverChecklistItem.transition_id.not_in(reversed_ids),
            )
            .order_by(HandoverChecklistItem.due_date, HandoverChecklistItem.position)
        )
    )


def settlement_summary(estate: Estate) -> dict:
    """What an exit must settle, as shown to (and acknowledged by) the user and kept with
    the termination: open bills, prepaid balances (each ``{"available", "count",
    "amount"}``) and the carried-over checklist items (title, responsible, due date, note)."""
    return {
        "open_bills": open_bills_of(estate),
        "prepaid_balances": prepaid_balances_of(estate),
        "carried_over_items": [
            {
                "title": item.title,
                "responsible": item.responsible,
                "due_date": item.due_date.isoformat() if item.due_date else None,
                "note": item.note,
            }
            for item in carried_over_items_of(estate)
        ],
    }


# --- history -------------------------------------------------------------------------------


def _history(estate: Estate) -> list[HandoverTransition]:
    """Every record of the estate, in recording order (= date order: dates never go back)."""
    return list(
        db.session.scalars(
            select(HandoverTransition)
            .where(HandoverTransition.estate_id == estate.id)
            .order_by(HandoverTransition.effective_date, HandoverTransition.id)
        )
    )


def _replay(history: list[HandoverTransition]) -> tuple[HandoverStage, date | None]:
    stage, since = Stage.PROSPECT, None
    for record in history:
        stage, since = record.to_stage, record.effective_date
    return stage, since


def derived_stage(estate: Estate) -> tuple[HandoverStage, date | None]:
    """The estate's stage and since when, computed from its history (what the
    ``Estate.stage`` / ``stage_since`` cache must hold)."""
    return _replay(_history(estate))


def latest_reversible(history: list[HandoverTransition]) -> HandoverTransition | None:
    """The latest advance still in effect (not reversed): the only one that can be reversed."""
    reversed_ids = {r.reverses_id for r in history if r.reverses_id is not None}
    for record in reversed(history):
        if record.kind == TransitionKind.ADVANCE and record.id not in reversed_ids:
            return record
    return None


def allowed_next_stages(estate: Estate) -> tuple[HandoverStage, ...]:
    return ALLOWED_MOVES[derived_stage(estate)[0]]


def _attach_details(estate: Estate, records: list[HandoverTransition]) -> None:
    """Give each record its evidence and context, for templates and schemas:
    ``agreement``, ``vote`` (with ``vote.art278``), ``checklist``, ``reversed_by`` /
    ``reversed_by_id``, ``recorder`` / ``recorded_by_name``."""
    from ruihe_saas.auth.models import User

    if not records:
        return
    ids = [record.id for record in records]
    agreements = {
        a.transition_id: a
        for a in db.session.scalars(
            select(CaretakingAgreement).where(
                CaretakingAgreement.estate_id == estate.id,
                CaretakingAgreement.transition_id.in_(ids),
            )
        )
    }
    votes = {
        v.transition_id: v
        for v in db.session.scalars(
            select(OwnersVote).where(
                OwnersVote.estate_id == estate.id, OwnersVote.transition_id.in_(ids)
            )
        )
    }
    checklists: dict[uuid.UUID, list[HandoverChecklistItem]] = {}
    for item in db.session.scalars(
        select(HandoverChecklistItem)
        .where(
            HandoverChecklistItem.estate_id == estate.id,
            HandoverChecklistItem.transition_id.in_(ids),
        )
        .order_by(HandoverChecklistItem.position)
    ):
        checklists.setdefault(item.transition_id, []).append(item)
    reversals = {
        r.reverses_id: r
        for r in db.session.scalars(
            select(HandoverTransition).where(
                HandoverTransition.estate_id == estate.id,
                HandoverTransition.reverses_id.in_(ids),
            )
        )
    }
    user_ids = {record.recorded_by for record in records if record.recorded_by}
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )
    for record in records:
        _attach(
            record,
            agreement=agreements.get(record.id),
            vote=votes.get(record.id),
            checklist=checklists.get(record.id, []),
            reversed_by=reversals.get(record.id),
            recorder=users.get(record.recorded_by),
        )


def _attach(record, *, agreement, vote, checklist, reversed_by, recorder) -> None:
    if vote is not None:
        vote.art278 = art278_result(
            vote.total_owners,
            vote.total_area,
            vote.participating_owners,
            vote.participating_area,
            vote.approving_owners,
            vote.approving_area,
        )
    record.agreement = agreement
    record.vote = vote
    record.checklist = checklist
    record.reversed_by = reversed_by
    record.reversed_by_id = reversed_by.id if reversed_by is not None else None
    record.recorder = recorder
    record.recorded_by_name = (recorder.name or recorder.email) if recorder else None


def transitions_of(estate: Estate) -> list[HandoverTransition]:
    """The estate's history, oldest first, each record with its evidence attached."""
    history = _history(estate)
    _attach_details(estate, history)
    return history


def list_transitions(estate: Estate, page: int = 1, per_page: int = 20) -> Page:
    """A page of the history, oldest first, with evidence."""
    statement = (
        select(HandoverTransition)
        .where(HandoverTransition.estate_id == estate.id)
        .order_by(HandoverTransition.effective_date, HandoverTransition.id)
    )
    result = paginate(statement, page, per_page)
    _attach_details(estate, result.items)
    return result


def get_transition(estate: Estate, transition_id: uuid.UUID) -> HandoverTransition:
    record = db.session.get(HandoverTransition, (estate.tenant_id, transition_id))
    if record is None or record.estate_id != estate.id:
        raise NotFound(_l("Transition not found."))
    _attach_details(estate, [record])
    return record


# --- recording -----------------------------------------------------------------------------


def _lock(estate: Estate) -> None:
    """Serialise transitions of one estate (PostgreSQL row lock; SQLite locks on write)."""
    db.session.execute(select(Estate.id).where(Estate.id == estate.id).with_for_update())


def _check_date(effective_date, history: list[HandoverTransition], errors: _Errors) -> date:
    """The effective date, or a 409 if it goes back before the latest record."""
    if isinstance(effective_date, datetime):
        effective_date = effective_date.date()
    if not isinstance(effective_date, date):
        checked = _as_date(effective_date, "effective_date", errors)
        if checked is None:
            raise ValidationFailed(_l("The transition has invalid fields."), fields=dict(errors))
        effective_date = checked
    if history and effective_date < history[-1].effective_date:
        last = history[-1].effective_date.isoformat()
        raise Conflict(
            _l("Back-dating is allowed only after the last transition (%(date)s).", date=last),
            fields={
                "effective_date": [
                    _l("Must be on or after %(date)s, the date of the last transition.", date=last)
                ]
            },
        )
    if effective_date > local_today():
        errors.add("effective_date", _l("Cannot be in the future."))
    return effective_date


def _stage(value) -> HandoverStage:
    try:
        return HandoverStage(value)
    except ValueError:
        raise ValidationFailed(
            _l("Unknown stage."), fields={"to_stage": [_l("Unknown stage.")]}
        ) from None


def record_transition(
    estate: Estate,
    to_stage: HandoverStage | str,
    effective_date: date,
    *,
    note: str = "",
    agreement: dict | None = None,
    vote: dict | None = None,
    checklist: list[dict] | None = None,
    settlement_acknowledged: bool = False,
) -> HandoverTransition:
    """Move the estate to ``to_stage`` from ``effective_date``, with the move's evidence.

    - to partial caretaking: ``agreement`` = ``{"counterparty", "services": [...],
      "start_date", "term_months", "notes"?}``;
    - to full takeover: ``vote`` = ``{"meeting_date", "total_owners", "total_area",
      "participating_owners", "participating_area", "approving_owners", "approving_area"}``
      passing art. 278, and ``checklist`` = ``[{"title", "status", "responsible"?,
      "due_date"?, "note"?}]`` covering the tenant's template with no open item;
    - to terminated: ``settlement_acknowledged=True`` (the summary is kept with the record).

    Evidence a move does not use is refused rather than silently dropped. Raises
    ``Conflict`` (illegal move, back-dating) or ``ValidationFailed`` (evidence, fields)
    before writing anything."""
    target = _stage(to_stage)
    for name, value, kind in (
        ("agreement", agreement, dict),
        ("vote", vote, dict),
        ("checklist", checklist, list),
    ):
        if value is not None and not isinstance(value, kind):
            raise ValidationFailed(
                _l("The transition has invalid fields."), fields={name: [_l("Malformed.")]}
            )
    _lock(estate)
    history = _history(estate)
    current, _since = _replay(history)
    if target not in ALLOWED_MOVES[current]:
        raise Conflict(
            _l(
                "An estate cannot move from %(current)s to %(target)s.",
                current=STAGE_LABELS[current],
                target=STAGE_LABELS[target],
            ),
            fields={"to_stage": [_l("Not allowed from the current stage.")]},
        )
    errors = _Errors()
    effective_date = _check_date(effective_date, history, errors)
    note = _text(note)
    if len(note) > MAX_NOTE:
        errors.add("note", _l("At most %(n)s characters.", n=MAX_NOTE))

    transition_id = new_id()
    evidence: list = []
    settlement = None
    unused = _l("Not used for a move to this stage.")
    if target == Stage.PARTIAL_CARETAKING:
        if agreement is None:
            errors.add("agreement", _l("A caretaking agreement is required."))
        else:
            cleaned, agreement_errors = check_agreement(agreement)
            if agreement_errors:
                errors["agreement"] = dict(agreement_errors)
            else:
                evidence.append(
                    CaretakingAgreement(estate_id=estate.id, transition_id=transition_id, **cleaned)
                )
    elif agreement is not None:
        errors.add("agreement", unused)

    if target == Stage.FULL_TAKEOVER:
        evidence += _takeover_evidence(
            estate, transition_id, effective_date, vote, checklist, errors
        )
    else:
        if vote is not None:
            errors.add("vote", unused)
        if checklist is not None:
            errors.add("checklist", unused)

    if target == Stage.TERMINATED:
        if not settlement_acknowledged:
            errors.add(
                "settlement_acknowledged",
                _l(
                    "Acknowledge the settlement summary (open bills, prepayments, carried-over "
                    "items) to terminate."
                ),
            )
        settlement = settlement_summary(estate)

    if errors:
        if set(errors) == {"vote", "vote_ratios"}:
            message = _l("The owners' vote does not pass art. 278 of the Civil Code.")
        else:
            message = _l("The transition lacks evidence or has invalid fields.")
        raise ValidationFailed(message, fields=dict(errors))

    transition = HandoverTransition(
        id=transition_id,
        estate_id=estate.id,
        kind=TransitionKind.ADVANCE,
        from_stage=current,
        to_stage=target,
        effective_date=effective_date,
        note=note,
        settlement=settlement,
        recorded_by=current_actor_user_id(),
    )
    db.session.add(transition)
    db.session.flush()  # the transition first: its evidence references it
    db.session.add_all(evidence)
    estate.stage, estate.stage_since = target, effective_date
    db.session.flush()
    _attach_details(estate, [transition])
    return transition


def _takeover_evidence(
    estate: Estate,
    transition_id: uuid.UUID,
    effective_date: date,
    vote: dict | None,
    checklist: list[dict] | None,
    errors: _Errors,
) -> list:
    evidence: list = []
    if vote is None:
        errors.add("vote", _l("The owners' vote of the mobilisation meeting is required."))
    else:
        cleaned, vote_errors = check_vote(vote, effective_date)
        if vote_errors:
            errors["vote"] = dict(vote_errors)
        else:
            result = art278_result(*(cleaned[name] for name in ART278_ARGS))
            if not result.passed:
                errors["vote"] = art278_errors(result)
                errors["vote_ratios"] = result.percents
            else:
                evidence.append(
                    OwnersVote(
                        estate_id=estate.id, transition_id=transition_id, passed=True, **cleaned
                    )
                )
    if checklist is None:
        errors.add("checklist", _l("The handover checklist is required."))
    else:
        cleaned_items, checklist_errors = check_checklist(list(checklist))
        if checklist_errors:
            errors["checklist"] = checklist_errors
        else:
            evidence += [
                HandoverChecklistItem(estate_id=estate.id, transition_id=transition_id, **item)
                for item in cleaned_items
            ]
    return evidence


ART278_ARGS = (
    "total_owners",
    "total_area",
    "participating_owners",
    "participating_area",
    "approving_owners",
    "approving_area",
)


def reverse_transition(
    estate: Estate, transition_id: uuid.UUID, effective_date: date, reason: str
) -> HandoverTransition:
    """Undo the latest advance still in effect with a dated ``REVERSAL`` record (the
    reversed record stays as it was). Raises ``NotFound`` (not this estate's transition),
    ``Conflict`` (a reversal, already reversed, not the latest, back-dated) or
    ``ValidationFailed`` (no reason)."""
    _lock(estate)
    target = db.session.get(HandoverTransition, (estate.tenant_id, transition_id))
    if target is None or target.estate_id != estate.id:
        raise NotFound(_l("Transition not found."))
    history = _history(estate)
    current, _since = _replay(history)
    if target.kind != TransitionKind.ADVANCE:
        raise Conflict(
            _l("A reversal cannot be reversed."),
            fields={"reverses_id": [_l("A reversal cannot be reversed.")]},
        )
    if any(record.reverses_id == target.id for record in history):
        raise Conflict(
            _l("This transition is already reversed."),
            fields={"reverses_id": [_l("Already reversed.")]},
        )
    latest = latest_reversible(history)
    if latest is None or latest.id != target.id:
        raise Conflict(
            _l("Only the latest transition in effect can be reversed."),
            fields={"reverses_id": [_l("Only the latest transition in effect can be reversed.")]},
        )
    errors = _Errors()
    effective_date = _check_date(effective_date, history, errors)
    reason = _text(reason)
    if not reason:
        errors.add("reason", _l("Give the reason for the reversal."))
    elif len(reason) > MAX_NOTE:
        errors.add("reason", _l("At most %(n)s characters.", n=MAX_NOTE))
    if errors:
        raise ValidationFailed(_l("The reversal has invalid fields."), fields=dict(errors))
    reversal = HandoverTransition(
        estate_id=estate.id,
        kind=TransitionKind.REVERSAL,
        from_stage=current,
        to_stage=target.from_stage,
        effective_date=effective_date,
        note=reason,
        reverses_id=target.id,
        recorded_by=current_actor_user_id(),
    )
    db.session.add(reversal)
    estate.stage, estate.stage_since = target.from_stage, effective_date
    db.session.flush()
    _attach_details(estate, [reversal, target])
    return reversal
