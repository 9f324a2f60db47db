"""Meter readings (抄表): one reading per household meter (or shared meter) per period.

Recording a reading for ``(household, meter_kind, period)``:

- ``previous_reading`` defaults to the ``current_reading`` of the meter's latest earlier
  period (0 if none); a meter replacement (``is_replacement``) starts from the new meter's
  start reading instead (given, default 0);
- ``current_reading`` below ``previous_reading`` is refused (422 on ``current_reading``)
  unless the reading is a replacement; so is one above the meter's next recorded reading;
- re-entering a period replaces its reading, unless a bill line for that household and
  period already prices that meter kind (409: billed readings are corrected by credits);
- the next period's reading, when its ``previous_reading`` was this period's old value,
  follows the new value (a corrected or back-filled reading keeps the chain intact), unless
  that period is billed.

Shared meters work the same way, keyed by the shared meter. ``plan_reading`` is the pure
rule both the single entry and the file import (``reading_import``) use.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.billing.models import BillLine
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.estates.services import get_estate
from ruihe_saas.extensions import db
from ruihe_saas.fees.meters import get_shared_meter
from ruihe_saas.fees.models import (
    ChargeKind,
    FeeItem,
    MeterKind,
    MeterReading,
    SharedMeterReading,
)
from ruihe_saas.fees.parsing import (
    REQUIRED,
    Errors,
    blank,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_enum,
    parse_period,
    parse_uuid,
)
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate

MAX_READING = Decimal("100000000000")


# --- the rule ----------------------------------------------------------------------------------


@dataclass
class Known:
    """A meter's reading of one period, stored or planned."""

    period: str
    previous: Decimal
    current: Decimal
    is_replacement: bool
    row: object | None = None
    billed: bool = False


@dataclass
class Plan:
    period: str
    previous: Decimal
    current: Decimal
    is_replacement: bool
    existing: object | None  # the stored reading this one replaces
    chain: Known | None  # the next period's reading whose previous_reading follows


class ReadingProblem(Exception):
    def __init__(self, field: str, message, status: int = 422):
        super().__init__(str(message))
        self.field, self.message, self.status = field, message, status


def plan_reading(
    history: dict[str, Known],
    period: str,
    current: Decimal,
    previous: Decimal | None = None,
    is_replacement: bool = False,
) -> Plan:
    """Check one reading against the meter's ``history`` ({period: Known}) and record it
    there (so a file's next rows see it); ``ReadingProblem`` if it is refused."""
    existing = history.get(period)
    if existing is not None and existing.billed:
        raise ReadingProblem(
            "period",
            _l("This period is billed for this meter: correct it with a credit."),
            409,
        )
    earlier = max((p for p in history if p < period), default=None)
    later = min((p for p in history if p > period), default=None)
    start = history[earlier].current if earlier else Decimal("0.00")
    if previous is None:
        previous = Decimal("0.00") if is_replacement else start
    if current < previous:
        raise ReadingProblem(
            "current_reading",
            _l(
                "Lower than the previous reading %(previous)s: mark it as a meter "
                "replacement if the meter was changed.",
                previous=previous,
            ),
        )
    chain = None
    if later is not None and not history[later].is_replacement:
        following = history[later]
        if current > following.current:
            raise ReadingProblem(
                "current_reading",
                _l(
                    "Higher than the reading of %(period)s (%(value)s).",
                    period=later,
                    value=following.current,
                ),
            )
        old_value = existing.current if existing is not None else start
        if following.previous == old_value and following.previous != current:
            chain = None if following.billed else following
    history[period] = Known(period, previous, current, is_replacement, existing and existing.row)
    if chain is not None:
        chain.previous = current
    return Plan(period, previous, current, is_replacement, existing and existing.row, chain)


# --- household readings ---------------------------------------------------------------------


def _billed_household_periods(
    household_ids: Iterable[uuid.UUID], kinds: Iterable[MeterKind]
) -> set[tuple[uuid.UUID, MeterKind, str]]:
    """``(household, meter kind, period)`` that a bill line prices (metered items)."""
    ids, kinds = list(set(household_ids)), list(set(kinds))
    if not ids or not kinds:
        return set()
    rows = db.session.execute(
        select(BillLine.household_id, FeeItem.meter_kind, BillLine.period)
        .join(
            FeeItem,
            (FeeItem.tenant_id == BillLine.tenant_id) & (FeeItem.id == BillLine.fee_item_id),
        )
        .where(
            BillLine.household_id.in_(ids),
            BillLine.charge_kind == ChargeKind.METERED,
            FeeItem.meter_kind.in_(kinds),
        )
    )
    return {(h, MeterKind(k), p) for h, k, p in rows}


def household_histories(
    household_ids: Iterable[uuid.UUID], kinds: Iterable[MeterKind]
) -> dict[tuple[uuid.UUID, MeterKind], dict[str, Known]]:
    """Every stored reading of these households' meters of these kinds, with billed flags."""
    ids, kinds = list(set(household_ids)), list(set(kinds))
    out: dict[tuple[uuid.UUID, MeterKind], dict[str, Known]] = {}
    if not ids or not kinds:
        return out
    billed = _billed_household_periods(ids, kinds)
    rows = db.session.scalars(
        select(MeterReading).where(
            MeterReading.household_id.in_(ids), MeterReading.meter_kind.in_(kinds)
        )
    )
    for row in rows:
        key = (row.household_id, MeterKind(row.meter_kind))
        out.setdefault(key, {})[row.period] = Known(
            row.period,
            Decimal(row.previous_reading),
            Decimal(row.current_reading),
            row.is_replacement,
            row,
            (row.household_id, key[1], row.period) in billed,
        )
    return out


def apply_plan(plan: Plan, new_row) -> tuple[object, bool]:
    """Write a plan: update the stored reading or add ``new_row()``; ``(row, replaced)``."""
    if plan.chain is not None and plan.chain.row is not None:
        plan.chain.row.previous_reading = plan.chain.previous
    row = plan.existing
    replaced = row is not None
    if row is None:
        row = new_row()
        db.session.add(row)
    row.previous_reading = plan.previous
    row.current_reading = plan.current
    row.is_replacement = plan.is_replacement
    row.recorded_by = current_actor_user_id()
    return row, replaced


def _reading_values(data: Mapping, errors: Errors) -> dict:
    values: dict = {}
    values["period"] = (
        errors.add("period", REQUIRED)
        if blank(data.get("period"))
        else parse_period(data.get("period"), "period", errors)
    )
    values["current"] = (
        errors.add("current_reading", REQUIRED)
        if blank(data.get("current_reading"))
        else parse_decimal(data.get("current_reading"), "current_reading", errors, high=MAX_READING)
    )
    values["previous"] = (
        None
        if blank(data.get("previous_reading"))
        else parse_decimal(
            data.get("previous_reading"), "previous_reading", errors, high=MAX_READING
        )
    )
    values["is_replacement"] = parse_bool(data.get("is_replacement"), "is_replacement", errors)
    values["read_on"] = (
        None if blank(data.get("read_on")) else parse_date(data.get("read_on"), "read_on", errors)
    )
    return values


def _raise(problem: ReadingProblem):
    error = Conflict if problem.status == 409 else ValidationFailed
    raise error(problem.message, fields={problem.field: [problem.message]})


def record_reading(estate_id: uuid.UUID | Estate, data: Mapping) -> MeterReading:
    """``{household_id, meter_kind, period, current_reading, previous_reading?,
    is_replacement?, read_on?}`` → the stored reading (``.replaced``: it replaced the
    period's earlier entry)."""
    estate = estate_id if isinstance(estate_id, Estate) else get_estate(estate_id)
    errors = Errors()
    household = None
    if blank(data.get("household_id")):
        errors.add("household_id", REQUIRED)
    else:
        household = get_owned(Household, parse_uuid(data.get("household_id")) or "")
        if household is None or household.estate_id != estate.id:
            errors.add("household_id", _l("Not a household of this estate."))
    kind = None
    if blank(data.get("meter_kind")):
        errors.add("meter_kind", REQUIRED)
    else:
        kind = parse_enum(MeterKind, data.get("meter_kind"), "meter_kind", errors)
    values = _reading_values(data, errors)
    errors.raise_if_any(_l("The reading has invalid values; nothing was saved."))
    history = household_histories([household.id], [kind]).get((household.id, kind), {})
    try:
        plan = plan_reading(
            history,
            values["period"],
            values["current"],
            values["previous"],
            values["is_replacement"],
        )
    except ReadingProblem as problem:
        _raise(problem)
    row, replaced = apply_plan(
        plan,
        lambda: MeterReading(
            estate_id=estate.id, household_id=household.id, meter_kind=kind, period=plan.period
        ),
    )
    row.read_on = values["read_on"]
    db.session.flush()
    row.replaced = replaced
    return row


def list_readings(
    estate_id: uuid.UUID | Estate,
    page: int = 1,
    per_page: int = 50,
    *,
    period: str | None = None,
    household_id: uuid.UUID | None = None,
    meter_kind: MeterKind | None = None,
) -> Page:
    estate = estate_id if isinstance(estate_id, Estate) else get_estate(estate_id)
    statement = (
        select(MeterReading)
        .where(MeterReading.estate_id == estate.id)
        .order_by(MeterReading.period.desc(), MeterReading.household_id, MeterReading.meter_kind)
    )
    if period:
        statement = statement.where(MeterReading.period == period)
    if household_id:
        statement = statement.where(MeterReading.household_id == household_id)
    if meter_kind:
        statement = statement.where(MeterReading.meter_kind == meter_kind)
    return paginate(statement, page, per_page)


# --- shared-meter readings -------------------------------------------------------------------


def shared_history(meter_id: uuid.UUID) -> dict[str, Known]:
    billed = set(
        db.session.scalars(
            select(BillLine.period)
            .join(
                FeeItem,
                (FeeItem.tenant_id == BillLine.tenant_id) & (FeeItem.id == BillLine.fee_item_id),
            )
            .where(
                FeeItem.shared_meter_id == meter_id, BillLine.charge_kind == ChargeKind.SHARED_METER
            )
            .distinct()
        )
    )
    rows = db.session.scalars(
        select(SharedMeterReading).where(SharedMeterReading.shared_meter_id == meter_id)
    )
    return {
        row.period: Known(
            row.period,
            Decimal(row.previous_reading),
            Decimal(row.current_reading),
            row.is_replacement,
            row,
            row.period in billed,
        )
        for row in rows
    }


def record_shared_reading(estate_id: uuid.UUID | Estate, data: Mapping) -> SharedMeterReading:
    """``{shared_meter_id, period, current_reading, previous_reading?, is_replacement?,
    read_on?}``: the same rules as a household reading."""
    estate = estate_id if isinstance(estate_id, Estate) else get_estate(estate_id)
    errors = Errors()
    meter = None
    if blank(data.get("shared_meter_id")):
        errors.add("shared_meter_id", REQUIRED)
    else:
        meter_id = parse_uuid(data.get("shared_meter_id"))
        try:
            meter = get_shared_meter(estate, meter_id) if meter_id else None
        except NotFound:
            meter = None
        if meter is None:
            errors.add("shared_meter_id", _l("Not a shared meter of this estate."))
    values = _reading_values(data, errors)
    errors.raise_if_any(_l("The reading has invalid values; nothing was saved."))
    try:
        plan = plan_reading(
            shared_history(meter.id),
            values["period"],
            values["current"],
            values["previous"],
            values["is_replacement"],
        )
    except ReadingProblem as problem:
        _raise(problem)
    row, replaced = apply_plan(
        plan,
        lambda: SharedMeterReading(
            estate_id=estate.id, shared_meter_id=meter.id, period=plan.period
        ),
    )
    row.read_on = values["read_on"]
    db.session.flush()
    row.replaced = replaced
    return row


def list_shared_readings(
    estate_id: uuid.UUID | Estate,
    page: int = 1,
    per_page: int = 50,
    *,
    period: str | None = None,
    shared_meter_id: uuid.UUID | None = None,
) -> Page:
    estate = estate_id if isinstance(estate_id, Estate) else get_estate(estate_id)
    statement = (
        select(SharedMeterReading)
        .where(SharedMeterReading.estate_id == estate.id)
        .order_by(SharedMeterReading.period.desc(), SharedMeterReading.shared_meter_id)
    )
    if period:
        statement = statement.where(SharedMeterReading.period == period)
    if shared_meter_id:
        statement = statement.where(SharedMeterReading.shared_meter_id == shared_meter_id)
    return paginate(statement, page, per_page)


def readings_on(day: date) -> str:
    """The period (``YYYY-MM``) a day falls in: the default period of the reading forms."""
    return f"{day.year:04d}-{day.month:02d}"
