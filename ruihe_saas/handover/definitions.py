"""The ``history`` of an ``[[estates]]`` entry in a tenant definition: the estate's handover
transitions, recorded through the handover service and its rules.

``load_estates`` (``ruihe_saas.estates.definitions``, the ``estates`` section) calls
``sync_history`` for each estate once its buildings and households exist. A step the
estate's history already has (same stage and effective date) is skipped; the others are
recorded oldest first, with their evidence: the agreement as written, the vote's omitted
totals and areas computed from the generated households, the checklist built from the
tenant's template.
"""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from sqlalchemy import select

from ruihe_saas.errors import DomainError
from ruihe_saas.estates.definitions import (
    CENT,
    EstatePlan,
    check_keys,
    enum_choice,
    fail,
    int_field,
    positive_decimal,
)
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db
from ruihe_saas.handover.checklists import checklist_template, ensure_default_checklist_template
from ruihe_saas.handover.models import HandoverTransition, TransitionKind
from ruihe_saas.handover.services import record_transition
from ruihe_saas.tenancy.definitions import LoadReport

HISTORY_KEYS = {"to_stage", "effective_date", "note", "agreement", "vote", "checklist"}
HISTORY_KEYS |= {"checklist_default", "settlement_acknowledged"}
AGREEMENT_KEYS = {"counterparty", "services", "start_date", "term_months", "notes"}
VOTE_KEYS = {"meeting_date", "total_owners", "total_area", "participating_owners"}
VOTE_KEYS |= {"participating_area", "approving_owners", "approving_area"}
CHECKLIST_KEYS = {"title", "status", "responsible", "due_date", "note"}


def sync_history(estate: Estate, entry: dict, plan: EstatePlan, report: LoadReport) -> None:
    """Record the file's transitions that the estate's history does not have yet (matched by
    stage and effective date), oldest first, through the handover service and its rules."""
    history = entry.get("history", [])
    if not isinstance(history, list):
        raise fail(plan.code, "[[estates.history]] must be a list of tables.")
    if not history:
        return
    recorded = set(
        db.session.execute(
            select(HandoverTransition.to_stage, HandoverTransition.effective_date).where(
                HandoverTransition.estate_id == estate.id,
                HandoverTransition.kind == TransitionKind.ADVANCE,
            )
        ).tuples()
    )
    for index, step in enumerate(history, start=1):
        where = f"{plan.code}.history[{index}]"
        check_keys(step, HISTORY_KEYS, where)
        to_stage = enum_choice(HandoverStage, step.get("to_stage"), "to_stage", where)
        effective = _date(step, "effective_date", where)
        if (to_stage, effective) in recorded:
            continue
        checklist = None
        if "checklist" in step or to_stage == HandoverStage.FULL_TAKEOVER:
            ensure_default_checklist_template()
            template = [item.title for item in checklist_template()]
            checklist = _checklist(step, template, where)
        evidence = {
            "agreement": _agreement(estate, step, where) if "agreement" in step else None,
            "vote": _vote(step["vote"], plan, effective, where) if "vote" in step else None,
            "checklist": checklist,
            "settlement_acknowledged": bool(step.get("settlement_acknowledged", False)),
        }
        try:
            record_transition(estate, to_stage, effective, note=step.get("note", ""), **evidence)
        except DomainError as error:  # say which step of which estate was refused
            raise type(error)(f"estates: {where}: {error.message}", fields=error.fields) from None
        recorded.add((to_stage, effective))
        report.lines.append(f"estate {estate.code}: {to_stage.value} from {effective} recorded")


def _agreement(estate: Estate, step: dict, where: str) -> dict:
    spec = check_keys(step["agreement"], AGREEMENT_KEYS, f"{where}.agreement")
    services_in_scope = spec.get("services", [])
    if not isinstance(services_in_scope, list) or not services_in_scope:
        raise fail(f"{where}.agreement", "services must list the services in scope.")
    agreement = {
        "counterparty": spec.get("counterparty", estate.competent_unit),
        "services": services_in_scope,
        "start_date": _date(spec, "start_date", where, default=step["effective_date"]),
        "term_months": int_field(spec, "term_months", f"{where}.agreement", low=1, high=600),
    }
    if "notes" in spec:
        agreement["notes"] = spec["notes"]
    return agreement


def _vote(spec: dict, plan: EstatePlan, effective: date, where: str) -> dict:
    """The meeting's totals. Omitted totals and areas come from the generated households:
    one owner per household; the participants are a seeded sample of
    ``participating_owners`` households, the approvers the first ``approving_owners`` of it."""
    where = f"{where}.vote"
    check_keys(spec, VOTE_KEYS, where)
    participating = int_field(spec, "participating_owners", where, high=10_000_000)
    approving = int_field(spec, "approving_owners", where, high=10_000_000)
    areas = [h.area for h in plan.households]
    needs_plan = {"total_owners", "total_area", "participating_area", "approving_area"} - set(spec)
    if needs_plan and not areas:
        raise fail(where, f"{', '.join(sorted(needs_plan))} needed (no generated households).")
    if needs_plan and not approving <= participating <= len(areas):
        raise fail(where, "approving ≤ participating ≤ households, please.")
    rng = random.Random(f"{plan.seed}:vote:{effective.isoformat()}")  # noqa: S311
    sample = rng.sample(range(len(areas)), participating) if needs_plan else []
    return {
        "meeting_date": _date(spec, "meeting_date", where),
        "total_owners": spec.get("total_owners", len(areas)),
        "total_area": _area(spec, "total_area", sum(areas, Decimal(0)), where),
        "participating_owners": participating,
        "participating_area": _area(
            spec, "participating_area", sum((areas[i] for i in sample), Decimal(0)), where
        ),
        "approving_owners": approving,
        "approving_area": _area(
            spec, "approving_area", sum((areas[i] for i in sample[:approving]), Decimal(0)), where
        ),
    }


def _area(spec: dict, key: str, computed: Decimal, where: str) -> Decimal:
    return positive_decimal(spec[key], key, where) if key in spec else computed.quantize(CENT)


def _date(entry: dict, key: str, where: str, *, default=None) -> date:
    value = entry.get(key, default)
    if not isinstance(value, date):
        raise fail(where, f"{key} must be a date (2023-07-01).")
    return value


def _checklist(step: dict, template: list[str], where: str) -> list[dict]:
    """Every template item, in template order: as the file states it, or else with
    ``checklist_default`` (``done`` unless stated); the file's other items follow."""
    items = step.get("checklist", [])
    if not isinstance(items, list):
        raise fail(where, "[[estates.history.checklist]] must be a list of tables.")
    stated = {}
    for item in items:
        check_keys(item, CHECKLIST_KEYS, f"{where}.checklist")
        if item.get("title") in stated:
            raise fail(where, f"checklist item {item.get('title')!r} is listed twice.")
        stated[item.get("title")] = item
    default = step.get("checklist_default", "done")
    listed = [stated.pop(title, {"title": title, "status": default}) for title in template]
    return listed + list(stated.values())
