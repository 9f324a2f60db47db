"""The monthly close of an accounting entity — "取之于民、用之于民".

``period_result`` sums one entity's month in SQL: property-service income (every income
account but public revenue), public revenue (公共收益, the owners': reported apart, never
part of the surplus), expenses, and the surplus = service income − expenses.

``close_period`` applies the estate's charging model to the surplus in one closing entry
dated the month's last day, then records the ``PeriodClose`` that locks the month:

- 酬金制 (remuneration): the company's remuneration (``remuneration_percent`` of service
  income) goes to the collective economy; of the rest, ``surplus_to_fund_percent`` goes to
  the estate's improvement fund (改造基金) and the remainder to the collective economy. A
  loss is left in the estate's books.
- 包干制 (lump sum): the whole surplus — or loss — is the company's: it moves to the
  collective economy.

Transfers to the collective economy are inter-entity: 内部往来 on both sides of one entry
(``pair_id``), eliminated in consolidated reports. The collective economy's own month closes
without an allocation. Reopening needs a reason (the owner role, at the view) and reverses
the closing entry; closing again posts a new one.
"""

from __future__ import annotations

import uuid
from calendar import monthrange
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import ChargingModel, Estate
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger.models import (
    Account,
    AccountType,
    EntrySource,
    JournalEntry,
    JournalLine,
    PeriodClose,
)
from ruihe_saas.ledger.services import Posting, post_entry, reverse_entry
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
PUBLIC_REVENUE = "public_revenue"


@dataclass
class PeriodResult:
    estate_id: uuid.UUID | None
    period: str
    service_income: Decimal = ZERO
    public_revenue: Decimal = ZERO
    expenses: Decimal = ZERO

    @property
    def surplus(self) -> Decimal:
        return self.service_income - self.expenses


@dataclass
class Allocation:
    remuneration: Decimal = ZERO  # to the collective economy (酬金)
    to_fund: Decimal = ZERO  # to the estate's improvement fund
    to_collective: Decimal = ZERO  # the rest of the surplus (or a lump-sum loss, negative)


def month_span(period: str) -> tuple[date, date]:
    try:
        year, month = (int(part) for part in period.split("-"))
        first = date(year, month, 1)
    except (ValueError, TypeError):
        raise ValidationFailed(
            _l("The period must look like 2024-07."), fields={"period": [_l("Use YYYY-MM.")]}
        ) from None
    if len(period) != 7:
        raise ValidationFailed(
            _l("The period must look like 2024-07."), fields={"period": [_l("Use YYYY-MM.")]}
        )
    return first, date(year, month, monthrange(year, month)[1])


def _entity(estate_id: uuid.UUID | None) -> Estate | None:
    if estate_id is None:
        return None
    estate = get_owned(Estate, estate_id)
    if estate is None:
        raise NotFound(_l("Estate not found."))
    return estate


def period_result(estate_id: uuid.UUID | None, period: str) -> PeriodResult:
    """The entity's month, closing entries left out."""
    first, last = month_span(period)
    income = case(
        (Account.type == AccountType.INCOME, JournalLine.credit - JournalLine.debit), else_=0
    )
    rows = db.session.execute(
        select(
            Account.type,
            Account.role,
            func.coalesce(func.sum(income), 0),
            func.coalesce(func.sum(JournalLine.debit - JournalLine.credit), 0),
        )
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            JournalLine.estate_id.is_(None)
            if estate_id is None
            else JournalLine.estate_id == estate_id,
            JournalLine.entry_date.between(first, last),
            JournalEntry.source != EntrySource.CLOSE,
            Account.type.in_([AccountType.INCOME, AccountType.EXPENSE]),
        )
        .group_by(Account.type, Account.role)
    )
    result = PeriodResult(estate_id, period)
    for account_type, role, credit_side, debit_side in rows:
        if account_type == AccountType.EXPENSE:
            result.expenses += Decimal(debit_side)
        elif role == PUBLIC_REVENUE:
            result.public_revenue += Decimal(credit_side)
        else:
            result.service_income += Decimal(credit_side)
    for name in ("service_income", "public_revenue", "expenses"):
        setattr(result, name, getattr(result, name).quantize(CENT))
    return result


def _percent_of(amount: Decimal, percent: Decimal) -> Decimal:
    return (amount * percent / 100).quantize(CENT, rounding=ROUND_HALF_UP)


def allocate(estate: Estate | None, result: PeriodResult) -> Allocation:
    """How the estate's charging model shares the month's surplus."""
    if estate is None:
        return Allocation()
    if estate.charging_model == ChargingModel.LUMP_SUM:
        return Allocation(to_collective=result.surplus)
    remuneration = max(_percent_of(result.service_income, estate.remuneration_percent), ZERO)
    rest = result.surplus - remuneration
    if rest <= 0:
        return Allocation(remuneration=remuneration)
    to_fund = _percent_of(rest, estate.surplus_to_fund_percent)
    return Allocation(remuneration=remuneration, to_fund=to_fund, to_collective=rest - to_fund)


def standing_close(estate_id: uuid.UUID | None, period: str) -> PeriodClose | None:
    return db.session.scalar(
        select(PeriodClose).where(
            PeriodClose.estate_id.is_(None)
            if estate_id is None
            else PeriodClose.estate_id == estate_id,
            PeriodClose.period == period,
            PeriodClose.reopened_at.is_(None),
        )
    )


def _closing_postings(estate: Estate, allocation: Allocation) -> list[Posting]:
    postings: list[Posting] = []
    if allocation.to_fund:
        postings += [
            Posting(role="retained_earnings", estate_id=estate.id, debit=allocation.to_fund),
            Posting(role="improvement_fund", estate_id=estate.id, credit=allocation.to_fund),
        ]
    company = allocation.remuneration + allocation.to_collective
    if company > 0:
        postings += [
            Posting(role="retained_earnings", estate_id=estate.id, debit=company),
            Posting(role="inter_entity", estate_id=estate.id, credit=company),
            Posting(role="inter_entity", estate_id=None, debit=company),
            Posting(role="retained_earnings", estate_id=None, credit=company),
        ]
    elif company < 0:  # 包干制: the company bears the loss
        postings += [
            Posting(role="inter_entity", estate_id=estate.id, debit=-company),
            Posting(role="retained_earnings", estate_id=estate.id, credit=-company),
            Posting(role="retained_earnings", estate_id=None, debit=-company),
            Posting(role="inter_entity", estate_id=None, credit=-company),
        ]
    return postings


def close_period(estate_id: uuid.UUID | None, period: str, *, today: date | None = None):
    """Close the entity's month (not before it has ended); returns the ``PeriodClose``."""
    estate = _entity(estate_id)
    first, last = month_span(period)
    if last >= (today or local_today()):
        raise ValidationFailed(
            _l("A month can be closed once it has ended."),
            fields={"period": [_l("Choose a month that has ended.")]},
        )
    if standing_close(estate_id, period) is not None:
        raise Conflict(_l("This month is already closed."))
    result = period_result(estate_id, period)
    allocation = allocate(estate, result)
    entry = None
    postings = _closing_postings(estate, allocation) if estate is not None else []
    if postings:
        earlier = db.session.scalar(
            select(func.count())
            .select_from(PeriodClose)
            .where(PeriodClose.estate_id == estate_id, PeriodClose.period == period)
        )
        entry = post_entry(
            last,
            postings,
            source=EntrySource.CLOSE,
            source_key=f"close:{estate_id}:{period}:{earlier}",
            memo=f"{period} 结账：结余分配",
            pair_id=uuid.uuid4() if any(p.estate_id is None for p in postings) else None,
        )
    close = PeriodClose(
        estate_id=estate_id,
        period=period,
        income=result.service_income + result.public_revenue,
        expenses=result.expenses,
        surplus=result.surplus,
        entry_id=entry.id if entry else None,
        closed_by=current_actor_user_id(),
    )
    db.session.add(close)
    db.session.flush()
    return close


def reopen_period(estate_id: uuid.UUID | None, period: str, reason: str) -> PeriodClose:
    """Reopen a closed month: the close stays on record, its entry is reversed."""
    _entity(estate_id)
    month_span(period)
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationFailed(
            _l("A reason is required."), fields={"reason": [_l("Say why the month reopens.")]}
        )
    close = standing_close(estate_id, period)
    if close is None:
        raise Conflict(_l("This month is not closed."))
    close.reopened_at = datetime.now(UTC)
    close.reopened_by = current_actor_user_id()
    close.reopen_reason = reason
    db.session.flush()  # the month is open again: the reversal may be dated in it
    if close.entry_id is not None:
        reverse_entry(close.entry_id, f"重新打开 {period}：{reason}")
    return close


def posting_date(estate_id: uuid.UUID | None, day: date) -> date:
    """``day``, or the first day of the next open month when its month is closed (late items
    are dated into the next open period)."""
    while standing_close(estate_id, f"{day.year:04d}-{day.month:02d}") is not None:
        day = date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return day
