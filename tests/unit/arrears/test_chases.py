"""Chasing records (催缴记录): recording, validation, snapshot of arrears, lists."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.arrears import chases
from ruihe_saas.arrears.models import ArrearsChase, ChaseChannel
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.handover.services import local_today
from ruihe_saas.tenancy import tenant_context
from tests.unit.arrears.builders import make_site


def test_a_chase_keeps_the_arrears_of_its_day(db):
    site = make_site(code="CH", buildings=1, rooms=2)
    site.bill(0, "2024-01", due=date(2024, 2, 1))
    site.bill(0, "2024-03", due=date(2024, 4, 1))
    with tenant_context(site.tenant_id):
        household = site.households[0]
        chase = chases.create_chase(
            household,
            chased_on=date(2024, 3, 10),
            channel="phone",
            result="  业主承诺月底前缴清  ",
            promised_on=date(2024, 3, 31),
        )
        assert chase.outstanding == Decimal("110.00")  # March's bill is not due yet
        assert (chase.channel, chase.result) == (ChaseChannel.PHONE, "业主承诺月底前缴清")
        later = chases.create_chase(household, chased_on=date(2024, 5, 1), channel="visit")
        assert later.outstanding == Decimal("220.00")
        chases.create_chase(site.households[1], chased_on=date(2024, 5, 2), channel="notice")
        mine = chases.list_chases(household=household)
        assert [c.id for c in mine.items] == [later.id, chase.id]
        everyone = chases.list_chases(estate=site.estate)
        assert everyone.total == 3
        labels = chases.household_labels(everyone.items)
        assert labels[household.id] == household.label


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"chased_on": None}, "chased_on"),
        ({"chased_on": "tomorrow"}, "chased_on"),
        ({"chased_on": date(1999, 1, 1)}, "chased_on"),
        ({"channel": "telegram"}, "channel"),
        ({"result": "很" * 2001}, "result"),
        ({"promised_on": date(2024, 1, 1)}, "promised_on"),
    ],
)
def test_bad_chases_are_refused_and_nothing_is_stored(db, changes, field):
    site = make_site(code="BAD", buildings=1, rooms=1)
    data = {"chased_on": date(2024, 3, 10), "channel": "wechat_group", "result": ""}
    data.update(changes)
    if data["chased_on"] == "tomorrow":
        data["chased_on"] = local_today() + timedelta(days=1)
    with tenant_context(site.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            chases.create_chase(site.households[0], **data)
        assert field in raised.value.fields
        assert database.session.scalar(select(func.count()).select_from(ArrearsChase)) == 0
