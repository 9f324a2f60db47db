"""Posting to the ledger. Services flush, never commit.

``post_entry`` is the one way in: it checks what PostgreSQL also enforces (at least two
lines, one positive side per line, at most two decimals, debits = credits, accounts of this
tenant and active, no line in a closed period of its entity) so SQLite gets the same rules
and callers get 422s with field messages instead of database errors. ``source_key`` makes a
posting idempotent: posting the same key again returns the first entry. ``reverse_entry``
posts the one correction an entry may have.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate
from ruihe_saas.extensions import db
from ruihe_saas.ledger.chart import TEMPLATE
from ruihe_saas.ledger.models import (
    Account,
    EntrySource,
    JournalEntry,
    JournalLine,
    PeriodClose,
)
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.tenancy.sequences import take_numbers

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")


@dataclass(frozen=True)
class Posting:
    """One line to post: an account (by id, or by its chart ``role``), the entity (an
    estate id; None: the collective economy), and a debit or a credit."""

    debit: Decimal = ZERO
    credit: Decimal = ZERO
    account_id: uuid.UUID | None = None
    role: str | None = None
    estate_id: uuid.UUID | None = None
    household_id: uuid.UUID | None = None
    memo: str = ""


# --- the chart -----------------------------------------------------------------------------


def ensure_chart() -> list[Account]:
    """Create the template accounts the tenant lacks (by code); return the ones created.

    The first postings of a new tenant may run concurrently (e.g. two desk payments): the
    accounts are added in a savepoint, and when another transaction created them first
    (unique code), that one's chart is used.
    """
    existing = set(db.session.scalars(select(Account.code)))
    taken_roles = {r for r in db.session.scalars(select(Account.role)) if r}
    created = [
        Account(code=code, name=name, type=account_type, role=None if role in taken_roles else role)
        for code, name, account_type, role in TEMPLATE
        if code not in existing
    ]
    if not created:
        return []
    try:
        with db.session.begin_nested():
            db.session.add_all(created)
            db.session.flush()
    except IntegrityError:
        return []  # a concurrent transaction made the chart
    return created


def account_for(role: str) -> Account:
    """The tenant's account with this role, creating the chart on first use."""
    account = db.session.scalar(select(Account).where(Account.role == role))
    if account is None:
        ensure_chart()
        account = db.session.scalar(select(Account).where(Account.role == role))
    if account is None:
        raise ValidationFailed(_l("The chart of accounts has no account for %(role)s.", role=role))
    return account


# --- periods -------------------------------------------------------------------------------


def period_of(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def closed_periods(estate_ids: Iterable[uuid.UUID | None], period: str) -> set[uuid.UUID | None]:
    """Which of these entities have ``period`` closed (and not reopened)."""
    wanted = set(estate_ids)
    rows = db.session.scalars(
        select(PeriodClose.estate_id).where(
            PeriodClose.period == period, PeriodClose.reopened_at.is_(None)
        )
    )
    return {estate_id for estate_id in rows if estate_id in wanted}


# --- posting -------------------------------------------------------------------------------


def _amount(value, field: str) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
        valid = amount.is_finite()
    except (InvalidOperation, ValueError, TypeError):
        valid = False
    if not valid or amount < 0 or amount > MAX_AMOUNT or amount != amount.quantize(CENT):
        raise ValidationFailed(
            _l("Amounts are yuan with at most 2 decimals, not negative."),
            fields={field: [_l("Enter an amount of at least 0 with at most 2 decimals.")]},
        )
    return amount.quantize(CENT)


def _checked_lines(postings: list[Posting]) -> list[tuple[Posting, Account, Decimal, Decimal]]:
    if len(postings) < 2:
        raise ValidationFailed(
            _l("An entry needs at least two lines."),
            fields={"lines": [_l("Add at least two lines.")]},
        )
    accounts: dict[uuid.UUID, Account] = {}
    checked = []
    for index, posting in enumerate(postings):
        debit = _amount(posting.debit, f"lines.{index}.debit")
        credit = _amount(posting.credit, f"lines.{index}.credit")
        if (debit > 0) == (credit > 0):
            raise ValidationFailed(
                _l("Each line has either a debit or a credit."),
                fields={f"lines.{index}": [_l("Enter a debit or a credit, not both.")]},
            )
        account = _account(posting, index, accounts)
        if posting.estate_id is not None and get_owned(Estate, posting.estate_id) is None:
            raise ValidationFailed(
                _l("Unknown estate."), fields={f"lines.{index}.estate_id": [_l("Unknown estate.")]}
            )
        checked.append((posting, account, debit, credit))
    debits = sum((d for _, _, d, _ in checked), ZERO)
    credits = sum((c for _, _, _, c in checked), ZERO)
    if debits != credits:
        raise ValidationFailed(
            _l("The entry does not balance: debits %(d)s, credits %(c)s.", d=debits, c=credits),
            fields={"lines": [_l("Debits and credits must be equal.")]},
        )
    return checked


def _account(posting: Posting, index: int, cache: dict) -> Account:
    if posting.account_id is not None:
        account = cache.get(posting.account_id) or get_owned(Account, posting.account_id)
    elif posting.role:
        account = account_for(posting.role)
    else:
        account = None
    if account is None or not account.active:
        raise ValidationFailed(
            _l("Unknown or inactive account."),
            fields={f"lines.{index}.account_id": [_l("Choose an active account.")]},
        )
    cache[account.id] = account
    return account


def post_entry(
    entry_date: date,
    postings: list[Posting],
    *,
    source: EntrySource,
    source_key: str | None = None,
    memo: str = "",
    reference: str = "",
    reverses_id: uuid.UUID | None = None,
    pair_id: uuid.UUID | None = None,
) -> JournalEntry:
    """Post a balanced entry dated ``entry_date``; with ``source_key``, at most once."""
    if source_key is not None:
        existing = db.session.scalar(
            select(JournalEntry).where(JournalEntry.source_key == source_key)
        )
        if existing is not None:
            return existing
    checked = _checked_lines(postings)
    period = period_of(entry_date)
    closed = closed_periods({posting.estate_id for posting, *_ in checked}, period)
    if closed:
        raise ValidationFailed(
            _l("The period %(period)s is closed for this entity.", period=period),
            fields={"entry_date": [_l("Date it in an open period.")]},
        )
    number = take_numbers(f"journal:{entry_date.year}")
    entry = JournalEntry(
        number=f"JZ{entry_date.year}-{number:07d}",
        entry_date=entry_date,
        memo=(memo or "")[:300],
        source=source,
        source_key=source_key,
        reference=(reference or "")[:100],
        reverses_id=reverses_id,
        pair_id=pair_id,
        created_by=current_actor_user_id(),
    )
    db.session.add(entry)
    db.session.flush()
    db.session.add_all(
        JournalLine(
            estate_id=posting.estate_id,
            entry_id=entry.id,
            entry_date=entry_date,
            account_id=account.id,
            debit=debit,
            credit=credit,
            household_id=posting.household_id,
            memo=(posting.memo or "")[:200],
        )
        for posting, account, debit, credit in checked
    )
    db.session.flush()
    return entry


def lines_of(entry: JournalEntry) -> list[JournalLine]:
    return list(
        db.session.scalars(
            select(JournalLine).where(JournalLine.entry_id == entry.id).order_by(JournalLine.id)
        )
    )


def reverse_entry(
    entry_id: uuid.UUID,
    reason: str,
    entry_date: date | None = None,
    *,
    source: EntrySource = EntrySource.REVERSAL,
    source_key: str | None = None,
) -> JournalEntry:
    """Post the one reversal of an entry (debits and credits swapped), dated ``entry_date``
    (default: the entry's own date; a closed period refuses it — date it later); ``source``
    and ``source_key`` say what event reversed it when not a person (a failed payout)."""
    entry = get_owned(JournalEntry, entry_id)
    if entry is None:
        raise NotFound(_l("Journal entry not found."))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            _l("A reason is required."), fields={"reason": [_l("Say why it is reversed.")]}
        )
    if db.session.scalar(select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id)):
        raise Conflict(_l("This entry has already been reversed."))
    postings = [
        Posting(
            account_id=line.account_id,
            estate_id=line.estate_id,
            household_id=line.household_id,
            debit=line.credit,
            credit=line.debit,
            memo=line.memo,
        )
        for line in lines_of(entry)
    ]
    return post_entry(
        entry_date or entry.entry_date,
        postings,
        source=source,
        source_key=source_key,
        memo=reason,
        reference=entry.number,
        reverses_id=entry.id,
    )
