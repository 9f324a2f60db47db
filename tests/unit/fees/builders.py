"""Builders for the fee tests: a tenant with an estate, schedule and item payloads."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Building, Household
from ruihe_saas.extensions import db
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.factories import member


def tenant_with_estate(code: str = "E1", buildings: int = 2, rooms: int = 3, role=Role.OWNER):
    owner = member(role)
    estate = estate_with_households(owner.tenant_id, code, buildings=buildings, rooms=rooms)
    return owner, estate


def households_of(estate) -> list[Household]:
    with tenant_context(estate.tenant_id):
        return list(
            db.session.scalars(
                select(Household)
                .where(Household.estate_id == estate.id)
                .order_by(Household.building_id, Household.room)
            )
        )


def buildings_of(estate) -> list[Building]:
    with tenant_context(estate.tenant_id):
        return list(
            db.session.scalars(
                select(Building).where(Building.estate_id == estate.id).order_by(Building.position)
            )
        )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def item(**changes) -> dict:
    data = {
        "code": "property_service",
        "name": "物业服务费",
        "charge_kind": "per_area",
        "rate": "0.60",
    }
    data.update(changes)
    return data


def schedule_data(*items, **changes) -> dict:
    data = {
        "name": "2024年收费标准",
        "stages": "both",
        "effective_from": date(2024, 1, 1),
        "items": list(items) or [item()],
    }
    data.update(changes)
    return data
