"""Finance reports, aggregated in SQL (one GROUP BY per report, never a loop over lines).

An *entity* column is an estate id, or None for the collective economy. Consolidated
figures are the sum of the entities minus **eliminations**: the lines of inter-entity
entries (``pair_id`` set) on income and expense accounts (e.g. a management fee the
collective charges an estate) and on the 内部往来 account, which net to nothing for the
tenant as a whole.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import case, func, select

from ruihe_saas.extensions import db
from ruihe_saas.ledger.models import Account, AccountType, JournalEntry, JournalLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
INTER_ENTITY = "inter_entity"
ALL = object()  # every entity (consolidated)


def _money(value) -> Decimal:
    return Decimal(value or 0).quantize(CENT)


def _entity_filter(estate_id):
    if estate_id is ALL:
        return []
    if estate_id is None:
        return [JournalLine.estate_id.is_(None)]
    return [JournalLine.estate_id == estate_id]


def _accounts() -> dict[uuid.UUID, Account]:
    return {a.id: a for a in db.session.scalars(select(Account).order_by(Account.code))}


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
    inside = JournalLine.entry_date.between(start, end)
    before = JournalLine.entry_date < start
    rows = db.session.execute(
        select(
            JournalLine.account_id,
            func.sum(case((before, JournalLine.debit - JournalLine.credit), else_=0)),
            func.sum(case((inside, JournalLine.debit), else_=0)),
            func.sum(case((inside, JournalLine.credit), else_=0)),
        )
        .where(JournalLine.entry_date <= end, *_entity_filter(estate_id))
        .group_by(JournalLine.account_id)
    ).all()
    accounts = _accounts()
    report = TrialBalance(start, end)
    for account_id, opening, debits, credits in rows:
        report.rows.append(
            TrialBalanceRow(accounts[account_id], _money(opening), _money(debits), _money(credits))
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
    paired = JournalEntry.pair_id.is_not(None)
    signed = case(
        (Account.type == AccountType.INCOME, JournalLine.credit - JournalLine.debit),
        else_=JournalLine.debit - JournalLine.credit,
    )
    rows = db.session.execute(
        select(
            JournalLine.account_id,
            JournalLine.estate_id,
            func.sum(signed),
            func.sum(case((paired, signed), else_=0)),
        )
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            JournalLine.entry_date.between(start, end),
            Account.type.in_([AccountType.INCOME, AccountType.EXPENSE]),
            *_entity_filter(estate_id),
        )
        .group_by(JournalLine.account_id, JournalLine.estate_id)
    ).all()
    accounts = _accounts()
    lines: dict[uuid.UUID, StatementLine] = {}
    entities: set = set()
    for account_id, entity, amount, paired_amount in rows:
        line = lines.setdefault(account_id, StatementLine(accounts[account_id]))
        line.by_entity[entity] = line.by_entity.get(entity, ZERO) + _money(amount)
        if estate_id is ALL:
            line.elimination += _money(paired_amount)
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
    rows = db.session.execute(
        select(JournalLine.account_id, func.sum(JournalLine.debit - JournalLine.credit))
        .where(JournalLine.entry_date <= as_of, *_entity_filter(estate_id))
        .group_by(JournalLine.account_id)
    ).all()
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
