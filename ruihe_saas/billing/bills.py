"""Bills: listing and reading them, and voiding (红冲) a line or a whole bill.

A bill is never edited or deleted once issued: voiding writes ``BillCredit`` rows for the
unpaid remainder (``amount − credited − paid``) of each line and raises ``credited`` on the
line and the bill. What is paid stays paid: a fully paid line must be refunded first (a
payments matter). The bill row is locked (``SELECT … FOR UPDATE`` on PostgreSQL) before the
remainders are read, so a concurrent void or payment of the same bill waits and then sees the
other's result instead of crediting the same money twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.billing.models import Bill, BillCredit, BillLine, BillStatus, bill_status_for
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Building, Estate, Household
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger.postings import post_credits
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate

MAX_REASON = 200
ZERO = Decimal("0.00")


# --- reading -------------------------------------------------------------------------------


def _owned_or_404(model, object_id, message):
    found = get_owned(model, object_id) if object_id is not None else None
    if found is None:
        raise NotFound(message)
    return found


def parse_period(value: str | None) -> str | None:
    """``"YYYY-MM"`` or None; anything else is a 422 on ``period``."""
    if value is None:
        return None
    try:
        return str(Period.parse(value))
    except PeriodError as error:
        raise ValidationFailed(
            _l("The period is invalid."), fields={"period": [str(error)]}
        ) from None


def list_bills(
    *,
    estate_id: uuid.UUID | None = None,
    building_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    period: str | None = None,
    status: BillStatus | str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """Bills, newest period first (then by number). An estate, building or household named
    in the filters must exist within the scope (404), and a building or household must
    belong to the estate (and the household to the building) when both are given."""
    statement = select(Bill)
    if estate_id is not None:
        _owned_or_404(Estate, estate_id, _l("Estate not found."))
        statement = statement.where(Bill.estate_id == estate_id)
    if building_id is not None:
        building = _owned_or_404(Building, building_id, _l("Building not found."))
        if estate_id is not None and building.estate_id != estate_id:
            raise NotFound(_l("Building not found."))
        statement = statement.where(Bill.building_id == building_id)
    if household_id is not None:
        household = _owned_or_404(Household, household_id, _l("Household not found."))
        if (estate_id is not None and household.estate_id != estate_id) or (
            building_id is not None and household.building_id != building_id
        ):
            raise NotFound(_l("Household not found."))
        statement = statement.where(Bill.household_id == household_id)
    if period is not None:
        statement = statement.where(Bill.period == parse_period(period))
    if status is not None:
        try:
            status = BillStatus(status)
        except ValueError:
            raise ValidationFailed(
                _l("The status is invalid."), fields={"status": [_l("Unknown status.")]}
            ) from None
        statement = statement.where(Bill.status == status)
    statement = statement.order_by(Bill.period.desc(), Bill.number)
    return paginate(statement, page, per_page)


def household_labels(household_ids) -> dict[uuid.UUID, str]:
    """``{household id: "3栋2单元502"}`` for the given households (one query)."""
    ids = {household_id for household_id in household_ids if household_id is not None}
    if not ids:
        return {}
    rows = db.session.scalars(select(Household).where(Household.id.in_(ids)))
    return {household.id: household.label for household in rows}


def get_bill(bill_id: uuid.UUID) -> Bill:
    return _owned_or_404(Bill, bill_id, _l("Bill not found."))


def lines_of(bill: Bill) -> list[BillLine]:
    return list(
        db.session.scalars(
            select(BillLine)
            .where(BillLine.bill_id == bill.id)
            .order_by(BillLine.fee_item_code, BillLine.id)
        )
    )


def credits_of(bill: Bill) -> list[BillCredit]:
    return list(
        db.session.scalars(
            select(BillCredit)
            .where(BillCredit.bill_id == bill.id)
            .order_by(BillCredit.created_at, BillCredit.id)
        )
    )


@dataclass
class BillDetail:
    """A bill with its lines, credits, household label and late fee (for pages and the API)."""

    bill: Bill
    household_label: str
    lines: list[BillLine] = field(default_factory=list)
    credits: list[BillCredit] = field(default_factory=list)
    late_fee: object = None  # late_fees.LateFee

    def __getattr__(self, name):
        # the bill's own columns read through (``detail.period``, ``detail.outstanding``)
        bill = self.__dict__.get("bill")
        if bill is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(bill, name)


def summaries(page: Page) -> Page:
    """The page's bills with their household labels (for lists: no lines, no late fee)."""
    labels = household_labels(bill.household_id for bill in page.items)
    page.items = [BillDetail(bill, labels.get(bill.household_id, "")) for bill in page.items]
    return page


def bill_detail(bill: Bill, as_of=None) -> BillDetail:
    from ruihe_saas.billing.late_fees import late_fee_of

    lines = lines_of(bill)
    return BillDetail(
        bill=bill,
        household_label=household_labels([bill.household_id]).get(bill.household_id, ""),
        lines=lines,
        credits=credits_of(bill),
        late_fee=late_fee_of(bill, lines, as_of or local_today()),
    )


def get_line(line_id: uuid.UUID, bill: Bill | None = None) -> BillLine:
    """A bill line (of ``bill`` when given: a line of another bill is a 404)."""
    line = _owned_or_404(BillLine, line_id, _l("Bill line not found."))
    if bill is not None and line.bill_id != bill.id:
        raise NotFound(_l("Bill line not found."))
    return line


# --- voiding -------------------------------------------------------------------------------


def _clean_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(
            _l("A reason is required to void."), fields={"reason": [_l("Required.")]}
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            _l("The reason is too long."),
            fields={"reason": [_l("At most %(max)d characters.", max=MAX_REASON)]},
        )
    return text


def _locked(bill_id: uuid.UUID) -> tuple[Bill, list[BillLine]]:
    """The bill, locked for this transaction, with its lines as committed now."""
    bill = db.session.scalar(
        select(Bill)
        .where(Bill.id == bill_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if bill is None:
        raise NotFound(_l("Bill not found."))
    lines = list(
        db.session.scalars(
            select(BillLine)
            .where(BillLine.bill_id == bill.id)
            .order_by(BillLine.fee_item_code, BillLine.id)
            .execution_options(populate_existing=True)
        )
    )
    return bill, lines


def _credit(bill: Bill, lines: list[BillLine], reason: str) -> list[BillCredit]:
    """Credit the unpaid remainder of each of ``lines``; 409 when there is none."""
    voidable = [line for line in lines if line.outstanding > 0]
    if not voidable:
        if any(line.paid > 0 for line in lines):
            raise Conflict(
                _l("What is left is paid: refund the payment first, then void."),
                code="paid",
            )
        raise Conflict(_l("Nothing left to void."), code="nothing_to_void")
    today, actor = local_today(), current_actor_user_id()
    credits = []
    for line in voidable:
        remainder = line.outstanding
        line.credited = line.credited + remainder
        bill.credited = bill.credited + remainder
        credits.append(
            BillCredit(
                estate_id=bill.estate_id,
                bill_id=bill.id,
                bill_line_id=line.id,
                household_id=bill.household_id,
                amount=remainder,
                reason=reason,
                credited_on=today,
                created_by=actor,
            )
        )
    bill.status = bill_status_for(bill.amount, bill.credited, bill.paid)
    db.session.add_all(credits)
    db.session.flush()
    post_credits(credits)  # the ledger: Dr revenue / Cr 应收 per credit
    return credits


def void_bill(bill_id: uuid.UUID, reason: str | None) -> Bill:
    """Credit the unpaid remainder of every line of the bill (with ``reason``)."""
    reason = _clean_reason(reason)
    bill, lines = _locked(get_bill(bill_id).id)
    _credit(bill, lines, reason)
    return bill


def void_line(line_id: uuid.UUID, reason: str | None, bill: Bill | None = None) -> Bill:
    """Credit the unpaid remainder of one line (of ``bill`` when given) with ``reason``."""
    reason = _clean_reason(reason)
    line = get_line(line_id, bill)
    locked, lines = _locked(line.bill_id)
    _credit(locked, [row for row in lines if row.id == line.id], reason)
    return locked
