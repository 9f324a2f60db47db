"""Gateway payouts: the reconciliation lists Stripe's paid payouts (the loopback stand-in),
records each once in the tenant owning the account and posts it (bank + amount, fee
expense, clearing − gross), and ``run_checks`` then finds the books agree."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger.checks import Difference, run_checks
from ruihe_saas.ledger.models import Account, EntrySource, JournalEntry, JournalLine
from ruihe_saas.online import payouts
from ruihe_saas.online.reconcile import reconcile_all, reconcile_payouts
from ruihe_saas.payments.gateway import PayoutInfo, PayoutTransaction
from ruihe_saas.payments.models import GatewayPayout, PaymentMethod
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.factories import member
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    enable_gateway,
    standin_fixture,
    standin_server_fixture,
)

D = Decimal
SINCE = datetime.now(UTC) - timedelta(days=3)
TODAY = datetime.now(UTC).date()


def tenant_with_online_payment(code: str, amount="100.00", **gateway):
    """A tenant with gateway settings and one online payment of ``amount`` (all prepaid
    credit: the household has no bills), committed; its id."""
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, code, buildings=1, rooms=1)
    enable_gateway(owner.tenant_id, **gateway)
    with tenant_context(owner.tenant_id):
        household = database.session.scalar(
            select(Household).where(Household.estate_id == estate.id)
        )
        record_payment(household.id, D(amount), PaymentMethod.ONLINE, reference="pi_test_1")
    database.session.commit()
    return owner.tenant_id


def rows(tenant_id) -> list[tuple]:
    with tenant_context(tenant_id):
        return [
            (p.payout_id, p.amount, p.fees, p.gross, p.currency, p.connected_account_id)
            for p in database.session.scalars(select(GatewayPayout).order_by(GatewayPayout.id))
        ]


def entry_lines(tenant_id, payout_id: str) -> list[tuple]:
    with tenant_context(tenant_id):
        entry = database.session.scalar(
            select(JournalEntry).where(JournalEntry.source_key == f"payout:{payout_id}")
        )
        if entry is None:
            return []
        assert (entry.source, entry.reference) == (EntrySource.GATEWAY, payout_id)
        return sorted(
            (role, debit, credit, estate_id)
            for role, debit, credit, estate_id in database.session.execute(
                select(Account.role, JournalLine.debit, JournalLine.credit, JournalLine.estate_id)
                .join(Account, Account.id == JournalLine.account_id)
                .where(JournalLine.entry_id == entry.id)
            )
        )


def counted(**nonzero: int) -> dict:
    """``reconcile_payouts``' counts: these, every other one 0."""
    zeros = dict.fromkeys(("seen", "recorded", "known", "reversed", "skipped", "errors"), 0)
    return {**zeros, **nonzero}


def gateway_entries() -> int:
    """The current tenant's gateway (payout) journal entries."""
    return database.session.scalar(
        select(func.count())
        .select_from(JournalEntry)
        .where(JournalEntry.source == EntrySource.GATEWAY)
    )


def count(tenant_id, model) -> int:
    with tenant_context(tenant_id):
        return database.session.scalar(select(func.count()).select_from(model))


def checks(tenant_id) -> list[Difference]:
    with tenant_context(tenant_id):
        return run_checks()


# --- the reconciliation --------------------------------------------------------------------


def test_a_payout_is_recorded_and_posted_once(app, stripe_standin):
    tenant_id = tenant_with_online_payment("PO1")
    # before the payout, all 100.00 is in clearing: the books agree
    assert checks(tenant_id) == []
    payout = stripe_standin.add_payout(9940, fees=(60,))

    counts = reconcile_payouts(SINCE)

    assert counts == counted(seen=1, recorded=1)
    assert rows(tenant_id) == [(payout["id"], D("99.40"), D("0.60"), D("100.00"), "cny", None)]
    assert entry_lines(tenant_id, payout["id"]) == [
        ("bank", D("99.40"), D("0.00"), None),
        ("payment_fees", D("0.60"), D("0.00"), None),
        ("stripe_clearing", D("0.00"), D("100.00"), None),
    ]
    with tenant_context(tenant_id):
        row = database.session.scalar(select(GatewayPayout))
        entry = database.session.get(JournalEntry, (tenant_id, row.journal_entry_id))
        assert entry.entry_date == payout_day(payout)
        assert row.arrival_date == payout_day(payout) and row.source == "reconcile"
    assert checks(tenant_id) == []
    # the exact requests: the platform's paid payouts that arrived since, then the fees
    listed, fees = stripe_standin.requests
    assert (listed.method, listed.path) == ("GET", "/v1/payouts")
    # every status: paid ones are recorded, failed ones reversed if recorded
    assert "status" not in listed.body and listed.body["limit"] == "100"
    since_midnight = datetime.combine(SINCE.date(), datetime.min.time(), UTC)
    assert listed.body["arrival_date[gte]"] == str(int(since_midnight.timestamp()))
    assert listed.header("Stripe-Account") is None
    assert (fees.path, fees.body["payout"]) == ("/v1/balance_transactions", payout["id"])

    stripe_standin.requests.clear()
    again = reconcile_payouts(SINCE)
    assert again == counted(seen=1, known=1)
    assert [r.path for r in stripe_standin.requests] == ["/v1/payouts"]  # no fee lookup
    assert count(tenant_id, GatewayPayout) == 1
    with tenant_context(tenant_id):
        assert gateway_entries() == 1
    assert checks(tenant_id) == []


def test_a_payout_the_bank_returns_is_reversed_once(app, stripe_standin):
    tenant_id = tenant_with_online_payment("PR1")
    before = clearing_by_entity(tenant_id)
    payout = stripe_standin.add_payout(9940, fees=(60,))
    assert reconcile_payouts(SINCE)["recorded"] == 1
    booked = entry_lines(tenant_id, payout["id"])

    payout["status"] = "failed"  # days later the bank returns it
    counts = reconcile_payouts(SINCE)

    assert counts == counted(seen=1, reversed=1)
    with tenant_context(tenant_id):
        row = database.session.scalar(select(GatewayPayout))
        reversal = database.session.get(JournalEntry, (tenant_id, row.reversal_entry_id))
        original = database.session.get(JournalEntry, (tenant_id, row.journal_entry_id))
        assert row.status.value == "failed" and row.failed_on == reversal.entry_date
        assert row.failed_on in (TODAY, TODAY + timedelta(days=1))  # tenant-local today
        assert (reversal.source, reversal.source_key) == (
            EntrySource.GATEWAY,
            f"payout-failed:{payout['id']}",
        )
        assert reversal.reverses_id == original.id
        swapped = sorted(
            (role, debit, credit, estate_id)
            for role, debit, credit, estate_id in database.session.execute(
                select(Account.role, JournalLine.debit, JournalLine.credit, JournalLine.estate_id)
                .join(Account, Account.id == JournalLine.account_id)
                .where(JournalLine.entry_id == reversal.id)
            )
        )
    assert swapped == sorted((r, c, d, e) for r, d, c, e in booked)
    # the 100.00 is back in clearing, and the check (paid payouts only) agrees
    assert {e: v for e, v in clearing_by_entity(tenant_id).items() if v} == before
    assert checks(tenant_id) == []

    again = reconcile_payouts(SINCE)
    assert again == counted(seen=1, known=1)
    assert count(tenant_id, JournalEntry) == 2 + 1  # the payment, the payout, one reversal


def payout_day(payout) -> date:
    return datetime.fromtimestamp(payout["arrival_date"], UTC).date()


def test_fees_of_refunds_and_several_charges_add_up(app, stripe_standin):
    tenant_id = tenant_with_online_payment("PO2", amount="300.00")
    payout = stripe_standin.add_payout(28000, fees=(60, 90, 50), refunds=(1800,))
    assert reconcile_payouts(SINCE)["recorded"] == 1
    assert rows(tenant_id) == [(payout["id"], D("280.00"), D("2.00"), D("282.00"), "cny", None)]
    # 300.00 received, 282.00 paid out or kept as fees: 18.00 (refunded at Stripe, never
    # recorded here) stays in clearing, which is what the records say too
    assert checks(tenant_id) == []
    with tenant_context(tenant_id):
        clearing = database.session.scalar(
            select(func.sum(JournalLine.debit - JournalLine.credit))
            .join(Account, Account.id == JournalLine.account_id)
            .where(Account.role == "stripe_clearing")
        )
    assert D(clearing).quantize(D("0.01")) == D("18.00")


def test_a_connected_accounts_payout_lands_in_its_tenant_only(app, stripe_standin):
    mine = tenant_with_online_payment("PC1", mode="connect", connected_account_id="acct_mine1")
    other = tenant_with_online_payment("PC2", mode="connect", connected_account_id="acct_other1")
    payout = stripe_standin.add_payout(4950, fees=(50,), account="acct_mine1")

    counts = reconcile_payouts(SINCE)

    assert counts == counted(seen=1, recorded=1)
    assert rows(mine) == [(payout["id"], D("49.50"), D("0.50"), D("50.00"), "cny", "acct_mine1")]
    assert rows(other) == [] and entry_lines(other, payout["id"]) == []
    assert checks(mine) == [] and checks(other) == []
    by_account = {(r.path, r.header("Stripe-Account")) for r in stripe_standin.requests}
    assert by_account == {
        ("/v1/payouts", "acct_mine1"),
        ("/v1/payouts", "acct_other1"),
        ("/v1/balance_transactions", "acct_mine1"),
    }


def test_payouts_of_an_account_two_tenants_claim_are_nobodys(app, stripe_standin):
    first = tenant_with_online_payment("PD1", mode="connect", connected_account_id="acct_twice1")
    second = tenant_with_online_payment("PD2", mode="connect", connected_account_id="acct_twice1")
    stripe_standin.add_payout(4950, fees=(50,), account="acct_twice1")
    assert reconcile_payouts(SINCE)["seen"] == 0
    assert stripe_standin.requests == []
    assert rows(first) == [] and rows(second) == []


def test_platform_payouts_need_exactly_one_platform_tenant(app, stripe_standin):
    first = tenant_with_online_payment("PP1")  # platform mode
    disabled = tenant_with_online_payment("PP2", enabled=False)
    stripe_standin.add_payout(9940, fees=(60,))
    assert reconcile_payouts(SINCE)["recorded"] == 1  # a disabled platform tenant: not a claim
    assert len(rows(first)) == 1 and rows(disabled) == []

    tenant_with_online_payment("PP3")  # a second enabled platform tenant: ambiguous
    stripe_standin.add_payout(1000, fees=(10,))
    assert reconcile_payouts(SINCE)["seen"] == 0
    assert len(rows(first)) == 1


@pytest.mark.parametrize(
    ("made", "changed", "expected"),
    [
        ({"currency": "usd"}, {}, {"skipped": 1}),
        ({"fees": (-60,)}, {}, {"skipped": 1}),  # negative fees
        ({"amount": -100, "fees": (0,)}, {}, {"skipped": 1}),
        ({"status": "in_transit"}, {}, {}),  # listed, not counted: not at the bank yet
        ({"status": "failed"}, {}, {}),  # failed before it was booked: nothing to undo
        ({}, {"amount": "9940"}, {}),  # malformed: left out, logged
        ({}, {"arrival_date": None}, {}),
        ({}, {"id": "tr_not_a_payout"}, {}),
    ],
    ids=[
        "currency",
        "negative-fees",
        "negative-amount",
        "in-transit",
        "failed-unbooked",
        "text",
        "no-date",
        "id",
    ],
)
def test_bad_payouts_change_nothing(app, stripe_standin, made, changed, expected):
    tenant_id = tenant_with_online_payment("PB1")
    made = {"amount": 9940, "fees": (60,), **made}
    stripe_standin.add_payout(made.pop("amount"), made.pop("fees"), **made).update(changed)
    counts = reconcile_payouts(SINCE)
    assert counts == counted(seen=sum(expected.values()), **expected)
    assert rows(tenant_id) == []
    with tenant_context(tenant_id):
        assert gateway_entries() == 0
    assert checks(tenant_id) == []


def test_a_gateway_failure_is_counted_and_writes_nothing(app, stripe_standin):
    tenant_id = tenant_with_online_payment("PF1")
    stripe_standin.add_payout(9940, fees=(60,))
    stripe_standin.fail_next(500, path="/v1/payouts")
    assert reconcile_payouts(SINCE) == counted(errors=1)
    stripe_standin.fail_next(500, path="/v1/balance_transactions")
    assert reconcile_payouts(SINCE) == counted(seen=1, errors=1)
    assert rows(tenant_id) == []
    assert reconcile_payouts(SINCE)["recorded"] == 1  # the next run records it
    assert checks(tenant_id) == []


def test_reconcile_all_and_without_keys(app, stripe_standin):
    tenant_id = tenant_with_online_payment("PA1")
    stripe_standin.add_payout(9940, fees=(60,))
    counts = reconcile_all(SINCE)
    assert counts["errors"] == 0 and counts["payouts"]["recorded"] == 1
    assert len(rows(tenant_id)) == 1
    app.config["STRIPE_SECRET_KEY"] = None  # the fixture restores it
    assert reconcile_all(SINCE)["payouts"] == counted()


def test_the_cli_prints_payout_counts(app, runner, stripe_standin):
    tenant_id = tenant_with_online_payment("PL1")
    stripe_standin.add_payout(9940, fees=(60,))
    result = runner.invoke(args=["payments", "reconcile", "--since", SINCE.date().isoformat()])
    assert result.exit_code == 0, result.output
    assert "payouts: seen 1, recorded 1, known 0, reversed 0, skipped 0, errors 0" in result.output
    assert len(rows(tenant_id)) == 1
    ledger = runner.invoke(args=["ledger", "check"])
    assert ledger.exit_code == 0, ledger.output
    stripe_standin.fail_next(500)
    failed = runner.invoke(args=["payments", "reconcile", "--since", SINCE.date().isoformat()])
    assert failed.exit_code == 1, failed.output


# --- the service ---------------------------------------------------------------------------


def charge(amount: int, fee, intent: str | None = None) -> list[PayoutTransaction]:
    """One charge's balance transaction (``amount`` + ``fee`` gross), as a payout's list."""
    return [PayoutTransaction("txn_svc", "charge", amount + fee, fee, intent)]


def info(payout_id="po_svc_1", amount=9940, **overrides) -> PayoutInfo:
    values = {
        "payout_id": payout_id,
        "amount_fen": amount,
        "currency": "cny",
        "arrival_date": date(2024, 7, 20),
        "status": "paid",
    }
    values.update(overrides)
    return PayoutInfo(**values)


def test_record_payout_is_idempotent_and_refuses_bad_data(app, db):
    tenant_id = tenant_with_online_payment("PS1")
    with tenant_context(tenant_id):
        row, created = payouts.record_payout(info(), charge(9940, 60))
        again, created_again = payouts.record_payout(info(), charge(9940, 60))
        assert created and not created_again and again.id == row.id
        assert (row.amount, row.fees, row.gross) == (D("99.40"), D("0.60"), D("100.00"))
        for bad, transactions in (
            (info("po_svc_2", currency="usd"), []),
            (info("po_svc_3", status="pending"), []),
            (info("po_svc_4", amount=0), []),
            (info("po_svc_5"), charge(9940, -1)),
            (info("po_svc_6"), charge(9940, 60) + [PayoutTransaction("t", "charge", 1, "1")]),
            (info("po_svc_7"), 60),
            (info("po_svc_8", amount=10**14), []),
        ):
            with pytest.raises(payouts.PayoutRefused):
                payouts.record_payout(bad, transactions)
        assert database.session.scalar(select(func.count()).select_from(GatewayPayout)) == 1
        assert run_checks() == []


def test_record_payout_failure_undoes_a_recorded_payout_once(app, db):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        assert payouts.record_payout_failure("po_svc_9", date(2024, 7, 25)) == "unknown"
        payouts.record_payout(info(), charge(9940, 60))
        assert payouts.record_payout_failure("po_svc_1", date(2024, 7, 25)) == "reversed"
        assert payouts.record_payout_failure("po_svc_1", date(2024, 7, 26)) == "known"
        database.session.commit()
        row = database.session.scalar(select(GatewayPayout))
        assert (row.status.value, row.failed_on) == ("failed", date(2024, 7, 25))
        numbers = payouts.entry_numbers([row])
        assert set(numbers) == {row.journal_entry_id, row.reversal_entry_id}
        reversals = database.session.scalars(
            select(JournalEntry).where(JournalEntry.reverses_id.is_not(None))
        ).all()
        assert [(e.entry_date, e.reverses_id) for e in reversals] == [
            (date(2024, 7, 25), row.journal_entry_id)
        ]
    # a paid payout stays paid: the check constraint ties failed to its reversal
    with (
        tenant_context(owner.tenant_id),
        pytest.raises(IntegrityError),
        database.session.begin_nested(),
    ):
        database.session.execute(update(GatewayPayout).values(reversal_entry_id=None))
    database.session.rollback()


def test_the_check_uses_the_payout_records_not_the_ledger(app, db):
    """A payout posted without its record (or a record without its posting) is reported."""
    from ruihe_saas.ledger.postings import post_gateway_payout

    tenant_id = tenant_with_online_payment("PK1")
    with tenant_context(tenant_id):
        post_gateway_payout([(None, D("49.75"), D("0.25"))], date(2024, 7, 20), "po_unrecorded")
        assert run_checks() == [Difference("stripe_clearing", "", D("100.00"), D("50.00"))]
        # recording it links the existing entry: the books agree again
        row, created = payouts.record_payout(info("po_unrecorded", amount=4975), charge(4975, 25))
        assert created and run_checks() == []
        assert gateway_entries() == 1


def test_listing_is_for_the_whole_tenant_only(app, db):
    from ruihe_saas.errors import NotFound
    from ruihe_saas.tenancy.context import estate_scope

    tenant_id = tenant_with_online_payment("PV1")
    with tenant_context(tenant_id):
        payouts.record_payout(info("po_old", arrival_date=date(2024, 7, 1)), charge(9940, 10))
        payouts.record_payout(info("po_new", arrival_date=date(2024, 8, 1)), charge(9940, 10))
        page = payouts.list_payouts(1, 10)
        assert [p.payout_id for p in page.items] == ["po_new", "po_old"] and page.total == 2
        numbers = payouts.entry_numbers(page.items)
        assert all(n.startswith("JZ2024-") for n in numbers.values()) and len(numbers) == 2
        with estate_scope([]), pytest.raises(NotFound):
            payouts.list_payouts(1, 10)


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_recordings_of_one_payout_make_one(app, db):
    """The webhook job and the reconciliation (or two of either) at once: the unique
    ``(tenant_id, payout_id)`` and the entry's ``source_key`` leave one row and one entry."""
    import threading

    database.session().expire_on_commit = False
    tenant_id = tenant_with_online_payment("PR1")
    start = threading.Barrier(4)
    errors: list[BaseException] = []
    results: list[tuple] = []

    def record() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=10)
                row, created = payouts.record_payout(info("po_race"), charge(9940, 60))
                database.session.commit()
                results.append((row.id, created))
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                database.session.rollback()
            finally:
                database.session.remove()

    threads = [threading.Thread(target=record) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len({row_id for row_id, _ in results}) == 1 and len(results) == 4
    assert sum(created for _, created in results) == 1
    assert rows(tenant_id) == [("po_race", D("99.40"), D("0.60"), D("100.00"), "cny", None)]
    with tenant_context(tenant_id):
        assert gateway_entries() == 1
        assert run_checks() == []
        database.session.commit()  # end the read


@pytest.mark.postgres
def test_the_app_role_cannot_delete_payouts_or_see_another_tenants(app, db):
    from sqlalchemy import text
    from sqlalchemy.exc import ProgrammingError

    tenant_id = tenant_with_online_payment("PG1")
    other = tenant_with_online_payment("PG2")
    with tenant_context(tenant_id):
        payouts.record_payout(info("po_kept"), charge(9940, 60))
        database.session.flush()
        with (
            pytest.raises(ProgrammingError, match="permission denied"),
            database.session.begin_nested(),
        ):
            database.session.execute(text("DELETE FROM gateway_payouts"))
    with tenant_context(other):
        # row-level security: raw SQL in another tenant sees none of them
        assert database.session.scalar(text("SELECT count(*) FROM gateway_payouts")) == 0
    with tenant_context(tenant_id):
        assert database.session.scalar(text("SELECT count(*) FROM gateway_payouts")) == 1


# --- split over the estates ----------------------------------------------------------------


def online_payment(tenant_id, code: str, amount: str, intent: str):
    """An estate with one household that paid ``amount`` online (PaymentIntent ``intent``,
    all prepaid credit); the estate's id and the payment."""
    estate = estate_with_households(tenant_id, code, buildings=1, rooms=1)
    with tenant_context(tenant_id):
        household = database.session.scalar(
            select(Household).where(Household.estate_id == estate.id)
        )
        payment = record_payment(household.id, D(amount), PaymentMethod.ONLINE)
        payment.gateway_payment_id = intent
        database.session.flush()
    database.session.commit()
    return estate.id, payment


def clearing_by_entity(tenant_id) -> dict:
    """Stripe 待清算 (debits − credits) per entity (None: the collective economy)."""
    with tenant_context(tenant_id):
        rows = database.session.execute(
            select(JournalLine.estate_id, func.sum(JournalLine.debit - JournalLine.credit))
            .join(Account, Account.id == JournalLine.account_id)
            .where(Account.role == "stripe_clearing")
            .group_by(JournalLine.estate_id)
        )
        return {estate_id: D(total).quantize(D("0.01")) for estate_id, total in rows}


def balances_per_entity(lines: list[tuple]) -> dict:
    """Σ debit − Σ credit of an entry's lines, per entity."""
    totals: dict = {}
    for _role, debit, credit, estate_id in lines:
        totals[estate_id] = totals.get(estate_id, D("0")) + debit - credit
    return totals


def test_a_payout_settling_two_estates_empties_each_estates_clearing(app, stripe_standin):
    owner = member(Role.OWNER)
    tenant_id = owner.tenant_id
    enable_gateway(tenant_id)
    first, _ = online_payment(tenant_id, "PT1", "100.00", "pi_split_first")
    second, _ = online_payment(tenant_id, "PT2", "50.00", "pi_split_second")
    assert clearing_by_entity(tenant_id) == {first: D("100.00"), second: D("50.00")}
    payout = stripe_standin.add_payout(
        14910, charges=((10000, 60, "pi_split_first"), (5000, 30, "pi_split_second"))
    )

    assert reconcile_payouts(SINCE)["recorded"] == 1

    # each estate's clearing is back to 0; the collective economy's has no line at all
    assert clearing_by_entity(tenant_id) == {first: D("0.00"), second: D("0.00")}
    lines = entry_lines(tenant_id, payout["id"])
    assert sorted(lines, key=lambda line: (str(line[3]), line[0])) == sorted(
        [
            ("bank", D("99.40"), D("0.00"), first),
            ("payment_fees", D("0.60"), D("0.00"), first),
            ("stripe_clearing", D("0.00"), D("100.00"), first),
            ("bank", D("49.70"), D("0.00"), second),
            ("payment_fees", D("0.30"), D("0.00"), second),
            ("stripe_clearing", D("0.00"), D("50.00"), second),
        ],
        key=lambda line: (str(line[3]), line[0]),
    )
    assert balances_per_entity(lines) == {first: D("0.00"), second: D("0.00")}
    # the record keeps the payout's totals
    assert rows(tenant_id) == [(payout["id"], D("149.10"), D("0.90"), D("150.00"), "cny", None)]
    assert checks(tenant_id) == []
    # the transactions were asked for with their sources
    listing = stripe_standin.requests[-1]
    assert listing.path == "/v1/balance_transactions"
    assert listing.body["payout"] == payout["id"] and "data.source" in listing.body.values()

    stripe_standin.requests.clear()
    assert reconcile_payouts(SINCE)["known"] == 1  # a rerun records nothing
    assert [r.path for r in stripe_standin.requests] == ["/v1/payouts"]
    with tenant_context(tenant_id):
        assert gateway_entries() == 1
    assert clearing_by_entity(tenant_id) == {first: D("0.00"), second: D("0.00")}


def test_what_no_payment_here_explains_goes_to_the_collective_economy(app, stripe_standin):
    from ruihe_saas.refunds.services import record_gateway_refund

    owner = member(Role.OWNER)
    tenant_id = owner.tenant_id
    enable_gateway(tenant_id, mode="connect", connected_account_id="acct_split1")
    first, payment = online_payment(tenant_id, "PU1", "100.00", "pi_rest_first")
    second, _ = online_payment(tenant_id, "PU2", "50.00", "pi_rest_second")
    # the first household was refunded 20.00 at the gateway (recorded here by its id)
    with tenant_context(tenant_id):
        record_gateway_refund(payment, D("20.00"), "re_rest_first")
    database.session.commit()
    # another tenant's payment: its intent means nothing in this tenant
    elsewhere = member(Role.OWNER)
    online_payment(elsewhere.tenant_id, "PU3", "30.00", "pi_rest_elsewhere")
    payout = stripe_standin.add_payout(
        15493,  # 1.23 more than the transactions' net: a difference the list leaves out
        account="acct_split1",
        charges=(
            (10000, 60, "pi_rest_first"),
            (5000, 30, "pi_rest_second"),
            (3000, 40, "pi_rest_elsewhere"),
        ),
        refunds=((2000, None, "re_rest_first"),),  # no intent on it: matched by its id
        others=(("adjustment", -500, 0),),
    )

    assert reconcile_payouts(SINCE)["recorded"] == 1

    lines = entry_lines(tenant_id, payout["id"])
    assert balances_per_entity(lines) == {first: D("0"), second: D("0"), None: D("0")}
    by_entity = {(role, estate_id): debit - credit for role, debit, credit, estate_id in lines}
    assert by_entity == {
        # 100.00 − 20.00 refunded = 80.00 out of its clearing, its fee 0.60
        ("bank", first): D("79.40"),
        ("payment_fees", first): D("0.60"),
        ("stripe_clearing", first): D("-80.00"),
        ("bank", second): D("49.70"),
        ("payment_fees", second): D("0.30"),
        ("stripe_clearing", second): D("-50.00"),
        # the unknown charge 30.00 (fee 0.40), the adjustment −5.00 and the 1.23 difference
        ("bank", None): D("25.83"),
        ("payment_fees", None): D("0.40"),
        ("stripe_clearing", None): D("-26.23"),
    }
    assert clearing_by_entity(tenant_id) == {first: D("0"), second: D("0"), None: D("-26.23")}
    assert rows(tenant_id) == [
        (payout["id"], D("154.93"), D("1.30"), D("156.23"), "cny", "acct_split1")
    ]
    assert checks(tenant_id) == [] and checks(elsewhere.tenant_id) == []
    assert rows(elsewhere.tenant_id) == []


def test_an_estates_refund_in_a_later_payout_takes_its_share_of_the_bank_back(app, db):
    from ruihe_saas.refunds.services import record_gateway_refund

    owner = member(Role.OWNER)
    tenant_id = owner.tenant_id
    refunded, payment = online_payment(tenant_id, "PN1", "50.00", "pi_neg_refunded")
    other, _ = online_payment(tenant_id, "PN2", "100.00", "pi_neg_other")
    refund_txn = PayoutTransaction("txn_re", "refund", -2000, 0, "pi_neg_refunded", "re_neg")
    with tenant_context(tenant_id):
        # its payment paid out earlier, then 20.00 of it refunded at the gateway
        payouts.record_payout(info("po_earlier", amount=4970), charge(4970, 30, "pi_neg_refunded"))
        record_gateway_refund(payment, D("20.00"), "re_neg")
        # the next payout: the other estate's payment, less that refund
        transactions = charge(9940, 60, "pi_neg_other") + [refund_txn]
        shares = payouts.split_payout(7940, transactions)
        assert {share.estate_id: (share.amount, share.fee, share.gross) for share in shares} == {
            refunded: (D("-20.00"), D("0.00"), D("-20.00")),
            other: (D("99.40"), D("0.60"), D("100.00")),
        }
        row, created = payouts.record_payout(info("po_negative", amount=7940), transactions)
        assert created and (row.amount, row.fees, row.gross) == (
            D("79.40"),
            D("0.60"),
            D("80.00"),
        )
        assert run_checks() == []
    lines = entry_lines(tenant_id, "po_negative")
    assert ("bank", D("0.00"), D("20.00"), refunded) in lines
    assert ("stripe_clearing", D("20.00"), D("0.00"), refunded) in lines
    assert balances_per_entity(lines) == {refunded: D("0"), other: D("0")}
    assert clearing_by_entity(tenant_id) == {refunded: D("0"), other: D("0")}


def test_the_gateway_gives_the_transactions_as_plain_data(app, stripe_standin):
    from ruihe_saas.payments.gateway import GatewayError
    from ruihe_saas.payments.stripe_gateway import StripeGateway

    payout = stripe_standin.add_payout(1000, account="acct_plain1", payout_id="po_plain")
    extra = [
        {"type": "payment", "amount": 600, "fee": 6, "source": {"id": "py_1",
         "payment_intent": {"id": "pi_expanded"}}},
        {"type": "payment_refund", "amount": -100, "fee": 0, "source": {"id": "pyr_1",
         "charge": {"id": "py_1", "payment_intent": "pi_expanded"}}},
        {"type": "refund_failure", "amount": 100, "fee": 0, "source": {"id": "re_2",
         "payment_intent": "pi_failed"}},
        {"type": "adjustment", "amount": -50, "fee": 0, "source": {"id": "du_1",
         "payment_intent": "pi_ignored"}},
        {"type": "charge", "amount": 500, "fee": 5, "source": "ch_not_expanded"},
    ]  # fmt: skip
    for index, row in enumerate(extra):
        row.update(id=f"txn_plain_{index}", payout="po_plain")
        stripe_standin.balance_transactions.append(("acct_plain1", row))
    gateway = StripeGateway()
    assert gateway.payout_transactions(payout["id"], "acct_plain1") == [
        # the payout's own transaction is left out
        PayoutTransaction("txn_plain_0", "payment", 600, 6, "pi_expanded", "py_1"),
        PayoutTransaction("txn_plain_1", "refund", -100, 0, "pi_expanded", "pyr_1"),
        PayoutTransaction("txn_plain_2", "refund", 100, 0, "pi_failed", "re_2"),
        PayoutTransaction("txn_plain_3", "other", -50, 0, None, "du_1"),
        PayoutTransaction("txn_plain_4", "charge", 500, 5, None, "ch_not_expanded"),
    ]
    request = stripe_standin.requests[-1]
    assert request.header("Stripe-Account") == "acct_plain1"
    assert [k for k, v in request.body.items() if v == "data.source"] != []
    stripe_standin.balance_transactions.append(
        ("acct_plain1", {"id": "txn_bad", "payout": "po_plain", "type": "charge", "amount": "1"})
    )
    with pytest.raises(GatewayError):
        gateway.payout_transactions(payout["id"], "acct_plain1")
