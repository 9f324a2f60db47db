"""Shared meters (公摊表): a common meter whose usage is split over the households it serves —
the whole estate, one building, or one unit of a building."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound
from ruihe_saas.estates.models import Building, Estate
from ruihe_saas.estates.services import get_estate
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import MeterKind, SharedMeter
from ruihe_saas.fees.parsing import (
    REQUIRED,
    Errors,
    blank,
    parse_enum,
    parse_text,
    parse_uuid,
)
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate


def _estate(estate: Estate | uuid.UUID | str) -> Estate:
    return estate if isinstance(estate, Estate) else get_estate(estate)


def shared_meters_of(estate: Estate | uuid.UUID) -> list[SharedMeter]:
    estate = _estate(estate)
    return list(
        db.session.scalars(
            select(SharedMeter).where(SharedMeter.estate_id == estate.id).order_by(SharedMeter.name)
        )
    )


def list_shared_meters(estate_id: uuid.UUID | Estate, page: int = 1, per_page: int = 100) -> Page:
    estate = _estate(estate_id)
    statement = (
        select(SharedMeter).where(SharedMeter.estate_id == estate.id).order_by(SharedMeter.name)
    )
    return paginate(statement, page, per_page)


def get_shared_meter(estate_id: uuid.UUID | Estate, meter_id: uuid.UUID | str) -> SharedMeter:
    estate = _estate(estate_id)
    meter = get_owned(SharedMeter, meter_id)
    if meter is None or meter.estate_id != estate.id:
        raise NotFound(_l("Shared meter not found."))
    return meter


def create_shared_meter(estate_id: uuid.UUID | Estate, data: Mapping) -> SharedMeter:
    """``{name, meter_kind, building_id?, unit?}``: estate-wide without a building; a unit
    needs its building. 422 on bad values, 409 when the estate has a meter of that name."""
    estate = _estate(estate_id)
    errors = Errors()
    name = parse_text(data.get("name"), "name", errors, max_length=50, required=True)
    kind = None
    if blank(data.get("meter_kind")):
        errors.add("meter_kind", REQUIRED)
    else:
        kind = parse_enum(MeterKind, data.get("meter_kind"), "meter_kind", errors)
    building_id = None
    if not blank(data.get("building_id")):
        building = get_owned(Building, parse_uuid(data.get("building_id")) or "")
        if building is None or building.estate_id != estate.id:
            errors.add("building_id", _l("Not a building of this estate."))
        else:
            building_id = building.id
    unit = parse_text(data.get("unit"), "unit", errors, max_length=10).removesuffix("单元") or None
    if unit and blank(data.get("building_id")):
        errors.add("unit", _l("A unit needs its building."))
    errors.raise_if_any(_l("The shared meter has invalid values; nothing was saved."))
    clash = db.session.scalar(
        select(SharedMeter.id).where(SharedMeter.estate_id == estate.id, SharedMeter.name == name)
    )
    if clash is not None:
        raise Conflict(
            _l("The estate has a shared meter of this name."),
            fields={"name": [_l("Already taken.")]},
        )
    meter = SharedMeter(
        estate_id=estate.id, name=name, meter_kind=kind, building_id=building_id, unit=unit
    )
    db.session.add(meter)
    db.session.flush()
    return meter
