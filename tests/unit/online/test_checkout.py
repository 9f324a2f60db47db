"""start_checkout against the Stripe stand-in: the exact request, reuse on a double submit,
attempts and their deterministic idempotency keys, bill checks, Connect, failures."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from ruihe_saas.billing.models import Bill, BillStatus
from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.models import Household
from ruihe_saas.ids import new_id
from ruihe_saas.online.checkout import (
    MAX_BILLS,
    CheckoutFailed,
    checkout_idempotency_key,
    find_by_gateway_id,
    sessions_of,
    start_checkout,
)
from ruihe_saas.online.paylinks import read_pay_token
from ruihe_saas.payments.gateway import GatewayNotConfigured
from ruihe_saas.payments.models import CheckoutSession, CheckoutStatus
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.lookup import get_owned
from tests.factories import TenantFactory
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    enable_gateway,
    household_with_bills,
    standin_fixture,
    standin_server_fixture,
)

BASE = "http://ruihe.test"


@pytest.fixture
def setup(app, db, stripe_standin):
    tenant = TenantFactory()
    estate, household, bills = household_with_bills(tenant.id)
    enable_gateway(tenant.id)
    with app.test_request_context("/", base_url=BASE), tenant_context(tenant.id):
        yield tenant, household, bills


def all_sessions(db):
    return db.session.scalars(select(CheckoutSession).order_by(CheckoutSession.attempt)).all()


def test_first_checkout_sends_the_exact_request(setup, db, stripe_standin):
    tenant, household, bills = setup
    ids = sorted(str(b.id) for b in bills)
    session = start_checkout(household.id, [bills[1].id, str(bills[0].id)])

    [sent] = stripe_standin.creates()
    key = hashlib.sha256(f"{tenant.id}:{household.id}:{','.join(ids)}:1".encode()).hexdigest()
    assert sent.header("Idempotency-Key") == key == session.idempotency_key
    assert sent.header("Stripe-Account") is None
    body = sent.body
    assert body["mode"] == "payment"
    # one line per bill, oldest period first, amounts in fen as integers
    assert body["line_items[0][price_data][unit_amount]"] == "12050"
    assert body["line_items[1][price_data][unit_amount]"] == "8000"
    assert body["line_items[0][price_data][currency]"] == "cny"
    assert body["line_items[1][price_data][currency]"] == "cny"
    assert body["line_items[0][quantity]"] == "1"
    assert bills[0].number in body["line_items[0][price_data][product_data][name]"]
    assert [body[f"payment_method_types[{i}]"] for i in range(3)] == [
        "card",
        "alipay",
        "wechat_pay",
    ]
    metadata = {
        "tenant_id": str(tenant.id),
        "household_id": str(household.id),
        "checkout_id": str(session.id),
        "bill_ids": ",".join(ids),
    }
    for name, value in metadata.items():
        assert body[f"metadata[{name}]"] == value
        assert body[f"payment_intent_data[metadata][{name}]"] == value
    assert "payment_intent_data[application_fee_amount]" not in body
    assert body["success_url"].startswith(f"{BASE}/pay/")
    assert body["success_url"].endswith("/success?session_id={CHECKOUT_SESSION_ID}")
    assert body["cancel_url"].startswith(f"{BASE}/pay/") and body["cancel_url"].endswith("/cancel")
    token = body["cancel_url"][len(f"{BASE}/pay/") : -len("/cancel")]
    assert read_pay_token(token).household_id == household.id
    expires = int(body["expires_at"]) - datetime.now(UTC).timestamp()
    assert 30 * 60 < expires <= 24 * 3600

    assert session.amount == Decimal("200.50")
    assert session.bill_ids == ids
    assert session.attempt == 1 and session.status == CheckoutStatus.OPEN
    assert session.gateway_session_id in stripe_standin.sessions
    assert session.url == f"{stripe_standin.base_url}/checkout/{session.gateway_session_id}"
    assert session.estate_id == household.estate_id
    assert find_by_gateway_id(session.gateway_session_id) == session


def test_double_submit_reuses_the_open_session(setup, db, stripe_standin):
    _, household, bills = setup
    first = start_checkout(household.id, [b.id for b in bills])
    again = start_checkout(household.id, [str(b.id) for b in reversed(bills)])
    assert again.id == first.id
    assert len(stripe_standin.creates()) == 1
    assert len(all_sessions(db)) == 1


def test_another_bill_set_is_its_own_attempt(setup, db, stripe_standin):
    tenant, household, bills = setup
    both = start_checkout(household.id, [b.id for b in bills])
    one = start_checkout(household.id, [bills[0].id])
    assert one.id != both.id and one.attempt == 1
    assert one.idempotency_key == checkout_idempotency_key(
        tenant.id, household.id, [bills[0].id], 1
    )
    assert one.amount == Decimal("120.50")
    assert len(stripe_standin.creates()) == 2


def test_old_open_session_gets_a_new_attempt(setup, db, stripe_standin):
    tenant, household, bills = setup
    first = start_checkout(household.id, [bills[0].id])
    first.created_at = datetime.now(UTC) - timedelta(hours=2)
    db.session.flush()
    second = start_checkout(household.id, [bills[0].id])
    assert second.id != first.id and second.attempt == 2
    assert second.idempotency_key == checkout_idempotency_key(
        tenant.id, household.id, [bills[0].id], 2
    )
    keys = [r.header("Idempotency-Key") for r in stripe_standin.creates()]
    assert keys == [first.idempotency_key, second.idempotency_key]
    assert [s.id for s in sessions_of(household.id)] == [second.id, first.id]


def test_completed_session_is_not_reused(setup, db, stripe_standin):
    _, household, bills = setup
    first = start_checkout(household.id, [bills[1].id])
    first.status = CheckoutStatus.COMPLETE
    db.session.flush()
    second = start_checkout(household.id, [bills[1].id])
    assert second.attempt == 2


def test_gateway_failure_is_recorded_and_the_retry_uses_a_new_key(setup, db, stripe_standin):
    _, household, bills = setup
    stripe_standin.fail_next(400, {"type": "invalid_request_error", "message": "nope"})
    with pytest.raises(CheckoutFailed) as raised:
        start_checkout(household.id, [bills[0].id])
    failed = raised.value.session
    assert failed.status == CheckoutStatus.FAILED and failed.gateway_session_id is None
    assert raised.value.message
    retry = start_checkout(household.id, [bills[0].id])
    assert retry.attempt == 2 and retry.idempotency_key != failed.idempotency_key
    assert retry.status == CheckoutStatus.OPEN and retry.url
    assert len(stripe_standin.creates()) == 2


def test_connect_mode_sends_account_and_fee(app, db, stripe_standin):
    tenant = TenantFactory()
    _, household, bills = household_with_bills(tenant.id)
    enable_gateway(
        tenant.id,
        mode="connect",
        connected_account_id="acct_1Connected",
        application_fee_percent="1.50",
        payment_methods=["alipay"],
    )
    with app.test_request_context("/", base_url=BASE), tenant_context(tenant.id):
        session = start_checkout(household.id, [b.id for b in bills])
    [sent] = stripe_standin.creates()
    assert sent.header("Stripe-Account") == "acct_1Connected"
    assert sent.body["payment_intent_data[application_fee_amount]"] == "301"  # 20050 × 1.5 %
    assert sent.body["payment_method_types[0]"] == "alipay"
    assert "payment_method_types[1]" not in sent.body
    assert session.connected_account_id == "acct_1Connected"


def test_disabled_gateway_stores_nothing(app, db, stripe_standin):
    tenant = TenantFactory()
    _, household, bills = household_with_bills(tenant.id)
    with app.test_request_context("/", base_url=BASE), tenant_context(tenant.id):
        with pytest.raises(GatewayNotConfigured):
            start_checkout(household.id, [bills[0].id])
        assert all_sessions(db) == []
    assert stripe_standin.requests == []


@pytest.mark.parametrize(
    "choose",
    [
        lambda bills, other: [],
        lambda bills, other: None,
        lambda bills, other: "not-a-list",
        lambda bills, other: ["not-a-uuid"],
        lambda bills, other: [str(new_id())],
        lambda bills, other: [bills[0].id, other.id],  # another household's bill
        lambda bills, other: [{"id": 1}],
    ],
)
def test_bad_bill_choices_are_422(app, db, stripe_standin, choose):
    tenant = TenantFactory()
    _, household, bills = household_with_bills(tenant.id)
    _, _, other_bills = household_with_bills(tenant.id, code="E2")
    enable_gateway(tenant.id)
    with app.test_request_context("/", base_url=BASE), tenant_context(tenant.id):
        with pytest.raises(ValidationFailed) as raised:
            start_checkout(household.id, choose(bills, other_bills[0]))
        assert "bill_ids" in raised.value.fields
        assert all_sessions(db) == []
    assert stripe_standin.requests == []


def test_paid_or_void_bill_is_422(setup, db, stripe_standin):
    _, household, bills = setup
    paid, partly = (get_owned(Bill, b.id) for b in bills)  # in this request's session
    paid.paid, paid.status = paid.amount, BillStatus.PAID
    db.session.flush()
    with pytest.raises(ValidationFailed):
        start_checkout(household.id, [bills[0].id])
    # the rest of the household's bills can still be paid: the amount is what is owed now
    partly.paid, partly.status = Decimal("30.00"), BillStatus.PARTIALLY_PAID
    db.session.flush()
    session = start_checkout(household.id, [bills[1].id])
    assert session.amount == Decimal("50.00")
    assert stripe_standin.creates()[0].body["line_items[0][price_data][unit_amount]"] == "5000"


def test_too_many_bills_is_422(setup):
    _, household, _ = setup
    with pytest.raises(ValidationFailed):
        start_checkout(household.id, [new_id() for _ in range(MAX_BILLS + 1)])


def test_another_tenants_household_is_404(app, db, stripe_standin):
    mine, theirs = TenantFactory(), TenantFactory()
    household_with_bills(mine.id)
    _, their_household, their_bills = household_with_bills(theirs.id)
    enable_gateway(mine.id)
    with app.test_request_context("/", base_url=BASE), tenant_context(mine.id):
        with pytest.raises(NotFound):
            start_checkout(their_household.id, [b.id for b in their_bills])
        with pytest.raises(NotFound):
            sessions_of(their_household.id)
        hidden = select(Household).where(Household.id == their_household.id)
        assert db.session.scalar(hidden) is None
    assert stripe_standin.requests == []


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_double_submit_makes_one_session(app, db, stripe_standin):
    """Two requests for the same bills at the same moment: one Stripe call, one session."""
    tenant = TenantFactory()
    _, household, bills = household_with_bills(tenant.id)
    enable_gateway(tenant.id)
    tenant_id, household_id, bill_ids = tenant.id, household.id, [b.id for b in bills]
    db.session.commit()  # (the objects expire: threads use the ids only)
    barrier = threading.Barrier(2)
    results: list = []

    def submit():
        try:
            with app.test_request_context("/", base_url=BASE), tenant_context(tenant_id):
                barrier.wait(timeout=10)
                try:
                    session = start_checkout(household_id, bill_ids)
                    results.append((session.gateway_session_id, session.url))
                    db.session.commit()
                finally:
                    db.session.remove()
        except Exception as error:  # noqa: BLE001
            results.append(error)

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == 2 and not any(isinstance(r, Exception) for r in results), results
    assert results[0] == results[1]
    assert len(stripe_standin.creates()) == 1
    with tenant_context(tenant_id):
        assert len(all_sessions(db)) == 1
