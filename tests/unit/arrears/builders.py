"""An estate with households and a fee schedule, and bills with chosen due dates."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.estates.services import buildings_of, list_households
from ruihe_saas.extensions import db
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member


@dataclass
class Site:
    tenant_id: object
    estate: Estate
    schedule: object
    households: list[Household]
    buildings: list

    def bill(self, index: int, period: str, service="100.00", garbage="10.00", due=None):
        return bill_for(
            self.households[index],
            period,
            {"property_service": service, "garbage": garbage},
            self.schedule,
            due_date=due,
        )


def make_site(
    tenant_id=None, code: str = "AR", buildings: int = 2, rooms: int = 3, target=None
) -> Site:
    tenant_id = tenant_id or member(Role.OWNER).tenant_id
    estate = estate_with_households(tenant_id, code, buildings=buildings, rooms=rooms)
    schedule = simple_schedule(estate)
    with tenant_context(tenant_id):
        if target is not None:
            estate.collection_target_percent = Decimal(target)
            db.session.flush()
        households = list_households(estate, 1, 100).items
        building_list = buildings_of(estate)
    return Site(tenant_id, estate, schedule, households, building_list)
