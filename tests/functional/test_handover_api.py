"""Handover API: ``/api/v1/t/<slug>/estates/<id>/transitions`` and its sub-resources."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db as database
from ruihe_saas.handover import services
from ruihe_saas.handover.models import HandoverTransition, OwnersVote
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.factories import TenantFactory, member
from tests.unit.handover.builders import (
    agreement,
    checklist,
    json_ready,
    make_estate,
    scope_to,
    vote,
)


@dataclass
class Setup:
    slug: str
    tenant_id: object
    estate_id: object
    other_estate_id: object
    transition_id: object  # the estate's caretaking transition (reversible)
    owner: str  # tokens
    admin_a: str  # estate admin scoped to the estate
    admin_b: str  # estate admin scoped to the other estate
    viewer: str
    finance: str
    cashier: str


@pytest.fixture
def setup(db) -> Setup:
    tenant = TenantFactory()
    estate = make_estate(tenant.id, "MOER")
    other = make_estate(tenant.id, "DZ1")
    with tenant_context(tenant.id):
        caretaking = services.record_transition(
            estate, HandoverStage.PARTIAL_CARETAKING, date(2023, 12, 1), agreement=agreement()
        )
    tokens = {}
    for name, role in [
        ("owner", Role.OWNER),
        ("admin_a", Role.ESTATE_ADMIN),
        ("admin_b", Role.ESTATE_ADMIN),
        ("viewer", Role.VIEWER),
        ("finance", Role.FINANCE),
        ("cashier", Role.CASHIER),
    ]:
        membership = member(role, tenant=tenant)
        if name == "admin_a":
            scope_to(membership, estate)
        if name in {"admin_b", "cashier"}:
            scope_to(membership, other)
        tokens[name] = issue_token(membership.user, days=1)
    return Setup(
        slug=tenant.slug,
        tenant_id=tenant.id,
        estate_id=estate.id,
        other_estate_id=other.id,
        transition_id=caretaking.id,
        **tokens,
    )


def url(setup: Setup, suffix: str = "", estate_id=None) -> str:
    return f"/api/v1/t/{setup.slug}/estates/{estate_id or setup.estate_id}/transitions{suffix}"


def takeover_body(**changes) -> dict:
    body = {
        "to_stage": "full_takeover",
        "effective_date": "2024-12-01",
        "note": "动员大会表决通过",
        "vote": vote(),
        "checklist": checklist(),
    }
    body.update(changes)
    return json_ready(body)


def stored_estate(setup: Setup) -> Estate:
    with tenant_context(setup.tenant_id):
        return database.session.get(
            Estate, (setup.tenant_id, setup.estate_id), populate_existing=True
        )


def transition_count(setup: Setup) -> int:
    with tenant_context(setup.tenant_id):
        return database.session.scalar(select(func.count()).select_from(HandoverTransition))


# --- reading ------------------------------------------------------------------------------


def test_history_lists_transitions_oldest_first_with_evidence(client, setup):
    client.post(url(setup), json=takeover_body(), headers=bearer(setup.owner))
    response = client.get(url(setup), headers=bearer(setup.viewer))
    assert response.status_code == 200
    body = response.json
    assert body["total"] == 2
    first, second = body["items"]
    assert (first["from_stage"], first["to_stage"]) == ("prospect", "partial_caretaking")
    assert first["agreement"]["services"] == ["cleaning", "greening", "fee_collection"]
    assert first["vote"] is None and first["checklist"] == []
    assert (second["to_stage"], second["effective_date"]) == ("full_takeover", "2024-12-01")
    assert second["vote"]["art278"]["passed"] is True
    assert len(second["checklist"]) == len(services.DEFAULT_CHECKLIST)


def test_history_is_paginated(client, setup):
    client.post(url(setup), json=takeover_body(), headers=bearer(setup.owner))
    response = client.get(url(setup) + "?page=2&per_page=1", headers=bearer(setup.owner))
    assert response.status_code == 200
    assert response.json["total"] == 2
    assert [item["to_stage"] for item in response.json["items"]] == ["full_takeover"]


def test_one_transition(client, setup):
    response = client.get(url(setup, f"/{setup.transition_id}"), headers=bearer(setup.viewer))
    assert response.status_code == 200
    assert response.json["id"] == str(setup.transition_id)
    assert response.json["agreement"]["counterparty"] == "云南模二机械有限公司"


def test_checklist_template_and_settlement_summary(client, setup):
    template = client.get(url(setup, "/checklist-template"), headers=bearer(setup.viewer))
    assert template.status_code == 200
    assert [item["title"] for item in template.json] == list(services.DEFAULT_CHECKLIST)
    summary = client.get(url(setup, "/settlement-summary"), headers=bearer(setup.viewer))
    assert summary.status_code == 200
    assert summary.json == {
        "open_bills": {"available": False, "count": 0, "amount": "0.00"},
        "prepaid_balances": {"available": False, "count": 0, "amount": "0.00"},
        "carried_over_items": [],
    }


# --- recording ----------------------------------------------------------------------------


def test_takeover_is_recorded_with_its_ratios(client, setup):
    response = client.post(url(setup), json=takeover_body(), headers=bearer(setup.owner))
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["from_stage"], body["to_stage"]) == (
        "advance",
        "partial_caretaking",
        "full_takeover",
    )
    art278 = body["vote"]["art278"]
    assert art278["participation_owners"] == {
        "numerator": "800",
        "denominator": "976",
        "percent": "81.97",
        "rule": "≥ 2/3",
        "passed": True,
    }
    assert art278["approval_area"]["percent"] == "86.54"
    assert body["vote"]["total_area"] == "62000.00"
    assert body["recorded_by_name"]
    estate = stored_estate(setup)
    assert (estate.stage, estate.stage_since) == (HandoverStage.FULL_TAKEOVER, date(2024, 12, 1))
    with tenant_context(setup.tenant_id):
        assert services.derived_stage(estate) == (estate.stage, estate.stage_since)


def test_failing_vote_is_422_with_the_four_ratios(client, setup):
    body = takeover_body(vote=json_ready(vote(participating_owners=650, approving_owners=326)))
    response = client.post(url(setup), json=body, headers=bearer(setup.owner))
    assert response.status_code == 422
    fields = response.json["error"]["fields"]
    assert list(fields["vote"]) == ["participation_owners"]
    assert fields["vote_ratios"] == {
        "participation_area": "83.87",
        "participation_owners": "66.60",
        "approval_area": "86.54",
        "approval_owners": "50.15",
    }
    assert transition_count(setup) == 1
    assert stored_estate(setup).stage == HandoverStage.PARTIAL_CARETAKING


def test_missing_evidence_is_422_with_field_errors(client, setup):
    response = client.post(
        url(setup),
        json={"to_stage": "full_takeover", "effective_date": "2024-12-01"},
        headers=bearer(setup.owner),
    )
    assert response.status_code == 422
    assert {"vote", "checklist"} <= set(response.json["error"]["fields"])
    assert transition_count(setup) == 1


def test_open_checklist_item_is_422_by_index(client, setup):
    items = checklist(**{"钥匙": {"status": "open"}})
    response = client.post(
        url(setup), json=takeover_body(checklist=json_ready(items)), headers=bearer(setup.owner)
    )
    assert response.status_code == 422
    index = str(list(services.DEFAULT_CHECKLIST).index("钥匙"))
    assert "status" in response.json["error"]["fields"]["checklist"][index]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to_stage": "someday", "effective_date": "2024-12-01"}, "to_stage"),
        ({"to_stage": "terminated"}, "effective_date"),
        ({"to_stage": "terminated", "effective_date": "2024-02-30"}, "effective_date"),
        (
            {
                "to_stage": "full_takeover",
                "effective_date": "2024-12-01",
                "vote": {**json_ready(vote()), "total_area": "abc"},
            },
            "vote",
        ),
        (
            {
                "to_stage": "full_takeover",
                "effective_date": "2024-12-01",
                "checklist": [{"title": "钥匙", "status": "lost"}],
            },
            "checklist",
        ),
    ],
)
def test_malformed_bodies_are_422(client, setup, body, field):
    response = client.post(url(setup), json=body, headers=bearer(setup.owner))
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_illegal_move_is_409(client, setup):
    response = client.post(
        url(setup),
        json={"to_stage": "prospect", "effective_date": "2024-12-01"},
        headers=bearer(setup.owner),
    )
    assert response.status_code == 409
    assert "to_stage" in response.json["error"]["fields"]


def test_back_dating_is_409_on_effective_date(client, setup):
    response = client.post(
        url(setup), json=takeover_body(effective_date="2023-11-30"), headers=bearer(setup.owner)
    )
    assert response.status_code == 409
    assert "effective_date" in response.json["error"]["fields"]
    assert transition_count(setup) == 1


def test_termination_needs_acknowledgement_and_keeps_the_summary(client, setup):
    body = {"to_stage": "terminated", "effective_date": "2024-06-30"}
    refused = client.post(url(setup), json=body, headers=bearer(setup.owner))
    assert refused.status_code == 422
    assert "settlement_acknowledged" in refused.json["error"]["fields"]
    done = client.post(
        url(setup), json={**body, "settlement_acknowledged": True}, headers=bearer(setup.owner)
    )
    assert done.status_code == 201
    assert done.json["settlement"]["open_bills"] == {
        "available": False,
        "count": 0,
        "amount": "0.00",
    }
    assert stored_estate(setup).stage == HandoverStage.TERMINATED


def test_caretaking_agreement_round_trip(client, setup):
    body = {
        "to_stage": "partial_caretaking",
        "effective_date": "2024-01-01",
        "agreement": json_ready(agreement(services=["security", "lifts"], term_months=24)),
    }
    response = client.post(
        url(setup, estate_id=setup.other_estate_id), json=body, headers=bearer(setup.owner)
    )
    assert response.status_code == 201, response.json
    assert response.json["agreement"]["services"] == ["security", "lifts"]
    assert response.json["agreement"]["term_months"] == 24
    again = client.post(
        url(setup, estate_id=setup.other_estate_id), json=body, headers=bearer(setup.owner)
    )
    assert again.status_code == 409  # already in partial caretaking


def test_bad_agreement_is_422_with_nested_fields(client, setup):
    body = {
        "to_stage": "partial_caretaking",
        "effective_date": "2024-01-01",
        "agreement": {"counterparty": " ", "services": [], "start_date": "2024-01-01"},
    }
    response = client.post(
        url(setup, estate_id=setup.other_estate_id), json=body, headers=bearer(setup.owner)
    )
    assert response.status_code == 422
    assert {"counterparty", "services", "term_months"} <= set(
        response.json["error"]["fields"]["agreement"]
    )


# --- reversal -----------------------------------------------------------------------------


def test_reversal_creates_a_reversal_record(client, setup):
    response = client.post(
        url(setup, f"/{setup.transition_id}/reversal"),
        json={"effective_date": "2024-01-15", "reason": "代管协议未生效"},
        headers=bearer(setup.owner),
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["kind"], body["from_stage"], body["to_stage"]) == (
        "reversal",
        "partial_caretaking",
        "prospect",
    )
    assert body["reverses_id"] == str(setup.transition_id)
    assert body["note"] == "代管协议未生效"
    history = client.get(url(setup), headers=bearer(setup.owner)).json["items"]
    assert history[0]["reversed_by_id"] == body["id"]
    estate = stored_estate(setup)
    assert (estate.stage, estate.stage_since) == (HandoverStage.PROSPECT, date(2024, 1, 15))


def test_reversal_rules_over_http(client, setup):
    reversal_url = url(setup, f"/{setup.transition_id}/reversal")
    blank = client.post(
        reversal_url,
        json={"effective_date": "2024-01-15", "reason": " "},
        headers=bearer(setup.owner),
    )
    assert blank.status_code == 422 and "reason" in blank.json["error"]["fields"]
    early = client.post(
        reversal_url,
        json={"effective_date": "2023-11-01", "reason": "早"},
        headers=bearer(setup.owner),
    )
    assert early.status_code == 409 and "effective_date" in early.json["error"]["fields"]
    client.post(url(setup), json=takeover_body(), headers=bearer(setup.owner))
    not_latest = client.post(
        reversal_url,
        json={"effective_date": "2024-12-02", "reason": "不是最新"},
        headers=bearer(setup.owner),
    )
    assert not_latest.status_code == 409
    assert "reverses_id" in not_latest.json["error"]["fields"]
    assert transition_count(setup) == 2


# --- access -------------------------------------------------------------------------------


def all_urls(setup: Setup, estate_id=None) -> list[tuple[str, str, dict | None]]:
    transition = setup.transition_id
    return [
        ("get", url(setup, estate_id=estate_id), None),
        ("post", url(setup, estate_id=estate_id), takeover_body()),
        ("get", url(setup, f"/{transition}", estate_id=estate_id), None),
        (
            "post",
            url(setup, f"/{transition}/reversal", estate_id=estate_id),
            {"effective_date": "2024-01-15", "reason": "测试"},
        ),
        ("get", url(setup, "/checklist-template", estate_id=estate_id), None),
        ("get", url(setup, "/settlement-summary", estate_id=estate_id), None),
    ]


URL_IDS = ["history", "record", "one", "reversal", "template", "settlement"]


@pytest.mark.parametrize("index", range(6), ids=URL_IDS)
def test_returns_404_to_a_member_of_another_tenant(client, setup, index):
    stranger = member(Role.OWNER)
    token = issue_token(stranger.user, days=1)
    method, path, body = all_urls(setup)[index]
    response = getattr(client, method)(path, json=body, headers=bearer(token))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"
    # …and under their own tenant, this tenant's estate does not exist
    own = path.replace(f"/t/{setup.slug}/", f"/t/{stranger.tenant.slug}/")
    response = getattr(client, method)(own, json=body, headers=bearer(token))
    assert response.status_code == 404
    assert transition_count(setup) == 1


@pytest.mark.parametrize("index", range(6), ids=URL_IDS)
def test_returns_404_to_an_estate_admin_of_another_estate(client, setup, index):
    method, path, body = all_urls(setup)[index]
    response = getattr(client, method)(path, json=body, headers=bearer(setup.admin_b))
    assert response.status_code == 404
    assert transition_count(setup) == 1


def test_a_transition_is_not_found_through_another_estate(client, setup):
    response = client.get(
        url(setup, f"/{setup.transition_id}", estate_id=setup.other_estate_id),
        headers=bearer(setup.owner),
    )
    assert response.status_code == 404
    response = client.post(
        url(setup, f"/{setup.transition_id}/reversal", estate_id=setup.other_estate_id),
        json={"effective_date": "2024-01-15", "reason": "错小区"},
        headers=bearer(setup.owner),
    )
    assert response.status_code == 404
    assert stored_estate(setup).stage == HandoverStage.PARTIAL_CARETAKING


def test_scoped_estate_admin_records_transitions_of_their_estate(client, setup):
    response = client.post(url(setup), json=takeover_body(), headers=bearer(setup.admin_a))
    assert response.status_code == 201
    assert client.get(url(setup), headers=bearer(setup.admin_a)).json["total"] == 2


@pytest.mark.parametrize("role", ["viewer", "finance", "cashier"])
def test_roles_without_manage_handover_get_403(client, setup, role):
    token = getattr(setup, role)
    estate_id = setup.other_estate_id if role == "cashier" else setup.estate_id
    writes = [
        (url(setup, estate_id=estate_id), takeover_body()),
        (
            url(setup, f"/{setup.transition_id}/reversal", estate_id=estate_id),
            {"effective_date": "2024-01-15", "reason": "无权"},
        ),
    ]
    for path, body in writes:
        response = client.post(path, json=body, headers=bearer(token))
        assert response.status_code == 403, path
        assert response.json["error"]["code"] == "forbidden"
    assert client.get(url(setup, estate_id=estate_id), headers=bearer(token)).status_code == 200
    assert transition_count(setup) == 1


def test_no_token_is_401(client, setup):
    assert client.get(url(setup)).status_code == 401
    assert client.post(url(setup), json=takeover_body()).status_code == 401


def test_the_vote_is_not_stored_when_the_checklist_fails(client, setup):
    items = checklist(**{"管网": {"status": "carried_over"}})
    response = client.post(
        url(setup), json=takeover_body(checklist=json_ready(items)), headers=bearer(setup.owner)
    )
    assert response.status_code == 422
    with tenant_context(setup.tenant_id):
        assert database.session.scalar(select(func.count()).select_from(OwnersVote)) == 0
