"""Arrears and prepaid credit reconciled to the ledger, per estate (应收/预收对账).

What the billing and payment records say is owed and held — the outstanding bills split as
the arrears aging splits them (overdue: in arrears; not yet due), the prepaid credit the
payments hold — next to the ledger's balances of 应收物业费 and 预收物业费 for the estate,
and the differences (0 when the books agree). A snapshot of now: the records hold no
history of what was outstanding on an earlier day. Aggregated in SQL, grouped by estate;
``ledger.checks`` does the same per household for ``flask ledger check``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import case, func, select

from ruihe_saas.arrears.services import outstanding_of_bill
from ruihe_saas.billing.models import Bill
from ruihe_saas.estates.models import Estate
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger.models import Account, JournalLine
from ruihe_saas.ledger.reports import ALL
from ruihe_saas.payments.models import Payment

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)  # SQLite sums NUMERIC as floating point


@dataclass
class EstateReceivables:
    estate: Estate
    arrears: Decimal = ZERO  # outstanding on bills past their due date (the aging's total)
    not_due: Decimal = ZERO  # outstanding on bills not yet due
    receivable: Decimal = ZERO  # the ledger's 应收物业费 (debit balance)
    prepaid_credit: Decimal = ZERO  # what the payments hold unallocated
    prepaid: Decimal = ZERO  # the ledger's 预收物业费 (credit balance)

    @property
    def outstanding(self) -> Decimal:
        return self.arrears + self.not_due

    @property
    def receivable_difference(self) -> Decimal:
        return self.receivable - self.outstanding

    @property
    def prepaid_difference(self) -> Decimal:
        return self.prepaid - self.prepaid_credit


def _by_estate(statement) -> dict:
    return {estate_id: values for estate_id, *values in db.session.execute(statement)}


def _ledger_balances(role: str, estate_filter) -> dict:
    """Σ(debit − credit) of the role's account, by estate."""
    account_id = db.session.scalar(select(Account.id).where(Account.role == role))
    if account_id is None:
        return {}
    rows = db.session.execute(
        select(JournalLine.estate_id, func.sum(JournalLine.debit - JournalLine.credit))
        .where(JournalLine.account_id == account_id, *estate_filter(JournalLine.estate_id))
        .group_by(JournalLine.estate_id)
    )
    return {estate_id: _money(total) for estate_id, total in rows}


def receivables(estate_id=ALL, today: date | None = None) -> list[EstateReceivables]:
    """One row per estate in scope (``ALL``) or for one estate; the collective economy
    (``None``) has no bills: no rows."""
    if estate_id is None:
        return []
    today = today or local_today()

    def estate_filter(column):
        return [] if estate_id is ALL else [column == estate_id]

    estates = db.session.scalars(
        select(Estate).where(*estate_filter(Estate.id)).order_by(Estate.code)
    ).all()
    outstanding = outstanding_of_bill()
    bills = _by_estate(
        select(
            Bill.estate_id,
            func.sum(case((Bill.due_date < today, outstanding), else_=0)),
            func.sum(case((Bill.due_date >= today, outstanding), else_=0)),
        )
        .where(*estate_filter(Bill.estate_id))
        .group_by(Bill.estate_id)
    )
    credit = _by_estate(
        select(Payment.estate_id, func.sum(Payment.unallocated))
        .where(*estate_filter(Payment.estate_id))
        .group_by(Payment.estate_id)
    )
    receivable = _ledger_balances("receivable", estate_filter)
    prepaid = _ledger_balances("prepaid", estate_filter)
    rows = []
    for estate in estates:
        overdue, not_due = bills.get(estate.id, (0, 0))
        rows.append(
            EstateReceivables(
                estate,
                arrears=_money(overdue),
                not_due=_money(not_due),
                receivable=receivable.get(estate.id, ZERO),
                prepaid_credit=_money(credit.get(estate.id, (0,))[0]),
                prepaid=-prepaid.get(estate.id, ZERO),
            )
        )
    return rows


def is_reconciled(rows: list[EstateReceivables]) -> bool:
    return all(not row.receivable_difference and not row.prepaid_difference for row in rows)
