"""Handover pages: the timeline, the transition forms, their errors, access."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import render_template_string
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db as database
from ruihe_saas.handover import services
from ruihe_saas.handover.models import HandoverTransition
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, TenantFactory, member
from tests.unit.handover.builders import agreement, checklist, make_estate, scope_to, vote


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


@pytest.fixture
def estate(owner):
    return make_estate(owner.tenant_id, "MOER")


def page_url(membership, estate) -> str:
    return f"/t/{membership.tenant.slug}/estates/{estate.id}/handover"


def logged_in(client, membership):
    login(client, membership.user.email, PASSWORD)
    return membership


def stored(membership, estate) -> Estate:
    with tenant_context(membership.tenant_id):
        return database.session.get(
            Estate, (membership.tenant_id, estate.id), populate_existing=True
        )


def transition_count(membership) -> int:
    with tenant_context(membership.tenant_id):
        return database.session.scalar(select(func.count()).select_from(HandoverTransition))


def caretaking_form(token: str, **changes) -> dict:
    data = {
        "caretaking-csrf_token": token,
        "caretaking-effective_date": "2023-12-01",
        "caretaking-counterparty": "云南模二机械有限公司",
        "caretaking-services": ["cleaning", "greening"],
        "caretaking-start_date": "2023-12-01",
        "caretaking-term_months": "12",
        "caretaking-notes": "代管一年",
        "caretaking-note": "社区物业公司代管",
    }
    data.update(changes)
    return data


def takeover_form(token: str, items=None, **changes) -> dict:
    data = {
        "takeover-csrf_token": token,
        "takeover-effective_date": "2024-12-01",
        "takeover-meeting_date": "2024-11-20",
        "takeover-total_owners": "976",
        "takeover-total_area": "62000.00",
        "takeover-participating_owners": "800",
        "takeover-participating_area": "52000.50",
        "takeover-approving_owners": "700",
        "takeover-approving_area": "45000.00",
        "takeover-note": "动员大会",
    }
    for index, item in enumerate(items if items is not None else checklist()):
        for key, value in item.items():
            data[f"takeover-checklist-{index}-{key}"] = (
                value.isoformat() if isinstance(value, date) else value
            )
    data.update(changes)
    return data


def text_of(response) -> str:
    return response.get_data(as_text=True)


# --- the page -----------------------------------------------------------------------------


def test_page_shows_the_timeline_and_the_forms_of_the_next_moves(client, owner, estate):
    with tenant_context(owner.tenant_id):
        services.record_transition(
            estate, HandoverStage.PARTIAL_CARETAKING, date(2023, 12, 1), agreement=agreement()
        )
    logged_in(client, owner)
    response = client.get(page_url(owner, estate))
    assert response.status_code == 200
    html = text_of(response)
    assert html.count('data-testid="transition"') == 1
    assert "云南模二机械有限公司" in html and "2023-12-01" in html
    # from partial caretaking: full takeover or termination, and the reversal
    assert 'data-testid="takeover-form"' in html
    assert 'data-testid="termination-form"' in html
    assert 'data-testid="reversal-form"' in html
    assert 'data-testid="caretaking-form"' not in html
    # the checklist is pre-filled from the template, every item open
    for title in services.DEFAULT_CHECKLIST:
        assert f'value="{title}"' in html
    assert html.count('data-testid="checklist-row"') == len(services.DEFAULT_CHECKLIST)
    # the calculator's script is a same-origin file (CSP: no inline scripts)
    assert "/static/js/handover.js" in html
    assert "<script>" not in html and " onclick=" not in html


def test_prospect_gets_caretaking_and_takeover_forms(client, owner, estate):
    logged_in(client, owner)
    html = text_of(client.get(page_url(owner, estate)))
    assert 'data-testid="caretaking-form"' in html and 'data-testid="takeover-form"' in html
    assert 'data-testid="termination-form"' not in html
    assert 'data-testid="reversal-form"' not in html
    assert 'value="云南模二机械有限公司"' in html  # counterparty defaults to the competent unit


def test_viewer_sees_the_timeline_without_forms(client, owner, estate):
    viewer = logged_in(client, member(Role.VIEWER, tenant=owner.tenant))
    response = client.get(page_url(viewer, estate))
    assert response.status_code == 200
    html = text_of(response)
    assert 'data-testid="timeline"' in html
    for name in ("caretaking", "takeover", "termination", "reversal"):
        assert f'data-testid="{name}-form"' not in html


# --- partial caretaking ---------------------------------------------------------------------


def test_caretaking_is_recorded_and_redirects(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    response = client.post(page_url(owner, estate) + "/caretaking", data=caretaking_form(token))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(page_url(owner, estate))
    saved = stored(owner, estate)
    assert (saved.stage, saved.stage_since) == (HandoverStage.PARTIAL_CARETAKING, date(2023, 12, 1))
    html = text_of(client.get(page_url(owner, estate)))
    assert 'data-testid="agreement"' in html
    assert owner.user.name in html  # who recorded it


def test_caretaking_form_errors_rerender_with_422(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    data = caretaking_form(token, **{"caretaking-counterparty": "  "})
    data.pop("caretaking-services")
    response = client.post(page_url(owner, estate) + "/caretaking", data=data)
    assert response.status_code == 422
    html = text_of(response)
    assert 'id="caretaking-counterparty-errors"' in html
    assert 'id="caretaking-services-errors"' in html
    assert "代管一年" in html  # what was typed is kept
    assert transition_count(owner) == 0
    assert stored(owner, estate).stage == HandoverStage.PROSPECT


def test_caretaking_term_out_of_range_is_422(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    response = client.post(
        page_url(owner, estate) + "/caretaking",
        data=caretaking_form(token, **{"caretaking-term_months": "601"}),
    )
    assert response.status_code == 422
    assert 'id="caretaking-term_months-errors"' in text_of(response)
    assert transition_count(owner) == 0


# --- full takeover ------------------------------------------------------------------------


def test_takeover_is_recorded_with_its_ratios_on_the_timeline(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    items = checklist(
        **{"遗留投诉": {"status": "carried_over", "responsible": "张三", "due_date": "2025-03-31"}}
    )
    response = client.post(page_url(owner, estate) + "/takeover", data=takeover_form(token, items))
    assert response.status_code == 302, text_of(response)
    saved = stored(owner, estate)
    assert (saved.stage, saved.stage_since) == (HandoverStage.FULL_TAKEOVER, date(2024, 12, 1))
    html = text_of(client.get(page_url(owner, estate)))
    assert 'data-ratio="participation_owners">81.97%' in html
    assert "张三" in html
    assert 'data-testid="termination-form"' in html  # the next move


def test_failing_vote_rerenders_with_the_servers_ratios(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    data = takeover_form(
        token,
        **{"takeover-participating_owners": "650", "takeover-approving_owners": "325"},
    )
    response = client.post(page_url(owner, estate) + "/takeover", data=data)
    assert response.status_code == 422
    html = text_of(response)
    row = re.search(r'data-art278-check="participation_owners" class="fail">.*?</tr>', html, re.S)
    assert row and "66.60%" in row.group(0)
    row = re.search(r'data-art278-check="approval_owners" class="fail">.*?</tr>', html, re.S)
    assert row and "50.00%" in row.group(0)
    assert re.search(r'data-art278-check="participation_area" class="pass">', html)
    assert 'id="takeover-participating_owners-errors"' in html
    assert 'data-testid="art278-overall" class="overall fail"' in html
    assert transition_count(owner) == 0


def test_open_or_incomplete_checklist_rows_show_their_errors(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    items = checklist(**{"钥匙": {"status": "open"}, "绿化": {"status": "carried_over"}})
    response = client.post(page_url(owner, estate) + "/takeover", data=takeover_form(token, items))
    assert response.status_code == 422
    html = text_of(response)
    keys = list(services.DEFAULT_CHECKLIST).index("钥匙")
    greening = list(services.DEFAULT_CHECKLIST).index("绿化")
    assert f'id="takeover-checklist-{keys}-status-errors"' in html
    assert f'id="takeover-checklist-{greening}-responsible-errors"' in html
    assert f'id="takeover-checklist-{greening}-due_date-errors"' in html
    assert transition_count(owner) == 0


def test_missing_checklist_rows_are_reported(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    items = [item for item in checklist() if item["title"] != "管网"]
    response = client.post(page_url(owner, estate) + "/takeover", data=takeover_form(token, items))
    assert response.status_code == 422
    assert re.search(r'class="error" role="alert">[^<]*管网', text_of(response))


def test_blank_vote_numbers_are_422(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    response = client.post(
        page_url(owner, estate) + "/takeover",
        data=takeover_form(token, **{"takeover-total_area": "", "takeover-total_owners": "x"}),
    )
    assert response.status_code == 422
    html = text_of(response)
    assert 'id="takeover-total_area-errors"' in html
    assert 'id="takeover-total_owners-errors"' in html
    assert transition_count(owner) == 0


def test_back_dating_shows_a_conflict_on_the_date(client, owner, estate):
    with tenant_context(owner.tenant_id):
        services.record_transition(
            estate, HandoverStage.PARTIAL_CARETAKING, date(2024, 12, 5), agreement=agreement()
        )
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    response = client.post(page_url(owner, estate) + "/takeover", data=takeover_form(token))
    assert response.status_code == 409
    assert 'id="takeover-effective_date-errors"' in text_of(response)
    assert transition_count(owner) == 1


def test_a_move_no_longer_allowed_is_a_conflict(client, owner, estate):
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    response = client.post(
        page_url(owner, estate) + "/termination",
        data={
            "termination-csrf_token": token,
            "termination-effective_date": "2024-01-01",
            "termination-settlement_acknowledged": "y",
        },
    )
    assert response.status_code == 409
    assert 'data-testid="termination-form"' in text_of(response)
    assert transition_count(owner) == 0


# --- termination and reversal ---------------------------------------------------------------


def test_termination_needs_the_acknowledgement(client, owner, estate):
    with tenant_context(owner.tenant_id):
        services.record_transition(
            estate,
            HandoverStage.FULL_TAKEOVER,
            date(2023, 7, 1),
            vote=vote(meeting_date=date(2023, 6, 1)),
            checklist=checklist(
                **{
                    "钥匙": {
                        "status": "carried_over",
                        "responsible": "李四",
                        "due_date": "2023-09-01",
                    }
                }
            ),
        )
    logged_in(client, owner)
    html = text_of(client.get(page_url(owner, estate)))
    assert 'data-testid="carried-over"' in html and "李四" in html
    token = csrf_from(client, page_url(owner, estate))
    data = {"termination-csrf_token": token, "termination-effective_date": "2024-06-30"}
    refused = client.post(page_url(owner, estate) + "/termination", data=data)
    assert refused.status_code == 422
    assert 'id="termination-settlement_acknowledged-errors"' in text_of(refused)
    assert stored(owner, estate).stage == HandoverStage.FULL_TAKEOVER
    done = client.post(
        page_url(owner, estate) + "/termination",
        data={**data, "termination-settlement_acknowledged": "y"},
    )
    assert done.status_code == 302
    assert stored(owner, estate).stage == HandoverStage.TERMINATED
    html = text_of(client.get(page_url(owner, estate)))
    assert 'data-testid="settlement"' in html


def test_reversal_from_the_page(client, owner, estate):
    with tenant_context(owner.tenant_id):
        caretaking = services.record_transition(
            estate, HandoverStage.PARTIAL_CARETAKING, date(2023, 12, 1), agreement=agreement()
        )
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    data = {
        "reversal-csrf_token": token,
        "reversal-reverses_id": str(caretaking.id),
        "reversal-effective_date": "2024-01-10",
        "reversal-reason": "  ",
    }
    blank = client.post(page_url(owner, estate) + "/reversal", data=data)
    assert blank.status_code == 422
    assert 'id="reversal-reason-errors"' in text_of(blank)
    done = client.post(
        page_url(owner, estate) + "/reversal", data={**data, "reversal-reason": "协议未签"}
    )
    assert done.status_code == 302
    saved = stored(owner, estate)
    assert (saved.stage, saved.stage_since) == (HandoverStage.PROSPECT, date(2024, 1, 10))
    html = text_of(client.get(page_url(owner, estate)))
    assert 'data-kind="reversal"' in html and "协议未签" in html
    assert 'data-testid="reversed"' in html


def test_reversal_of_a_stale_transition_is_a_conflict(client, owner, estate):
    with tenant_context(owner.tenant_id):
        caretaking = services.record_transition(
            estate, HandoverStage.PARTIAL_CARETAKING, date(2023, 12, 1), agreement=agreement()
        )
        services.reverse_transition(estate, caretaking.id, date(2023, 12, 2), "误录")
    logged_in(client, owner)
    token = csrf_from(client, page_url(owner, estate))
    response = client.post(
        page_url(owner, estate) + "/reversal",
        data={
            "reversal-csrf_token": token,
            "reversal-reverses_id": str(caretaking.id),
            "reversal-effective_date": "2024-01-10",
            "reversal-reason": "再次撤销",
        },
    )
    assert response.status_code == 409
    assert 'role="alert"' in text_of(response)
    assert transition_count(owner) == 2


def test_post_without_csrf_token_is_refused(client, owner, estate):
    logged_in(client, owner)
    data = caretaking_form("")
    data.pop("caretaking-csrf_token")
    response = client.post(page_url(owner, estate) + "/caretaking", data=data)
    assert response.status_code == 400
    assert transition_count(owner) == 0


# --- access -------------------------------------------------------------------------------


SUFFIXES = ["", "/caretaking", "/takeover", "/termination", "/reversal"]


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_returns_404_to_a_member_of_another_tenant(client, owner, estate, suffix):
    stranger = logged_in(client, member(Role.OWNER))
    path = f"/handover{suffix}"
    for slug in (owner.tenant.slug, stranger.tenant.slug):
        url = f"/t/{slug}/estates/{estate.id}{path}"
        response = (
            client.get(url) if not suffix else client.post(url, data=_valid_post(client, suffix))
        )
        assert response.status_code == 404, url
    assert transition_count(owner) == 0


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_returns_404_to_an_estate_admin_of_another_estate(client, owner, estate, suffix):
    other = make_estate(owner.tenant_id, "DZ1")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_to(admin, other)
    logged_in(client, admin)
    assert client.get(page_url(admin, other)).status_code == 200
    url = page_url(admin, estate) + suffix
    response = client.get(url) if not suffix else client.post(url, data=_valid_post(client, suffix))
    assert response.status_code == 404
    assert transition_count(owner) == 0


def test_scoped_estate_admin_records_on_their_estate(client, owner, estate):
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_to(admin, estate)
    logged_in(client, admin)
    token = csrf_from(client, page_url(admin, estate))
    response = client.post(page_url(admin, estate) + "/caretaking", data=caretaking_form(token))
    assert response.status_code == 302
    assert stored(owner, estate).stage == HandoverStage.PARTIAL_CARETAKING


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.CASHIER])
@pytest.mark.parametrize("suffix", SUFFIXES[1:])
def test_roles_without_manage_handover_get_403(client, owner, estate, role, suffix):
    someone = member(role, tenant=owner.tenant)
    if role == Role.CASHIER:
        scope_to(someone, estate)
    logged_in(client, someone)
    assert client.get(page_url(someone, estate)).status_code == 200
    response = client.post(page_url(someone, estate) + suffix, data=_valid_post(client, suffix))
    assert response.status_code == 403
    assert transition_count(owner) == 0


def test_anonymous_is_sent_to_login(client, owner, estate):
    response = client.get(page_url(owner, estate))
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def _valid_post(client, suffix: str) -> dict:
    """A well-formed submission of the form at ``suffix`` (CSRF included)."""
    token = csrf_from(client, "/account/password")  # any page of the logged-in user
    if suffix == "/caretaking":
        return caretaking_form(token)
    if suffix == "/takeover":
        return takeover_form(token)
    if suffix == "/termination":
        return {
            "termination-csrf_token": token,
            "termination-effective_date": "2024-06-30",
            "termination-settlement_acknowledged": "y",
        }
    return {
        "reversal-csrf_token": token,
        "reversal-reverses_id": "01900000-0000-7000-8000-000000000000",
        "reversal-effective_date": "2024-06-30",
        "reversal-reason": "测试",
    }


# --- the timeline partial -----------------------------------------------------------------


def test_timeline_partial_renders_from_transitions_alone(app, owner, estate):
    with tenant_context(owner.tenant_id):
        services.record_transition(
            estate,
            HandoverStage.FULL_TAKEOVER,
            date(2023, 7, 1),
            vote=vote(meeting_date=date(2023, 6, 20)),
            checklist=checklist(),
            note="全面接管",
        )
        transitions = services.transitions_of(estate)
    with app.test_request_context("/"):
        html = render_template_string(
            '{% include "handover/_timeline.html" %}', transitions=transitions
        )
        empty = render_template_string('{% include "handover/_timeline.html" %}', transitions=[])
    assert html.count('data-testid="transition"') == 1
    assert 'data-stage="full_takeover"' in html and "全面接管" in html
    assert 'data-testid="vote"' in html and 'data-testid="checklist"' in html
    assert 'data-testid="timeline"' in empty and "<ol" not in empty


def test_stage_badge_macro(app):
    with app.test_request_context("/"):
        html = render_template_string(
            '{% from "handover/_stage.html" import stage_badge %}{{ stage_badge(s) }}'
            "{{ stage_badge('prospect') }}",
            s=HandoverStage.PARTIAL_CARETAKING,
        )
    assert 'class="badge stage-partial_caretaking"' in html
    assert 'data-stage="prospect"' in html


def test_unknown_tenant_member_cannot_see_other_tenants_estates(client, owner, estate):
    other_tenant = TenantFactory()
    intruder = logged_in(client, member(Role.OWNER, tenant=other_tenant))
    assert client.get(f"/t/{intruder.tenant.slug}/estates/{estate.id}/handover").status_code == 404
