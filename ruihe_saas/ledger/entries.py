"""Manual journal entries on top of ``services.post_entry``. Services flush, never commit.

- ``record_expense`` / ``record_income``: an expense (wages, cleaning, greening, repairs,
  energy …) or income (public revenue from charging ports and advertising, canteen takings …)
  of one entity — an estate, or the collective economy (``estate_id`` None) — paid from or
  into cash or the bank, with a reference number (voucher, invoice);
- ``record_improvement_spending``: an improvement project's spending charged to the estate's
  improvement fund (Dr 改造基金, Cr cash/bank), never more than the fund holds;
- ``post_manual``: a general entry of one entity (lines of any active account but the ones
  automatic postings keep: 应收, 预收, Stripe 待清算, 内部往来);
- ``list_entries`` / ``get_entry`` / ``reverse``: reading and correcting, within the estate
  scope (an estate admin sees an entry when one of its lines is in their estates, and only
  those lines).

Bad input raises ``ValidationFailed`` with field messages and stores nothing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger import services
from ruihe_saas.ledger.models import Account, AccountType, EntrySource, JournalEntry, JournalLine
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy.context import current_estate_scope
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import paginate

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_REFERENCE = 100
MAX_MEMO = 300
MAX_LINE_MEMO = 200
MAX_LINES = 50
EARLIEST = date(2000, 1, 1)
PAY_FROM = ("cash", "bank")
AUTOMATIC_ROLES = frozenset({"receivable", "prepaid", "stripe_clearing", "inter_entity"})
COLLECTIVE = "collective"


def _invalid(fields: dict) -> ValidationFailed:
    return ValidationFailed(_l("The entry has invalid fields."), fields=fields)


def parse_amount(value, name: str = "amount", *, positive: bool = True) -> Decimal:
    """Yuan, at most 2 decimals, above 0 (or at least 0 when not ``positive``)."""
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        valid = amount.is_finite() and not isinstance(value, bool)
    except (InvalidOperation, ValueError, TypeError):
        valid = False
    if (
        not valid
        or amount < 0
        or (positive and amount == 0)
        or amount > services.MAX_AMOUNT
        or amount != amount.quantize(CENT)
    ):
        raise _invalid({name: [_l("Enter an amount above 0 with at most 2 decimals.")]})
    return amount.quantize(CENT)


def parse_day(value, name: str = "entry_date") -> date:
    """A date from 2000 up to today (Asia/Shanghai); ISO strings accepted."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, date):
        raise _invalid({name: [_l("Use a date like 2024-07-31.")]})
    if value < EARLIEST or value > local_today():
        raise _invalid({name: [_l("Use a date from 2000 up to today.")]})
    return value


def _reference(value) -> str:
    reference = value.strip() if isinstance(value, str) else ""
    if not reference:
        raise _invalid({"reference": [_l("Enter the reference number (voucher or invoice).")]})
    if len(reference) > MAX_REFERENCE:
        raise _invalid({"reference": [_l("At most %(num)s characters.", num=MAX_REFERENCE)]})
    return reference


def _memo(value, name: str = "memo", limit: int = MAX_MEMO) -> str:
    memo = value.strip() if isinstance(value, str) else ""
    if len(memo) > limit:
        raise _invalid({name: [_l("At most %(num)s characters.", num=limit)]})
    return memo


def _entity(estate_id, *, required: bool = False) -> uuid.UUID | None:
    if estate_id in (None, "", COLLECTIVE):
        if required:
            raise _invalid({"estate_id": [_l("Choose an estate.")]})
        return None
    try:
        estate_id = estate_id if isinstance(estate_id, uuid.UUID) else uuid.UUID(str(estate_id))
    except ValueError:
        estate_id = None
    if estate_id is None or get_owned(Estate, estate_id) is None:
        raise _invalid({"estate_id": [_l("Unknown estate.")]})
    return estate_id


def _manual_account(account_id, name: str, types=None) -> Account:
    account = None
    try:
        if account_id:
            account_id = (
                account_id if isinstance(account_id, uuid.UUID) else uuid.UUID(str(account_id))
            )
            account = get_owned(Account, account_id)
    except ValueError:
        account = None
    if account is None or not account.active:
        raise _invalid({name: [_l("Choose an active account.")]})
    if account.role in AUTOMATIC_ROLES:
        raise _invalid({name: [_l("Automatic postings keep this account; choose another.")]})
    if types is not None and account.type not in types:
        raise _invalid({name: [_l("Choose an account of the right type.")]})
    return account


def _pay_from(value) -> str:
    if value not in PAY_FROM:
        raise _invalid({"pay_from": [_l("Choose cash or bank.")]})
    return value


def _post(day: date, postings: list[Posting], memo: str, reference: str) -> JournalEntry:
    return services.post_entry(
        day, postings, source=EntrySource.MANUAL, memo=memo, reference=reference
    )


# --- expenses, income, improvement spending -----------------------------------------------


def record_expense(
    *, estate_id, account_id, amount, entry_date, reference, memo="", pay_from="bank"
) -> JournalEntry:
    """Dr the expense account, Cr cash or bank, for the entity."""
    return _simple(AccountType.EXPENSE, **locals())


def record_income(
    *, estate_id, account_id, amount, entry_date, reference, memo="", pay_from="bank"
) -> JournalEntry:
    """Dr cash or bank, Cr the income account, for the entity."""
    return _simple(AccountType.INCOME, **locals())


def _simple(kind, *, estate_id, account_id, amount, entry_date, reference, memo, pay_from):
    entity = _entity(estate_id)
    account = _manual_account(account_id, "account_id", types={kind})
    amount = parse_amount(amount)
    day = parse_day(entry_date)
    reference, memo = _reference(reference), _memo(memo)
    money_role = _pay_from(pay_from)
    if kind == AccountType.EXPENSE:
        postings = [
            Posting(account_id=account.id, estate_id=entity, debit=amount, memo=memo),
            Posting(role=money_role, estate_id=entity, credit=amount, memo=memo),
        ]
    else:
        postings = [
            Posting(role=money_role, estate_id=entity, debit=amount, memo=memo),
            Posting(account_id=account.id, estate_id=entity, credit=amount, memo=memo),
        ]
    return _post(day, postings, memo or account.name, reference)


def fund_balance(estate_id: uuid.UUID) -> Decimal:
    """What the estate's improvement fund holds (all postings to date)."""
    fund = services.account_for("improvement_fund")
    total = db.session.scalar(
        select(func.sum(JournalLine.credit - JournalLine.debit)).where(
            JournalLine.account_id == fund.id, JournalLine.estate_id == estate_id
        )
    )
    return Decimal(total or 0).quantize(CENT)


def record_improvement_spending(
    *, estate_id, amount, entry_date, reference, memo="", pay_from="bank"
) -> JournalEntry:
    """An improvement project's spending: Dr 改造基金, Cr cash/bank, for the estate."""
    entity = _entity(estate_id, required=True)
    amount = parse_amount(amount)
    day = parse_day(entry_date)
    reference, memo = _reference(reference), _memo(memo)
    money_role = _pay_from(pay_from)
    if not memo:
        raise _invalid({"memo": [_l("Name the improvement project.")]})
    balance = fund_balance(entity)
    if amount > balance:
        raise _invalid(
            {"amount": [_l("More than the improvement fund holds (%(balance)s).", balance=balance)]}
        )
    postings = [
        Posting(role="improvement_fund", estate_id=entity, debit=amount, memo=memo),
        Posting(role=money_role, estate_id=entity, credit=amount, memo=memo),
    ]
    return _post(day, postings, memo, reference)


# --- a general manual entry ----------------------------------------------------------------


def post_manual(*, entry_date, estate_id, lines, memo="", reference) -> JournalEntry:
    """A balanced entry of one entity; ``lines``: dicts with ``account_id``, ``debit`` or
    ``credit`` and ``memo``."""
    entity = _entity(estate_id)
    day = parse_day(entry_date)
    reference, memo = _reference(reference), _memo(memo)
    if not isinstance(lines, list) or len(lines) < 2:
        raise _invalid({"lines": [_l("Add at least two lines.")]})
    if len(lines) > MAX_LINES:
        raise _invalid({"lines": [_l("At most %(num)s lines.", num=MAX_LINES)]})
    postings = []
    for index, line in enumerate(lines):
        if not isinstance(line, dict):
            raise _invalid({f"lines.{index}": [_l("Enter a debit or a credit, not both.")]})
        account = _manual_account(line.get("account_id"), f"lines.{index}.account_id")
        debit = line.get("debit") or ZERO
        credit = line.get("credit") or ZERO
        debit = parse_amount(debit, f"lines.{index}.debit", positive=False)
        credit = parse_amount(credit, f"lines.{index}.credit", positive=False)
        if (debit > 0) == (credit > 0):
            raise _invalid({f"lines.{index}": [_l("Enter a debit or a credit, not both.")]})
        line_memo = _memo(line.get("memo"), f"lines.{index}.memo", MAX_LINE_MEMO)
        postings.append(
            Posting(
                account_id=account.id, estate_id=entity, debit=debit, credit=credit, memo=line_memo
            )
        )
    return _post(day, postings, memo, reference)


# --- reading and reversing -----------------------------------------------------------------


@dataclass
class EntryView:
    entry: JournalEntry
    lines: list = field(default_factory=list)  # (JournalLine, Account)
    reversed_by: uuid.UUID | None = None

    def __getattr__(self, name):
        return getattr(self.entry, name)

    @property
    def debits(self) -> Decimal:
        return sum((line.debit for line, _ in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((line.credit for line, _ in self.lines), ZERO)


def _scope_filter():
    scope = current_estate_scope()
    if scope is None:
        return []
    return [JournalLine.estate_id.in_(sorted(scope))]


def _visible_entry_ids():
    return select(JournalLine.entry_id).where(*_scope_filter())


def get_entry(entry_id: uuid.UUID) -> EntryView:
    """The entry with its lines (within the estate scope); 404 when unknown or out of it."""
    entry = get_owned(JournalEntry, entry_id)
    if entry is None:
        raise NotFound(_l("Journal entry not found."))
    rows = db.session.execute(
        select(JournalLine, Account)
        .join(Account, Account.id == JournalLine.account_id)
        .where(JournalLine.entry_id == entry.id, *_scope_filter())
        .order_by(JournalLine.debit.desc(), Account.code, JournalLine.id)
    ).all()
    if not rows:
        raise NotFound(_l("Journal entry not found."))
    reversed_by = db.session.scalar(
        select(JournalEntry.id).where(JournalEntry.reverses_id == entry.id)
    )
    return EntryView(entry, [tuple(row) for row in rows], reversed_by)


def list_entries(
    page: int = 1,
    per_page: int = 50,
    *,
    start: date | None = None,
    end: date | None = None,
    estate_id=None,
    source: EntrySource | None = None,
    account_id: uuid.UUID | None = None,
    reference: str | None = None,
):
    """Entries newest first, filtered; ``estate_id``: an estate id, ``"collective"`` or None
    (every entity in scope)."""
    lines = select(JournalLine.entry_id).where(*_scope_filter())
    if estate_id == COLLECTIVE:
        lines = lines.where(JournalLine.estate_id.is_(None))
    elif estate_id is not None:
        lines = lines.where(JournalLine.estate_id == estate_id)
    if account_id is not None:
        lines = lines.where(JournalLine.account_id == account_id)
    statement = select(JournalEntry).where(JournalEntry.id.in_(lines))
    if start is not None:
        statement = statement.where(JournalEntry.entry_date >= start)
    if end is not None:
        statement = statement.where(JournalEntry.entry_date <= end)
    if source is not None:
        statement = statement.where(JournalEntry.source == EntrySource(source))
    if reference:
        statement = statement.where(JournalEntry.reference.contains(reference, autoescape=True))
    statement = statement.order_by(JournalEntry.entry_date.desc(), JournalEntry.number.desc())
    return paginate(statement, page, per_page)


def reverse(entry_id: uuid.UUID, reason, entry_date=None) -> JournalEntry:
    """Post the one reversal of a manual entry (409 if it has one, or if the entry came
    from billing, payments or a close: those are corrected where they came from), dated
    ``entry_date`` or the entry's own date."""
    view = get_entry(entry_id)
    if view.entry.source != EntrySource.MANUAL:
        raise Conflict(
            _l("Only manual entries are reversed here; correct the others where they came from.")
        )
    reason = _memo(reason, "reason", 200)
    day = parse_day(entry_date) if entry_date not in (None, "") else None
    return services.reverse_entry(entry_id, reason, day)
