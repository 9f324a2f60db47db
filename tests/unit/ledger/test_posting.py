"""Posting to the ledger through the service: the rules every backend gets."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.errors import Conflict, ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger import services
from ruihe_saas.ledger.chart import TEMPLATE
from ruihe_saas.ledger.models import Account, EntrySource, JournalEntry, JournalLine, PeriodClose
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal


@pytest.fixture
def books(db):
    owner = member()
    estate = estate_with_households(owner.tenant_id, "LG", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        services.ensure_chart()
    return owner.tenant_id, estate


def cash_sale(estate, amount="100.00", **kwargs):
    return services.post_entry(
        date(2024, 7, 3),
        [
            Posting(role="cash", estate_id=estate.id, debit=D(amount)),
            Posting(role="other_income", estate_id=estate.id, credit=D(amount)),
        ],
        source=EntrySource.MANUAL,
        **kwargs,
    )


def count(model) -> int:
    return database.session.scalar(select(func.count()).select_from(model))


def test_the_chart_comes_from_the_template_once(books):
    tenant_id, _ = books
    with tenant_context(tenant_id):
        assert count(Account) == len(TEMPLATE)
        assert services.ensure_chart() == []
        receivable = services.account_for("receivable")
        assert (receivable.code, receivable.name, receivable.type.value) == (
            "1122",
            "应收物业费",
            "asset",
        )


def test_a_balanced_entry_is_numbered_and_keeps_its_lines(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        entry = cash_sale(estate, memo="充电桩收入")
        second = cash_sale(estate)
        lines = services.lines_of(entry)
        assert entry.number == "JZ2024-0000001" and second.number == "JZ2024-0000002"
        assert sorted((line.debit, line.credit) for line in lines) == [
            (D("0"), D("100")),
            (D("100"), D("0")),
        ]
        assert {line.entry_date for line in lines} == {date(2024, 7, 3)}
        assert {line.estate_id for line in lines} == {estate.id}


def test_a_source_key_posts_once(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        first = cash_sale(estate, source_key="payment:1")
        again = cash_sale(estate, source_key="payment:1")
        assert again.id == first.id and count(JournalEntry) == 1 and count(JournalLine) == 2


@pytest.mark.parametrize(
    ("postings", "field"),
    [
        ([Posting(role="cash", debit=D("1"))], "lines"),
        ([Posting(role="cash", debit=D("1")), Posting(role="bank", credit=D("2"))], "lines"),
        ([Posting(role="cash", debit=D("1"), credit=D("1")), Posting(role="bank")], "lines.0"),
        (
            [Posting(role="cash", debit=D("-1")), Posting(role="bank", credit=D("-1"))],
            "lines.0.debit",
        ),
        (
            [Posting(role="cash", debit=D("1.001")), Posting(role="bank", credit=D("1.001"))],
            "lines.0.debit",
        ),
        ([Posting(role="cash", debit=D("1")), Posting(role="nope", credit=D("1"))], None),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_stored(books, postings, field):
    tenant_id, _ = books
    with tenant_context(tenant_id), pytest.raises(ValidationFailed) as raised:
        services.post_entry(date(2024, 7, 1), postings, source=EntrySource.MANUAL)
    if field:
        assert field in raised.value.fields
    with tenant_context(tenant_id):
        assert count(JournalEntry) == 0 and count(JournalLine) == 0


def test_a_correction_is_exactly_one_reversal(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        entry = cash_sale(estate)
        reversal = services.reverse_entry(entry.id, "录错金额")
        assert reversal.reverses_id == entry.id and reversal.source == EntrySource.REVERSAL
        swapped = sorted((line.debit, line.credit) for line in services.lines_of(reversal))
        assert swapped == [(D("0"), D("100")), (D("100"), D("0"))]
        with pytest.raises(Conflict):
            services.reverse_entry(entry.id, "again")
        with pytest.raises(ValidationFailed):
            services.reverse_entry(cash_sale(estate).id, " ")


def test_no_posting_into_a_closed_period_of_that_entity(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        database.session.add(PeriodClose(estate_id=estate.id, period="2024-07"))
        database.session.flush()
        with pytest.raises(ValidationFailed) as raised:
            cash_sale(estate)
        assert "entry_date" in raised.value.fields
        # the collective economy's July is still open
        services.post_entry(
            date(2024, 7, 3),
            [Posting(role="cash", debit=D("5")), Posting(role="other_income", credit=D("5"))],
            source=EntrySource.MANUAL,
        )


def test_another_tenants_books_are_invisible(books):
    tenant_id, estate = books
    other = member()
    with tenant_context(tenant_id):
        entry = cash_sale(estate)
    with tenant_context(other.tenant_id):
        assert count(JournalEntry) == 0
        with pytest.raises(Exception) as raised:
            services.reverse_entry(entry.id, "not mine")
        assert raised.value.__class__.__name__ == "NotFound"
