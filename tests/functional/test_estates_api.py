"""Estates API: estates, buildings, households, parking; estate scope; audit trail."""

from __future__ import annotations

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


def api(owner, path: str = "") -> str:
    return f"/api/v1/t/{owner.tenant.slug}/estates{path}"


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def test_owner_onboards_and_edits_an_estate(client, owner):
    headers = auth(owner)
    body = {
        "name": "模二厂生活小区",
        "code": "MOER",
        "year_built": 1993,
        "competent_unit": "云南模二机械有限公司",
    }
    created = client.post(api(owner), json=body, headers=headers)
    assert created.status_code == 201
    estate = created.json
    assert (estate["stage"], estate["stage_since"]) == ("prospect", None)
    assert (estate["building_count"], estate["household_count"]) == (0, 0)
    patched = client.patch(
        api(owner, f"/{estate['id']}"), json={"address": "建宁街道"}, headers=headers
    )
    assert patched.status_code == 200
    assert patched.json["address"] == "建宁街道" and patched.json["name"] == "模二厂生活小区"
    duplicate = client.post(api(owner), json={**body, "name": "另一个"}, headers=headers)
    assert duplicate.status_code == 409 and "code" in duplicate.json["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": " ", "code": "X1"}, "name"),
        ({"name": "小区", "code": "有空格 x"}, "code"),
        ({"name": "小区", "code": "X1", "year_built": 1800}, "year_built"),
        ({"code": "X1"}, "name"),
    ],
)
def test_bad_estates_are_422(client, owner, body, field):
    response = client.post(api(owner), json=body, headers=auth(owner))
    assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_buildings_households_and_parking(client, db, owner):
    headers = auth(owner)
    estate = client.post(
        api(owner), json={"name": "地质一大队生活小区", "code": "DZYD"}, headers=headers
    ).json
    base = api(owner, f"/{estate['id']}")
    building = client.post(
        f"{base}/buildings",
        json={"name": "1栋", "floors": 11, "has_lift": True, "kind": "small_high_rise"},
        headers=headers,
    ).json
    household = client.post(
        f"{base}/households",
        json={
            "building_id": building["id"],
            "unit": "2",
            "room": "502",
            "floor": 5,
            "area": "86.456",
            "owner_names": "张三",
            "phones": "13900000000",
            "occupancy": "rented",
        },
        headers=headers,
    )
    assert household.status_code == 201
    assert household.json["area"] == "86.46"  # half-up to 0.01
    assert household.json["label"] == "1栋2单元502"
    again = client.post(
        f"{base}/households",
        json={"building_id": building["id"], "unit": "2", "room": "502", "area": "70"},
        headers=headers,
    )
    assert again.status_code == 409
    space = client.post(
        f"{base}/parking-spaces",
        json={"number": "P-001", "kind": "surface", "household_id": household.json["id"]},
        headers=headers,
    )
    assert space.status_code == 201 and space.json["household_id"] == household.json["id"]
    freed = client.patch(
        f"{base}/parking-spaces/{space.json['id']}", json={"household_id": None}, headers=headers
    )
    assert freed.json["household_id"] is None
    summary = client.get(base, headers=headers).json
    assert (summary["building_count"], summary["household_count"]) == (1, 1)


def test_household_filters_search_and_pagination(client, owner):
    estate = estate_with_households(owner.tenant_id, "F", buildings=2, rooms=3)
    headers = auth(owner)
    base = api(owner, f"/{estate.id}/households")
    assert client.get(f"{base}?per_page=4&page=2", headers=headers).json["total"] == 6
    assert len(client.get(f"{base}?per_page=4&page=2", headers=headers).json["items"]) == 2
    by_name = client.get(f"{base}?q=业主2-3", headers=headers).json
    assert [h["label"] for h in by_name["items"]] == ["2栋1单元301"]
    by_phone = client.get(f"{base}?q=13900001002", headers=headers).json
    assert by_phone["total"] == 1
    buildings = client.get(api(owner, f"/{estate.id}/buildings"), headers=headers).json["items"]
    in_first = client.get(f"{base}?building_id={buildings[0]['id']}", headers=headers).json
    assert in_first["total"] == 3
    assert client.get(f"{base}?occupancy=vacant", headers=headers).json["total"] == 0
    assert client.get(f"{base}?category=nope", headers=headers).status_code == 422


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"room": "1", "area": "0"}, "area"),
        ({"room": "1", "area": "-5"}, "area"),
        ({"room": "1", "area": "abc"}, "area"),
        ({"room": "", "area": "50"}, "room"),
        ({"room": "1", "area": "50", "category": "nope"}, "category"),
    ],
)
def test_bad_households_change_nothing(client, owner, body, field):
    estate = estate_with_households(owner.tenant_id, "G", buildings=1, rooms=1)
    headers = auth(owner)
    building = client.get(api(owner, f"/{estate.id}/buildings"), headers=headers).json["items"][0]
    response = client.post(
        api(owner, f"/{estate.id}/households"),
        json={"building_id": building["id"], **body},
        headers=headers,
    )
    assert response.status_code == 422 and field in response.json["error"]["fields"]
    assert client.get(api(owner, f"/{estate.id}/households"), headers=headers).json["total"] == 1


def test_a_household_cannot_use_another_estates_building(client, owner):
    a = estate_with_households(owner.tenant_id, "A", buildings=1, rooms=1)
    b = estate_with_households(owner.tenant_id, "B", buildings=1, rooms=1)
    headers = auth(owner)
    building_b = client.get(api(owner, f"/{b.id}/buildings"), headers=headers).json["items"][0]
    response = client.post(
        api(owner, f"/{a.id}/households"),
        json={"building_id": building_b["id"], "room": "9", "area": "50"},
        headers=headers,
    )
    assert response.status_code == 404


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.CASHIER])
def test_read_only_roles_cannot_write(client, owner, role):
    estate = estate_with_households(owner.tenant_id, "R", buildings=1, rooms=1)
    someone = member(role, tenant=owner.tenant)
    if role == Role.CASHIER:
        scope_member(someone, estate)
    headers = auth(someone)
    assert client.get(api(owner, f"/{estate.id}"), headers=headers).status_code == 200
    assert (
        client.post(api(owner), json={"name": "x", "code": "X"}, headers=headers).status_code == 403
    )
    response = client.post(
        api(owner, f"/{estate.id}/buildings"), json={"name": "9栋", "floors": 3}, headers=headers
    )
    assert response.status_code == 403


# --- estate scope -----------------------------------------------------------------------------


@pytest.fixture
def scoped(db, owner):
    a = estate_with_households(owner.tenant_id, "A", buildings=1, rooms=2)
    b = estate_with_households(owner.tenant_id, "B", buildings=1, rooms=2)
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, a)
    return admin, a, b


def test_estate_admin_sees_and_edits_only_their_estates(client, owner, scoped):
    admin, a, b = scoped
    headers = auth(admin)
    listed = client.get(api(owner), headers=headers).json
    assert [e["code"] for e in listed["items"]] == ["A"] and listed["total"] == 1
    created = client.post(
        api(owner, f"/{a.id}/buildings"), json={"name": "2栋", "floors": 5}, headers=headers
    )
    assert created.status_code == 201


def _ids(client, owner, estate) -> dict:
    headers = auth(owner)
    base = api(owner, f"/{estate.id}")
    building = client.get(f"{base}/buildings", headers=headers).json["items"][0]
    household = client.get(f"{base}/households", headers=headers).json["items"][0]
    space = client.post(f"{base}/parking-spaces", json={"number": "P9"}, headers=headers).json
    return {
        "estate_id": estate.id,
        "building_id": building["id"],
        "household_id": household["id"],
        "space_id": space["id"],
    }


ESTATE_CALLS = [
    ("get", "/{estate_id}", None),
    ("patch", "/{estate_id}", {"name": "改名"}),
    ("get", "/{estate_id}/buildings", None),
    ("post", "/{estate_id}/buildings", {"name": "9栋", "floors": 3}),
    ("patch", "/{estate_id}/buildings/{building_id}", {"floors": 9}),
    ("get", "/{estate_id}/households", None),
    ("post", "/{estate_id}/households", {"building_id": "{building_id}", "room": "9", "area": "9"}),
    ("get", "/{estate_id}/households/{household_id}", None),
    ("patch", "/{estate_id}/households/{household_id}", {"owner_names": "黑客"}),
    ("get", "/{estate_id}/parking-spaces", None),
    ("post", "/{estate_id}/parking-spaces", {"number": "P100"}),
    ("patch", "/{estate_id}/parking-spaces/{space_id}", {"number": "P101"}),
]


def _fill(body, ids):
    if body is None:
        return None
    return {k: (v.format(**ids) if isinstance(v, str) and "{" in v else v) for k, v in body.items()}


@pytest.mark.parametrize(("method", "path", "body"), ESTATE_CALLS)
def test_returns_404_to_an_estate_admin_of_another_estate(
    client, owner, scoped, method, path, body
):
    admin, a, b = scoped
    ids = _ids(client, owner, b)
    response = getattr(client, method)(
        api(owner, path.format(**ids)), json=_fill(body, ids), headers=auth(admin)
    )
    if (method, path) == ("patch", "/{estate_id}"):
        # editing an estate's master data is for owners: refused alike for every estate id
        assert response.status_code == 403
        own = api(owner, path.format(estate_id=a.id))
        assert client.patch(own, json=body, headers=auth(admin)).status_code == 403
        return
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), ESTATE_CALLS)
def test_returns_404_to_a_member_of_another_tenant(client, owner, scoped, method, path, body):
    _, _, b = scoped
    ids = _ids(client, owner, b)
    intruder = member(Role.OWNER)
    response = getattr(client, method)(
        api(owner, path.format(**ids)), json=_fill(body, ids), headers=auth(intruder)
    )
    assert response.status_code == 404
    # and through the intruder's own tenant, the ids are unknown too
    response = getattr(client, method)(
        api(intruder, path.format(**ids)), json=_fill(body, ids), headers=auth(intruder)
    )
    assert response.status_code == 404


# --- members' estate scope ---------------------------------------------------------------------


def test_owner_sets_an_estate_scope_on_members(client, owner, scoped):
    _, a, b = scoped
    from tests.factories import UserFactory

    newcomer = UserFactory()
    headers = auth(owner)
    members = f"/api/v1/t/{owner.tenant.slug}/members"
    created = client.post(
        members,
        json={"email": newcomer.email, "role": "cashier", "estate_ids": [str(a.id)]},
        headers=headers,
    )
    assert created.status_code == 201 and created.json["estate_ids"] == [str(a.id)]
    patched = client.patch(
        f"{members}/{created.json['id']}",
        json={"estate_ids": [str(a.id), str(b.id)]},
        headers=headers,
    )
    assert sorted(patched.json["estate_ids"]) == sorted([str(a.id), str(b.id)])
    promoted = client.patch(
        f"{members}/{created.json['id']}", json={"role": "finance"}, headers=headers
    )
    assert promoted.json["estate_ids"] is None  # finance sees every estate
    wrong = client.patch(
        f"{members}/{created.json['id']}", json={"estate_ids": [str(a.id)]}, headers=headers
    )
    assert wrong.status_code == 422 and "estate_ids" in wrong.json["error"]["fields"]


def test_estate_scope_must_name_estates_of_this_tenant(client, owner, scoped):
    from tests.factories import UserFactory

    other = member(Role.OWNER)
    foreign = estate_with_households(other.tenant_id, "Z", buildings=1, rooms=1)
    response = client.post(
        f"/api/v1/t/{owner.tenant.slug}/members",
        json={
            "email": UserFactory().email,
            "role": "estate_admin",
            "estate_ids": [str(foreign.id)],
        },
        headers=auth(owner),
    )
    assert response.status_code == 422 and "estate_ids" in response.json["error"]["fields"]


def test_cli_adds_a_member_scoped_to_estates(runner, owner, scoped):
    from tests.factories import UserFactory

    _, a, _ = scoped
    user = UserFactory()
    result = runner.invoke(
        args=["members", "add", owner.tenant.slug, user.email, "estate_admin", "--estate", "A"]
    )
    assert result.exit_code == 0, result.output
    unknown = runner.invoke(
        args=[
            "members",
            "add",
            owner.tenant.slug,
            UserFactory().email,
            "cashier",
            "--estate",
            "NOPE",
        ]
    )
    assert unknown.exit_code != 0 and "NOPE" in unknown.output


# --- audit trail ---------------------------------------------------------------------------------


def test_audit_trail_records_who_changed_what(client, owner, scoped):
    admin, a, b = scoped
    household = client.get(api(owner, f"/{a.id}/households"), headers=auth(owner)).json["items"][0]
    client.patch(
        api(owner, f"/{a.id}/households/{household['id']}"),
        json={"owner_names": "李四", "area": "99.90"},
        headers=auth(admin),
    )
    trail = client.get(
        f"/api/v1/t/{owner.tenant.slug}/audit?object={household['id']}", headers=auth(owner)
    ).json
    latest = trail["items"][0]
    assert latest["action"] == "update"
    assert latest["actor_user_id"] == str(admin.user_id)
    assert latest["changes"]["owner_names"] == [household["owner_names"], "李四"]
    assert latest["changes"]["area"][1] == "99.90"
    assert trail["items"][-1]["action"] == "create"


def test_estate_admins_see_only_their_estates_trail(client, owner, scoped):
    admin, a, b = scoped
    trail = client.get(
        f"/api/v1/t/{owner.tenant.slug}/audit?per_page=100", headers=auth(admin)
    ).json
    assert trail["total"] > 0
    assert {event["estate_id"] for event in trail["items"]} == {str(a.id)}
    everything = client.get(
        f"/api/v1/t/{owner.tenant.slug}/audit?per_page=100", headers=auth(owner)
    ).json
    assert {str(a.id), str(b.id), None} <= {event["estate_id"] for event in everything["items"]}


def test_audit_needs_permission_and_is_tenant_scoped(client, owner, scoped):
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    assert (
        client.get(f"/api/v1/t/{owner.tenant.slug}/audit", headers=auth(viewer)).status_code == 403
    )
    intruder = member(Role.OWNER)
    assert (
        client.get(f"/api/v1/t/{owner.tenant.slug}/audit", headers=auth(intruder)).status_code
        == 404
    )
    own = client.get(
        f"/api/v1/t/{intruder.tenant.slug}/audit?per_page=100", headers=auth(intruder)
    ).json
    assert all(event["estate_id"] is None for event in own["items"])  # only its own member event


def test_the_first_estate_brings_the_household_categories(client, owner):
    headers = auth(owner)
    estate = client.post(api(owner), json={"name": "新小区", "code": "NEW"}, headers=headers).json
    base = api(owner, f"/{estate['id']}")
    building = client.post(f"{base}/buildings", json={"name": "1栋", "floors": 5}, headers=headers)
    household = client.post(
        f"{base}/households",
        json={
            "building_id": building.json["id"],
            "room": "101",
            "area": "60",
            "category": "low_income",
        },
        headers=headers,
    )
    assert household.status_code == 201 and household.json["category"] == "low_income"


def test_oversized_uploads_are_refused_with_413(client, owner, app):
    estate = estate_with_households(owner.tenant_id, "U", buildings=1, rooms=1)
    body = b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    response = client.post(
        api(owner, f"/{estate.id}/imports"),
        data=body,
        content_type="application/octet-stream",
        headers=auth(owner),
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "too_large"


def test_the_collection_target_is_a_percentage(client, owner):
    headers = auth(owner)
    created = client.post(
        api(owner), json={"name": "小区", "code": "T1", "collection_target_percent": "90"},
        headers=headers,
    )  # fmt: skip
    assert created.status_code == 201 and created.json["collection_target_percent"] == "90.00"
    bad = client.patch(
        api(owner, f"/{created.json['id']}"),
        json={"collection_target_percent": "100.5"},
        headers=headers,
    )
    assert bad.status_code == 422 and "collection_target_percent" in bad.json["error"]["fields"]


def test_the_charging_model_and_surplus_shares(client, owner):
    created = client.post(api(owner), json={"name": "小区", "code": "T2"}, headers=auth(owner)).json
    assert (
        created["charging_model"],
        created["remuneration_percent"],
        created["surplus_to_fund_percent"],
    ) == ("remuneration", "0.00", "100.00")
    changed = client.patch(
        api(owner, f"/{created['id']}"),
        json={"charging_model": "lump_sum", "remuneration_percent": "8.5"},
        headers=auth(owner),
    )
    assert changed.status_code == 200, changed.json
    assert (changed.json["charging_model"], changed.json["remuneration_percent"]) == (
        "lump_sum",
        "8.50",
    )
    for body, field in (
        ({"charging_model": "profit"}, "charging_model"),
        ({"surplus_to_fund_percent": "101"}, "surplus_to_fund_percent"),
        ({"remuneration_percent": "-1"}, "remuneration_percent"),
    ):
        bad = client.patch(api(owner, f"/{created['id']}"), json=body, headers=auth(owner))
        assert bad.status_code == 422 and field in bad.json["error"]["fields"], body
    unchanged = client.get(api(owner, f"/{created['id']}"), headers=auth(owner)).json
    assert unchanged["charging_model"] == "lump_sum"
