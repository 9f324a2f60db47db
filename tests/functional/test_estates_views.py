"""Estate pages: dashboard, estate list and page, buildings, parking, households, the
household file; permissions, tenant isolation and estate scope."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.estates import services
from ruihe_saas.estates.models import (
    Building,
    Estate,
    HandoverStage,
    Household,
    Occupancy,
    ParkingKind,
    ParkingSpace,
)
from ruihe_saas.extensions import db as database
from ruihe_saas.handover.models import HandoverTransition
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member


@dataclass
class World:
    """One tenant's estate with a building, a household and a parking space (ids only)."""

    tenant_id: object
    slug: str
    estate_id: object
    building_id: object
    household_id: object
    space_id: object

    def url(self, path: str = "") -> str:
        return f"/t/{self.slug}" + path.format(**self.ids())

    def ids(self) -> dict:
        return {
            "estate_id": self.estate_id,
            "building_id": self.building_id,
            "household_id": self.household_id,
            "space_id": self.space_id,
        }


def make_world(membership, code: str = "E1", buildings: int = 2, rooms: int = 3) -> World:
    estate = estate_with_households(membership.tenant_id, code, buildings, rooms)
    with tenant_context(membership.tenant_id):
        services.ensure_default_categories()
        building = services.buildings_of(estate)[0]
        household = services.list_households(estate, 1, 1).items[0]
        space = services.create_parking(
            estate,
            {"number": f"{code}-P1", "kind": ParkingKind.GARAGE, "area": Decimal("12.50")},
        )
    return World(
        membership.tenant_id,
        membership.tenant.slug,
        estate.id,
        building.id,
        household.id,
        space.id,
    )


def logged_in(client, membership):
    login(client, membership.user.email, PASSWORD)
    return client


def token(client, world: World) -> str:
    return csrf_from(client, world.url("/estates/"))


def reread(world: World, model, object_id):
    with tenant_context(world.tenant_id):
        return database.session.get(model, (world.tenant_id, object_id), populate_existing=True)


def count(world: World, model) -> int:
    with tenant_context(world.tenant_id):
        return database.session.query(model).count()


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


@pytest.fixture
def world(owner):
    return make_world(owner)


# --- dashboard and estate list ----------------------------------------------------------------


def test_dashboard_lists_estates_with_stage_days_and_counts(client, db, owner, world):
    with tenant_context(owner.tenant_id):
        estate = database.session.get(Estate, (owner.tenant_id, world.estate_id))
        estate.stage = HandoverStage.FULL_TAKEOVER
        estate.stage_since = date.today() - timedelta(days=10)
        database.session.add(Estate(name="地质一大队生活小区", code="DZYD"))
        database.session.flush()
    page = text(logged_in(client, owner).get(world.url("/")))
    assert "测试小区E1" in page and "地质一大队生活小区" in page
    assert 'data-stage="full_takeover"' in page and 'data-stage="prospect"' in page
    assert 'data-days="10"' in page
    rows = re.findall(r'<tr data-testid="estate-row">.*?</tr>', page, re.S)
    row = next(r for r in rows if "测试小区E1" in r)
    assert re.findall(r'<td class="num">(\d+)</td>', row) == ["2", "6"]
    assert owner.user.email in page  # the members box stays for owners


def test_dashboard_for_a_viewer_has_estates_but_no_members(client, db, owner, world):
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    page = text(logged_in(client, viewer).get(world.url("/")))
    assert "测试小区E1" in page
    assert owner.user.email not in page
    assert f'href="/t/{world.slug}/estates/#new-estate"' not in page
    listing = text(client.get(world.url("/estates/")))
    assert "测试小区E1" in listing and 'id="new-estate"' not in listing


def test_estate_list_searches_by_name_and_code(client, db, owner, world):
    make_world(owner, code="DZYD")
    logged_in(client, owner)
    everything = text(client.get(world.url("/estates/")))
    assert "测试小区E1" in everything and "测试小区DZYD" in everything
    by_code = text(client.get(world.url("/estates/?q=dzyd")))
    assert "测试小区DZYD" in by_code and "测试小区E1" not in by_code
    nothing = text(client.get(world.url("/estates/?q=nowhere")))
    assert "测试小区" not in nothing


def test_estate_list_pages_through_many_estates(client, db, owner):
    with tenant_context(owner.tenant_id):
        for n in range(55):
            database.session.add(Estate(name=f"小区{n:02d}", code=f"C{n:02d}"))
        database.session.flush()
    logged_in(client, owner)
    first = text(client.get(f"/t/{owner.tenant.slug}/estates/"))
    assert "小区00" in first and "小区49" in first and "小区50" not in first
    assert "?page=2" in first
    second = text(client.get(f"/t/{owner.tenant.slug}/estates/?page=2"))
    assert "小区50" in second and "小区54" in second and "小区49" not in second


# --- creating and editing estates -------------------------------------------------------------

ESTATE_FORM = {
    "name": "模二厂生活小区",
    "code": "MOER",
    "address": "建宁街道",
    "year_built": "1993",
    "competent_unit": "云南模二机械有限公司",
    "previous_manager": "业主委员会",
    "notes": "工厂 → 物业公司 → 业委会自管",
}


def test_owner_creates_an_estate_and_lands_on_its_page(client, db, owner):
    logged_in(client, owner)
    url = f"/t/{owner.tenant.slug}/estates/"
    assert f'action="{url}"' in text(client.get(url))  # the form is there
    response = client.post(url, data={**ESTATE_FORM, "csrf_token": csrf_from(client, url)})
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    for value in (
        "模二厂生活小区",
        "MOER",
        "1993",
        "云南模二机械有限公司",
        "业主委员会",
        "建宁街道",
    ):
        assert value in page
    with tenant_context(owner.tenant_id):
        estate = services.find_estate_by_code("MOER")
        assert estate.year_built == 1993 and estate.stage == HandoverStage.PROSPECT
        assert response.headers["Location"].endswith(f"/estates/{estate.id}/")
        assert [c.code for c in services.categories()][0] == "ordinary"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "   "}, "name"),
        ({"code": ""}, "code"),
        ({"code": "有 空格"}, "code"),
        ({"code": "E1"}, "code"),  # taken by the existing estate
        ({"year_built": "1800"}, "year_built"),
        ({"year_built": "nineteen"}, "year_built"),
    ],
)
def test_bad_estate_form_is_422_and_changes_nothing(client, db, owner, world, change, field):
    logged_in(client, owner)
    url = world.url("/estates/")
    response = client.post(url, data={**ESTATE_FORM, **change, "csrf_token": token(client, world)})
    assert response.status_code == 422
    assert f'id="{field}-errors"' in text(response)
    assert count(world, Estate) == 1


def test_owner_edits_master_data(client, db, owner, world):
    logged_in(client, owner)
    url = world.url("/estates/{estate_id}/")
    page = text(client.get(url))
    assert 'data-testid="estate-form"' in page and 'value="测试小区E1"' in page
    response = client.post(
        url, data={**ESTATE_FORM, "code": "E1", "csrf_token": token(client, world)}
    )
    assert response.status_code == 302
    estate = reread(world, Estate, world.estate_id)
    assert (estate.name, estate.competent_unit, estate.year_built) == (
        "模二厂生活小区",
        "云南模二机械有限公司",
        1993,
    )


def test_estate_edit_errors_are_422_and_change_nothing(client, db, owner, world):
    make_world(owner, code="OTHER")
    logged_in(client, owner)
    url = world.url("/estates/{estate_id}/")
    response = client.post(
        url, data={**ESTATE_FORM, "code": "OTHER", "csrf_token": token(client, world)}
    )
    assert response.status_code == 422
    assert 'id="code-errors"' in text(response)
    assert "<details open>" in text(response)  # the form opens on its errors
    estate = reread(world, Estate, world.estate_id)
    assert (estate.name, estate.code) == ("测试小区E1", "E1")


# --- the estate page --------------------------------------------------------------------------


def test_estate_page_shows_buildings_parking_timeline_and_links(client, db, owner, world):
    with tenant_context(owner.tenant_id):
        database.session.add(
            HandoverTransition(
                estate_id=world.estate_id,
                from_stage=HandoverStage.PROSPECT,
                to_stage=HandoverStage.PARTIAL_CARETAKING,
                effective_date=date(2023, 12, 1),
                note="代管协议已签",
            )
        )
        space = database.session.get(ParkingSpace, (owner.tenant_id, world.space_id))
        space.household_id = world.household_id
        database.session.flush()
    page = text(logged_in(client, owner).get(world.url("/estates/{estate_id}/")))
    assert "2023-12-01" in page and "代管协议已签" in page  # the lifecycle timeline
    buildings = re.search(r'data-testid="buildings">.*?</table>', page, re.S).group(0)
    assert "1栋" in buildings and "2栋" in buildings
    assert world.url("/estates/{estate_id}/households?building={building_id}") in buildings
    parking = re.search(r'data-testid="parking">.*?</table>', page, re.S).group(0)
    assert "E1-P1" in parking and "12.50" in parking
    assert "1栋1单元101" in parking  # assigned to that household
    assert 'data-testid="free-parking"' in parking
    assert world.url("/estates/{estate_id}/households") in page
    for form in ("estate-form", "building-form", "parking-form"):
        assert f'data-testid="{form}"' in page
    assert f'href="{world.url("/estates/{estate_id}/handover")}"' in page
    assert f'href="{world.url("/estates/{estate_id}/import")}"' in page


def test_estate_page_hides_forms_from_viewers(client, db, owner, world):
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    page = text(logged_in(client, viewer).get(world.url("/estates/{estate_id}/")))
    assert "测试小区E1" in page and "E1-P1" in page
    for form in ("estate-form", "building-form", "parking-form"):
        assert f'data-testid="{form}"' not in page
    assert world.url("/estates/{estate_id}/parking/{space_id}") not in page
    assert 'data-testid="handover-link"' in page and 'data-testid="import-link"' not in page


def test_estate_admin_edits_data_but_not_master_data(client, db, owner, world):
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, reread(world, Estate, world.estate_id))
    page = text(logged_in(client, admin).get(world.url("/estates/{estate_id}/")))
    assert 'data-testid="estate-form"' not in page
    assert 'data-testid="building-form"' in page and 'data-testid="parking-form"' in page
    response = client.post(
        world.url("/estates/{estate_id}/"), data={**ESTATE_FORM, "csrf_token": token(client, world)}
    )
    assert response.status_code == 403
    assert reread(world, Estate, world.estate_id).name == "测试小区E1"


# --- buildings --------------------------------------------------------------------------------


def test_add_and_edit_a_building(client, db, owner, world):
    logged_in(client, owner)
    csrf = token(client, world)
    response = client.post(
        world.url("/estates/{estate_id}/buildings"),
        data={
            "building-name": "3栋",
            "building-floors": "11",
            "building-kind": "small_high_rise",
            "building-has_lift": "y",
            "building-csrf_token": csrf,
        },
    )
    assert response.status_code == 302
    with tenant_context(owner.tenant_id):
        estate = services.get_estate(world.estate_id)
        added = next(b for b in services.buildings_of(estate) if b.name == "3栋")
        assert (added.floors, added.has_lift, added.kind.value) == (11, True, "small_high_rise")
    edit_url = world.url("/estates/{estate_id}/buildings/") + str(added.id)
    assert 'value="3栋"' in text(client.get(edit_url))
    response = client.post(
        edit_url, data={"name": "3栋A", "floors": "12", "kind": "high_rise", "csrf_token": csrf}
    )
    assert response.status_code == 302
    building = reread(world, Building, added.id)
    assert (building.name, building.floors, building.has_lift) == ("3栋A", 12, False)


@pytest.mark.parametrize(
    "data",
    [
        {"building-name": "1栋", "building-floors": "6"},  # name taken
        {"building-name": "", "building-floors": "6"},
        {"building-name": "9栋", "building-floors": "0"},
        {"building-name": "9栋", "building-floors": "six"},
        {"building-name": "9栋", "building-floors": "6", "building-kind": "castle"},
    ],
)
def test_bad_building_is_422_and_changes_nothing(client, db, owner, world, data):
    logged_in(client, owner)
    response = client.post(
        world.url("/estates/{estate_id}/buildings"),
        data={"building-kind": "low_rise", **data, "building-csrf_token": token(client, world)},
    )
    assert response.status_code == 422
    assert 'role="alert"' in text(response)
    assert count(world, Building) == 2


def test_building_rename_to_a_taken_name_is_422(client, db, owner, world):
    logged_in(client, owner)
    response = client.post(
        world.url("/estates/{estate_id}/buildings/{building_id}"),
        data={"name": "2栋", "floors": "6", "kind": "low_rise", "csrf_token": token(client, world)},
    )
    assert response.status_code == 422 and 'id="name-errors"' in text(response)
    assert reread(world, Building, world.building_id).name == "1栋"


# --- parking ----------------------------------------------------------------------------------


def test_add_a_parking_space_for_a_household(client, db, owner, world):
    logged_in(client, owner)
    response = client.post(
        world.url("/estates/{estate_id}/parking"),
        data={
            "parking-number": "B-007",
            "parking-kind": "underground",
            "parking-area": "13.456",
            "parking-household": "2栋1单元201",
            "parking-csrf_token": token(client, world),
        },
    )
    assert response.status_code == 302
    with tenant_context(owner.tenant_id):
        estate = services.get_estate(world.estate_id)
        space = next(s for s in services.list_parking(estate).items if s.number == "B-007")
        assert space.area == Decimal("13.46") and space.kind == ParkingKind.UNDERGROUND
        assert services.get_household(estate, space.household_id).label == "2栋1单元201"


@pytest.mark.parametrize(
    "data",
    [
        {"parking-number": "E1-P1"},  # taken
        {"parking-number": ""},
        {"parking-number": "X9", "parking-area": "0"},
        {"parking-number": "X9", "parking-household": "9栋9单元999"},
    ],
)
def test_bad_parking_space_is_422_and_changes_nothing(client, db, owner, world, data):
    logged_in(client, owner)
    response = client.post(
        world.url("/estates/{estate_id}/parking"),
        data={"parking-kind": "surface", **data, "parking-csrf_token": token(client, world)},
    )
    assert response.status_code == 422 and 'role="alert"' in text(response)
    assert count(world, ParkingSpace) == 1


def test_assign_and_free_a_parking_space_by_room_label(client, db, owner, world):
    logged_in(client, owner)
    url = world.url("/estates/{estate_id}/parking/{space_id}")
    field = f"space-{world.space_id}-"
    csrf = token(client, world)
    response = client.post(
        url, data={field + "household": "1栋1单元301", field + "csrf_token": csrf}
    )
    assert response.status_code == 302
    space = reread(world, ParkingSpace, world.space_id)
    with tenant_context(owner.tenant_id):
        estate = services.get_estate(world.estate_id)
        assert services.get_household(estate, space.household_id).label == "1栋1单元301"
    household_page = text(
        client.get(world.url("/estates/{estate_id}/households/") + str(space.household_id))
    )
    assert "E1-P1" in household_page
    wrong = client.post(url, data={field + "household": "1栋1单元999", field + "csrf_token": csrf})
    assert wrong.status_code == 422
    assert f'id="{field}household-errors"' in text(wrong)
    assert reread(world, ParkingSpace, world.space_id).household_id == space.household_id
    freed = client.post(url, data={field + "household": "", field + "csrf_token": csrf})
    assert freed.status_code == 302
    assert reread(world, ParkingSpace, world.space_id).household_id is None


# --- households -------------------------------------------------------------------------------


def test_household_list_searches_filters_and_pages(client, db, owner):
    world = make_world(owner, buildings=2, rooms=30)  # 60 households, 50 a page
    with tenant_context(owner.tenant_id):
        estate = services.get_estate(world.estate_id)
        low_income = next(c for c in services.categories() if c.code == "low_income")
        special = services.get_household(estate, world.household_id)
        special.occupancy = Occupancy.RENTED
        special.category_id = low_income.id
        database.session.flush()
    logged_in(client, owner)
    base = world.url("/estates/{estate_id}/households")

    def labels(query: str = "") -> list[str]:
        page = text(client.get(base + query))
        table = re.search(r'data-testid="households">.*?</table>', page, re.S).group(0)
        return re.findall(r">(\d栋1单元\d+)</a>", table)

    first = text(client.get(base))
    assert "60" in re.search(r'data-testid="household-total">([^<]*)<', first).group(1)
    assert len(labels()) == 50 and "?page=2" in first
    assert len(labels("?page=2")) == 10
    assert labels("?q=业主2-7") == ["2栋1单元701"]  # owner name
    assert labels("?q=13900002015") == ["2栋1单元1501"]  # phone
    assert labels("?q=2901") == ["1栋1单元2901", "2栋1单元2901"]  # room
    other = next(b for b in services_buildings(world) if b.name == "2栋")
    by_building = labels(f"?building={other.id}")
    assert len(by_building) == 30 and all(label.startswith("2栋") for label in by_building)
    assert labels("?occupancy=rented") == [special.label]
    assert labels("?category=low_income") == [special.label]
    assert labels("?occupancy=rented&category=ordinary") == []
    assert len(labels("?building=not-a-uuid&occupancy=castle")) == 50  # ignored
    # page links keep the filters
    filtered = text(client.get(f"{base}?building={other.id}&q=01"))
    assert "?page=" not in filtered  # 30 rooms of 2栋 end in 01: a single page
    many = text(client.get(f"{base}?q=01"))
    assert f"{base}?q=01&amp;page=2" in many
    assert len(labels("?q=01&page=2")) == 10


def services_buildings(world: World) -> list[Building]:
    with tenant_context(world.tenant_id):
        return services.buildings_of(services.get_estate(world.estate_id))


HOUSEHOLD_FORM = {
    "unit": "2",
    "room": "502",
    "floor": "5",
    "area": "86.505",
    "occupancy": "rented",
    "owner_names": "张三、李四",
    "phones": "13900001111, 0874-1234567",
    "category": "elderly_alone",
    "notes": "独居老人，每周探访",
}


def test_add_a_household_and_open_its_file(client, db, owner, world):
    logged_in(client, owner)
    response = client.post(
        world.url("/estates/{estate_id}/households"),
        data={
            **HOUSEHOLD_FORM,
            "building_id": str(world.building_id),
            "csrf_token": token(client, world),
        },
    )
    assert response.status_code == 302
    page = text(client.get(response.headers["Location"]))
    assert 'data-testid="household-label">1栋2单元502<' in page
    for value in ("张三、李四", "86.51", "独居老人", "独居老人，每周探访"):
        assert value in page
    assert 'href="tel:13900001111"' in page and 'href="tel:0874-1234567"' in page
    assert count(world, Household) == 7


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"room": ""}, "room"),
        ({"room": "101", "unit": "1"}, "room"),  # exists in 1栋
        ({"area": "0"}, "area"),
        ({"area": ""}, "area"),
        ({"area": "lots"}, "area"),
        ({"floor": "300"}, "floor"),
        ({"occupancy": "haunted"}, "occupancy"),
        ({"category": "royalty"}, "category"),
        ({"building_id": "not-a-building"}, "building_id"),
    ],
)
def test_bad_household_is_422_and_changes_nothing(client, db, owner, world, change, field):
    logged_in(client, owner)
    data = {**HOUSEHOLD_FORM, "building_id": str(world.building_id), **change}
    response = client.post(
        world.url("/estates/{estate_id}/households"),
        data={**data, "csrf_token": token(client, world)},
    )
    assert response.status_code == 422
    assert f'id="{field}-errors"' in text(response)
    assert count(world, Household) == 6


def test_household_file_shows_the_dwelling_and_edits_it(client, db, owner, world):
    with tenant_context(owner.tenant_id):
        space = database.session.get(ParkingSpace, (owner.tenant_id, world.space_id))
        space.household_id = world.household_id
        database.session.flush()
    logged_in(client, owner)
    url = world.url("/estates/{estate_id}/households/{household_id}")
    page = text(client.get(url))
    assert 'data-testid="household-label">1栋1单元101<' in page
    for value in ("业主1-1", "13900001001", "81.50", "E1-P1", 'data-testid="household-form"'):
        assert value in page
    response = client.post(
        url,
        data={
            **HOUSEHOLD_FORM,
            "building_id": str(world.building_id),
            "unit": "1",
            "room": "101",
            "csrf_token": token(client, world),
        },
    )
    assert response.status_code == 302
    household = reread(world, Household, world.household_id)
    assert (household.owner_names, household.area, household.occupancy) == (
        "张三、李四",
        Decimal("86.51"),
        Occupancy.RENTED,
    )
    assert household.category.code == "elderly_alone"


def test_household_edit_errors_are_422_and_change_nothing(client, db, owner, world):
    logged_in(client, owner)
    url = world.url("/estates/{estate_id}/households/{household_id}")
    response = client.post(
        url,
        data={
            **HOUSEHOLD_FORM,
            "building_id": str(world.building_id),
            "unit": "1",
            "room": "201",  # another household's room
            "csrf_token": token(client, world),
        },
    )
    assert response.status_code == 422 and 'id="room-errors"' in text(response)
    household = reread(world, Household, world.household_id)
    assert (household.room, household.owner_names) == ("101", "业主1-1")


def test_viewer_sees_households_without_forms(client, db, owner, world):
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    logged_in(client, viewer)
    listing = text(client.get(world.url("/estates/{estate_id}/households")))
    assert "1栋1单元101" in listing and 'data-testid="household-form"' not in listing
    file = text(client.get(world.url("/estates/{estate_id}/households/{household_id}")))
    assert "业主1-1" in file and 'data-testid="household-form"' not in file


# --- permissions on every form ----------------------------------------------------------------

DATA_POSTS = [
    "/estates/{estate_id}/buildings",
    "/estates/{estate_id}/buildings/{building_id}",
    "/estates/{estate_id}/parking",
    "/estates/{estate_id}/parking/{space_id}",
    "/estates/{estate_id}/households",
    "/estates/{estate_id}/households/{household_id}",
]
MASTER_POSTS = ["/estates/", "/estates/{estate_id}/"]


def full_payload(world: World, csrf: str) -> dict:
    """Valid input for every form (each form reads its own fields)."""
    space = f"space-{world.space_id}-"
    return {
        **ESTATE_FORM,
        "code": "NEW1",
        **HOUSEHOLD_FORM,
        "building_id": str(world.building_id),
        "floors": "6",
        "kind": "low_rise",
        "building-name": "99栋",
        "building-floors": "6",
        "building-kind": "low_rise",
        "parking-number": "P-99",
        "parking-kind": "surface",
        space + "household": "1栋1单元201",
        **{prefix + "csrf_token": csrf for prefix in ("", "building-", "parking-", space)},
    }


def snapshot(world: World) -> tuple:
    with tenant_context(world.tenant_id):
        session = database.session
        estate = session.get(Estate, (world.tenant_id, world.estate_id), populate_existing=True)
        building = session.get(
            Building, (world.tenant_id, world.building_id), populate_existing=True
        )
        household = session.get(
            Household, (world.tenant_id, world.household_id), populate_existing=True
        )
        space = session.get(ParkingSpace, (world.tenant_id, world.space_id), populate_existing=True)
        return (
            session.query(Estate).count(),
            session.query(Building).count(),
            session.query(Household).count(),
            session.query(ParkingSpace).count(),
            (estate.name, estate.code),
            (building.name, building.floors),
            (household.room, household.owner_names, household.area),
            space.household_id,
        )


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_roles_without_permission_get_403_on_posts(client, db, owner, world, role):
    someone = member(role, tenant=owner.tenant)
    if role == Role.CASHIER:
        scope_member(someone, reread(world, Estate, world.estate_id))
    logged_in(client, someone)
    payload = full_payload(world, token(client, world))
    before = snapshot(world)
    for path in DATA_POSTS + MASTER_POSTS:
        assert client.post(world.url(path), data=payload).status_code == 403, path
    assert snapshot(world) == before


def test_edit_building_page_is_403_for_viewers(client, db, owner, world):
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    logged_in(client, viewer)
    assert client.get(world.url("/estates/{estate_id}/buildings/{building_id}")).status_code == 403


@pytest.mark.parametrize("path", DATA_POSTS + MASTER_POSTS)
def test_the_payload_is_valid_for_the_owner(client, db, owner, world, path):
    """The payload of the 403/404 checks is valid input: for the owner it changes data."""
    logged_in(client, owner)
    before = snapshot(world)
    response = client.post(world.url(path), data=full_payload(world, token(client, world)))
    assert response.status_code == 302, text(response)
    assert snapshot(world) != before


# --- every URL: login, other tenants, other estates -------------------------------------------

ESTATE_PAGES = [
    ("get", "/estates/{estate_id}/"),
    ("post", "/estates/{estate_id}/"),
    ("post", "/estates/{estate_id}/buildings"),
    ("get", "/estates/{estate_id}/buildings/{building_id}"),
    ("post", "/estates/{estate_id}/buildings/{building_id}"),
    ("post", "/estates/{estate_id}/parking"),
    ("post", "/estates/{estate_id}/parking/{space_id}"),
    ("get", "/estates/{estate_id}/households"),
    ("post", "/estates/{estate_id}/households"),
    ("get", "/estates/{estate_id}/households/{household_id}"),
    ("post", "/estates/{estate_id}/households/{household_id}"),
]
TENANT_PAGES = [("get", "/"), ("get", "/estates/"), ("post", "/estates/"), *ESTATE_PAGES]


@pytest.mark.parametrize(("method", "path"), TENANT_PAGES)
def test_pages_require_login(client, db, world, method, path):
    response = getattr(client, method)(world.url(path))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


@pytest.mark.parametrize(("method", "path"), TENANT_PAGES)
def test_returns_404_if_member_of_another_tenant(client, db, world, method, path):
    attacker = member(Role.OWNER)
    attack_world = make_world(attacker, code="ATK")
    logged_in(client, attacker)
    payload = full_payload(world, token(client, attack_world))
    before = snapshot(world)
    response = getattr(client, method)(world.url(path), data=payload)
    assert response.status_code == 404
    if "{" in path:  # the victim's ids through the attacker's own tenant are unknown too
        own = f"/t/{attacker.tenant.slug}" + path.format(**world.ids())
        assert getattr(client, method)(own, data=payload).status_code == 404
    assert snapshot(world) == before


def test_other_tenants_estates_never_show(client, db, world):
    other = member(Role.OWNER)
    make_world(other, code="MINE")
    logged_in(client, other)
    for path in ("/", "/estates/", "/estates/?q=测试"):
        page = text(client.get(f"/t/{other.tenant.slug}{path}"))
        assert "测试小区MINE" in page
        assert "测试小区E1" not in page


@pytest.mark.parametrize(("method", "path"), ESTATE_PAGES)
def test_returns_404_outside_the_estate_scope(client, db, owner, world, method, path):
    own = make_world(owner, code="OWN")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, reread(own, Estate, own.estate_id))
    logged_in(client, admin)
    payload = full_payload(world, token(client, own))
    before = snapshot(world)
    if (method, path) == ("post", "/estates/{estate_id}/"):
        # master data is for owners only: the same 403 for any estate, so nothing leaks
        for target in (own, world):
            assert client.post(target.url(path), data=payload).status_code == 403
        assert snapshot(world) == before
        return
    # the estate admin reaches their own estate …
    if method == "get":
        assert client.get(own.url(path)).status_code == 200
    # … but not the other one, nor the other one's children through their own estate
    assert getattr(client, method)(world.url(path), data=payload).status_code == 404
    if "{building_id}" in path or "{household_id}" in path or "{space_id}" in path:
        mixed = path.replace("{estate_id}", str(own.estate_id))
        assert getattr(client, method)(world.url(mixed), data=payload).status_code == 404
    assert snapshot(world) == before


def test_scoped_admin_sees_only_their_estates(client, db, owner, world):
    own = make_world(owner, code="OWN")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, reread(own, Estate, own.estate_id))
    logged_in(client, admin)
    for path in ("/", "/estates/", "/estates/?q=测试"):
        page = text(client.get(own.url(path)))
        assert "测试小区OWN" in page and "测试小区E1" not in page


@pytest.mark.parametrize(
    "path",
    [
        "/estates/{estate_id}/",
        "/estates/{estate_id}/households",
        "/estates/{estate_id}/households/{household_id}",
    ],
)
def test_scoped_cashier_gets_404_outside_the_estate_scope(client, db, owner, world, path):
    own = make_world(owner, code="OWN")
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    scope_member(cashier, reread(own, Estate, own.estate_id))
    logged_in(client, cashier)
    assert client.get(own.url(path)).status_code == 200
    assert client.get(world.url(path)).status_code == 404
