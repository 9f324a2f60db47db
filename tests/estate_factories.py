"""Helpers building estates for tests (always inside the estate's tenant)."""

from __future__ import annotations

from decimal import Decimal

from ruihe_saas.estates.models import Building, Estate, Household, MembershipEstate
from ruihe_saas.extensions import db
from ruihe_saas.tenancy import tenant_context


def estate_with_households(tenant_id, code: str = "E1", buildings: int = 2, rooms: int = 3):
    """An estate with ``buildings`` buildings of ``rooms`` households each."""
    with tenant_context(tenant_id):
        estate = Estate(name=f"测试小区{code}", code=code)
        db.session.add(estate)
        db.session.flush()
        for b in range(1, buildings + 1):
            building = Building(estate_id=estate.id, name=f"{b}栋", floors=6, position=b)
            db.session.add(building)
            db.session.flush()
            for r in range(1, rooms + 1):
                db.session.add(
                    Household(
                        estate_id=estate.id,
                        building_id=building.id,
                        unit="1",
                        room=f"{r}01",
                        floor=r,
                        area=Decimal("80.50") + r,
                        owner_names=f"业主{b}-{r}",
                        phones=f"1390000{b}{r:03d}",
                    )
                )
        db.session.flush()
    return estate


def scope_member(membership, *estates) -> None:
    """Limit an estate admin or cashier to ``estates``."""
    with tenant_context(membership.tenant_id):
        for estate in estates:
            db.session.add(MembershipEstate(membership_id=membership.id, estate_id=estate.id))
        db.session.flush()
