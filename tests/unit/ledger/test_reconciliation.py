"""Arrears and prepaid credit reconciled to the ledger per estate: the outstanding bills
split as the aging splits them, and the payments' prepaid credit, against 应收 and 预收."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ruihe_saas.ledger import postings, services
from ruihe_saas.ledger.models import EntrySource
from ruihe_saas.ledger.reconciliation import is_reconciled, receivables
from ruihe_saas.ledger.reports import ALL
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.unit.refunds.test_refunds import World

D = Decimal


@pytest.fixture
def world(db):
    return World("RC")


def test_outstanding_bills_and_prepaid_credit_match_the_ledger(world):
    january = world.bill("2024-01", "100.00", "10.00")  # due 2024-01-31
    february = world.bill("2024-02", "100.00", "10.00", household=1)  # due 2024-03-02
    with tenant_context(world.tenant_id):
        postings.post_bill(january)
        postings.post_bill(february)
    world.pay("150.00", bill_ids=[january.id])  # 110 to January, 40 prepaid
    world.pay("30.00", household=1)  # 30 to February
    with tenant_context(world.tenant_id):
        (row,) = receivables(ALL, today=date(2024, 2, 20))
        assert row.estate.id == world.estate.id
        assert (row.arrears, row.not_due, row.outstanding) == (D("0"), D("80.00"), D("80.00"))
        assert row.receivable == D("80.00") and row.receivable_difference == 0
        assert (row.prepaid_credit, row.prepaid, row.prepaid_difference) == (
            D("40.00"),
            D("40.00"),
            D("0"),
        )
        # a month later February is overdue: in arrears, the same total
        (later,) = receivables(world.estate.id, today=date(2024, 3, 10))
        assert (later.arrears, later.not_due) == (D("80.00"), D("0"))
        assert is_reconciled([row, later])


def test_a_posting_the_records_do_not_explain_shows_as_a_difference(world):
    january = world.bill("2024-01", "100.00", "10.00")
    with tenant_context(world.tenant_id):
        postings.post_bill(january)
        services.post_entry(
            date(2024, 1, 20),
            [
                Posting(role="receivable", estate_id=world.estate.id, debit=D("12.50")),
                Posting(role="prepaid", estate_id=world.estate.id, credit=D("12.50")),
            ],
            source=EntrySource.MANUAL,
            reference="wrong",
        )
        (row,) = receivables(ALL, today=date(2024, 2, 20))
        assert row.outstanding == D("110.00")
        assert row.receivable_difference == D("12.50")
        assert row.prepaid_difference == D("12.50")
        assert not is_reconciled([row])


def test_the_collective_economy_has_no_receivables_and_other_estates_are_apart(world):
    other = World("RD")  # another tenant: never counted here
    other.bill("2024-01")
    with tenant_context(world.tenant_id):
        assert receivables(None) == []
        (row,) = receivables(ALL)
        assert row.outstanding == row.receivable == D("0")
