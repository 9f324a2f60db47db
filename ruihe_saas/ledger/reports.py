"""Finance reports, aggregated in SQL (GROUP BYs, never a loop over lines).

An *entity* column is an estate id, or None for the collective economy. Consolidated
figures are the sum of the entities minus **eliminations**: the lines of inter-entity
entries (``pair_id`` set) on income and expense accounts (e.g. a management fee the
collective charges an estate) and on the 内部往来 account, which net to nothing for the
tenant as a whole.

Sums over a date range come from two places (``_sums``): the whole months inside it from
``AccountMonthTotal`` (kept by the database on every insert of lines, migration 0008), and
the days at its edges that are not a whole month from the lines themselves. A year of a
tenant is then a few thousand monthly rows instead of every line (bench/reports.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from ruihe_saas.extensions import db
from ruihe_saas.ledger.models import (
    Account,
    AccountMonthTotal,
    AccountType,
    JournalEntry,
    JournalLine,
)

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
INTER_ENTITY = "inter_entity"
ALL = object()  # every entity (consolidated)


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _entity_filter(estate_id, model=JournalLine):
    if estate_id is ALL:
        return []
    if estate_id is None:
        return [model.estate_id.is_(None)]
    return [model.estate_id == estate_id]


def _accounts() -> dict[uuid.UUID, Account]:
    return {a.id: a for a in db.session.scalars(select(Account).order_by(Account.code))}


# --- sums over a date range: whole months from the monthly totals, edge days from lines ----


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _split(start: date | None, end: date) -> tuple[tuple | None, list[tuple[date, date]]]:
    """``[start, end]`` (``start`` None: from the first line) as the whole months
    ``[first, after)`` in it, or None, and the ranges of days left over at its edges."""
    first = start if start is None or start.day == 1 else _next_month(start)
    after = _next_month(end) if _next_month(end) - timedelta(days=1) == end else end.replace(day=1)
    if start is not None and first >= after:
        return None, [(start, end)]
    edges = []
    if start is not None and start < first:
        edges.append((start, first - timedelta(days=1)))
    if after <= end:
        edges.append((after, end))
    return (first, after), edges


@dataclass
class Sums:
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    paired_debit: Decimal = ZERO  # the part of inter-entity entries (``pair_id`` set)
    paired_credit: Decimal = ZERO


def _sums(start: date | None, end: date, by: tuple[str, ...], *, estate_id=ALL, accounts=None,
          paired: bool = False) -> dict[tuple, Sums]:  # fmt: skip
    """Debits and credits (and, if ``paired``, their inter-entity part) of the lines dated
    ``start``–``end`` (``start`` None: since the beginning), grouped by the ``by`` columns
    (``account_id``, ``estate_id``) and filtered to one entity and some accounts."""
    months, edges = _split(start, end)
    sums: dict[tuple, Sums] = defaultdict(Sums)

    def where(model):
        clauses = _entity_filter(estate_id, model)
        if accounts is not None:
            clauses.append(model.account_id.in_(accounts))
        return clauses

    def add(rows):
        for *key, debit, credit, paired_debit, paired_credit in rows:
            part = sums[tuple(key)]
            part.debit += _money(debit)
            part.credit += _money(credit)
            part.paired_debit += _money(paired_debit)
            part.paired_credit += _money(paired_credit)

    if months is not None:
        total = AccountMonthTotal
        first, after = months
        columns = [getattr(total, name) for name in by]
        amounts = [func.sum(total.debit), func.sum(total.credit)]
        if paired:
            amounts += [func.sum(total.paired_debit), func.sum(total.paired_credit)]
        in_months = [total.month < after] + ([] if first is None else [total.month >= first])
        rows = db.session.execute(
            select(*columns, *amounts).where(*in_months, *where(total)).group_by(*columns)
        ).all()
        add(rows if paired else [(*row, 0, 0) for row in rows])
    line = JournalLine
    for lo, hi in edges:  # one range a query: an index-only scan of ix_journal_lines_date
        columns = [getattr(line, name) for name in by]
        amounts = [func.sum(line.debit), func.sum(line.credit)]
        if paired:  # the few inter-entity entries of those days (ix_journal_entries_paired)
            in_pair = line.entry_id.in_(
                select(JournalEntry.id).where(
                    JournalEntry.pair_id.is_not(None), JournalEntry.entry_date.between(lo, hi)
                )
            )
            amounts += [
                func.sum(case((in_pair, line.debit), else_=0)),
                func.sum(case((in_pair, line.credit), else_=0)),
            ]
        rows = db.session.execute(
            select(*columns, *amounts)
            .where(line.entry_date.between(lo, hi), *where(line))
            .group_by(*columns)
        ).all()
        add(rows if paired else [(*row, 0, 0) for row in rows])
    return sums


# --- trial balance -------------------------------------------------------------------------


@dataclass
class TrialBalanceRow:
    account: Account
    opening: Decimal = ZERO  # debit-positive
    debits: Decimal = ZERO
    credits: Decimal = ZERO

    @property
    def closing(self) -> Decimal:
        return self.opening + self.debits - self.credits


@dataclass
class TrialBalance:
    start: date
    end: date
    rows: list[TrialBalanceRow] = field(default_factory=list)

    @property
    def debits(self) -> Decimal:
        return sum((row.debits for row in self.rows), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((row.credits for row in self.rows), ZERO)

    @property
    def closing(self) -> Decimal:  # 0 when the books balance
        return sum((row.closing for row in self.rows), ZERO)


def trial_balance(start: date, end: date, estate_id=ALL) -> TrialBalance:
    by = ("account_id",)
    before = _sums(None, start - timedelta(days=1), by, estate_id=estate_id)
    inside = _sums(start, end, by, estate_id=estate_id)
    accounts = _accounts()
    report = TrialBalance(start, end)
    for key in before.keys() | inside.keys():
        opening, period = before.get(key, Sums()), inside.get(key, Sums())
        report.rows.append(
            TrialBalanceRow(
                accounts[key[0]], opening.debit - opening.credit, period.debit, period.credit
            )
        )
    report.rows.sort(key=lambda row: row.account.code)
    return report


# --- income statement ----------------------------------------------------------------------


@dataclass
class StatementLine:
    account: Account
    by_entity: dict = field(default_factory=dict)  # entity → amount (income +, expense +)
    elimination: Decimal = ZERO  # subtract from the entities' sum

    @property
    def total(self) -> Decimal:
        return sum(self.by_entity.values(), ZERO) - self.elimination


@dataclass
class IncomeStatement:
    start: date
    end: date
    entities: list  # estate ids (and None: the collective economy) in column order
    income: list[StatementLine] = field(default_factory=list)
    expenses: list[StatementLine] = field(default_factory=list)

    def _sum(self, lines, entity=ALL) -> Decimal:
        if entity is ALL:
            return sum((line.total for line in lines), ZERO)
        return sum((line.by_entity.get(entity, ZERO) for line in lines), ZERO)

    def total_income(self, entity=ALL) -> Decimal:
        return self._sum(self.income, entity)

    def total_expenses(self, entity=ALL) -> Decimal:
        return self._sum(self.expenses, entity)

    def net_income(self, entity=ALL) -> Decimal:
        return self.total_income(entity) - self.total_expenses(entity)

    @property
    def eliminations(self) -> Decimal:
        return sum((line.elimination for line in self.income), ZERO) - sum(
            (line.elimination for line in self.expenses), ZERO
        )


def income_statement(start: date, end: date, estate_id=ALL) -> IncomeStatement:
    """Income and expenses per account and entity; consolidated (``ALL``) with eliminations."""
    accounts = _accounts()
    wanted = [
        a.id for a in accounts.values() if a.type in (AccountType.INCOME, AccountType.EXPENSE)
    ]
    sums = _sums(
        start,
        end,
        ("account_id", "estate_id"),
        estate_id=estate_id,
        accounts=wanted,
        paired=estate_id is ALL,
    )
    lines: dict[uuid.UUID, StatementLine] = {}
    entities: set = set()
    for (account_id, entity), part in sums.items():
        account = accounts[account_id]
        line = lines.setdefault(account_id, StatementLine(account))
        if account.type == AccountType.INCOME:
            amount, paired = part.credit - part.debit, part.paired_credit - part.paired_debit
        else:
            amount, paired = part.debit - part.credit, part.paired_debit - part.paired_credit
        line.by_entity[entity] = line.by_entity.get(entity, ZERO) + amount
        line.elimination += paired
        entities.add(entity)
    ordered = sorted(entities, key=lambda e: (e is None, str(e)))
    report = IncomeStatement(start, end, ordered)
    for line in sorted(lines.values(), key=lambda line: line.account.code):
        (report.income if line.account.type == AccountType.INCOME else report.expenses).append(line)
    return report


# --- balance sheet -------------------------------------------------------------------------


@dataclass
class BalanceSheet:
    as_of: date
    assets: dict = field(default_factory=dict)  # Account → balance (normal side positive)
    liabilities: dict = field(default_factory=dict)
    equity: dict = field(default_factory=dict)
    current_earnings: Decimal = ZERO  # income − expenses to date, not yet closed into equity

    @property
    def total_assets(self) -> Decimal:
        return sum(self.assets.values(), ZERO)

    @property
    def total_liabilities_and_equity(self) -> Decimal:
        return (
            sum(self.liabilities.values(), ZERO)
            + sum(self.equity.values(), ZERO)
            + self.current_earnings
        )


def balance_sheet(as_of: date, estate_id=ALL) -> BalanceSheet:
    sums = _sums(None, as_of, ("account_id",), estate_id=estate_id)
    rows = [(key[0], part.debit - part.credit) for key, part in sums.items()]
    accounts = _accounts()
    sheet = BalanceSheet(as_of)
    for account_id, debit_balance in rows:
        account, balance = accounts[account_id], _money(debit_balance)
        if account.role == INTER_ENTITY and estate_id is ALL:
            continue  # eliminated: what the entities owe each other nets out
        if account.type == AccountType.ASSET:
            sheet.assets[account] = balance
        elif account.type == AccountType.LIABILITY:
            sheet.liabilities[account] = -balance
        elif account.type == AccountType.EQUITY:
            sheet.equity[account] = -balance
        else:
            sheet.current_earnings -= balance  # income credit-positive, expenses debit
    return sheet


# --- one account's movements for an estate (improvement fund, public revenue) ----------------


@dataclass
class AccountMovement:
    entry_date: date
    number: str
    memo: str
    amount_in: Decimal
    amount_out: Decimal


@dataclass
class AccountStatement:
    account: Account | None
    start: date
    end: date
    opening: Decimal = ZERO
    movements: list[AccountMovement] = field(default_factory=list)
    by_month: dict = field(default_factory=lambda: defaultdict(lambda: [ZERO, ZERO]))

    @property
    def total_in(self) -> Decimal:
        return sum((m.amount_in for m in self.movements), ZERO)

    @property
    def total_out(self) -> Decimal:
        return sum((m.amount_out for m in self.movements), ZERO)

    @property
    def closing(self) -> Decimal:
        return self.opening + self.total_in - self.total_out


def account_statement(role: str, estate_id, start: date, end: date) -> AccountStatement:
    """A credit-normal account's movements for one entity: in = credits, out = debits."""
    account = db.session.scalar(select(Account).where(Account.role == role))
    report = AccountStatement(account, start, end)
    if account is None:
        return report
    where = [JournalLine.account_id == account.id, *_entity_filter(estate_id)]
    report.opening = _money(
        db.session.scalar(
            select(func.sum(JournalLine.credit - JournalLine.debit)).where(
                *where, JournalLine.entry_date < start
            )
        )
    )
    rows = db.session.execute(
        select(JournalLine, JournalEntry.number, JournalEntry.memo)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(*where, JournalLine.entry_date.between(start, end))
        .order_by(JournalLine.entry_date, JournalEntry.number)
    ).all()
    for line, number, memo in rows:
        movement = AccountMovement(
            line.entry_date, number, line.memo or memo, line.credit, line.debit
        )
        report.movements.append(movement)
        month = report.by_month[line.entry_date.strftime("%Y-%m")]
        month[0] += line.credit
        month[1] += line.debit
    return report


def improvement_fund(estate_id: uuid.UUID, start: date, end: date) -> AccountStatement:
    """In from the monthly closes' surplus, out to improvement projects."""
    return account_statement("improvement_fund", estate_id, start, end)


def public_revenue(estate_id: uuid.UUID, start: date, end: date) -> AccountStatement:
    """The estate's public revenue (公共收益), to post in the estate (收支公示)."""
    return account_statement("public_revenue", estate_id, start, end)


def year_span(year: int) -> tuple[date, date]:
    return date(year, 1, 1), date(year + 1, 1, 1) - timedelta(days=1)
