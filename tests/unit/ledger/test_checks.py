"""``flask ledger check``: the ledger reconciled with bills, prepaid credit and the gateway."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.billing import bills as bill_service
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger import postings, services
from ruihe_saas.ledger.checks import Difference, run_checks
from ruihe_saas.ledger.cli import ledger_cli
from ruihe_saas.ledger.models import EntrySource
from ruihe_saas.ledger.services import Posting
from ruihe_saas.online.payouts import record_payout
from ruihe_saas.payments.gateway import PayoutInfo, PayoutTransaction
from ruihe_saas.payments.models import Payment, PaymentMethod
from ruihe_saas.payments.services import record_payment
from ruihe_saas.refunds import services as refunds
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.models import Tenant
from tests.billing_factories import bill_for, set_stages, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal


class World:
    def __init__(self, code="CK"):
        self.owner = member(Role.OWNER)
        self.tenant_id = self.owner.tenant_id
        self.slug = database.session.get(Tenant, self.tenant_id).slug
        self.estate = estate_with_households(self.tenant_id, code, buildings=1, rooms=2)
        set_stages(self.estate, (date(2020, 1, 1), "full_takeover"))
        self.schedule = simple_schedule(self.estate)
        with tenant_context(self.tenant_id):
            self.households = list_households(self.estate, 1, 10).items

    def busy_month(self):
        """Bills, a payment with change left as credit, a void, a refund, an online payment
        and its payout: everything posted by the services."""
        first = bill_for(self.households[0], "2024-07", {"property_service": "100.00",
                         "garbage": "10.00"}, self.schedule)  # fmt: skip
        second = bill_for(self.households[1], "2024-07", {"property_service": "80.00",
                          "garbage": "10.00"}, self.schedule)  # fmt: skip
        with tenant_context(self.tenant_id):
            postings.post_bill(first)
            postings.post_bill(second)
            payment = record_payment(self.households[0].id, D("150.00"), "cash")
            bill_service.void_bill(second.id, "重复出账")
            refunds.refund_payment(payment.id, "20.00", "多交退回")
            online = record_payment(self.households[1].id, D("60.00"), PaymentMethod.ONLINE)
            online.gateway_payment_id = "pi_busy_1"
            record_payout(
                PayoutInfo("po_1", 5964, "cny", date(2024, 7, 20), "paid"),
                [PayoutTransaction("txn_1", "charge", 6000, 36, "pi_busy_1")],
            )


@pytest.fixture
def world(db):
    return World()


def manual_receivable(world, amount="12.34"):
    """A (deliberately wrong) manual entry on 应收 for the first household."""
    return services.post_entry(
        date(2024, 7, 15),
        [
            Posting(
                role="receivable",
                estate_id=world.estate.id,
                household_id=world.households[0].id,
                debit=D(amount),
            ),
            Posting(role="other_income", estate_id=world.estate.id, credit=D(amount)),
        ],
        source=EntrySource.MANUAL,
    )


def test_consistent_books_pass(world):
    world.busy_month()
    with tenant_context(world.tenant_id):
        assert run_checks() == []


def test_a_manual_entry_on_receivable_is_reported(world):
    world.busy_month()
    with tenant_context(world.tenant_id):
        manual_receivable(world)
        differences = run_checks()
    household = str(world.households[0].id)
    assert differences == [Difference("receivable", household, D("0.00"), D("12.34"))]
    assert str(differences[0]) == f"receivable {household}: expected 0.00, ledger 12.34"


def test_prepaid_and_clearing_differences_are_reported(world):
    world.busy_month()
    with tenant_context(world.tenant_id):
        payment = database.session.scalar(
            database.select(Payment).where(Payment.method == PaymentMethod.CASH)
        )
        # an unposted online payment and a prepaid entry nobody's payment holds
        database.session.add(
            Payment(
                estate_id=world.estate.id,
                household_id=world.households[1].id,
                amount=D("5.00"),
                unallocated=D("0.00"),
                method=PaymentMethod.ONLINE,
                paid_at=payment.paid_at,
            )
        )
        services.post_entry(
            date(2024, 7, 15),
            [
                Posting(role="cash", estate_id=world.estate.id, debit=D("7.00")),
                Posting(
                    role="prepaid",
                    estate_id=world.estate.id,
                    household_id=world.households[1].id,
                    credit=D("7.00"),
                ),
            ],
            source=EntrySource.MANUAL,
        )
        checks = {d.check: d for d in run_checks()}
    assert set(checks) == {"prepaid", "stripe_clearing"}
    # the second household's online payment found its bill voided: all of it is credit
    assert (checks["prepaid"].expected, checks["prepaid"].actual) == (D("60.00"), D("67.00"))
    assert (checks["stripe_clearing"].expected, checks["stripe_clearing"].actual) == (
        D("5.00"),
        D("0.00"),
    )


def test_the_command_exits_1_and_lists_differences(world, runner):
    world.busy_month()
    ok = runner.invoke(ledger_cli, ["check", "--tenant", world.slug])
    assert ok.exit_code == 0, ok.output
    assert ok.output == f"{world.slug}: ok\n"
    with tenant_context(world.tenant_id):
        manual_receivable(world)
    bad = runner.invoke(ledger_cli, ["check", "--tenant", world.slug])
    assert bad.exit_code == 1
    assert f"{world.slug}: 1 difference(s)" in bad.output
    assert f"receivable {world.households[0].id}: expected 0.00, ledger 12.34" in bad.output
    unknown = runner.invoke(ledger_cli, ["check", "--tenant", "no-such-tenant"])
    assert unknown.exit_code != 0 and "no tenant no-such-tenant" in unknown.output


def test_every_tenant_is_checked_without_a_slug(world, runner):
    other = World("C2")
    world.busy_month()
    with tenant_context(other.tenant_id):
        manual_receivable(other)
    result = runner.invoke(ledger_cli, ["check"])
    assert result.exit_code == 1
    assert f"{world.slug}: ok" in result.output
    assert f"{other.slug}: 1 difference(s)" in result.output
