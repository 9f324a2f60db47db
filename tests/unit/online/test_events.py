"""Gateway events applied exactly once: completion, replays, order, failures, tenants."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import Bill, BillStatus
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db as database
from ruihe_saas.online.events import apply_event, resolve_tenant
from ruihe_saas.payments.models import (
    CheckoutSession,
    CheckoutStatus,
    GatewayEvent,
    GatewayMode,
    GatewaySettings,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Receipt,
)
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member
from tests.localstripe import (
    checkout_metadata,
    checkout_session,
    payment_intent_event,
    session_completed,
    stripe_event,
)


def _household(tenant_id, code):
    estate = estate_with_households(tenant_id, code, buildings=1, rooms=2)
    schedule = simple_schedule(estate)
    with tenant_context(tenant_id):
        households = database.session.scalars(
            select(Household).where(Household.estate_id == estate.id).order_by(Household.room)
        ).all()
    return households, schedule


@pytest.fixture
def setup(db):
    owner = member(Role.OWNER)
    households, schedule = _household(owner.tenant_id, "WH")
    household = households[0]
    amounts = {"property_service": "90.00", "garbage": "10.00"}
    jan = bill_for(household, "2024-01", amounts, schedule)
    feb = bill_for(household, "2024-02", amounts, schedule)
    session = checkout_session(household, [jan, feb])
    return {
        "tenant_id": owner.tenant_id,
        "household": household,
        "other_household": households[1],
        "schedule": schedule,
        "bills": [jan, feb],
        "session": session,
    }


def _count(tenant_id, model) -> int:
    with tenant_context(tenant_id):
        return database.session.scalar(select(func.count()).select_from(model))


def _reload(tenant_id, model, object_id):
    with tenant_context(tenant_id):
        return database.session.scalar(
            select(model).where(model.id == object_id).execution_options(populate_existing=True)
        )


def _pi() -> str:
    return f"pi_test_{uuid.uuid4().hex[:20]}"


def test_checkout_completed_creates_one_payment_with_receipt(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    pi = _pi()
    assert apply_event(session_completed(session, pi)) == "completed"

    with tenant_context(tenant_id):
        payment = database.session.scalar(select(Payment))
        assert payment.amount == Decimal("200.00")
        assert payment.method == PaymentMethod.ONLINE
        assert payment.gateway_payment_id == pi
        assert payment.checkout_session_id == session.id
        assert payment.business_date is not None
        assert payment.unallocated == Decimal("0.00")
        allocated = database.session.scalar(select(func.sum(PaymentAllocation.amount)))
        assert allocated == Decimal("200.00")
        statuses = {b.status for b in database.session.scalars(select(Bill))}
        assert statuses == {BillStatus.PAID}
        receipt = database.session.scalar(select(Receipt).where(Receipt.payment_id == payment.id))
        assert receipt is not None and receipt.number
        row = database.session.scalar(select(GatewayEvent))
        assert row.outcome == "completed" and row.object_id == session.gateway_session_id
        assert row.source == "webhook"
    refreshed = _reload(tenant_id, CheckoutSession, session.id)
    assert refreshed.status == CheckoutStatus.COMPLETE
    assert refreshed.payment_id == payment.id
    assert refreshed.gateway_payment_id == pi


def test_same_event_five_times_credits_once(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    event = session_completed(session, _pi())
    outcomes = [apply_event(event) for _ in range(5)]
    assert outcomes == ["completed"] + ["duplicate"] * 4
    assert _count(tenant_id, Payment) == 1
    assert _count(tenant_id, GatewayEvent) == 1
    assert _count(tenant_id, Receipt) == 1


def test_payment_intent_before_checkout_completed_credits_once(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    pi = _pi()
    assert apply_event(payment_intent_event("payment_intent.succeeded", session, pi)) == (
        "completed"
    )
    assert apply_event(session_completed(session, pi)) == "already_complete"
    assert apply_event(
        stripe_event(
            "checkout.session.async_payment_succeeded",
            session_completed(session, pi)["data"]["object"],
        )
    ) == ("already_complete")
    assert _count(tenant_id, Payment) == 1
    assert _count(tenant_id, GatewayEvent) == 3


def test_late_failure_after_success_changes_nothing(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    pi = _pi()
    apply_event(session_completed(session, pi))
    outcome = apply_event(payment_intent_event("payment_intent.payment_failed", session, pi))
    assert outcome == "unchanged: complete"
    assert _reload(tenant_id, CheckoutSession, session.id).status == CheckoutStatus.COMPLETE
    assert _count(tenant_id, Payment) == 1


def test_failure_then_success_with_another_attempt(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    pi = _pi()
    failed = payment_intent_event("payment_intent.payment_failed", session, pi)
    assert apply_event(failed) == "failed"
    assert _reload(tenant_id, CheckoutSession, session.id).status == CheckoutStatus.FAILED
    # the resident retries on the same PaymentIntent and it succeeds: money is never lost
    assert apply_event(payment_intent_event("payment_intent.succeeded", session, pi)) == (
        "completed"
    )
    assert _reload(tenant_id, CheckoutSession, session.id).status == CheckoutStatus.COMPLETE


def test_async_checkout_failure_marks_open_session_failed(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    obj = session_completed(session, _pi())["data"]["object"] | {"payment_status": "unpaid"}
    assert apply_event(stripe_event("checkout.session.completed", obj)) == "awaiting_payment"
    assert apply_event(stripe_event("checkout.session.async_payment_failed", obj)) == "failed"
    assert _reload(tenant_id, CheckoutSession, session.id).status == CheckoutStatus.FAILED
    assert _count(tenant_id, Payment) == 0


def test_bill_paid_meanwhile_leaves_prepaid_credit(setup):
    tenant_id, session, jan = setup["tenant_id"], setup["session"], setup["bills"][0]
    with tenant_context(tenant_id):
        record_payment(setup["household"].id, "100.00", "cash", bill_ids=[jan.id])
    apply_event(session_completed(session, _pi()))
    with tenant_context(tenant_id):
        online = database.session.scalar(
            select(Payment).where(Payment.method == PaymentMethod.ONLINE)
        )
        assert online.amount == Decimal("200.00")
        assert online.unallocated == Decimal("100.00")  # prepaid credit, not lost


def test_unknown_tenant_is_ignored_and_writes_nothing(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    metadata = checkout_metadata(session, tenant_id=uuid.uuid4())
    assert apply_event(session_completed(session, _pi(), metadata=metadata)) == "unknown_tenant"
    assert apply_event(session_completed(session, _pi(), metadata={})) == "unknown_tenant"
    assert apply_event(stripe_event("customer.created", {"id": "cus_1"})) == "ignored"
    assert _count(tenant_id, GatewayEvent) == 0
    assert _count(tenant_id, Payment) == 0


def test_metadata_cannot_credit_another_tenants_household(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    intruder = member(Role.OWNER)
    # another tenant's metadata pointing at this tenant's checkout session
    metadata = checkout_metadata(session, tenant_id=intruder.tenant_id)
    assert apply_event(session_completed(session, _pi(), metadata=metadata)) == "unmatched"
    assert _reload(tenant_id, CheckoutSession, session.id).status == CheckoutStatus.OPEN
    assert _count(tenant_id, Payment) == 0
    assert _count(intruder.tenant_id, Payment) == 0


def test_metadata_of_another_household_is_refused(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    metadata = checkout_metadata(session, household_id=setup["other_household"].id)
    assert apply_event(session_completed(session, _pi(), metadata=metadata)) == "unmatched"
    assert _count(tenant_id, Payment) == 0


def test_connected_account_resolves_the_tenant(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    account = f"acct_{uuid.uuid4().hex[:16]}"
    with tenant_context(tenant_id):
        database.session.add(
            GatewaySettings(
                provider="stripe",
                enabled=True,
                mode=GatewayMode.CONNECT,
                connected_account_id=account,
            )
        )
        database.session.flush()
    metadata = {"checkout_id": str(session.id)}  # no tenant in the metadata
    event = session_completed(session, _pi(), metadata=metadata, account=account)
    assert resolve_tenant(event) == tenant_id
    # an account and a metadata tenant that disagree: nobody is credited
    other = member(Role.OWNER)
    wrong = session_completed(
        session, _pi(), metadata=checkout_metadata(session, tenant_id=other.tenant_id)
    )
    wrong["account"] = account
    assert resolve_tenant(wrong) is None
    # an account nobody configured: metadata alone is not trusted
    stranger = session_completed(session, _pi(), account="acct_nobody")
    assert apply_event(stranger) == "unknown_tenant"
    assert apply_event(event) == "completed"
    assert _count(tenant_id, Payment) == 1


def test_amount_from_stripe_and_bad_bills_are_recorded_as_rejected(setup):
    tenant_id, session = setup["tenant_id"], setup["session"]
    with tenant_context(tenant_id):
        row = database.session.get(CheckoutSession, (tenant_id, session.id))
        row.bill_ids = [str(uuid.uuid4())]  # not a bill of this household
        database.session.flush()
    outcome = apply_event(session_completed(session, _pi()))
    assert outcome.startswith("rejected")
    assert _count(tenant_id, Payment) == 0
    assert _count(tenant_id, GatewayEvent) == 1  # recorded: Stripe need not retry it


def test_malformed_signed_objects_do_not_crash(setup):
    for obj in ({}, {"object": "checkout.session", "metadata": "x"}, {"metadata": []}):
        assert apply_event(stripe_event("checkout.session.completed", obj)) == "unknown_tenant"
    assert apply_event({"type": "charge.refunded"}) == "ignored"
    assert apply_event({"id": 5, "type": ["x"]}) == "ignored"


def test_charge_refunded_records_dashboard_refunds_and_settles_ours(setup):
    from ruihe_saas.payments.models import Refund, RefundStatus
    from ruihe_saas.refunds.services import record_gateway_refund

    tenant_id, session = setup["tenant_id"], setup["session"]
    pi = _pi()
    apply_event(session_completed(session, pi))
    with tenant_context(tenant_id):
        payment = database.session.scalar(select(Payment))
        pending = record_gateway_refund(payment, "10.00", "re_ours", status="pending")
        assert pending.status == RefundStatus.PENDING
    charge = {
        "id": "ch_test_1",
        "object": "charge",
        "payment_intent": pi,
        "amount": 20000,
        "amount_refunded": 3000,
        "refunds": {
            "object": "list",
            "has_more": False,
            "data": [
                {"id": "re_ours", "object": "refund", "amount": 1000, "status": "succeeded"},
                {"id": "re_dash", "object": "refund", "amount": 2000, "status": "succeeded"},
            ],
        },
    }
    # no metadata on a charge: the tenant is the one holding the PaymentIntent
    assert apply_event(stripe_event("charge.refunded", charge)) == "refunds: 2"
    assert apply_event(stripe_event("charge.refunded", charge)) == "refunds: 0"
    with tenant_context(tenant_id):
        refunds = {
            r.gateway_refund_id: (r.amount, r.status)
            for r in database.session.scalars(select(Refund))
        }
    assert refunds == {
        "re_ours": (Decimal("10.00"), RefundStatus.SUCCEEDED),
        "re_dash": (Decimal("20.00"), RefundStatus.SUCCEEDED),
    }
