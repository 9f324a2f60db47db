"""The ``[[ledger]]`` section of a tenant definition: an entity's books (demo data).

An entry describes one accounting entity — an estate (``estate = "MOER"``) or, without
``estate``, the community's collective economy — and what its books hold besides the
automatic postings of bills and payments:

- ``by``: the e-mail of the tenant's member who posts the entries and closes the months (a
  role that may post entries and close periods, working on the estate);
- ``from``: the first month (``YYYY-MM``) of the entity's books; ``until``: the last month
  done (default and at most: the last month that has ended);
- ``expenses`` / ``income``: monthly amounts in 元 by account role (``wages``, ``cleaning``,
  ``greening``, ``repairs``, ``energy``, ``building_leader_incentives`` …; income e.g.
  ``public_revenue`` for advertising, ``canteen_income``), one number, or one per handover
  stage (``{partial_caretaking = 5000, full_takeover = 12000}``: nothing in other stages).
  Recorded with ``entries.record_expense`` / ``record_income`` (paid from / into the bank),
  dated on the role's day of the month (``DAY``);
- ``memos``: the memo of a role's entries (``{public_revenue = "电梯广告位收入"}``; default:
  the account's name);
- ``variation``: each month's amount is drawn within ± this share (0–0.5, default 0) by
  ``random.Random`` seeded with ``seed``, the entity, the month and the role;
- ``[[ledger.projects]]``: improvement projects (``month``, ``name``, ``amount``) charged to
  the estate's improvement fund (``entries.record_improvement_spending``) on the month's
  28th — never more than the fund holds then, or the load stops with a message;
- ``close`` (default true): close every month that has ended (``closing.close_period``:
  the estate's charging model shares the surplus), after its entries.

Months are done oldest first, over all entries together: in each month the estates' entries
and closes, then the collective economy's (an estate's close moves its share to the
collective economy, whose month must still be open). Each entry has the reference
``DEMO-<entity>-<month>-<role>`` (``…-P<n>`` for the n-th project): what is recorded is
skipped, a month with a close on record (even reopened since) is left alone, and each month
is committed, so a reload adds only the months that ended since. Loading order 50: after
``payments`` (40), whose postings are part of the months it closes. With
``RUIHE_DEFINITION_BILLING = False`` the entries are checked and nothing is recorded.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ruihe_saas.auth.definitions import member_who_may
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.estates.services import find_estate_by_code
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today, stage_timeline
from ruihe_saas.ledger import closing, entries, services
from ruihe_saas.ledger.models import Account, AccountType, EntrySource, JournalEntry, PeriodClose
from ruihe_saas.ledger.postings import stage_on
from ruihe_saas.tenancy.context import acting_as
from ruihe_saas.tenancy.definitions import LoadReport, section

LEDGER_KEYS = {"estate", "by", "from", "expenses", "income", "variation", "seed", "projects"}
LEDGER_KEYS |= {"close", "until", "memos"}
PROJECT_KEYS = {"month", "name", "amount"}
COLLECTIVE = "COLLECTIVE"  # the collective economy's name in references
REFERENCE_PREFIX = "DEMO-"
DAY = {"wages": 15, "energy": 20}  # the day of the month an item is dated; others DEFAULT_DAY
DEFAULT_DAY = 25
PROJECT_DAY = 28
CENT = Decimal("0.01")
DONE = ("expenses entries", "income entries", "projects", "months closed")  # report order


def fail(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{where}: {message}")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Project:
    period: Period
    name: str
    amount: Decimal
    reference: str


@dataclass
class Books:
    """One checked ``[[ledger]]`` entry."""

    estate: Estate | None
    user_id: uuid.UUID
    first: Period
    until: Period | None
    expenses: dict[str, dict[str | None, Decimal]]  # role → {stage or None (any): amount}
    income: dict[str, dict[str | None, Decimal]]
    memos: dict[str, str]
    variation: float
    seed: str
    projects: list[Project]
    close: bool
    accounts: dict[str, uuid.UUID] = field(default_factory=dict)  # role → account id
    timeline: list = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.estate.code if self.estate else COLLECTIVE

    @property
    def estate_id(self) -> uuid.UUID | None:
        return self.estate.id if self.estate else None

    def amount(self, kind: str, role: str, period: Period) -> Decimal:
        """The month's amount of ``role`` (0 when its stage has none), varied."""
        amounts = getattr(self, kind)[role]
        if None in amounts:
            base = amounts[None]
        else:
            stage = stage_on(self.timeline, period.end)
            base = amounts.get(str(stage), Decimal(0))
        if not base or not self.variation:
            return base
        rng = random.Random(f"{self.seed}|{self.name}|{period}|{kind}|{role}")  # noqa: S311
        draw = rng.uniform(-self.variation, self.variation)
        return (base * Decimal(str(1 + draw))).quantize(CENT, rounding=ROUND_HALF_UP)


def _amount(value, where: str) -> Decimal:
    if not _number(value) or value <= 0:
        raise fail(where, f"must be an amount above 0 (元), not {value!r}.")
    amount = Decimal(str(value))
    if amount != amount.quantize(CENT):
        raise fail(where, "at most 2 decimals.")
    return amount


def _month(value, where: str) -> Period:
    try:
        return Period.parse(value)
    except PeriodError as error:
        raise fail(where, f"{error} (not {value!r})") from None


def _amounts(value, kind: str, where: str) -> dict[str, dict[str | None, Decimal]]:
    """``{role = amount or {stage = amount}}`` of accounts of ``kind`` in the chart."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(where, "must be a table of monthly amounts by account role.")
    roles = {
        account.role
        for account in db.session.scalars(select(Account).where(Account.type == kind))
        if account.role
    }
    stages = {str(stage) for stage in HandoverStage}
    amounts = {}
    for role, amount in value.items():
        place = f"{where}.{role}"
        if role not in roles:
            raise fail(
                place, f"not a {kind.value} account role (one of {', '.join(sorted(roles))})."
            )
        if isinstance(amount, dict):
            unknown = set(amount) - stages
            if unknown:
                raise fail(place, f"unknown stage {', '.join(sorted(unknown))}.")
            amounts[role] = {stage: _amount(v, f"{place}.{stage}") for stage, v in amount.items()}
        else:
            amounts[role] = {None: _amount(amount, place)}
    return amounts


def _projects(value, estate: Estate | None, first: Period, name: str, where: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail(where, "projects must be a list of tables ([[ledger.projects]]).")
    if value and estate is None:
        raise fail(where, "projects are charged to an estate's improvement fund: name the estate.")
    projects = []
    for index, project in enumerate(value, start=1):
        place = f"{where}.projects[{index}]"
        if not isinstance(project, dict):
            raise fail(place, "must be a table.")
        unknown = set(project) - PROJECT_KEYS
        if unknown:
            raise fail(place, f"unknown keys {', '.join(sorted(unknown))}.")
        period = _month(project.get("month"), f"{place}.month")
        if period < first:
            raise fail(place, f"month {period} is before the books start ({first}).")
        title = project.get("name")
        if not isinstance(title, str) or not title.strip() or len(title) > 300:
            raise fail(place, "name the project (at most 300 characters).")
        amount = _amount(project.get("amount"), f"{place}.amount")
        reference = f"{REFERENCE_PREFIX}{name}-{period}-P{index}"
        projects.append(Project(period, title.strip(), amount, reference))
    return projects


def books_of(entry, where: str) -> Books:
    if not isinstance(entry, dict):
        raise fail(where, "must be a table.")
    unknown = set(entry) - LEDGER_KEYS
    if unknown:
        raise fail(where, f"unknown keys {', '.join(sorted(unknown))}.")
    estate = None
    if "estate" in entry:
        estate = find_estate_by_code(str(entry["estate"]))
        if estate is None:
            raise fail(where, f"unknown estate {entry['estate']!r}.")
    where = f"{where} ({estate.code if estate else 'collective economy'})"
    user_id, _email = member_who_may(
        entry.get("by"), Permission.CLOSE_PERIODS, [estate] if estate else [], where, "by"
    )
    first = _month(entry.get("from"), f"{where}.from")
    until = _month(entry["until"], f"{where}.until") if "until" in entry else None
    if until is not None and until < first:
        raise fail(where, f"until {until} is before from {first}.")
    variation = entry.get("variation", 0)
    if not _number(variation) or not 0 <= variation <= 0.5:
        raise fail(where, f"variation must be a share between 0 and 0.5, not {variation!r}.")
    seed = entry.get("seed", "")
    if not isinstance(seed, str | int) or isinstance(seed, bool):
        raise fail(where, "seed must be text or a number.")
    memos = entry.get("memos", {})
    if not isinstance(memos, dict) or not all(
        isinstance(memo, str) and 0 < len(memo) <= 300 for memo in memos.values()
    ):
        raise fail(
            where, "memos must be a table of texts by account role (at most 300 characters)."
        )
    close = entry.get("close", True)
    if not isinstance(close, bool):
        raise fail(where, "close must be true or false.")
    books = Books(
        estate=estate,
        user_id=user_id,
        first=first,
        until=until,
        expenses=_amounts(entry.get("expenses"), AccountType.EXPENSE, f"{where}.expenses"),
        income=_amounts(entry.get("income"), AccountType.INCOME, f"{where}.income"),
        memos=memos,
        variation=float(variation),
        seed=str(seed),
        projects=[],
        close=close,
    )
    unused = set(memos) - set(books.expenses) - set(books.income)
    if unused:
        raise fail(where, f"memos: {', '.join(sorted(unused))} has no expenses or income.")
    books.projects = _projects(entry.get("projects"), estate, first, books.name, where)
    books.accounts = {
        account.role: account.id for account in db.session.scalars(select(Account)) if account.role
    }
    books.timeline = stage_timeline(estate) if estate else []
    return books


# --- the section ---------------------------------------------------------------------------


@section("ledger", order=50)  # after payments (40): their postings belong to the months closed
def load_ledger(value, report: LoadReport, base: Path, *, demo: bool) -> None:
    if not isinstance(value, list):
        raise ValidationFailed("ledger: must be a list of tables.")
    services.ensure_chart()
    all_books = [books_of(entry, f"ledger[{i}]") for i, entry in enumerate(value, start=1)]
    names = [books.name for books in all_books]
    if len(set(names)) != len(names):
        raise ValidationFailed("ledger: two entries describe the same entity.")
    if not current_app.config.get("RUIHE_DEFINITION_BILLING", True):
        for books in all_books:
            report.lines.append(f"ledger {books.name}: RUIHE_DEFINITION_BILLING is off")
        return
    # the collective economy last in each month: the estates' closes post into it
    all_books.sort(key=lambda books: books.estate is None)
    last = Period.of(local_today()).previous()  # the last month that has ended
    done = {books.name: Counter() for books in all_books}
    recorded = set(
        db.session.scalars(
            select(JournalEntry.reference).where(
                JournalEntry.source == EntrySource.MANUAL,
                JournalEntry.reference.startswith(REFERENCE_PREFIX),
            )
        )
    )
    closes = {
        (estate_id, period)
        for estate_id, period in db.session.execute(
            select(PeriodClose.estate_id, PeriodClose.period)
        )
    }
    period = min(books.first for books in all_books) if all_books else last.next()
    while period <= last:
        for books in all_books:
            if period < books.first or (books.until and period > books.until):
                continue
            if (books.estate_id, str(period)) in closes:
                continue
            with acting_as(books.user_id):
                record_month(books, period, recorded, done[books.name])
                if books.close:
                    closing.close_period(books.estate_id, str(period))
                    done[books.name]["months closed"] += 1
        db.session.commit()
        period = period.next()
    for books in all_books:
        counts = ", ".join(
            f"{done[books.name][what]} {what}" for what in DONE if done[books.name][what]
        )
        counts = counts or "kept"
        line = f"ledger {books.name}: {counts}"
        if books.estate is not None:
            line += f"; improvement fund {entries.fund_balance(books.estate.id)} 元"
        report.lines.append(line)


def record_month(books: Books, period: Period, recorded: set[str], done: Counter) -> None:
    """The entity's expenses, income and projects of ``period`` not recorded yet."""
    for kind, record in (("expenses", entries.record_expense), ("income", entries.record_income)):
        for role in getattr(books, kind):
            reference = f"{REFERENCE_PREFIX}{books.name}-{period}-{role}"
            amount = books.amount(kind, role, period)
            if reference in recorded or not amount:
                continue
            day = date(period.year, period.month, DAY.get(role, DEFAULT_DAY))
            record(
                estate_id=books.estate_id,
                account_id=books.accounts[role],
                amount=amount,
                entry_date=day,
                reference=reference,
                memo=books.memos.get(role, ""),
            )
            done[f"{kind} entries"] += 1
    for project in books.projects:
        if project.period != period or project.reference in recorded:
            continue
        balance = entries.fund_balance(books.estate_id)
        if project.amount > balance:
            raise ValidationFailed(
                f"ledger: {books.name} project {project.name!r} ({project.period}) needs "
                f"{project.amount} 元; the improvement fund holds {balance} 元 then."
            )
        entries.record_improvement_spending(
            estate_id=books.estate_id,
            amount=project.amount,
            entry_date=date(period.year, period.month, PROJECT_DAY),
            reference=project.reference,
            memo=project.name,
        )
        done["projects"] += 1
