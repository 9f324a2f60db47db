"""Automatic postings: every money event posts one balanced entry in its own transaction,
on the right accounts, entity and household, once (a replay returns the first entry)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing import bills as bill_service
from ruihe_saas.billing import runs
from ruihe_saas.billing.models import Bill, BillCredit
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.fees.models import ChargeKind, FeeItem, RevenueCategory
from ruihe_saas.ledger import closing, postings, services
from ruihe_saas.ledger.checks import run_checks
from ruihe_saas.ledger.models import Account, EntrySource, JournalEntry, JournalLine
from ruihe_saas.online.payouts import record_payout
from ruihe_saas.payments.gateway import PayoutInfo, PayoutTransaction
from ruihe_saas.payments.models import PaymentAllocation, RefundStatus
from ruihe_saas.payments.services import apply_prepaid_credit, record_payment
from ruihe_saas.refunds import services as refunds
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, set_stages, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal


class World:
    def __init__(self, code="PO", *stages):
        self.owner = member(Role.OWNER)
        self.tenant_id = self.owner.tenant_id
        self.estate = estate_with_households(self.tenant_id, code, buildings=1, rooms=2)
        set_stages(self.estate, *(stages or [(date(2020, 1, 1), "full_takeover")]))
        self.schedule = simple_schedule(self.estate)
        with tenant_context(self.tenant_id):
            self.households = list_households(self.estate, 1, 10).items

    def bill(self, period, service="100.00", garbage="10.00", household=0, post=True):
        amounts = {"property_service": service, "garbage": garbage}
        bill = bill_for(self.households[household], period, amounts, self.schedule)
        if post:
            with tenant_context(self.tenant_id):
                postings.post_bill(bill)
        return bill

    def pay(self, amount, household=0, method="cash", **kwargs):
        with tenant_context(self.tenant_id):
            return record_payment(self.households[household].id, amount, method, **kwargs)


@pytest.fixture
def world(db):
    return World()


def entry_lines(source_key) -> list[tuple[str, Decimal, Decimal, object, object]]:
    """(role, debit, credit, estate id, household id) of the entry posted for ``source_key``."""
    rows = database.session.execute(
        select(Account.role, JournalLine.debit, JournalLine.credit, JournalLine.estate_id,
               JournalLine.household_id)
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(JournalEntry.source_key == source_key)
        .order_by(Account.code)
    )  # fmt: skip
    return [tuple(row) for row in rows]


def entry_of(source_key) -> JournalEntry:
    return database.session.scalar(
        select(JournalEntry).where(JournalEntry.source_key == source_key)
    )


def entries() -> int:
    return database.session.scalar(select(func.count()).select_from(JournalEntry))


def test_a_bill_debits_the_household_and_credits_revenue_by_category(world):
    with tenant_context(world.tenant_id):
        garbage = database.session.scalar(select(FeeItem).where(FeeItem.code == "garbage"))
        garbage.revenue_category = RevenueCategory.PUBLIC_REVENUE  # e.g. advertising
        database.session.flush()
    bill = world.bill("2024-07", "100.00", "10.00")
    estate, household = world.estate.id, world.households[0].id
    with tenant_context(world.tenant_id):
        entry = entry_of(f"bill:{bill.id}")
        assert (entry.source, entry.entry_date, entry.reference) == (
            EntrySource.BILLING,
            date(2024, 7, 1),
            bill.number,
        )
        assert entry_lines(f"bill:{bill.id}") == [
            ("receivable", D("110.00"), D("0"), estate, household),
            ("property_income", D("0"), D("100.00"), estate, None),
            ("public_revenue", D("0"), D("10.00"), estate, None),
        ]
        count = entries()
        assert postings.post_bill(bill).id == entry.id  # a replay posts nothing
        assert entries() == count
        assert run_checks() == []


def test_partial_caretaking_bills_are_caretaking_income(db):
    world = World("CT", (date(2020, 1, 1), "partial_caretaking"))
    bill = world.bill("2024-07")
    with tenant_context(world.tenant_id):
        roles = [line[0] for line in entry_lines(f"bill:{bill.id}")]
        assert roles == ["receivable", "caretaking_income"]


def test_the_stage_on_the_periods_first_day_decides(db):
    world = World(
        "ST", (date(2020, 1, 1), "partial_caretaking"), (date(2024, 7, 1), "full_takeover")
    )
    june, july = world.bill("2024-06"), world.bill("2024-07")
    with tenant_context(world.tenant_id):
        assert entry_lines(f"bill:{june.id}")[1][0] == "caretaking_income"
        assert entry_lines(f"bill:{july.id}")[1][0] == "property_income"


def test_a_zero_bill_posts_nothing(world):
    bill = world.bill("2024-07", "0.00", "0.00", post=False)
    with tenant_context(world.tenant_id):
        assert postings.post_bill(bill) is None
        assert entries() == 0


def test_a_bill_in_a_closed_month_is_dated_into_the_next_open_one(world):
    with tenant_context(world.tenant_id):
        services.ensure_chart()
        closing.close_period(world.estate.id, "2024-07", today=date(2024, 9, 1))
    bill = world.bill("2024-07")
    with tenant_context(world.tenant_id):
        assert entry_of(f"bill:{bill.id}").entry_date == date(2024, 8, 1)


def test_a_void_reverses_the_credited_part(world):
    bill = world.bill("2024-07", "100.00", "10.00")
    world.pay("30.00")  # 30 of the service line paid
    estate, household = world.estate.id, world.households[0].id
    with tenant_context(world.tenant_id):
        bill_service.void_bill(bill.id, "面积录错")
        credits = database.session.scalars(select(BillCredit).order_by(BillCredit.amount)).all()
        assert [c.amount for c in credits] == [D("10.00"), D("70.00")]
        for credit in credits:
            entry = entry_of(f"credit:{credit.id}")
            assert (entry.source, entry.memo) == (EntrySource.VOID, "面积录错")
            assert entry_lines(f"credit:{credit.id}") == [
                ("receivable", D("0"), credit.amount, estate, household),
                ("property_income", credit.amount, D("0"), estate, None),
            ]
        assert postings.post_credit(credits[0]).id == entry_of(f"credit:{credits[0].id}").id
        assert run_checks() == []


@pytest.mark.parametrize(
    "method, role",
    [
        ("cash", "cash"),
        ("bank_transfer", "bank"),
        ("pos_card", "bank"),
        ("wechat_qr", "bank"),
        ("alipay_qr", "bank"),
        ("online", "stripe_clearing"),
    ],
)
def test_a_payment_debits_its_money_account(world, method, role):
    world.bill("2024-07", "100.00", "10.00")
    paid_at = datetime(2024, 7, 31, 17, 0, tzinfo=UTC)  # 1 August in Shanghai
    payment = world.pay("150.00", method=method, paid_at=paid_at)
    estate, household = world.estate.id, world.households[0].id
    with tenant_context(world.tenant_id):
        entry = entry_of(f"payment:{payment.id}")
        assert (entry.source, entry.entry_date) == (EntrySource.PAYMENT, date(2024, 8, 1))
        lines = entry_lines(f"payment:{payment.id}")
        assert sorted(lines, key=lambda line: line[0]) == sorted(
            [
                (role, D("150.00"), D("0"), estate, None),
                ("receivable", D("0"), D("110.00"), estate, household),
                ("prepaid", D("0"), D("40.00"), estate, household),
            ],
            key=lambda line: line[0],
        )
        count = entries()
        assert postings.post_payment(payment).id == entry.id
        assert entries() == count
        assert run_checks() == []


def test_a_payment_without_bills_is_all_prepaid(world):
    payment = world.pay("80.00")
    with tenant_context(world.tenant_id):
        assert [line[:3] for line in entry_lines(f"payment:{payment.id}")] == [
            ("cash", D("80.00"), D("0")),
            ("prepaid", D("0"), D("80.00")),
        ]


def test_prepaid_credit_applied_later_moves_it_to_the_bills(world):
    world.pay("200.00")  # all prepaid
    world.bill("2024-07", "100.00", "10.00")
    estate, household = world.estate.id, world.households[0].id
    with tenant_context(world.tenant_id):
        applied = apply_prepaid_credit([household])
        assert applied == D("110.00")
        first = database.session.scalars(
            select(PaymentAllocation).order_by(PaymentAllocation.id)
        ).first()
        key = f"prepaid:{first.id}"
        assert entry_of(key).source == EntrySource.PREPAID_APPLIED
        assert entry_lines(key) == [
            ("receivable", D("0"), D("110.00"), estate, household),
            ("prepaid", D("110.00"), D("0"), estate, household),
        ]
        assert apply_prepaid_credit([household]) == D("0.00")  # nothing left to apply
        batch = database.session.scalars(select(PaymentAllocation)).all()
        assert [e.id for e in postings.post_prepaid_applied(batch)] == [entry_of(key).id]
        assert run_checks() == []


def test_a_refund_takes_the_money_back_from_credit_then_bills(world):
    world.bill("2024-01", "100.00", "10.00")
    payment = world.pay("150.00")  # 110 to January, 40 prepaid
    estate, household = world.estate.id, world.households[0].id
    with tenant_context(world.tenant_id):
        refund = refunds.refund_payment(payment.id, "60.00", "多交退回", method="bank_transfer")
        assert (refund.from_credit, refund.from_bills) == (D("40.00"), D("20.00"))
        key = f"refund:{refund.id}"
        assert entry_of(key).source == EntrySource.REFUND
        assert entry_lines(key) == [
            ("bank", D("0"), D("60.00"), estate, None),
            ("receivable", D("20.00"), D("0"), estate, household),
            ("prepaid", D("40.00"), D("0"), estate, household),
        ]
        count = entries()
        assert postings.post_refund(refund).id == entry_of(key).id
        assert entries() == count
        assert run_checks() == []


def test_a_refund_by_the_original_method_uses_the_payments_account(world):
    payment = world.pay("50.00", method="wechat_qr")
    with tenant_context(world.tenant_id):
        refund = refunds.refund_payment(payment.id, "50.00", "退款")
        assert [line[:3] for line in entry_lines(f"refund:{refund.id}")] == [
            ("bank", D("0"), D("50.00")),
            ("prepaid", D("50.00"), D("0")),
        ]


def test_a_failed_gateway_refund_is_reversed(world):
    world.bill("2024-01", "100.00", "10.00")
    payment = world.pay("150.00", method="online")
    estate, household = world.estate.id, world.households[0].id
    with tenant_context(world.tenant_id):
        payment.gateway_payment_id = "pi_ledger_1"
        refund = refunds.record_gateway_refund(
            payment, D("100.00"), "re_ledger_1", status=RefundStatus.PENDING
        )
        assert entry_lines(f"refund:{refund.id}") == [
            ("stripe_clearing", D("0"), D("100.00"), estate, None),
            ("receivable", D("60.00"), D("0"), estate, household),
            ("prepaid", D("40.00"), D("0"), estate, household),
        ]
        assert run_checks() == []
        refunds.settle_gateway_refund("re_ledger_1", "failed")
        key = f"refund-failed:{refund.id}"
        assert entry_lines(key) == [
            ("stripe_clearing", D("100.00"), D("0"), estate, None),
            ("receivable", D("0"), D("60.00"), estate, household),
            ("prepaid", D("0"), D("40.00"), estate, household),
        ]
        count = entries()
        assert refunds.settle_gateway_refund("re_ledger_1", "failed").status == "failed"
        assert postings.post_refund_failed(refund).id == entry_of(key).id
        assert entries() == count
        assert run_checks() == []


def test_a_failed_refund_whose_bill_was_paid_meanwhile_goes_back_to_credit(world):
    world.bill("2024-01", "100.00", "10.00")
    payment = world.pay("110.00", method="online")
    with tenant_context(world.tenant_id):
        refund = refunds.record_gateway_refund(
            payment, D("110.00"), "re_ledger_2", status=RefundStatus.PENDING
        )
    world.pay("110.00")  # the reopened bill is paid at the desk meanwhile
    with tenant_context(world.tenant_id):
        refunds.settle_gateway_refund("re_ledger_2", "failed")
        assert [line[:3] for line in entry_lines(f"refund-failed:{refund.id}")] == [
            ("stripe_clearing", D("110.00"), D("0")),
            ("prepaid", D("0"), D("110.00")),
        ]
        assert run_checks() == []


def test_a_gateway_payout_empties_clearing_into_the_bank(world):
    payment = world.pay("100.00", method="online")
    estate = world.estate.id
    with tenant_context(world.tenant_id):
        share = (estate, D("99.40"), D("0.60"))
        entry = postings.post_gateway_payout([share], date(2024, 7, 3), "po_123")
        assert (entry.source, entry.reference, entry.entry_date) == (
            EntrySource.GATEWAY,
            "po_123",
            date(2024, 7, 3),
        )
        assert entry_lines("payout:po_123") == [
            ("bank", D("99.40"), D("0"), estate, None),
            ("stripe_clearing", D("0"), D("100.00"), estate, None),
            ("payment_fees", D("0.60"), D("0"), estate, None),
        ]
        assert postings.post_gateway_payout([share], date(2024, 7, 3), "po_123") == entry
        # the check goes by the payout records: an entry without its record is a difference
        assert [d.check for d in run_checks()] == ["stripe_clearing"]
        payment.gateway_payment_id = "pi_ledger_1"
        database.session.flush()
        row, _ = record_payout(
            PayoutInfo("po_123", 9940, "cny", date(2024, 7, 3), "paid"),
            [PayoutTransaction("txn_1", "charge", 10000, 60, "pi_ledger_1")],
        )
        assert row.journal_entry_id == entry.id  # the existing entry, not a second one
        assert run_checks() == []


def test_a_payout_over_several_entities_balances_each(world):
    other = estate_with_households(world.tenant_id, "P2", buildings=1, rooms=1).id
    estate = world.estate.id
    with tenant_context(world.tenant_id):
        services.ensure_chart()
        entry = postings.post_gateway_payout(
            [
                (estate, D("99.40"), D("0.60")),
                (other, D("-20.00"), D("0.00")),  # its refund outweighs its charges
                (None, D("5.00"), D("0")),
                (estate, D("49.70"), D("0.30")),  # the same entity twice: added up
            ],
            date(2024, 7, 3),
            "po_split",
        )
        assert (entry.source, entry.entry_date) == (EntrySource.GATEWAY, date(2024, 7, 3))
        lines = entry_lines("payout:po_split")
        assert sorted(lines, key=lambda line: (str(line[3]), line[0])) == sorted(
            [
                ("bank", D("149.10"), D("0"), estate, None),
                ("stripe_clearing", D("0"), D("150.00"), estate, None),
                ("payment_fees", D("0.90"), D("0"), estate, None),
                ("bank", D("0"), D("20.00"), other, None),
                ("stripe_clearing", D("20.00"), D("0"), other, None),
                ("bank", D("5.00"), D("0"), None, None),
                ("stripe_clearing", D("0"), D("5.00"), None, None),
            ],
            key=lambda line: (str(line[3]), line[0]),
        )
        for entity in (estate, other, None):
            mine = [line for line in lines if line[3] == entity]
            assert sum(line[1] for line in mine) == sum(line[2] for line in mine)


def test_a_payout_is_dated_into_a_month_open_for_all_its_entities(world):
    other = estate_with_households(world.tenant_id, "P3", buildings=1, rooms=1).id
    estate = world.estate.id
    with tenant_context(world.tenant_id):
        services.ensure_chart()
        # July closed for the estate, August for the other one: September is the first
        # month open for both (the collective economy has none closed)
        closing.close_period(estate, "2024-07", today=date(2024, 10, 1))
        closing.close_period(other, "2024-08", today=date(2024, 10, 1))
        entry = postings.post_gateway_payout(
            [(estate, D("10.00"), D("0")), (other, D("10.00"), D("0")), (None, D("1"), D("0"))],
            date(2024, 7, 20),
            "po_late",
        )
        assert entry.entry_date == date(2024, 9, 1)
        # one entity alone: only its own closes count
        alone = postings.post_gateway_payout(
            [(other, D("10.00"), D("0"))], date(2024, 7, 20), "po_other"
        )
        assert alone.entry_date == date(2024, 7, 20)


def test_a_billing_run_posts_one_balanced_entry_per_bill(db):
    world = World("BR")
    with tenant_context(world.tenant_id):
        started = runs.start_billing_run(world.estate.id, "2024-07", False)
        database.session.flush()
        runs.execute_billing_run(started.id)
    with tenant_context(world.tenant_id):
        bills = database.session.scalars(select(Bill)).all()
        assert len(bills) == 2
        keyed = {
            entry.source_key: entry
            for entry in database.session.scalars(
                select(JournalEntry).where(JournalEntry.source == EntrySource.BILLING)
            )
        }
        assert set(keyed) == {f"bill:{bill.id}" for bill in bills}
        numbers = sorted(entry.number for entry in keyed.values())
        assert numbers == ["JZ2024-0000001", "JZ2024-0000002"]
        for bill in bills:
            rows = entry_lines(f"bill:{bill.id}")
            assert rows[0] == (
                "receivable",
                bill.amount,
                D("0"),
                world.estate.id,
                bill.household_id,
            )
            assert sum(r[2] for r in rows) == bill.amount == sum(r[1] for r in rows)
            assert {r[0] for r in rows[1:]} == {"property_income"}
        assert run_checks() == []


def test_a_rerun_adding_lines_to_a_bill_posts_them_once(db):
    world = World("RR")
    with tenant_context(world.tenant_id):
        started = runs.start_billing_run(world.estate.id, "2024-07", False)
        database.session.flush()
        runs.execute_billing_run(started.id)
        # a new fee item appears for the same period: the rerun adds its lines to the bills
        database.session.add(
            FeeItem(
                schedule_id=world.schedule.id,
                estate_id=world.estate.id,
                position=5,
                code="ads",
                name="广告位收益分摊",
                charge_kind=ChargeKind.FIXED,
                rate=D("5.00"),
                revenue_category=RevenueCategory.PUBLIC_REVENUE,
            )
        )
        database.session.flush()
        again = runs.start_billing_run(world.estate.id, "2024-07", False)
        database.session.flush()
        runs.execute_billing_run(again.id)
    with tenant_context(world.tenant_id):
        added = database.session.scalars(
            select(JournalEntry).where(JournalEntry.source_key.like("bill:%:run:%"))
        ).all()
        assert len(added) == 2
        assert [r[:3] for r in entry_lines(added[0].source_key)] == [
            ("receivable", D("5.00"), D("0")),
            ("public_revenue", D("0"), D("5.00")),
        ]
        assert run_checks() == []


def test_the_run_applies_prepaid_credit_and_posts_it(db):
    world = World("RP")
    world.pay("1000.00")
    with tenant_context(world.tenant_id):
        started = runs.start_billing_run(world.estate.id, "2024-07", False)
        database.session.flush()
        runs.execute_billing_run(started.id)
    with tenant_context(world.tenant_id):
        applied = database.session.scalars(
            select(JournalEntry).where(JournalEntry.source == EntrySource.PREPAID_APPLIED)
        ).all()
        assert len(applied) == 1
        household = world.households[0]
        bill = database.session.scalar(select(Bill).where(Bill.household_id == household.id))
        assert entry_lines(applied[0].source_key)[0][:3] == ("receivable", D("0"), bill.amount)
        assert run_checks() == []


@pytest.mark.committed
def test_a_committed_billing_run_satisfies_the_database_rules(db):
    """Real commits: on PostgreSQL the deferred balance trigger checks every bulk-written
    entry at each chunk's commit."""
    world = World("CM")
    with tenant_context(world.tenant_id):
        started = runs.start_billing_run(world.estate.id, "2024-07", False)
        database.session.commit()
        runs.execute_billing_run(started.id)
        database.session.commit()
    world.pay("50.00")
    database.session.commit()
    with tenant_context(world.tenant_id):
        assert database.session.scalar(select(func.count()).select_from(JournalEntry)) == 3
        assert run_checks() == []
