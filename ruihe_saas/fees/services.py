"""Fee schedules (收费标准): create, revise (a new version), copy to another estate, list,
find the versions in force. Services flush, never commit.

Versions: a schedule's first version has ``version`` 1 and ``lineage_id`` = its own id.
``revise_schedule`` adds version n + 1 (same lineage, ``copied_from_id`` = the version it
revises) and ends every earlier version it overlaps: a version that starts before the new
one is closed the day before (``effective_to``); one that starts on or after it is
superseded (``superseded_by_id``: it never applies). Only the latest version of a lineage
can be revised, and never from a period the estate already has bills for: billed periods
are corrected by credits (红冲), not by rewriting schedules.

Adjustments, shared meters and the prepayment quote live in their own modules and are
re-exported here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.billing.models import Bill
from ruihe_saas.billing.periods import Period
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate
from ruihe_saas.estates.services import get_estate
from ruihe_saas.extensions import db
from ruihe_saas.fees.adjustments import (  # noqa: F401 - re-exported
    adjustments_for,
    create_adjustment,
    end_adjustment,
    get_adjustment,
    list_adjustments,
)
from ruihe_saas.fees.meters import (  # noqa: F401 - re-exported
    create_shared_meter,
    get_shared_meter,
    list_shared_meters,
    shared_meters_of,
)
from ruihe_saas.fees.models import ChargeKind, FeeItem, FeeSchedule, SharedMeter
from ruihe_saas.fees.quotes import monthly_charges, prepayment_quote  # noqa: F401
from ruihe_saas.fees.validation import (
    SCHEDULE_FIELDS,
    Errors,
    clean_schedule,
    local_today,
    parse_date,
)
from ruihe_saas.ids import new_id
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned

ITEM_FIELDS = (
    "code", "name", "revenue_category", "frequency", "due_day", "due_days", "charge_kind",
    "rate", "fixed_part", "unit", "meter_kind", "shared_meter_id", "split_basis",
    "occupied_only", "charge_period", "household_ids", "building_ids", "lift_only",
    "min_floor", "category_ids", "occupancies", "vacant_rate_percent",
)  # fmt: skip


def estate_of(estate: Estate | uuid.UUID | str) -> Estate:
    return estate if isinstance(estate, Estate) else get_estate(estate)


# --- reading ---------------------------------------------------------------------------------


def get_schedule(schedule_id: uuid.UUID | str) -> FeeSchedule:
    schedule = get_owned(FeeSchedule, schedule_id)
    if schedule is None:
        raise NotFound(_l("Fee schedule not found."))
    return schedule


def items_by_schedule(schedule_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[FeeItem]]:
    ids = list(schedule_ids)
    out: dict[uuid.UUID, list[FeeItem]] = {i: [] for i in ids}
    if ids:
        rows = db.session.scalars(
            select(FeeItem)
            .where(FeeItem.schedule_id.in_(ids))
            .order_by(FeeItem.position, FeeItem.code)
        )
        for item in rows:
            out[item.schedule_id].append(item)
    return out


def items_of(schedule: FeeSchedule) -> list[FeeItem]:
    return items_by_schedule([schedule.id])[schedule.id]


def with_items(schedules: list[FeeSchedule], today: date | None = None) -> list[FeeSchedule]:
    """Attach ``items``, ``status`` and ``is_latest`` (for schemas and templates)."""
    today = today or local_today()
    items = items_by_schedule(s.id for s in schedules)
    latest = latest_versions({s.lineage_id for s in schedules})
    for schedule in schedules:
        schedule.items = items[schedule.id]
        schedule.status = schedule_status(schedule, today)
        schedule.is_latest = latest.get(schedule.lineage_id) == schedule.version
    return schedules


def latest_versions(lineage_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    ids = list(lineage_ids)
    if not ids:
        return {}
    return dict(
        db.session.execute(
            select(FeeSchedule.lineage_id, func.max(FeeSchedule.version))
            .where(FeeSchedule.lineage_id.in_(ids))
            .group_by(FeeSchedule.lineage_id)
        ).all()
    )


def schedule_status(schedule: FeeSchedule, today: date) -> str:
    """``superseded`` | ``ended`` | ``future`` | ``current``."""
    if schedule.superseded_by_id is not None:
        return "superseded"
    if schedule.effective_to is not None and schedule.effective_to < today:
        return "ended"
    if schedule.effective_from > today:
        return "future"
    return "current"


def schedules_statement(estate: Estate):
    """Every version of the estate's schedules: newest lineage first, newest version first."""
    return (
        select(FeeSchedule)
        .where(FeeSchedule.estate_id == estate.id)
        .order_by(FeeSchedule.lineage_id.desc(), FeeSchedule.version.desc())
    )


@dataclass
class Lineage:
    lineage_id: uuid.UUID
    versions: list[FeeSchedule]  # newest first

    @property
    def latest(self) -> FeeSchedule:
        return self.versions[0]


def list_schedules(estate: Estate | uuid.UUID) -> list[Lineage]:
    """The estate's schedules grouped by lineage (newest lineage first), all versions."""
    schedules = with_items(list(db.session.scalars(schedules_statement(estate_of(estate)))))
    lineages: dict[uuid.UUID, Lineage] = {}
    for schedule in schedules:
        lineages.setdefault(schedule.lineage_id, Lineage(schedule.lineage_id, [])).versions.append(
            schedule
        )
    return list(lineages.values())


def schedules_in_force(estate_id: uuid.UUID | Estate, on_date: date) -> list[FeeSchedule]:
    """The versions that apply on ``on_date`` (not superseded, ``on_date`` within their
    dates), oldest first. Whether a version applies to the estate's handover stage on that
    day (``stages``) is the billing run's question."""
    estate = estate_of(estate_id)
    return list(
        db.session.scalars(
            select(FeeSchedule)
            .where(
                FeeSchedule.estate_id == estate.id,
                FeeSchedule.superseded_by_id.is_(None),
                FeeSchedule.effective_from <= on_date,
                (FeeSchedule.effective_to.is_(None)) | (FeeSchedule.effective_to >= on_date),
            )
            .order_by(FeeSchedule.effective_from, FeeSchedule.id)
        )
    )


def last_billed_period(estate: Estate) -> Period | None:
    latest = db.session.scalar(select(func.max(Bill.period)).where(Bill.estate_id == estate.id))
    return Period.parse(latest) if latest else None


# --- writing ---------------------------------------------------------------------------------


def _store(estate: Estate, fields: dict, items: list[dict], **version) -> FeeSchedule:
    schedule_id = new_id()
    schedule = FeeSchedule(
        id=schedule_id,
        estate_id=estate.id,
        lineage_id=version.pop("lineage_id", schedule_id),
        version=version.pop("version", 1),
        created_by=current_actor_user_id(),
        **version,
        **fields,
    )
    db.session.add(schedule)
    db.session.flush()
    for item in items:
        db.session.add(FeeItem(schedule_id=schedule.id, estate_id=estate.id, **item))
    db.session.flush()
    return schedule


def create_schedule(estate_id: uuid.UUID | Estate, data: Mapping) -> FeeSchedule:
    """A new schedule (version 1 of a new lineage) with its items; 422 listing every bad
    value (``items.<n>.<field>`` for items), nothing stored."""
    estate = estate_of(estate_id)
    fields, items = clean_schedule(estate, data)
    return _store(estate, fields, items)


def _as_data(schedule: FeeSchedule) -> dict:
    data = {name: getattr(schedule, name) for name in SCHEDULE_FIELDS}
    data["items"] = [
        {name: getattr(item, name) for name in ITEM_FIELDS} for item in items_of(schedule)
    ]
    return data


def revise_schedule(schedule_id: uuid.UUID | str, data: Mapping) -> FeeSchedule:
    """A new version of the schedule from ``data`` (fields left out keep the revised
    version's values; ``items`` left out are copied; ``effective_to`` left out: open-ended).

    409 when a newer version exists, or when the new version would start in or before a
    period the estate has bills for (``fields.effective_from``)."""
    previous = get_schedule(schedule_id)
    estate = get_estate(previous.estate_id)
    newest = latest_versions([previous.lineage_id])[previous.lineage_id]
    if previous.version != newest:
        raise Conflict(
            _l("Only the latest version of a fee schedule can be revised."),
            fields={"schedule_id": [_l("Version %(version)d is the latest.", version=newest)]},
        )
    merged = {**_as_data(previous), "effective_to": None, **data}
    fields, items = clean_schedule(estate, merged)
    billed = last_billed_period(estate)
    if billed is not None and fields["effective_from"] <= billed.end:
        raise Conflict(
            _l("The estate is billed up to %(period)s: correct billed periods with credits.",
               period=str(billed)),
            fields={
                "effective_from": [
                    _l("Must be after %(date)s (the last billed period).",
                       date=billed.end.isoformat())
                ]
            },
        )  # fmt: skip
    schedule = _store(
        estate,
        fields,
        items,
        lineage_id=previous.lineage_id,
        version=newest + 1,
        copied_from_id=previous.id,
    )
    _end_overlapped(schedule)
    return schedule


def _end_overlapped(new: FeeSchedule) -> None:
    """Close (day before) or supersede the lineage's versions the new one overlaps."""
    others = db.session.scalars(
        select(FeeSchedule).where(
            FeeSchedule.lineage_id == new.lineage_id,
            FeeSchedule.id != new.id,
            FeeSchedule.superseded_by_id.is_(None),
        )
    )
    day_before = new.effective_from - timedelta(days=1)
    for version in others:
        if new.effective_from <= version.effective_from:
            version.superseded_by_id = new.id
        elif version.effective_to is None or version.effective_to > day_before:
            version.effective_to = day_before
    db.session.flush()


# --- copying to another estate ---------------------------------------------------------------


@dataclass
class Dropped:
    code: str
    name: str
    what: str  # "building_ids" (the filter), "item" (the whole item)
    reason: str

    def as_dict(self) -> dict:
        return {"code": self.code, "name": self.name, "what": self.what, "reason": self.reason}


@dataclass
class CopyResult:
    schedule: FeeSchedule
    dropped: list[Dropped] = field(default_factory=list)


def copy_schedule(
    source_schedule_id: uuid.UUID | str,
    target_estate_id: uuid.UUID | str,
    effective_from: date | str,
    name: str | None = None,
) -> CopyResult:
    """A new schedule (version 1) for ``target_estate_id`` with the source's settings and
    items. What points at the source estate's rows is dropped and reported: building
    filters (the item then applies to every building), one-off items (their households) and
    shared-meter items (their meter), unless the target estate is the source's own."""
    source = get_schedule(source_schedule_id)
    errors = Errors()
    target = get_owned(Estate, target_estate_id) if target_estate_id else None
    if target is None:
        errors.add("estate_id", _l("Not an estate of yours."))
    start = parse_date(effective_from, "effective_from", errors) if effective_from else None
    if not effective_from:
        errors.add("effective_from", _l("Required."))
    errors.raise_if_any(_l("The copy has invalid values; nothing was saved."))
    data = _as_data(source)
    data.update(effective_from=start, effective_to=None, name=name or source.name)
    dropped: list[Dropped] = []
    if target.id != source.estate_id:
        data["items"] = _portable_items(data["items"], dropped)
        if not data["items"]:
            raise ValidationFailed(
                _l("No item of this schedule can be copied to another estate."),
                fields={"items": [d.reason for d in dropped]},
            )
    fields, items = clean_schedule(target, data)
    schedule = _store(target, fields, items, copied_from_id=source.id)
    return CopyResult(schedule, dropped)


def _portable_items(items: list[dict], dropped: list[Dropped]) -> list[dict]:
    kept = []
    for item in items:
        if item["charge_kind"] == ChargeKind.ONE_OFF:
            reason = str(_l("A one-off item is charged to households of the source estate."))
            dropped.append(Dropped(item["code"], item["name"], "item", reason))
            continue
        if item["charge_kind"] == ChargeKind.SHARED_METER:
            reason = str(_l("A shared-meter item uses a meter of the source estate."))
            dropped.append(Dropped(item["code"], item["name"], "item", reason))
            continue
        if item["building_ids"]:
            reason = str(_l("The building filter named buildings of the source estate."))
            dropped.append(Dropped(item["code"], item["name"], "building_ids", reason))
            item = {**item, "building_ids": None}
        kept.append(item)
    return kept


def shared_meter_names(estate: Estate) -> dict[uuid.UUID, str]:
    return dict(
        db.session.execute(
            select(SharedMeter.id, SharedMeter.name).where(SharedMeter.estate_id == estate.id)
        ).all()
    )


def item_codes_of(estate: Estate) -> list[tuple[str, str]]:
    """``(code, name)`` of the estate's fee items (every version), one per code."""
    rows = db.session.execute(
        select(FeeItem.code, FeeItem.name)
        .where(FeeItem.estate_id == estate.id)
        .order_by(FeeItem.code, FeeItem.id)  # the newest name wins
    )
    return list(dict(rows.all()).items())
