"""Reconciling the ledger with the records it follows (``flask ledger check``).

For the current tenant, all in SQL aggregates:

- every entry balances and has at least two lines; the trial balance sums to zero;
- 应收 per household (receivable lines' debits − credits, by ``household_id``) = the
  household's outstanding bills (Σ amount − credited − paid);
- 预收 per household (prepaid lines' credits − debits) = its prepaid credit
  (Σ ``payments.unallocated``);
- Stripe 待清算 (its lines' debits − credits) = what the gateway holds and has not paid out:
  online payments − refunds through the gateway (pending or succeeded) − the gross of the
  paid payouts recorded (``GatewayPayout.gross`` = paid to the bank + fees kept; the
  payout records, not the ledger's own entries).

``run_checks`` returns the differences (empty: the books agree).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select

from ruihe_saas.billing.models import Bill
from ruihe_saas.extensions import db
from ruihe_saas.ledger.models import Account, JournalEntry, JournalLine
from ruihe_saas.payments.models import (
    GatewayPayout,
    Payment,
    PaymentMethod,
    PayoutStatus,
    Refund,
    RefundMethod,
    RefundStatus,
)

ZERO = Decimal("0.00")


@dataclass(frozen=True)
class Difference:
    check: str  # unbalanced_entry, trial_balance, receivable, prepaid, stripe_clearing
    subject: str  # the entry number, the household id, or "" for a total
    expected: Decimal  # what the records say
    actual: Decimal  # what the ledger says

    def __str__(self) -> str:
        subject = f" {self.subject}" if self.subject else ""
        return f"{self.check}{subject}: expected {self.expected}, ledger {self.actual}"


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _account_id(role: str) -> uuid.UUID | None:
    return db.session.scalar(select(Account.id).where(Account.role == role))


def unbalanced_entries() -> list[Difference]:
    """Entries whose lines do not balance, or with fewer than two lines."""
    lines = (
        select(
            JournalLine.entry_id.label("entry_id"),
            func.count().label("n"),
            func.sum(JournalLine.debit).label("debit"),
            func.sum(JournalLine.credit).label("credit"),
        )
        .group_by(JournalLine.entry_id)
        .subquery()
    )
    rows = db.session.execute(
        select(
            JournalEntry.number,
            func.coalesce(lines.c.n, 0),
            func.coalesce(lines.c.debit, 0),
            func.coalesce(lines.c.credit, 0),
        )
        .outerjoin(lines, lines.c.entry_id == JournalEntry.id)
        .where(
            (func.coalesce(lines.c.n, 0) < 2)
            # rounded: SQLite sums NUMERIC as floating point
            | (
                func.round(func.coalesce(lines.c.debit, 0) - func.coalesce(lines.c.credit, 0), 2)
                != 0
            )
        )
        .order_by(JournalEntry.number)
    )
    return [
        Difference("unbalanced_entry", number, _money(debit), _money(credit))
        for number, _count, debit, credit in rows
    ]


def trial_balance_difference() -> list[Difference]:
    debit, credit = db.session.execute(
        select(
            func.coalesce(func.sum(JournalLine.debit), 0),
            func.coalesce(func.sum(JournalLine.credit), 0),
        )
    ).one()
    if _money(debit) != _money(credit):
        return [Difference("trial_balance", "", _money(debit), _money(credit))]
    return []


def _compare(check: str, expected: dict, actual: dict) -> list[Difference]:
    out = []
    for key in sorted(set(expected) | set(actual), key=str):
        want, have = _money(expected.get(key)), _money(actual.get(key))
        if want != have:
            out.append(Difference(check, "" if key is None else str(key), want, have))
    return out


def _pairs(statement) -> dict:
    return {key: value for key, value in db.session.execute(statement)}


def _balances_by_household(role: str, sign: int) -> dict:
    """Σ(debit − credit) × sign of the role's lines, by household."""
    account_id = _account_id(role)
    if account_id is None:
        return {}
    rows = db.session.execute(
        select(
            JournalLine.household_id,
            func.sum(JournalLine.debit - JournalLine.credit),
        )
        .where(JournalLine.account_id == account_id)
        .group_by(JournalLine.household_id)
    )
    return {household_id: sign * Decimal(total or 0) for household_id, total in rows}


def receivable_differences() -> list[Difference]:
    """应收 per household against its outstanding bills."""
    expected = _pairs(
        select(Bill.household_id, func.sum(Bill.amount - Bill.credited - Bill.paid))
        .group_by(Bill.household_id)
        .having(func.sum(Bill.amount - Bill.credited - Bill.paid) != 0)
    )
    return _compare("receivable", expected, _balances_by_household("receivable", 1))


def prepaid_differences() -> list[Difference]:
    """预收 per household against the prepaid credit its payments hold."""
    expected = _pairs(
        select(Payment.household_id, func.sum(Payment.unallocated))
        .group_by(Payment.household_id)
        .having(func.sum(Payment.unallocated) != 0)
    )
    return _compare("prepaid", expected, _balances_by_household("prepaid", -1))


def stripe_clearing_difference() -> list[Difference]:
    """Stripe 待清算 against online payments − gateway refunds − the gross of paid payouts."""
    account_id = _account_id("stripe_clearing")
    actual = ZERO
    if account_id is not None:
        actual = _money(
            db.session.scalar(
                select(func.sum(JournalLine.debit - JournalLine.credit)).where(
                    JournalLine.account_id == account_id
                )
            )
        )
    received = _money(
        db.session.scalar(
            select(func.sum(Payment.amount)).where(Payment.method == PaymentMethod.ONLINE)
        )
    )
    refunded = _money(
        db.session.scalar(
            select(func.sum(Refund.amount)).where(
                Refund.method == RefundMethod.GATEWAY,
                Refund.status.in_((RefundStatus.PENDING, RefundStatus.SUCCEEDED)),
            )
        )
    )
    paid_out = _money(
        db.session.scalar(
            select(func.sum(GatewayPayout.gross)).where(GatewayPayout.status == PayoutStatus.PAID)
        )
    )
    expected = received - refunded - paid_out
    if expected != actual:
        return [Difference("stripe_clearing", "", expected, actual)]
    return []


def run_checks() -> list[Difference]:
    """Every check for the current tenant; an empty list means the books agree."""
    return [
        *unbalanced_entries(),
        *trial_balance_difference(),
        *receivable_differences(),
        *prepaid_differences(),
        *stripe_clearing_difference(),
    ]
