"""Changing a household's occupancy in its edit form is a dated change billing can prorate."""

from __future__ import annotations

from sqlalchemy import select

from ruihe_saas.estates import services
from ruihe_saas.estates.models import Household, Occupancy, OccupancyChange
from ruihe_saas.fees.parsing import local_today
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.factories import TenantFactory


def test_editing_occupancy_records_a_change_dated_today(db):
    tenant = TenantFactory()
    estate = estate_with_households(tenant.id, buildings=1, rooms=1)
    with tenant_context(tenant.id):
        household = db.session.scalars(select(Household)).one()
        services.update_household(household, {"occupancy": "vacant", "notes": "空置"})
        services.update_household(household, {"occupancy": "vacant"})  # no change: no record
        changes = db.session.scalars(select(OccupancyChange)).all()
    assert household.occupancy == Occupancy.VACANT and household.notes == "空置"
    assert [(c.from_occupancy, c.to_occupancy, c.effective_date) for c in changes] == [
        (Occupancy.OCCUPIED, Occupancy.VACANT, local_today())
    ]
    del estate
