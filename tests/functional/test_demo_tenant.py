"""The demo tenants loaded from ``tenants/``: the estates, figures and handover histories of
the domain notes, members' estate scopes, isolation of the second tenant, and idempotency."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ruihe_saas.app import PROJECT_ROOT
from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.auth.models import Membership, User
from ruihe_saas.auth.services import (
    estate_scope_of,
    find_user_by_email,
    issue_token,
    membership_in_current_tenant,
)
from ruihe_saas.estates.models import (
    Building,
    BuildingKind,
    Estate,
    HandoverStage,
    Household,
    HouseholdCategory,
    MembershipEstate,
    Occupancy,
    ParkingSpace,
)
from ruihe_saas.estates.services import estate_counts, find_estate_by_code
from ruihe_saas.handover import services as handover
from ruihe_saas.handover.models import (
    CaretakingAgreement,
    ChecklistStatus,
    ChecklistTemplateItem,
    HandoverChecklistItem,
    HandoverTransition,
    OwnersVote,
)
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import estate_scope
from ruihe_saas.tenancy.services import find_tenant
from tests.conftest import bearer

TENANTS = PROJECT_ROOT / "tenants"
FULL, PARTIAL = HandoverStage.FULL_TAKEOVER, HandoverStage.PARTIAL_CARETAKING


def load(runner, path: Path | str) -> str:
    result = runner.invoke(args=["tenants", "load", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def demo(runner, db):
    """Both demo tenants, loaded as ``make demo`` does: ruihe, then nanyuan."""
    load(runner, TENANTS / "ruihe")
    load(runner, TENANTS / "nanyuan")
    return find_tenant("ruihe"), find_tenant("nanyuan")


def estates_of(db, tenant) -> dict[str, Estate]:
    with tenant_context(tenant.id):
        return {estate.code: estate for estate in db.session.scalars(select(Estate))}


def rows(db, model, *where) -> list:
    return list(db.session.scalars(select(model).where(*where)))


def test_the_ruihe_estates_have_the_figures_of_the_domain_notes(db, demo):
    ruihe, _ = demo
    estates = estates_of(db, ruihe)
    assert sorted(estates) == ["DZYD", "MOER"]
    moer, dzyd = estates["MOER"], estates["DZYD"]
    with tenant_context(ruihe.id):
        counts = estate_counts([moer.id, dzyd.id])
        assert counts[moer.id] == (29, 976)
        assert counts[dzyd.id] == (12, 400)
        assert (moer.name, moer.year_built) == ("模二厂生活小区", 1993)
        assert moer.competent_unit == "云南模二机械有限公司"
        assert "业主委员会" in moer.previous_manager
        assert "第一家市场化物业公司" in moer.notes and "演示数据" in moer.notes
        assert "假设" in dzyd.notes and dzyd.competent_unit

        with_lifts = rows(db, Building, Building.estate_id == moer.id, Building.has_lift)
        assert len(with_lifts) == 4
        assert {b.kind for b in with_lifts} == {BuildingKind.SMALL_HIGH_RISE}
        assert all(b.floors == 11 for b in with_lifts)

        households = rows(db, Household, Household.estate_id == moer.id)
        assert all(Decimal(50) <= h.area <= Decimal(130) for h in households)
        assert all(h.area == h.area.quantize(Decimal("0.01")) for h in households)
        # generated data says so, on every household
        assert all(h.owner_names.endswith("（示例）") for h in households)
        assert all("generated demo data" in h.notes for h in households)
        occupancy = Counter(h.occupancy for h in households)
        assert occupancy[Occupancy.OCCUPIED] > 0.75 * len(households)
        assert occupancy[Occupancy.RENTED] and occupancy[Occupancy.VACANT]
        categories = {c.id: c.code for c in db.session.scalars(select(HouseholdCategory))}
        kinds = Counter(categories[h.category_id] for h in households)
        assert kinds.most_common(1)[0][0] == "ordinary" and len(kinds) > 1

        spaces = rows(db, ParkingSpace, ParkingSpace.estate_id == moer.id)
        assigned = [s.household_id for s in spaces if s.household_id]
        assert (len(spaces), len(assigned), len(set(assigned))) == (120, 84, 84)
        assert set(assigned) <= {h.id for h in households}


def test_the_handover_histories_are_recorded_with_their_evidence(db, demo):
    ruihe, _ = demo
    estates = estates_of(db, ruihe)
    moer, dzyd = estates["MOER"], estates["DZYD"]
    assert (moer.stage, moer.stage_since) == (FULL, date(2023, 7, 1))
    assert (dzyd.stage, dzyd.stage_since) == (FULL, date(2024, 12, 1))
    with tenant_context(ruihe.id):
        steps = {
            code: [
                (t.from_stage, t.to_stage, t.effective_date)
                for t in handover.transitions_of(estates[code])
            ]
            for code in estates
        }
        assert steps["MOER"] == [(HandoverStage.PROSPECT, FULL, date(2023, 7, 1))]
        assert steps["DZYD"] == [
            (HandoverStage.PROSPECT, PARTIAL, date(2023, 12, 1)),
            (PARTIAL, FULL, date(2024, 12, 1)),
        ]
        agreement = handover.transitions_of(dzyd)[0].agreement
        assert agreement.counterparty == dzyd.competent_unit
        assert agreement.services == ["cleaning", "greening", "security", "repairs"]
        assert (agreement.start_date, agreement.term_months) == (date(2023, 12, 1), 12)

        template = {item.title for item in handover.checklist_template()}
        for estate in (moer, dzyd):
            takeover = handover.transitions_of(estate)[-1]
            vote = takeover.vote
            assert vote.passed and vote.art278.passed
            # the totals are the estate's own: one owner per household, its total floor area
            households = rows(db, Household, Household.estate_id == estate.id)
            assert vote.total_owners == len(households)
            assert vote.total_area == sum(h.area for h in households)
            assert 3 * vote.participating_area >= 2 * vote.total_area
            assert 2 * vote.approving_owners > vote.participating_owners
            assert vote.meeting_date < takeover.effective_date
            checklist = takeover.checklist
            assert template <= {item.title for item in checklist}
            assert ChecklistStatus.OPEN not in {item.status for item in checklist}
            carried = [i for i in checklist if i.status == ChecklistStatus.CARRIED_OVER]
            assert carried and all(i.responsible and i.due_date for i in carried)


def test_scoped_members_see_only_their_estates(db, demo):
    ruihe, _ = demo
    expected = {
        "admin.moer@ruihe.demo": ["MOER"],
        "admin.dizhi@ruihe.demo": ["DZYD"],
        "cashier@ruihe.demo": ["DZYD", "MOER"],
        "owner@ruihe.demo": ["DZYD", "MOER"],  # not scoped: every estate
        "finance@ruihe.demo": ["DZYD", "MOER"],
    }
    households = {"MOER": 976, "DZYD": 400}
    with tenant_context(ruihe.id):
        for email, codes in expected.items():
            scope = estate_scope_of(membership_in_current_tenant(find_user_by_email(email)))
            with estate_scope(scope):
                seen = db.session.scalars(select(Estate.code).order_by(Estate.code)).all()
                count = db.session.scalar(select(func.count()).select_from(Household))
            assert (seen, count) == (codes, sum(households[c] for c in codes)), email


def test_an_estate_admin_reaches_only_their_estate_through_the_api(client, db, demo):
    ruihe, _ = demo
    estates = estates_of(db, ruihe)
    admin = find_user_by_email("admin.moer@ruihe.demo")
    headers = bearer(issue_token(admin, days=1))
    listed = client.get("/api/v1/t/ruihe/estates", headers=headers)
    assert listed.status_code == 200
    assert [(e["code"], e["household_count"]) for e in listed.json["items"]] == [("MOER", 976)]
    other = client.get(f"/api/v1/t/ruihe/estates/{estates['DZYD'].id}", headers=headers)
    assert other.status_code == 404


def test_the_second_tenant_has_its_own_estate_invisible_from_ruihe(client, db, demo):
    ruihe, nanyuan = demo
    nanyuan_estates = estates_of(db, nanyuan)
    assert sorted(nanyuan_estates) == ["NANYUAN"]
    estate = nanyuan_estates["NANYUAN"]
    assert (estate.stage, estate.stage_since) == (PARTIAL, date(2024, 9, 1))
    with tenant_context(nanyuan.id):
        assert estate_counts([estate.id])[estate.id] == (3, 36)
    with tenant_context(ruihe.id):
        assert find_estate_by_code("NANYUAN") is None
        assert db.session.scalar(select(func.count()).select_from(Household)) == 976 + 400
    # the one user of both tenants asks Ruihe for Nanyuan's estate
    platform = find_user_by_email("platform@ruihe.demo")
    headers = bearer(issue_token(platform, days=1))
    assert client.get(f"/api/v1/t/ruihe/estates/{estate.id}", headers=headers).status_code == 404
    listed = client.get("/api/v1/t/ruihe/estates", headers=headers).json["items"]
    assert sorted(e["code"] for e in listed) == ["DZYD", "MOER"]
    mine = client.get(f"/api/v1/t/nanyuan/estates/{estate.id}", headers=headers)
    assert mine.status_code == 200 and mine.json["household_count"] == 36


TENANT_TABLES = (
    Estate,
    Building,
    Household,
    HouseholdCategory,
    ParkingSpace,
    HandoverTransition,
    CaretakingAgreement,
    OwnersVote,
    HandoverChecklistItem,
    ChecklistTemplateItem,
    Membership,
    MembershipEstate,
    AuditEvent,
)


def snapshot(db, *tenants) -> dict:
    counts = {"users": db.session.scalar(select(func.count()).select_from(User))}
    for tenant in tenants:
        with tenant_context(tenant.id):
            for model in TENANT_TABLES:
                counts[tenant.slug, model.__name__] = db.session.scalar(
                    select(func.count()).select_from(model)
                )
    return counts


def test_loading_again_changes_nothing(runner, db, demo):
    before = snapshot(db, *demo)
    assert before["ruihe", "Household"] == 1376 and before["ruihe", "AuditEvent"] > 1376
    assert before["ruihe", "MembershipEstate"] == 4 and before["users"] == 8
    for slug in ("ruihe", "nanyuan"):
        output = load(runner, TENANTS / slug)
        for word in ("created", "added", "recorded", "updated", "works on", "is now"):
            assert word not in output, output
    assert snapshot(db, *demo) == before


BASE = """slug = "xinyuan"
name = "新苑"
[[users]]
email = "a@example.test"
password = "long-enough-pw"
role = "estate_admin"
estates = ["{scope}"]
[[estates]]
code = "A"
name = "甲小区"
[estates.households]
seed = 7
[[estates.buildings]]
count = {buildings}
floors = 6
area = [60, 80]
[[estates]]
code = "B"
name = "乙小区"
"""
HISTORY = """[[estates.history]]
to_stage = "full_takeover"
effective_date = 2024-01-01
[estates.history.vote]
meeting_date = 2023-12-20
participating_owners = {participants}
approving_owners = {approving}
"""


def base(scope: str = "A", buildings: int = 1, history: str = "") -> str:
    """Estate A (12 households a building) and an empty estate B; ``history`` goes to A."""
    body = BASE.format(scope=scope, buildings=buildings)
    return body.replace('[[estates]]\ncode = "B"', history + '[[estates]]\ncode = "B"')


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "tenant.toml").write_text(body, encoding="utf-8")
    return tmp_path


def test_a_changed_definition_adds_what_is_missing_and_keeps_edits(runner, db, tmp_path):
    load(runner, write(tmp_path, base()))
    tenant = find_tenant("xinyuan")
    with tenant_context(tenant.id):
        estate = find_estate_by_code("A")
        first = rows(db, Household, Household.estate_id == estate.id)[0]
        first.owner_names = "改过的业主"
        db.session.commit()
    body = base("B", buildings=2, history=HISTORY.format(participants=24, approving=20))
    output = load(runner, write(tmp_path, body))
    assert "added 1 buildings, 12 households" in output
    assert "full_takeover from 2024-01-01 recorded" in output
    assert "works on B" in output
    with tenant_context(tenant.id):
        assert estate_counts([estate.id])[estate.id] == (2, 24)
        assert db.session.get(Household, (tenant.id, first.id)).owner_names == "改过的业主"
        vote = rows(db, OwnersVote)[0]
        assert (vote.total_owners, vote.participating_owners) == (24, 24)
        assert vote.participating_area == vote.total_area
        membership = membership_in_current_tenant(find_user_by_email("a@example.test"))
        assert estate_scope_of(membership) == [find_estate_by_code("B").id]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (base() + "colour = 1\n", "unknown keys colour"),
        (base(scope="NOPE"), "unknown estates NOPE"),
        (base().replace('"estate_admin"', '"viewer"'), "only estate admins and cashiers"),
        (base().replace("seed = 7", "seed = 7\nexpect = 1"), "unknown keys expect"),
        (
            base().replace('name = "甲小区"', 'name = "甲小区"\nexpect = { households = 13 }'),
            "expects 13 households, the groups give 12",
        ),
        (base().replace("floors = 6", "floors = 0"), "floors must be a whole number"),
        (base().replace("area = [60, 80]", 'kind = "castle"'), "kind must be one of"),
        (base().replace('code = "A"', 'code = "有空格 A"'), "needs a code"),
        (
            base(history=HISTORY.format(participants=12, approving=20)),
            "approving ≤ participating",
        ),
        # 20 of 24 owners take part, 9 approve: not more than half, refused by art. 278
        (
            base(buildings=2, history=HISTORY.format(participants=20, approving=9)),
            "A.history[1]: * approval_owners",
        ),
    ],
)
def test_bad_estate_definitions_are_refused_and_change_nothing(runner, db, tmp_path, body, message):
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert all(part in result.output for part in message.split(" * ")), result.output
    assert find_tenant("xinyuan") is None


def test_an_included_file_may_not_redefine_the_tenant(runner, db, tmp_path):
    (tmp_path / "more.toml").write_text('slug = "other"\n', encoding="utf-8")
    body = 'slug = "xinyuan"\nname = "新苑"\ninclude = ["more.toml"]\n'
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0 and "belongs in the tenant's own file" in result.output
    assert find_tenant("xinyuan") is None
