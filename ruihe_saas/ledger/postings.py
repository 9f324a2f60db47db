"""Automatic postings: each money event posts its journal entry in the event's transaction.

One entry per event, idempotent by ``source_key`` (posting the same event again returns the
first entry), dated the event's tenant-local date — or, when that month is closed for the
estate, the first day of the next open month (``closing.posting_date``). Every line is on the
event's estate (the accounting entity); 应收/预收 lines carry the household.

- bill (``bill:<bill id>``; lines a later run adds to it: ``bill:<bill id>:run:<run id>``):
  Dr 应收 = the bill's total; Cr revenue per line category — 公共收益 for public-revenue
  items, else 物业服务收入, or 代管服务收入 when the estate was in partial caretaking on the
  period's first day;
- credit, 红冲 (``credit:<credit id>``): Dr that revenue / Cr 应收;
- payment (``payment:<id>``): Dr 库存现金 / 银行存款 / Stripe 待清算 = amount; Cr 应收 what
  it settled when taken, Cr 预收 the excess;
- prepaid credit applied later (``prepaid:<first allocation id>``, per household): Dr 预收 /
  Cr 应收;
- refund (``refund:<id>``): Cr the money account; Dr 应收 ``from_bills``, Dr 预收
  ``from_credit``; a pending gateway refund that fails (``refund-failed:<id>``): the
  reverse — Dr money; Cr 应收 what went back onto bills, Cr 预收 what became credit again;
- gateway payout (``payout:<reference>``): Dr 银行存款, Dr 支付手续费 / Cr Stripe 待清算, per
  entity whose payments it settles (one entry over several entities).

The billing run writes its bills in bulk; ``post_written_bills`` posts a chunk's bills the
same way (PostgreSQL: ``COPY`` into staging then ``INSERT … SELECT``, like the bills
themselves), one small entry per bill so the balance trigger stays cheap.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from sqlalchemy import insert, select

from ruihe_saas.billing.models import Bill, BillCredit, BillLine
from ruihe_saas.billing.periods import Period
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import RevenueCategory
from ruihe_saas.handover.services import stage_timeline
from ruihe_saas.ids import new_id, new_id_ints
from ruihe_saas.ledger.closing import posting_date
from ruihe_saas.ledger.models import EntrySource, JournalEntry, JournalLine
from ruihe_saas.ledger.services import Posting, account_for, post_entry, reverse_entry
from ruihe_saas.payments.models import (
    AllocationReversal,
    AllocationSource,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
    RefundMethod,
)
from ruihe_saas.tenancy.context import current_actor_user_id, require_tenant_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.tenancy.sequences import take_numbers

ZERO = Decimal("0.00")

RECEIVABLE = "receivable"
PREPAID = "prepaid"
PUBLIC_REVENUE = "public_revenue"
PROPERTY_INCOME = "property_income"
CARETAKING_INCOME = "caretaking_income"
STRIPE_CLEARING = "stripe_clearing"

MONEY_ROLES = {
    PaymentMethod.CASH: "cash",
    PaymentMethod.BANK_TRANSFER: "bank",
    PaymentMethod.POS_CARD: "bank",
    PaymentMethod.WECHAT_QR: "bank",
    PaymentMethod.ALIPAY_QR: "bank",
    PaymentMethod.ONLINE: STRIPE_CLEARING,
}


def money_role(method: PaymentMethod | str) -> str:
    """The account a payment of ``method`` lands on: 库存现金, 银行存款 or Stripe 待清算."""
    return MONEY_ROLES[PaymentMethod(method)]


def refund_money_role(refund: Refund, payment: Payment) -> str:
    """The account a refund's money leaves from (``original``: the payment's own)."""
    method = RefundMethod(refund.method)
    if method == RefundMethod.GATEWAY:
        return STRIPE_CLEARING
    if method == RefundMethod.CASH:
        return "cash"
    if method == RefundMethod.BANK_TRANSFER:
        return "bank"
    return money_role(payment.method)


def local_date(moment: datetime) -> date:
    """The tenant-local date of ``moment`` (naive: taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")
    return moment.astimezone(zone).date()


# --- revenue accounts ------------------------------------------------------------------------


def stage_on(timeline: Iterable[tuple[date, HandoverStage]], day: date) -> HandoverStage:
    """The stage on ``day`` from ``handover.services.stage_timeline`` (prospect before it)."""
    stage = HandoverStage.PROSPECT
    for effective, to_stage in timeline:
        if effective > day:
            break
        stage = to_stage
    return stage


def service_income_role(estate: Estate, day: date) -> str:
    """物业服务收入, or 代管服务收入 when the estate was in partial caretaking on ``day``."""
    if stage_on(stage_timeline(estate), day) == HandoverStage.PARTIAL_CARETAKING:
        return CARETAKING_INCOME
    return PROPERTY_INCOME


def revenue_role(category: RevenueCategory | str, service_role: str) -> str:
    if RevenueCategory(category) == RevenueCategory.PUBLIC_REVENUE:
        return PUBLIC_REVENUE
    return service_role


def _period_start(period: str) -> date:
    return Period.parse(period).start


def _estate(estate_id: uuid.UUID) -> Estate:
    estate = get_owned(Estate, estate_id)
    if estate is None:  # pragma: no cover - bills and payments always have their estate
        raise LookupError(f"estate {estate_id} not found")
    return estate


# --- bills -----------------------------------------------------------------------------------


def _bill_postings(
    bill_estate_id, household_id, amounts: dict[str, Decimal], memo: str
) -> list[Posting]:
    total = sum(amounts.values(), ZERO)
    postings = [
        Posting(
            role=RECEIVABLE,
            estate_id=bill_estate_id,
            household_id=household_id,
            debit=total,
            memo=memo,
        )
    ]
    postings += [
        Posting(role=role, estate_id=bill_estate_id, credit=amount, memo=memo)
        for role, amount in sorted(amounts.items())
        if amount > 0
    ]
    return postings


def post_bill(bill: Bill, lines: list[BillLine] | None = None) -> JournalEntry | None:
    """Post a bill written through the ORM (all its lines, or ``lines`` added to it later;
    the billing run posts its bills with ``post_written_bills``). None for a zero bill."""
    if lines is None:
        lines = list(db.session.scalars(select(BillLine).where(BillLine.bill_id == bill.id)))
        key = f"bill:{bill.id}"
    else:
        key = f"bill:{bill.id}:{min(line.id for line in lines)}" if lines else f"bill:{bill.id}"
    estate = _estate(bill.estate_id)
    start = _period_start(bill.period)
    service_role = service_income_role(estate, start)
    amounts: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        amounts[revenue_role(line.revenue_category, service_role)] += line.amount
    if sum(amounts.values(), ZERO) <= 0:
        return None
    return post_entry(
        posting_date(bill.estate_id, start),
        _bill_postings(bill.estate_id, bill.household_id, dict(amounts), bill.number),
        source=EntrySource.BILLING,
        source_key=key,
        memo=f"{bill.period} {bill.number}",
        reference=bill.number,
    )


ENTRY_COLUMNS = (
    "tenant_id", "id", "number", "entry_date", "memo", "source", "source_key", "reference",
    "created_by",
)  # fmt: skip
LINE_COLUMNS = (
    "tenant_id", "id", "estate_id", "entry_id", "entry_date", "account_id", "debit", "credit",
    "household_id", "memo",
)  # fmt: skip


def post_written_bills(run_plan, drafts, run_id) -> int:
    """Post the bills ``billing.writer.write_bills`` just wrote for a chunk (the drafts carry
    their bill ids and priced lines): one entry per bill, written in bulk. Lines a later run
    adds to an existing bill get their own entry. Returns the number of entries.

    The engine calls it after ``apply_prepaid_credit``: the journal number sequence is then
    taken after the bill locks, in the same order as payments, refunds and voids take them
    (bills first, then the sequence), so a chunk and a desk payment cannot deadlock."""
    from ruihe_saas.billing.writer import _uuid

    estate = run_plan.estate
    start = run_plan.period.start
    period = str(run_plan.period)
    service_role = service_income_role(estate, start)
    work = []
    for draft in drafts:
        fen: dict[str, int] = defaultdict(int)
        for plan, line in draft.lines:
            fen[revenue_role(plan.revenue_category, service_role)] += line.amount_fen
        if sum(fen.values()) <= 0:
            continue
        bill_id = _uuid(draft.bill_id)
        if draft.existing is None:
            key = f"bill:{bill_id}"
        else:
            key = f"bill:{bill_id}:run:{run_id or new_id()}"
        work.append((bill_id, draft.household.id, key, fen))
    if not work:
        return 0
    tenant_id = require_tenant_id()
    day = posting_date(estate.id, start)
    accounts = {role: account_for(role).id for role in (RECEIVABLE, PUBLIC_REVENUE, service_role)}
    first = take_numbers(f"journal:{day.year}", len(work))
    actor = current_actor_user_id()
    memo = f"{period} 账单"[:300]
    entries, lines = [], []
    line_count = sum(1 + sum(1 for amount in fen.values() if amount > 0) for *_, fen in work)
    ids = iter(new_id_ints(len(work) + line_count))
    for offset, (_bill_id, household_id, key, fen) in enumerate(work):
        entry_id = uuid.UUID(int=next(ids))
        entries.append(
            (
                tenant_id, entry_id, f"JZ{day.year}-{first + offset:07d}", day, memo,
                EntrySource.BILLING, key, "", actor,
            )
        )  # fmt: skip
        total = sum(fen.values())
        lines.append(
            (
                tenant_id, uuid.UUID(int=next(ids)), estate.id, entry_id, day,
                accounts[RECEIVABLE], _yuan(total), ZERO, household_id, "",
            )
        )  # fmt: skip
        for role, amount in sorted(fen.items()):
            if amount > 0:
                lines.append(
                    (
                        tenant_id, uuid.UUID(int=next(ids)), estate.id, entry_id, day,
                        accounts[role], ZERO, _yuan(amount), None, "",
                    )
                )  # fmt: skip
    _write(JournalEntry, ENTRY_COLUMNS, entries)
    _write(JournalLine, LINE_COLUMNS, lines)
    return len(entries)


def _yuan(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


def _write(model, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Bulk-write rows: PostgreSQL through the billing writer's COPY staging (RLS and every
    trigger apply at the ``INSERT … SELECT``), elsewhere one multi-row INSERT."""
    from ruihe_saas.billing import writer

    if not rows:
        return
    if writer.is_postgres():
        payload = "".join(writer._copy_row(row) for row in rows)
        writer._copy(model.__tablename__, columns, payload)
    else:
        db.session.execute(
            insert(model.__table__), [dict(zip(columns, row, strict=True)) for row in rows]
        )


# --- credits (红冲) ---------------------------------------------------------------------------


def post_credit(credit: BillCredit) -> JournalEntry:
    """Reverse the credited part of a bill line: Dr its revenue / Cr 应收."""
    line = get_owned(BillLine, credit.bill_line_id)
    estate = _estate(credit.estate_id)
    role = revenue_role(
        line.revenue_category, service_income_role(estate, _period_start(line.period))
    )
    memo = f"红冲 {line.name}"[:200]
    return post_entry(
        posting_date(credit.estate_id, credit.credited_on),
        [
            Posting(role=role, estate_id=credit.estate_id, debit=credit.amount, memo=memo),
            Posting(
                role=RECEIVABLE,
                estate_id=credit.estate_id,
                household_id=credit.household_id,
                credit=credit.amount,
                memo=memo,
            ),
        ],
        source=EntrySource.VOID,
        source_key=f"credit:{credit.id}",
        memo=(credit.reason or "")[:300],
    )


def post_credits(credits: Iterable[BillCredit]) -> list[JournalEntry]:
    """Post each credit of a void (one small entry per credited line)."""
    return [post_credit(credit) for credit in credits]


# --- payments ------------------------------------------------------------------------------


def post_payment(payment: Payment) -> JournalEntry:
    """Dr the money account = amount; Cr 应收 what the payment settled when it was taken,
    Cr 预收 what it left as prepaid credit. Call right after it is allocated."""
    db.session.flush()
    credit = payment.unallocated
    allocated = payment.amount - credit
    estate_id, household_id = payment.estate_id, payment.household_id
    postings = [Posting(role=money_role(payment.method), estate_id=estate_id, debit=payment.amount)]
    if allocated > 0:
        postings.append(
            Posting(
                role=RECEIVABLE, estate_id=estate_id, household_id=household_id, credit=allocated
            )
        )
    if credit > 0:
        postings.append(
            Posting(role=PREPAID, estate_id=estate_id, household_id=household_id, credit=credit)
        )
    return post_entry(
        posting_date(estate_id, local_date(payment.paid_at)),
        postings,
        source=EntrySource.PAYMENT,
        source_key=f"payment:{payment.id}",
        memo=f"收款 {payment.method}",
        reference=payment.reference or "",
    )


def post_pending_prepaid_allocations() -> list[JournalEntry]:
    """Post the prepaid-credit allocations added to the session and not flushed yet (call
    from ``apply_prepaid_credit`` before it flushes): Dr 预收 / Cr 应收, one entry per
    household, keyed by its first allocation."""
    pending = [
        obj
        for obj in db.session.new
        if isinstance(obj, PaymentAllocation) and obj.source == AllocationSource.PREPAID_CREDIT
    ]
    if not pending:
        return []
    db.session.flush()
    return post_prepaid_applied(pending)


def post_prepaid_applied(allocations: Iterable[PaymentAllocation]) -> list[JournalEntry]:
    """Dr 预收 / Cr 应收 for prepaid credit applied to bills, one entry per household."""
    by_household: dict[tuple, list[PaymentAllocation]] = defaultdict(list)
    for allocation in allocations:
        by_household[(allocation.estate_id, allocation.household_id)].append(allocation)
    entries = []
    for (estate_id, household_id), rows in sorted(by_household.items(), key=lambda i: str(i[0])):
        amount = sum((row.amount for row in rows), ZERO)
        if amount <= 0:
            continue
        moment = min(row.allocated_at for row in rows)
        entries.append(
            post_entry(
                posting_date(estate_id, local_date(moment)),
                [
                    Posting(
                        role=PREPAID, estate_id=estate_id, household_id=household_id, debit=amount
                    ),
                    Posting(
                        role=RECEIVABLE,
                        estate_id=estate_id,
                        household_id=household_id,
                        credit=amount,
                    ),
                ],
                source=EntrySource.PREPAID_APPLIED,
                source_key=f"prepaid:{min(row.id for row in rows)}",
                memo="预收冲抵",
            )
        )
    return entries


# --- refunds -------------------------------------------------------------------------------


def _refund_day(refund: Refund) -> date:
    return refund.business_date or local_date(refund.refunded_at)


def post_refund(refund: Refund) -> JournalEntry:
    """Cr the money account = amount; Dr 应收 (``from_bills``: the bills reopen), Dr 预收
    (``from_credit``)."""
    db.session.flush()
    payment = get_owned(Payment, refund.payment_id)
    estate_id, household_id = refund.estate_id, refund.household_id
    postings = []
    if refund.from_bills > 0:
        postings.append(
            Posting(
                role=RECEIVABLE,
                estate_id=estate_id,
                household_id=household_id,
                debit=refund.from_bills,
            )
        )
    if refund.from_credit > 0:
        postings.append(
            Posting(
                role=PREPAID,
                estate_id=estate_id,
                household_id=household_id,
                debit=refund.from_credit,
            )
        )
    postings.append(
        Posting(role=refund_money_role(refund, payment), estate_id=estate_id, credit=refund.amount)
    )
    return post_entry(
        posting_date(estate_id, _refund_day(refund)),
        postings,
        source=EntrySource.REFUND,
        source_key=f"refund:{refund.id}",
        memo=(refund.reason or "")[:300],
        reference=refund.gateway_refund_id or refund.reference or "",
    )


def post_refund_failed(refund: Refund, day: date | None = None) -> JournalEntry:
    """The gateway refused a pending refund (its allocations restored): Dr the money back;
    Cr 应收 what went back onto bills, Cr 预收 what became prepaid credit again."""
    db.session.flush()
    payment = get_owned(Payment, refund.payment_id)
    restored = -sum(
        db.session.scalars(
            select(AllocationReversal.amount).where(
                AllocationReversal.refund_id == refund.id, AllocationReversal.amount < 0
            )
        ),
        ZERO,
    )
    back_to_credit = refund.amount - restored
    estate_id, household_id = refund.estate_id, refund.household_id
    postings = [
        Posting(role=refund_money_role(refund, payment), estate_id=estate_id, debit=refund.amount)
    ]
    if restored > 0:
        postings.append(
            Posting(
                role=RECEIVABLE, estate_id=estate_id, household_id=household_id, credit=restored
            )
        )
    if back_to_credit > 0:
        postings.append(
            Posting(
                role=PREPAID, estate_id=estate_id, household_id=household_id, credit=back_to_credit
            )
        )
    return post_entry(
        posting_date(estate_id, day or local_date(datetime.now(UTC))),
        postings,
        source=EntrySource.REFUND,
        source_key=f"refund-failed:{refund.id}",
        memo="退款失败冲回",
        reference=refund.gateway_refund_id or "",
    )


# --- the gateway ---------------------------------------------------------------------------


def post_gateway_payout(
    shares: Iterable[tuple[uuid.UUID | None, Decimal, Decimal]], day: date, reference: str
) -> JournalEntry:
    """A gateway payout, split over the entities whose money it settles: ``shares`` are
    ``(estate_id, amount, fee)`` — the entity (None: the collective economy), its part of
    what reached the bank and the fees kept on its payments. One entry, balanced per entity:
    Dr 银行存款 amount, Dr 支付手续费 fee / Cr Stripe 待清算 amount + fee (a negative part —
    an entity whose refunds outweigh its charges in this payout — on the other side).
    Dated ``day`` (the arrival date), or later when that month is closed for one of the
    entities; once per ``reference`` (the payout id, po_…). Called by
    ``online.payouts.record_payout``, which keeps the payout's record."""
    parts: dict[uuid.UUID | None, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    for estate_id, amount, fee in shares:
        parts[estate_id][0] += Decimal(str(amount))
        parts[estate_id][1] += Decimal(str(fee or 0))
    postings = []
    for estate_id in sorted(parts, key=lambda e: "" if e is None else str(e)):
        amount, fee = parts[estate_id]
        for role, value, memo in (
            ("bank", amount, reference[:200]),
            ("payment_fees", fee, ""),
            (STRIPE_CLEARING, -(amount + fee), ""),
        ):
            if value != 0:
                postings.append(
                    Posting(
                        role=role,
                        estate_id=estate_id,
                        debit=max(value, ZERO),
                        credit=max(-value, ZERO),
                        memo=memo,
                    )
                )
    return post_entry(
        _open_day(set(parts), day),
        postings,
        source=EntrySource.GATEWAY,
        source_key=f"payout:{reference}",
        memo="Stripe 结算",
        reference=reference,
    )


def post_gateway_payout_failure(entry_id: uuid.UUID, day: date, reference: str) -> JournalEntry:
    """A paid payout the bank returned: the reversal of its entry (``post_gateway_payout``) —
    the money is back in Stripe 待清算, the bank and the fees as before. Dated ``day`` (when
    the failure was learnt), or later when that month is closed for one of the entities;
    once (``payout-failed:<payout id>``, and an entry has one reversal)."""
    entities = set(
        db.session.scalars(select(JournalLine.estate_id).where(JournalLine.entry_id == entry_id))
    )
    return reverse_entry(
        entry_id,
        f"Stripe 结算失败退回 {reference}"[:300],
        _open_day(entities, day),
        source=EntrySource.GATEWAY,
        source_key=f"payout-failed:{reference}",
    )


def _open_day(estate_ids: set[uuid.UUID | None], day: date) -> date:
    """The first day from ``day`` whose month is open for every one of these entities: the
    latest of their posting dates, again until none moves it (a month open for one entity
    may be closed for another)."""
    while True:
        later = max((posting_date(estate_id, day) for estate_id in estate_ids), default=day)
        if later == day:
            return day
        day = later
