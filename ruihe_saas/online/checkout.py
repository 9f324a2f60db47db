"""Starting a resident's online payment: a Stripe Checkout Session for chosen open bills.

``start_checkout(household_id, bill_ids)``:

1. the bills must be the household's and still owe something (else 422 on ``bill_ids``);
   the amount is the sum of what they owe now, one line item per bill, in fen;
2. an **open** session of the same household for the same set of bills, young enough to be
   paid (``REUSE_MINUTES``), is returned as it is: a double click, a reload or a second tab
   creates nothing and calls nothing;
3. otherwise a new attempt (1 + the highest attempt of that household and bill set) is
   stored *before* the gateway call, with the deterministic key
   ``sha256("{tenant}:{household}:{sorted bill ids}:{attempt}")`` as ``Idempotency-Key``:
   two requests racing for the same attempt collide on the unique key (the loser reuses the
   winner's session) and Stripe answers a retried call with the first session;
4. a ``GatewayError`` marks the attempt ``failed`` and raises ``CheckoutFailed``: the caller
   commits that record (so the next try is a new attempt with a new key; Stripe would replay
   a saved error for the old key) and shows a friendly error. Nothing else is written.

Metadata on the session and on its PaymentIntent: ``tenant_id``, ``household_id``,
``checkout_id`` (our row) and ``bill_ids`` (comma-separated), which is how the webhook
finds its way back. At most ``MAX_BILLS`` bills per checkout (Stripe metadata values are
limited to 500 characters).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ruihe_saas.billing.models import Bill, BillStatus
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db
from ruihe_saas.ids import new_id
from ruihe_saas.online.paylinks import make_pay_token, public_url
from ruihe_saas.online.settings import active_gateway, application_fee_fen, connected_account_of
from ruihe_saas.payments.gateway import (
    CheckoutRequest,
    GatewayError,
    LineItem,
    to_minor_units,
)
from ruihe_saas.payments.models import CheckoutSession, CheckoutStatus
from ruihe_saas.tenancy.context import require_tenant_id
from ruihe_saas.tenancy.lookup import get_owned

CURRENCY = "cny"
MAX_BILLS = 12
SESSION_MINUTES = 60  # Stripe: expires_at between 30 minutes and 24 hours from creation
REUSE_MINUTES = 45  # reuse an open session only while the resident still has time to pay
UNSETTLED = (BillStatus.OPEN, BillStatus.PARTIALLY_PAID)


class CheckoutFailed(GatewayError):
    """The gateway refused or was unreachable; ``session`` is the failed attempt (flushed,
    for the caller to commit). ``message`` is safe to show."""

    def __init__(self, message: str, *, session: CheckoutSession, code: str | None = None):
        super().__init__(message, code=code)
        self.session = session


def _bill_field_error(message) -> ValidationFailed:
    return ValidationFailed(message, fields={"bill_ids": [message]})


def open_bills(household: Household) -> list[Bill]:
    """The household's bills that still owe something, oldest period first."""
    bills = db.session.scalars(
        select(Bill)
        .where(Bill.household_id == household.id, Bill.status.in_(UNSETTLED))
        .order_by(Bill.period, Bill.due_date, Bill.id)
    ).all()
    return [bill for bill in bills if bill.outstanding > 0]


def _parse_ids(bill_ids) -> list[uuid.UUID]:
    if bill_ids is None or isinstance(bill_ids, str | bytes) or not isinstance(bill_ids, Iterable):
        raise _bill_field_error(_l("Choose at least one bill."))
    wanted: set[uuid.UUID] = set()
    for value in bill_ids:
        try:
            wanted.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except (ValueError, TypeError, AttributeError):
            raise _bill_field_error(_l("Unknown bill.")) from None
        if len(wanted) > MAX_BILLS:
            raise _bill_field_error(
                _l("Choose at most %(count)s bills per payment.", count=MAX_BILLS)
            )
    if not wanted:
        raise _bill_field_error(_l("Choose at least one bill."))
    return sorted(wanted)


def chosen_open_bills(household: Household, bill_ids) -> list[Bill]:
    """The chosen bills, each the household's and still owing (422 on ``bill_ids``)."""
    wanted = _parse_ids(bill_ids)
    by_id = {bill.id: bill for bill in open_bills(household)}
    if any(bill_id not in by_id for bill_id in wanted):
        raise _bill_field_error(_l("Not an open bill of this household."))
    return sorted((by_id[b] for b in wanted), key=lambda b: (b.period, b.due_date, b.id))


def checkout_idempotency_key(tenant_id, household_id, bill_ids, attempt: int) -> str:
    """``sha256("{tenant}:{household}:{sorted bill ids, comma-separated}:{attempt}")``."""
    bills = ",".join(sorted(str(b) for b in bill_ids))
    return hashlib.sha256(f"{tenant_id}:{household_id}:{bills}:{attempt}".encode()).hexdigest()


def sessions_of(household_id: uuid.UUID | str) -> list[CheckoutSession]:
    """The household's checkout sessions, newest first."""
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    return list(
        db.session.scalars(
            select(CheckoutSession)
            .where(CheckoutSession.household_id == household.id)
            .order_by(CheckoutSession.created_at.desc(), CheckoutSession.attempt.desc())
        )
    )


def find_by_gateway_id(gateway_session_id: str) -> CheckoutSession | None:
    """The current tenant's checkout session with this Stripe id (``cs_…``)."""
    if not isinstance(gateway_session_id, str) or not gateway_session_id:
        return None
    return db.session.scalar(
        select(CheckoutSession).where(
            CheckoutSession.gateway_session_id == gateway_session_id[:200]
        )
    )


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def reusable(session: CheckoutSession, now: datetime | None = None) -> bool:
    """Open, with a checkout page, and young enough for the resident to finish paying."""
    now = now or datetime.now(UTC)
    created = _aware(session.created_at) or now
    return (
        session.status == CheckoutStatus.OPEN
        and bool(session.url)
        and bool(session.gateway_session_id)
        and created > now - timedelta(minutes=REUSE_MINUTES)
    )


def _same_set(household: Household, bill_key: list[str]) -> list[CheckoutSession]:
    rows = db.session.scalars(
        select(CheckoutSession).where(CheckoutSession.household_id == household.id)
    ).all()
    return [row for row in rows if sorted(str(b) for b in (row.bill_ids or [])) == bill_key]


def start_checkout(
    household_id: uuid.UUID | str, bill_ids, *, token: str | None = None
) -> CheckoutSession:
    """The checkout session to send the resident to for these bills (see the module doc).

    ``token``: the pay link the resident came from (the success and cancel pages go back to
    it); a new one is made when absent. Raises ``ValidationFailed`` (bills),
    ``GatewayNotConfigured`` (nothing stored), ``CheckoutFailed`` (attempt stored as failed).
    """
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    bills = chosen_open_bills(household, bill_ids)
    bill_key = sorted(str(bill.id) for bill in bills)
    now = datetime.now(UTC)

    earlier = _same_set(household, bill_key)
    for row in sorted(earlier, key=lambda r: r.attempt, reverse=True):
        if reusable(row, now):
            return row

    gateway, settings = active_gateway()  # GatewayNotConfigured: nothing stored
    tenant_id = require_tenant_id()
    amount = sum((bill.outstanding for bill in bills), Decimal("0.00"))
    attempt = 1 + max((row.attempt for row in earlier), default=0)
    key = checkout_idempotency_key(tenant_id, household.id, bill_key, attempt)
    account = connected_account_of(settings)
    row = CheckoutSession(
        id=new_id(),
        estate_id=household.estate_id,
        household_id=household.id,
        bill_ids=bill_key,
        amount=amount,
        currency=CURRENCY,
        attempt=attempt,
        idempotency_key=key,
        provider=gateway.name,
        connected_account_id=account,
        status=CheckoutStatus.OPEN,
        created_at=now,
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        # another request stored this attempt first (a double submit racing us)
        winner = db.session.scalar(
            select(CheckoutSession).where(CheckoutSession.idempotency_key == key)
        )
        if winner is not None and reusable(winner):
            return winner
        raise Conflict(_l("This payment is already being started. Try again.")) from None

    token = token or make_pay_token(household.id)
    metadata = {
        "tenant_id": str(tenant_id),
        "household_id": str(household.id),
        "checkout_id": str(row.id),
        "bill_ids": ",".join(bill_key),
    }
    amount_fen = to_minor_units(amount)
    request = CheckoutRequest(
        idempotency_key=key,
        currency=CURRENCY,
        line_items=[
            LineItem(
                name=_("%(period)s bill %(number)s", period=bill.period, number=bill.number),
                amount_fen=to_minor_units(bill.outstanding),
            )
            for bill in bills
        ],
        payment_method_types=list(settings.payment_methods or ["card"]),
        metadata=metadata,
        success_url=public_url("pay.success", token=token) + "?session_id={CHECKOUT_SESSION_ID}",
        cancel_url=public_url("pay.cancel", token=token),
        connected_account=account,
        application_fee_fen=application_fee_fen(settings, amount_fen),
        expires_at=now + timedelta(minutes=SESSION_MINUTES),
    )
    try:
        result = gateway.create_checkout(request)
    except GatewayError as error:
        row.status = CheckoutStatus.FAILED
        db.session.flush()
        raise CheckoutFailed(error.message, session=row, code=error.code) from None
    row.gateway_session_id = result.session_id
    row.url = result.url
    row.gateway_payment_id = result.payment_intent_id
    db.session.flush()
    return row
