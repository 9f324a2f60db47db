"""Reconciliation: events the webhook missed are applied from Stripe's event list.

Against localstripe's ``GET /v1/events`` (a real HTTP stand-in): PaymentIntents are created
and confirmed there with no webhook registered, so only ``reconcile`` can see them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db as database
from ruihe_saas.online.reconcile import reconcile
from ruihe_saas.payments.models import CheckoutSession, CheckoutStatus, GatewayEvent, Payment
from ruihe_saas.tenancy import tenant_context
from tests import localstripe as _localstripe
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member
from tests.localstripe import (
    card_payment_method,
    checkout_metadata,
    checkout_session,
    stripe_client,
)

# fixtures
localstripe_url = _localstripe.localstripe_url
stripe_config = _localstripe.stripe_config


def _setup(code):
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, code, buildings=1, rooms=1)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        household = database.session.scalars(
            select(Household).where(Household.estate_id == estate.id)
        ).first()
    amounts = {"property_service": "90.00", "garbage": "10.00"}
    bill = bill_for(household, "2024-03", amounts, schedule)
    return owner.tenant_id, household, bill


def _pay(localstripe, session, *, card="4242424242424242", amount=10000):
    stripe = stripe_client(localstripe)
    params = {
        "amount": amount,
        "currency": "cny",
        "payment_method": card_payment_method(stripe, card),
        "metadata": checkout_metadata(session),
    }
    intent = stripe.v1.payment_intents.create(params=params)
    try:
        return stripe.v1.payment_intents.confirm(intent.id)
    except Exception:  # noqa: BLE001 (a declined card: the failure event is what counts)
        return intent


@pytest.mark.committed
def test_reconcile_applies_missed_events_once(app, db, stripe_config):
    database.session().expire_on_commit = False  # read our objects after commits
    localstripe = stripe_config
    since = datetime.now(UTC) - timedelta(seconds=5)
    tenant_id, household, bill = _setup("RC1")
    paid = checkout_session(household, [bill])
    declined = checkout_session(household, [bill])
    database.session.commit()
    intent = _pay(localstripe, paid)
    failed = _pay(localstripe, declined, card="4000000000000341")

    counts = reconcile(since)
    assert counts["errors"] == 0
    assert counts["applied"] >= 2  # ours (other tests' leftovers have no tenant here)
    with tenant_context(tenant_id):
        payment = database.session.scalar(
            select(Payment).where(Payment.gateway_payment_id == intent.id)
        )
        assert payment is not None and payment.amount == Decimal("100.00")
        statuses = dict(
            database.session.execute(select(CheckoutSession.id, CheckoutSession.status)).all()
        )
        assert statuses[paid.id] == CheckoutStatus.COMPLETE
        assert statuses[declined.id] == CheckoutStatus.FAILED
        sources = set(database.session.scalars(select(GatewayEvent.source)))
        assert sources == {"reconcile"}
        database.session.commit()  # end the read: see other threads' commits
    assert failed.id != intent.id

    again = reconcile(since)
    assert again["applied"] == 0
    assert again["duplicates"] >= 2
    with tenant_context(tenant_id):
        assert database.session.scalar(select(func.count()).select_from(Payment)) == 1
        assert database.session.scalar(select(func.count()).select_from(GatewayEvent)) == 2
        database.session.commit()  # end the read: see other threads' commits


@pytest.mark.committed
def test_reconcile_cli_prints_the_counts(app, db, runner, stripe_config):
    database.session().expire_on_commit = False  # read our objects after commits
    localstripe = stripe_config
    tenant_id, household, bill = _setup("RC2")
    session = checkout_session(household, [bill])
    database.session.commit()
    _pay(localstripe, session)
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    result = runner.invoke(args=["payments", "reconcile", "--since", since])
    assert result.exit_code == 0, result.output
    assert "applied" in result.output and "duplicates" in result.output
    with tenant_context(tenant_id):
        assert database.session.scalar(select(func.count()).select_from(Payment)) == 1
        database.session.commit()  # end the read: see other threads' commits


def test_reconcile_without_keys_does_nothing(app, runner):
    saved = app.config.get("STRIPE_SECRET_KEY")
    app.config["STRIPE_SECRET_KEY"] = None
    try:
        result = runner.invoke(args=["payments", "reconcile", "--since", "2024-07-01"])
        assert result.exit_code == 0, result.output
        assert "seen 0, applied 0, duplicates 0" in result.output
        bad = runner.invoke(args=["payments", "reconcile", "--since", "yesterday"])
        assert bad.exit_code == 2
    finally:
        app.config["STRIPE_SECRET_KEY"] = saved


def test_unknown_events_from_the_list_are_ignored(app, db):
    """A stand-in gateway object (not our code): the list a provider returns."""

    class Listing:
        def events_since(self, since, types, connected_account=None):
            yield {"id": "evt_x", "type": "customer.created", "data": {"object": {}}}
            yield {
                "id": f"evt_{uuid.uuid4().hex}",
                "type": "payment_intent.succeeded",
                "data": {"object": {"id": "pi_x", "metadata": {"tenant_id": str(uuid.uuid4())}}},
            }
            yield "garbage"

    counts = reconcile(datetime.now(UTC), gateway=Listing())
    assert counts == {"seen": 1, "applied": 0, "duplicates": 0, "ignored": 1, "errors": 0}


# --- the daily schedule -------------------------------------------------------------------


@pytest.mark.redis
def test_the_cron_scheduler_enqueues_the_daily_reconcile(app):
    from rq import Queue

    from ruihe_saas.jobs import redis_connection
    from ruihe_saas.online.tasks import DAILY_CRON, cron_scheduler

    with app.app_context():
        connection = redis_connection()
        [cron_job] = cron_scheduler(connection).get_jobs()
        assert cron_job.cron == DAILY_CRON and cron_job.queue_name == "payments"
        upcoming = cron_job.next_enqueue_time
        assert upcoming.hour == 19 and upcoming.minute == 0  # 03:00 Asia/Shanghai
        job = cron_job.enqueue(connection)
        try:
            assert job.func_name == "ruihe_saas.online.tasks.daily_reconcile"
            assert job.origin == "payments" and job.timeout == 300
            assert job.id in Queue("payments", connection=connection).job_ids
        finally:
            job.delete()
            connection.delete(cron_job.job_history_key)


def test_the_daily_job_runs_inside_the_app(app):
    from ruihe_saas.online.tasks import daily_reconcile

    saved = app.config.get("STRIPE_SECRET_KEY")
    app.config["STRIPE_SECRET_KEY"] = None
    try:
        assert daily_reconcile()["seen"] == 0
    finally:
        app.config["STRIPE_SECRET_KEY"] = saved


def test_cron_command_needs_redis(app, runner):
    saved = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = None
    try:
        result = runner.invoke(args=["payments", "cron"])
        assert result.exit_code == 1 and "REDIS_URL" in result.output
    finally:
        app.config["REDIS_URL"] = saved
