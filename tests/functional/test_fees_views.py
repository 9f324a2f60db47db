"""Fee pages: schedules (new, revision, copy), adjustments, readings and their import,
occupancy changes, shared meters; form errors; access."""

from __future__ import annotations

import io
from datetime import date

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Occupancy, OccupancyChange
from ruihe_saas.estates.services import ensure_default_categories
from ruihe_saas.extensions import db
from ruihe_saas.fees import services
from ruihe_saas.fees.models import FeeAdjustment, FeeItem, FeeSchedule, MeterReading, SharedMeter
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for
from tests.conftest import csrf_from, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member
from tests.unit.fees.builders import households_of, schedule_data


@pytest.fixture
def site(client, db):
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, "MOER", buildings=2, rooms=2)
    other = estate_with_households(owner.tenant_id, "DZYD", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        ensure_default_categories()
        schedule = services.create_schedule(estate, schedule_data())
        meter = services.create_shared_meter(
            estate, {"name": "总电表", "meter_kind": "electricity"}
        )
        adjustment = services.create_adjustment(
            estate,
            {"category": "low_income", "kind": "percent", "value": "50", "reason": "低保",
             "valid_from": date(2024, 1, 1)},
        )  # fmt: skip
    login(client, owner.user.email, PASSWORD)
    return owner, estate, other, schedule, meter, adjustment


def page(owner, estate, path: str = "") -> str:
    return f"/t/{owner.tenant.slug}/fees/estates/{estate.id}{path}"


def stored(owner, model) -> int:
    with tenant_context(owner.tenant_id):
        return db.session.scalar(select(func.count()).select_from(model))


def schedule_form(token: str, **changes) -> dict:
    data = {
        "csrf_token": token,
        "name": "2025年收费标准",
        "stages": "both",
        "effective_from": "2025-01-01",
        "items-0-name": "物业服务费",
        "items-0-code": "property_service",
        "items-0-charge_kind": "per_area",
        "items-0-rate": "0.55",
        "items-0-frequency": "monthly",
        "items-0-revenue_category": "property_service",
        "items-1-name": "电梯费",
        "items-1-charge_kind": "fixed",
        "items-1-rate": "15",
        "items-1-lift_only": "y",
        "items-1-frequency": "monthly",
        "items-1-revenue_category": "property_service",
        "items-2-charge_kind": "per_area",  # an empty row
        "items-2-frequency": "monthly",
        "items-2-revenue_category": "property_service",
    }
    data.update(changes)
    return data


def test_every_page_renders(client, site):
    owner, estate, _other, schedule, *_ = site
    for path in ("", "/new", f"/schedules/{schedule.id}/revise", f"/schedules/{schedule.id}/copy",
                 "/adjustments", "/readings", "/readings?period=2024-13&meter_kind=x",
                 "/shared-meters"):  # fmt: skip
        response = client.get(page(owner, estate, path))
        assert response.status_code == 200, path
    body = client.get(page(owner, estate)).get_data(as_text=True)
    assert 'data-testid="schedule-version"' in body and 'data-current="true"' in body
    assert "0.60" in body and 'data-testid="new-schedule"' in body


def test_creating_a_schedule_with_several_items(client, site):
    owner, estate, *_ = site
    url = page(owner, estate, "/new")
    response = client.post(url, data=schedule_form(csrf_from(client, url)))
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    with tenant_context(owner.tenant_id):
        created = db.session.scalar(select(FeeSchedule).where(FeeSchedule.name == "2025年收费标准"))
        items = {i.code: i for i in services.items_of(created)}
    assert set(items) == {"property_service", "lift"}  # 电梯费 got its suggested code
    assert items["lift"].lift_only is True
    listing = client.get(page(owner, estate)).get_data(as_text=True)
    assert "2025年收费标准" in listing and "15.00" in listing


@pytest.mark.parametrize(
    ("changes", "message_near"),
    [
        ({"items-0-rate": "-1"}, "items-0-rate"),
        ({"items-0-charge_kind": "one_off", "items-0-charge_period": "2025-13",
          "items-0-households": "1栋1单元101"}, "items-0-charge_period"),
        ({"items-0-charge_kind": "one_off", "items-0-charge_period": "2025-01",
          "items-0-households": "9栋1单元101"}, "items-0-households"),
        ({"items-0-charge_kind": "metered"}, "items-0-meter_kind"),
        ({"effective_from": ""}, "effective_from"),
        ({"items-1-code": "property_service"}, "items-1-code"),
        ({"prepay_months": "12"}, "prepay_discount_percent"),
    ],
)  # fmt: skip
def test_form_errors_are_422_and_store_nothing(client, site, changes, message_near):
    owner, estate, *_ = site
    url = page(owner, estate, "/new")
    response = client.post(url, data=schedule_form(csrf_from(client, url), **changes))
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert f'id="{message_near}-errors"' in body, message_near
    assert stored(owner, FeeSchedule) == 1 and stored(owner, FeeItem) == 1


def test_revising_a_schedule_and_the_billed_period_conflict(client, site):
    owner, estate, _other, schedule, *_ = site
    url = page(owner, estate, f"/schedules/{schedule.id}/revise")
    form = client.get(url).get_data(as_text=True)
    assert 'value="0.60"' in form and 'value="property_service"' in form
    bill_for(households_of(estate)[0], "2024-06", {"property_service": "48.90"}, schedule)
    token = csrf_from(client, url)
    conflict = client.post(url, data=schedule_form(token, effective_from="2024-06-01"))
    assert conflict.status_code == 409
    assert 'id="effective_from-errors"' in conflict.get_data(as_text=True)
    revised = client.post(url, data=schedule_form(token, effective_from="2024-07-01"))
    assert revised.status_code == 303
    with tenant_context(owner.tenant_id):
        versions = db.session.scalars(
            select(FeeSchedule.version).where(FeeSchedule.lineage_id == schedule.id)
        ).all()
    assert sorted(versions) == [1, 2]
    again = client.post(url, data=schedule_form(token, effective_from="2024-09-01"))
    assert again.status_code == 409  # version 1 is no longer the latest


def test_copying_to_another_estate(client, site):
    owner, estate, other, schedule, *_ = site
    url = page(owner, estate, f"/schedules/{schedule.id}/copy")
    token = csrf_from(client, url)
    bad = client.post(url, data={"csrf_token": token, "estate_id": str(other.id)})
    assert bad.status_code == 422
    response = client.post(
        url,
        data={"csrf_token": token, "estate_id": str(other.id), "effective_from": "2024-12-01"},
    )
    assert response.status_code == 303
    assert response.headers["Location"].startswith(page(owner, other))
    with tenant_context(owner.tenant_id):
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(FeeSchedule)
                .where(FeeSchedule.estate_id == other.id)
            )
            == 1
        )


def test_adjustments_page(client, site):
    owner, estate, _other, _schedule, _meter, adjustment = site
    url = page(owner, estate, "/adjustments")
    token = csrf_from(client, url)
    data = {
        "adjustment-csrf_token": token,
        "adjustment-household": "1栋1单元101",
        "adjustment-kind": "fixed",
        "adjustment-value": "5",
        "adjustment-reason": "独居老人",
        "adjustment-valid_from": "2024-01-01",
    }
    assert client.post(url, data=data).status_code == 303
    unknown = client.post(url, data={**data, "adjustment-household": "99栋101"})
    assert unknown.status_code == 422 and 'id="adjustment-household-errors"' in unknown.get_data(
        as_text=True
    )
    bad = client.post(url, data={**data, "adjustment-value": "0"})
    assert bad.status_code == 422 and 'id="adjustment-value-errors"' in bad.get_data(as_text=True)
    assert stored(owner, FeeAdjustment) == 2
    end = page(owner, estate, f"/adjustments/{adjustment.id}/end")
    prefix = f"end-{adjustment.id}"
    early = client.post(
        end, data={f"{prefix}-csrf_token": token, f"{prefix}-valid_to": "2023-01-01"}
    )
    assert early.status_code == 422
    ended = client.post(
        end, data={f"{prefix}-csrf_token": token, f"{prefix}-valid_to": "2024-06-30"}
    )
    assert ended.status_code == 303
    listing = client.get(url).get_data(as_text=True)
    assert "2024-06-30" in listing and "1栋1单元101" in listing


def test_readings_page_entry_import_and_occupancy(client, site):
    owner, estate, *_ = site
    url = page(owner, estate, "/readings")
    token = csrf_from(client, url)
    reading = {
        "reading-csrf_token": token,
        "reading-household": "1栋1单元101",
        "reading-meter_kind": "water",
        "reading-period": "2024-07",
        "reading-current_reading": "100",
    }
    assert client.post(page(owner, estate, "/readings"), data=reading).status_code == 303
    backwards = client.post(
        url, data={**reading, "reading-period": "2024-08", "reading-current_reading": "90"}
    )
    assert backwards.status_code == 422
    assert 'id="reading-current_reading-errors"' in backwards.get_data(as_text=True)
    listed = client.get(f"{url}?period=2024-07").get_data(as_text=True)
    assert "100.00" in listed and "1栋1单元101" in listed
    good = "楼栋,单元,房号,表类型,期间,本期读数\n1栋,1,201,电,2024-07,12\n".encode()
    imported = client.post(
        page(owner, estate, "/readings/import"),
        data={"import-csrf_token": token, "import-file": (io.BytesIO(good), "r.csv")},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 303
    bad = "楼栋,单元,房号,表类型,期间,本期读数\n1栋,1,201,电,2024-08,1\n".encode()
    refused = client.post(
        page(owner, estate, "/readings/import"),
        data={"import-csrf_token": token, "import-file": (io.BytesIO(bad), "r.csv")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 422
    assert 'data-testid="import-errors"' in refused.get_data(as_text=True)
    assert stored(owner, MeterReading) == 2
    change = {
        "occupancy-csrf_token": token,
        "occupancy-household": "1栋1单元101",
        "occupancy-to_occupancy": "vacant",
        "occupancy-effective_date": "2024-03-01",
    }
    assert client.post(page(owner, estate, "/occupancy"), data=change).status_code == 303
    assert client.post(page(owner, estate, "/occupancy"), data=change).status_code == 409
    assert stored(owner, OccupancyChange) == 1
    assert households_of(estate)[0].occupancy == Occupancy.VACANT


def test_shared_meters_page(client, site):
    owner, estate, _other, _schedule, meter, _adjustment = site
    url = page(owner, estate, "/shared-meters")
    token = csrf_from(client, url)
    added = client.post(
        url, data={"meter-csrf_token": token, "meter-name": "1栋水表", "meter-meter_kind": "water"}
    )
    assert added.status_code == 303
    twice = client.post(
        url, data={"meter-csrf_token": token, "meter-name": "1栋水表", "meter-meter_kind": "water"}
    )
    assert twice.status_code == 409
    assert stored(owner, SharedMeter) == 2
    reading = {
        "meter_reading-csrf_token": token,
        "meter_reading-shared_meter_id": str(meter.id),
        "meter_reading-period": "2024-07",
        "meter_reading-current_reading": "1200",
    }
    assert (
        client.post(page(owner, estate, "/shared-meters/readings"), data=reading).status_code == 303
    )
    assert "1200.00" in client.get(f"{url}?period=2024-07").get_data(as_text=True)


# --- access --------------------------------------------------------------------------------


def paths(site) -> list[tuple[str, str]]:
    _owner, _estate, _other, schedule, _meter, adjustment = site
    return [
        ("get", ""), ("get", "/new"), ("post", "/new"),
        ("get", f"/schedules/{schedule.id}/revise"), ("post", f"/schedules/{schedule.id}/revise"),
        ("get", f"/schedules/{schedule.id}/copy"), ("post", f"/schedules/{schedule.id}/copy"),
        ("get", "/adjustments"), ("post", "/adjustments"),
        ("post", f"/adjustments/{adjustment.id}/end"),
        ("get", "/readings"), ("post", "/readings"), ("post", "/readings/import"),
        ("post", "/occupancy"),
        ("get", "/shared-meters"), ("post", "/shared-meters"),
        ("post", "/shared-meters/readings"),
    ]  # fmt: skip


def test_another_tenants_member_gets_404_everywhere(app, site):
    owner, estate = site[0], site[1]
    stranger = member(Role.OWNER)
    client = app.test_client()
    login(client, stranger.user.email, PASSWORD)
    token = csrf_from(client, f"/t/{stranger.tenant.slug}/estates/")
    for method, path in paths(site):
        for slug in (owner.tenant.slug, stranger.tenant.slug):
            url = f"/t/{slug}/fees/estates/{estate.id}{path}"
            response = getattr(client, method)(url, data={"csrf_token": token})
            assert response.status_code == 404, (method, url)


def test_an_estate_admin_of_another_estate_gets_404(app, site):
    owner, estate, other = site[0], site[1], site[2]
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, other)
    client = app.test_client()
    login(client, admin.user.email, PASSWORD)
    token = csrf_from(client, f"/t/{owner.tenant.slug}/fees/estates/{other.id}")
    for method, path in paths(site):
        response = getattr(client, method)(page(owner, estate, path), data={"csrf_token": token})
        assert response.status_code == 404, (method, path)
    # and a schedule of the estate it manages cannot be reached through the other estate
    schedule = site[3]
    response = client.get(page(owner, other, f"/schedules/{schedule.id}/revise"))
    assert response.status_code == 404


def test_an_estate_admin_creates_a_schedule_for_their_estate(app, site):
    owner, estate = site[0], site[1]
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, estate)
    client = app.test_client()
    login(client, admin.user.email, PASSWORD)
    url = page(owner, estate, "/new")
    response = client.post(url, data=schedule_form(csrf_from(client, url)))
    assert response.status_code == 303
    assert stored(owner, FeeSchedule) == 2


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.CASHIER])
def test_roles_without_the_permission_get_403(app, site, role):
    owner, estate = site[0], site[1]
    someone = member(role, tenant=owner.tenant)
    if role == Role.CASHIER:
        scope_member(someone, estate)
    client = app.test_client()
    login(client, someone.user.email, PASSWORD)
    token = csrf_from(client, page(owner, estate, "/readings"))
    for method, path in paths(site):
        response = getattr(client, method)(page(owner, estate, path), data={"csrf_token": token})
        entries = path in ("/readings", "/readings/import", "/occupancy", "/shared-meters/readings")
        may_view = method == "get" and path in ("", "/adjustments", "/readings", "/shared-meters")
        if may_view:
            assert response.status_code == 200, (role, method, path)
        elif method == "post" and entries and role == Role.CASHIER:
            assert response.status_code == 422, (role, method, path)  # allowed; empty form
        else:
            assert response.status_code == 403, (role, method, path)
    body = client.get(page(owner, estate)).get_data(as_text=True)
    assert 'data-testid="new-schedule"' not in body


def test_the_schedules_page_names_the_filters_of_an_item(client, db):
    """Filters by building, category and occupancy are shown by name (a regression: the
    summary once used a filter Jinja does not have and the page answered 500)."""
    from ruihe_saas.estates.services import buildings_of, categories
    from tests.unit.fees.builders import item

    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, "MOER", buildings=2, rooms=1)
    with tenant_context(owner.tenant_id):
        ensure_default_categories()
        building = buildings_of(estate)[0]
        category = categories()[0]
        filtered = item(
            code="lift", name="电梯费", building_ids=[str(building.id)],
            category_ids=[str(category.id)], occupancies=["vacant"],
        )  # fmt: skip
        services.create_schedule(estate, schedule_data(filtered))
    login(client, owner.user.email, PASSWORD)
    response = client.get(page(owner, estate))
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert building.name in text and category.name in text and "空置" in text
