"""The handover service: allowed moves, evidence, dates, reversals, the stage cache."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db
from ruihe_saas.handover import services
from ruihe_saas.handover.models import (
    CaretakingAgreement,
    ChecklistStatus,
    ChecklistTemplateItem,
    HandoverChecklistItem,
    HandoverTransition,
    OwnersVote,
    TransitionKind,
)
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from tests.factories import TenantFactory, UserFactory
from tests.unit.handover.builders import agreement, checklist, make_estate, vote

P = HandoverStage.PROSPECT
PC = HandoverStage.PARTIAL_CARETAKING
FT = HandoverStage.FULL_TAKEOVER
T = HandoverStage.TERMINATED

D1, D2, D3, D4 = date(2023, 7, 1), date(2023, 12, 1), date(2024, 12, 1), date(2025, 3, 1)


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def estate(tenant):
    return make_estate(tenant.id)


@pytest.fixture
def ctx(tenant):
    with tenant_context(tenant.id):
        yield


def evidence_for(stage: HandoverStage, effective: date) -> dict:
    if stage == PC:
        return {"agreement": agreement(start_date=effective)}
    if stage == FT:
        return {
            "vote": vote(meeting_date=effective - timedelta(days=10)),
            "checklist": checklist(),
        }
    if stage == T:
        return {"settlement_acknowledged": True}
    return {}


def move(estate, stage, effective, **extra):
    kwargs = evidence_for(stage, effective)
    kwargs.update(extra)
    return services.record_transition(estate, stage, effective, **kwargs)


def assert_cache_matches_history(estate):
    db.session.refresh(estate)
    assert (estate.stage, estate.stage_since) == services.derived_stage(estate)


def counts() -> dict:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (HandoverTransition, CaretakingAgreement, OwnersVote, HandoverChecklistItem)
    }


# --- moves --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        [PC],
        [FT],
        [PC, FT],
        [PC, T],
        [FT, T],
        [PC, FT, T],
    ],
    ids=lambda path: "prospect→" + "→".join(stage.value for stage in path),
)
def test_allowed_moves(ctx, estate, path):
    dates = [D1, D2, D3]
    previous = P
    for stage, effective in zip(path, dates, strict=False):
        transition = move(estate, stage, effective)
        assert transition.kind == TransitionKind.ADVANCE
        assert (transition.from_stage, transition.to_stage) == (previous, stage)
        assert (estate.stage, estate.stage_since) == (stage, effective)
        assert_cache_matches_history(estate)
        previous = stage


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], P),
        ([], T),
        ([PC], P),
        ([PC], PC),
        ([FT], P),
        ([FT], PC),
        ([FT], FT),
        ([PC, T], P),
        ([PC, T], PC),
        ([PC, T], FT),
        ([PC, T], T),
    ],
    ids=lambda value: (
        value.value if isinstance(value, HandoverStage) else "/".join(map(str, value))
    ),
)
def test_illegal_moves_are_conflicts(ctx, estate, path, illegal):
    for stage, effective in zip(path, [D1, D2], strict=False):
        move(estate, stage, effective)
    before = counts()
    with pytest.raises(Conflict) as caught:
        move(estate, illegal, D4)
    assert caught.value.status == 409
    assert "to_stage" in caught.value.fields
    assert counts() == before
    assert_cache_matches_history(estate)


def test_unknown_stage_is_a_validation_error(ctx, estate):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, "handed_back", D1)
    assert "to_stage" in caught.value.fields


# --- evidence: partial caretaking --------------------------------------------------------


def test_caretaking_stores_the_agreement(ctx, estate):
    transition = services.record_transition(
        estate,
        "partial_caretaking",
        D2,
        note="代管一年",
        agreement=agreement(services=["cleaning", "security", "cleaning"], notes="先代管"),
    )
    stored = db.session.scalars(select(CaretakingAgreement)).one()
    assert stored.transition_id == transition.id and stored.estate_id == estate.id
    assert stored.services == ["cleaning", "security"]
    assert (stored.counterparty, stored.term_months, stored.notes) == (
        "云南模二机械有限公司",
        12,
        "先代管",
    )
    assert transition.agreement is stored
    assert transition.note == "代管一年"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"counterparty": "  "}, "counterparty"),
        ({"counterparty": None}, "counterparty"),
        ({"services": []}, "services"),
        ({"services": ["cleaning", "laundry"]}, "services"),
        ({"start_date": None}, "start_date"),
        ({"start_date": "2023-13-01"}, "start_date"),
        ({"term_months": 0}, "term_months"),
        ({"term_months": 601}, "term_months"),
        ({"term_months": "twelve"}, "term_months"),
        ({"term_months": 1.5}, "term_months"),
    ],
)
def test_bad_agreements_are_refused_with_field_errors(ctx, estate, changes, field):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, PC, D2, agreement=agreement(**changes))
    assert field in caught.value.fields["agreement"]
    assert counts()["HandoverTransition"] == 0
    assert estate.stage == P


def test_term_bounds_are_accepted(ctx, estate):
    services.record_transition(estate, PC, D2, agreement=agreement(term_months=600))
    assert db.session.scalars(select(CaretakingAgreement.term_months)).one() == 600


def test_caretaking_without_agreement_is_refused(ctx, estate):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, PC, D2)
    assert caught.value.status == 422
    assert "agreement" in caught.value.fields


# --- evidence: full takeover -------------------------------------------------------------


def test_takeover_stores_the_vote_and_the_checklist(ctx, estate):
    items = checklist(
        **{
            "前物业遗留欠费": {
                "status": "carried_over",
                "responsible": "张三",
                "due_date": date(2025, 6, 30),
                "note": "追缴",
            },
            "电梯设备": {"status": "n/a"},
        }
    )
    transition = services.record_transition(
        estate, FT, D3, vote=vote(), checklist=items, note="动员大会通过"
    )
    stored_vote = db.session.scalars(select(OwnersVote)).one()
    assert stored_vote.passed is True and stored_vote.transition_id == transition.id
    assert stored_vote.total_area == Decimal("62000.00")
    assert stored_vote.participating_owners == 800
    stored_items = db.session.scalars(
        select(HandoverChecklistItem).order_by(HandoverChecklistItem.position)
    ).all()
    assert [item.title for item in stored_items] == list(services.DEFAULT_CHECKLIST)
    carried = next(item for item in stored_items if item.title == "前物业遗留欠费")
    assert carried.status == ChecklistStatus.CARRIED_OVER
    assert (carried.responsible, carried.due_date) == ("张三", date(2025, 6, 30))
    assert transition.vote.art278.passed
    assert transition.vote.art278.percents["participation_owners"] == "81.97"
    assert len(transition.checklist) == len(services.DEFAULT_CHECKLIST)


def test_failing_vote_is_refused_with_the_four_ratios(ctx, estate):
    failing = vote(participating_owners=650, approving_owners=325)
    before = counts()
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=failing, checklist=checklist())
    fields = caught.value.fields
    assert set(fields) == {"vote", "vote_ratios"}
    assert set(fields["vote"]) == {"participation_owners", "approval_owners"}
    assert "66.60" in str(fields["vote"]["participation_owners"][0])
    assert fields["vote_ratios"] == {
        "participation_area": "83.87",
        "participation_owners": "66.60",
        "approval_area": "86.54",
        "approval_owners": "50.00",
    }
    with force_locale("en"):
        assert "art. 278" in str(caught.value.message)
    assert counts() == before
    assert estate.stage == P


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"participating_owners": 977}, "participating_owners"),
        ({"participating_area": "62000.01"}, "participating_area"),
        ({"approving_owners": 801}, "approving_owners"),
        ({"approving_area": "52000.51"}, "approving_area"),
        ({"total_owners": 0}, "total_owners"),
        ({"total_area": "0"}, "total_area"),
        ({"approving_owners": -1}, "approving_owners"),
        ({"participating_area": "-5"}, "participating_area"),
        ({"total_area": "1.005"}, "total_area"),
        ({"total_area": "NaN"}, "total_area"),
        ({"total_owners": None}, "total_owners"),
        ({"meeting_date": None}, "meeting_date"),
        ({"meeting_date": date(2024, 12, 2)}, "meeting_date"),  # after the effective date
    ],
)
def test_inconsistent_vote_totals_are_refused(ctx, estate, changes, field):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote(**changes), checklist=checklist())
    assert field in caught.value.fields["vote"]
    assert "vote_ratios" not in caught.value.fields
    assert counts()["OwnersVote"] == 0


def test_takeover_needs_both_vote_and_checklist(ctx, estate):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3)
    assert {"vote", "checklist"} <= set(caught.value.fields)
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote())
    assert set(caught.value.fields) == {"checklist"}


def test_checklist_missing_an_item_is_refused(ctx, estate):
    items = [item for item in checklist() if item["title"] != "钥匙"]
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote(), checklist=items)
    assert "钥匙" in str(caught.value.fields["checklist"]["_schema"][0])


def test_empty_checklist_is_refused(ctx, estate):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote(), checklist=[])
    message = str(caught.value.fields["checklist"]["_schema"][0])
    assert all(title in message for title in services.DEFAULT_CHECKLIST)


def test_open_item_is_refused(ctx, estate):
    items = checklist(**{"消防设施": {"status": "open"}})
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote(), checklist=items)
    index = str(list(services.DEFAULT_CHECKLIST).index("消防设施"))
    assert set(caught.value.fields["checklist"]) == {index}
    assert "status" in caught.value.fields["checklist"][index]


def test_carried_over_item_needs_an_owner_and_a_due_date(ctx, estate):
    items = checklist(
        **{
            "遗留投诉": {"status": "carried_over"},
            "绿化": {"status": "carried_over", "responsible": "李四"},
            "管网": {"status": "carried_over", "due_date": "2025-01-31"},
        }
    )
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote(), checklist=items)
    errors = caught.value.fields["checklist"]
    position = list(services.DEFAULT_CHECKLIST).index
    assert set(errors[str(position("遗留投诉"))]) == {"responsible", "due_date"}
    assert set(errors[str(position("绿化"))]) == {"due_date"}
    assert set(errors[str(position("管网"))]) == {"responsible"}
    assert counts()["HandoverChecklistItem"] == 0


def test_checklist_rejects_unknown_status_and_duplicates(ctx, estate):
    items = checklist(**{"钥匙": {"status": "maybe"}}) + [{"title": "绿化", "status": "done"}]
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, vote=vote(), checklist=items)
    errors = caught.value.fields["checklist"]
    assert "status" in errors[str(list(services.DEFAULT_CHECKLIST).index("钥匙"))]
    assert "title" in errors[str(len(services.DEFAULT_CHECKLIST))]


def test_extra_items_are_kept_and_inactive_template_items_are_not_required(ctx, estate):
    services.ensure_default_checklist_template()
    keys = db.session.scalars(
        select(ChecklistTemplateItem).where(ChecklistTemplateItem.title == "钥匙")
    ).one()
    keys.active = False
    db.session.flush()
    items = [item for item in checklist() if item["title"] != "钥匙"]
    items.append({"title": "监控系统", "status": "done"})
    transition = services.record_transition(estate, FT, D3, vote=vote(), checklist=items)
    assert [item.title for item in transition.checklist][-1] == "监控系统"


def test_evidence_a_move_does_not_use_is_refused(ctx, estate):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(
            estate, PC, D2, agreement=agreement(), vote=vote(), checklist=checklist()
        )
    assert set(caught.value.fields) == {"vote", "checklist"}
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(
            estate, FT, D3, vote=vote(), checklist=checklist(), agreement=agreement()
        )
    assert set(caught.value.fields) == {"agreement"}


# --- termination ------------------------------------------------------------------------


def test_termination_needs_the_settlement_acknowledged(ctx, estate):
    move(estate, PC, D2)
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, T, D3)
    assert "settlement_acknowledged" in caught.value.fields
    assert estate.stage == PC


def test_termination_keeps_the_settlement_summary(ctx, estate):
    move(
        estate,
        FT,
        D1,
        checklist=checklist(
            **{"遗留投诉": {"status": "carried_over", "responsible": "王五", "due_date": D2}}
        ),
    )
    summary = services.settlement_summary(estate)
    assert summary["open_bills"] == {"available": False, "count": 0, "amount": "0.00"}
    assert summary["prepaid_balances"] == {"available": False, "count": 0, "amount": "0.00"}
    assert summary["carried_over_items"] == [
        {"title": "遗留投诉", "responsible": "王五", "due_date": "2023-12-01", "note": ""}
    ]
    transition = services.record_transition(estate, T, D3, settlement_acknowledged=True)
    db.session.expire_all()
    stored = db.session.get(HandoverTransition, (transition.tenant_id, transition.id))
    assert stored.settlement == summary


def test_reversed_takeovers_carry_nothing_over(ctx, estate):
    takeover = move(
        estate,
        FT,
        D1,
        checklist=checklist(
            **{"遗留投诉": {"status": "carried_over", "responsible": "王五", "due_date": D2}}
        ),
    )
    services.reverse_transition(estate, takeover.id, D1, "误录")
    assert services.settlement_summary(estate)["carried_over_items"] == []


# --- dates ------------------------------------------------------------------------------


def test_back_dating_before_the_last_transition_is_a_conflict(ctx, estate):
    move(estate, PC, D2)
    before = counts()
    with pytest.raises(Conflict) as caught:
        move(estate, FT, D2 - timedelta(days=1))
    assert "effective_date" in caught.value.fields
    assert "2023-12-01" in str(caught.value.fields["effective_date"][0])
    assert counts() == before
    assert (estate.stage, estate.stage_since) == (PC, D2)


def test_same_day_as_the_last_transition_is_allowed(ctx, estate):
    move(estate, PC, D2)
    move(estate, FT, D2)
    assert (estate.stage, estate.stage_since) == (FT, D2)
    assert_cache_matches_history(estate)


def test_back_dating_after_the_last_transition_is_allowed(ctx, estate):
    move(estate, PC, D2)
    transition = move(estate, FT, D3)  # D3 is in the past: back-dated, but after D2
    assert transition.effective_date == D3


def test_future_dates_are_refused(ctx, estate):
    tomorrow = services.local_today() + timedelta(days=1)
    with pytest.raises(ValidationFailed) as caught:
        move(estate, PC, tomorrow)
    assert "effective_date" in caught.value.fields
    assert (
        services.record_transition(
            estate, PC, services.local_today(), agreement=agreement()
        ).effective_date
        == services.local_today()
    )


# --- reversals --------------------------------------------------------------------------


def test_reversal_returns_to_the_previous_stage_and_keeps_history(ctx, estate):
    caretaking = move(estate, PC, D2)
    takeover = move(estate, FT, D3)
    reversal = services.reverse_transition(estate, takeover.id, D4, "  表决材料有误  ")
    assert reversal.kind == TransitionKind.REVERSAL
    assert reversal.reverses_id == takeover.id
    assert (reversal.from_stage, reversal.to_stage) == (FT, PC)
    assert reversal.note == "表决材料有误"
    assert (estate.stage, estate.stage_since) == (PC, D4)
    assert_cache_matches_history(estate)
    history = services.transitions_of(estate)
    assert [t.id for t in history] == [caretaking.id, takeover.id, reversal.id]
    assert history[1].reversed_by_id == reversal.id
    assert history[1].vote is not None  # the reversed record keeps its evidence
    # the reversed takeover can be recorded again, on or after the reversal
    again = move(estate, FT, D4)
    assert (again.from_stage, estate.stage) == (PC, FT)


def test_only_the_latest_transition_in_effect_can_be_reversed(ctx, estate):
    caretaking = move(estate, PC, D2)
    move(estate, FT, D3)
    with pytest.raises(Conflict) as caught:
        services.reverse_transition(estate, caretaking.id, D4, "不对")
    assert "reverses_id" in caught.value.fields


def test_after_a_reversal_the_previous_transition_becomes_reversible(ctx, estate):
    caretaking = move(estate, PC, D2)
    takeover = move(estate, FT, D3)
    services.reverse_transition(estate, takeover.id, D3, "撤销接管")
    second = services.reverse_transition(estate, caretaking.id, D4, "撤销代管")
    assert (second.from_stage, second.to_stage) == (PC, P)
    assert (estate.stage, estate.stage_since) == (P, D4)
    assert_cache_matches_history(estate)


def test_a_reversal_cannot_be_reversed_nor_reversed_twice(ctx, estate):
    caretaking = move(estate, PC, D2)
    reversal = services.reverse_transition(estate, caretaking.id, D2, "误录")
    with pytest.raises(Conflict):
        services.reverse_transition(estate, reversal.id, D3, "再撤销")
    with pytest.raises(Conflict) as caught:
        services.reverse_transition(estate, caretaking.id, D3, "再撤销")
    assert "reverses_id" in caught.value.fields
    assert counts()["HandoverTransition"] == 2


def test_reversal_needs_a_reason(ctx, estate):
    caretaking = move(estate, PC, D2)
    with pytest.raises(ValidationFailed) as caught:
        services.reverse_transition(estate, caretaking.id, D3, "   ")
    assert "reason" in caught.value.fields
    assert estate.stage == PC


def test_back_dated_reversal_is_a_conflict(ctx, estate):
    caretaking = move(estate, PC, D2)
    with pytest.raises(Conflict) as caught:
        services.reverse_transition(estate, caretaking.id, D1, "误录")
    assert "effective_date" in caught.value.fields


def test_reversing_another_estates_transition_is_not_found(ctx, tenant, estate):
    other = make_estate(tenant.id, "E2")
    foreign = move(other, PC, D2)
    with pytest.raises(NotFound):
        services.reverse_transition(estate, foreign.id, D3, "跨小区")
    with pytest.raises(NotFound):
        services.get_transition(estate, foreign.id)


def test_terminated_can_be_reversed(ctx, estate):
    move(estate, PC, D2)
    termination = move(estate, T, D3)
    reversal = services.reverse_transition(estate, termination.id, D3, "误操作")
    assert (reversal.from_stage, reversal.to_stage) == (T, PC)
    assert estate.stage == PC


# --- the stage cache --------------------------------------------------------------------


def test_stage_cache_equals_the_derivation_after_every_operation(ctx, estate):
    assert services.derived_stage(estate) == (P, None)
    assert_cache_matches_history(estate)

    def reverse_latest(effective):
        latest = services.latest_reversible(services.transitions_of(estate))
        return services.reverse_transition(estate, latest.id, effective, "错")

    steps = [
        (lambda: move(estate, PC, D1), None),
        (lambda: move(estate, T, D1 - timedelta(days=1)), Conflict),  # back-dated
        (lambda: move(estate, FT, D2, vote=vote(participating_owners=1)), ValidationFailed),
        (lambda: move(estate, FT, D2), None),
        (lambda: move(estate, PC, D3), Conflict),  # illegal move
        (lambda: reverse_latest(D3), None),
        (lambda: move(estate, FT, D3), None),
        (lambda: move(estate, T, D4, settlement_acknowledged=False), ValidationFailed),
        (lambda: move(estate, T, D4), None),
        (lambda: reverse_latest(D4), None),
    ]
    for step, refused in steps:
        if refused is None:
            step()
        else:
            with pytest.raises(refused):
                step()
        assert_cache_matches_history(estate)
    assert (estate.stage, estate.stage_since) == (FT, D4)
    kinds = [(t.kind.value, t.to_stage.value) for t in services.transitions_of(estate)]
    assert kinds == [
        ("advance", "partial_caretaking"),
        ("advance", "full_takeover"),
        ("reversal", "partial_caretaking"),
        ("advance", "full_takeover"),
        ("advance", "terminated"),
        ("reversal", "full_takeover"),
    ]


def test_derivation_ignores_a_stale_cache(ctx, estate):
    move(estate, PC, D2)
    # the cache is written only by the service; a stale value does not change the rules
    db.session.execute(
        Estate.__table__.update()
        .where(Estate.__table__.c.id == estate.id)
        .values(stage="full_takeover")
    )
    db.session.expire(estate)
    assert services.derived_stage(estate) == (PC, D2)
    move(estate, FT, D3)  # allowed from partial caretaking, the stage the history says
    assert_cache_matches_history(estate)


# --- history, who, audit ------------------------------------------------------------------


def test_history_is_oldest_first_with_who_recorded_it(ctx, tenant, estate):
    user = UserFactory(name="刘经理")
    with acting_as(user.id):
        move(estate, PC, D2)
        move(estate, FT, D3)
    history = services.transitions_of(estate)
    assert [t.effective_date for t in history] == [D2, D3]
    assert {t.recorded_by for t in history} == {user.id}
    assert history[0].recorded_by_name == "刘经理"
    assert history[0].agreement is not None and history[0].vote is None
    assert history[1].vote is not None and history[1].checklist
    page = services.list_transitions(estate, page=2, per_page=1)
    assert page.total == 2 and [t.id for t in page.items] == [history[1].id]


def test_transitions_are_audited(ctx, estate):
    transition = move(estate, PC, D2)
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == transition.id)
    ).one()
    assert event.object_type == "transition" and event.action == "create"
    assert event.estate_id == estate.id
    assert event.changes["to_stage"] == [None, "partial_caretaking"]


def test_history_of_one_estate_is_not_anothers(ctx, tenant, estate):
    other = make_estate(tenant.id, "E2")
    move(other, PC, D2)
    assert services.transitions_of(estate) == []
    assert services.derived_stage(estate) == (P, None)


# --- the checklist template ---------------------------------------------------------------


def test_default_template_is_used_until_one_is_saved(ctx):
    assert [item.title for item in services.checklist_template()] == list(
        services.DEFAULT_CHECKLIST
    )
    assert db.session.scalar(select(func.count()).select_from(ChecklistTemplateItem)) == 0


def test_ensure_default_checklist_template_is_idempotent(ctx):
    first = services.ensure_default_checklist_template()
    second = services.ensure_default_checklist_template()
    assert (
        [item.title for item in first]
        == [item.title for item in second]
        == list(services.DEFAULT_CHECKLIST)
    )
    stored = db.session.scalar(select(func.count()).select_from(ChecklistTemplateItem))
    assert stored == len(services.DEFAULT_CHECKLIST)


def test_ensure_default_adds_only_missing_items(ctx):
    db.session.add(ChecklistTemplateItem(title="钥匙", position=1))
    db.session.add(ChecklistTemplateItem(title="监控系统", position=2))
    db.session.flush()
    titles = [item.title for item in services.ensure_default_checklist_template()]
    assert titles[:2] == ["钥匙", "监控系统"]
    assert set(titles) == set(services.DEFAULT_CHECKLIST) | {"监控系统"}
    assert len(titles) == len(services.DEFAULT_CHECKLIST) + 1


def test_templates_are_per_tenant(db):
    first, second = TenantFactory(), TenantFactory()
    with tenant_context(first.id):
        services.ensure_default_checklist_template()
        db.session.add(ChecklistTemplateItem(title="只属于第一家", position=99))
        db.session.flush()
    with tenant_context(second.id):
        services.ensure_default_checklist_template()
        assert "只属于第一家" not in [item.title for item in services.checklist_template()]


@pytest.mark.parametrize(
    "kwargs",
    [{"agreement": "cleaning"}, {"vote": [1, 2]}, {"checklist": {"title": "钥匙"}}],
)
def test_malformed_evidence_is_a_validation_error(ctx, estate, kwargs):
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, D3, **kwargs)
    assert set(caught.value.fields) == set(kwargs)


def test_effective_date_may_be_an_iso_string(ctx, estate):
    transition = services.record_transition(estate, PC, "2023-12-01", agreement=agreement())
    assert transition.effective_date == D2
    with pytest.raises(ValidationFailed) as caught:
        services.record_transition(estate, FT, "someday")
    assert "effective_date" in caught.value.fields
