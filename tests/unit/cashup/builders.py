"""A tenant with cashiers, finance and households, and helpers recording their payments and
refunds on chosen business days (inside the tenant, as the acting cashier)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from ruihe_saas.auth.models import Membership, Role
from ruihe_saas.cashup.services import business_date_of
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import Payment, Refund, RefundMethod, RefundStatus
from ruihe_saas.payments.services import record_payment
from ruihe_saas.receipts.services import issue_receipt
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2024, 6, 10)


@dataclass
class Desk:
    owner: Membership
    cashier: Membership
    other_cashier: Membership
    finance: Membership
    households: list[Household]
    estate: Estate

    @property
    def tenant_id(self):
        return self.owner.tenant_id

    def pay(
        self,
        amount,
        method="cash",
        *,
        cashier: Membership | None = None,
        day: date = DAY,
        hour: int = 10,
        household: int = 0,
        reference: str = "",
        receipt: bool = True,
    ) -> Payment:
        """A payment taken by ``cashier`` (default: the cashier) at ``hour`` local on ``day``."""
        cashier = cashier or self.cashier
        paid_at = datetime.combine(day, time(hour), tzinfo=SHANGHAI)
        with tenant_context(self.tenant_id), acting_as(cashier.user_id):
            payment = record_payment(
                self.households[household].id,
                amount,
                method,
                paid_at=paid_at,
                reference=reference,
            )
            payment.business_date = business_date_of(payment.paid_at)
            if receipt:
                issue_receipt(payment)
            db.session.flush()
        return payment

    def refund(
        self,
        payment: Payment,
        amount,
        *,
        by: Membership | None = None,
        day: date = DAY,
        method: RefundMethod = RefundMethod.CASH,
        status: RefundStatus = RefundStatus.SUCCEEDED,
    ) -> Refund:
        """A refund of the payment's prepaid credit, made by ``by`` (default: the cashier)."""
        by = by or self.cashier
        amount = Decimal(str(amount))
        with tenant_context(self.tenant_id), acting_as(by.user_id):
            refund = Refund(
                estate_id=payment.estate_id,
                household_id=payment.household_id,
                payment_id=payment.id,
                amount=amount,
                from_credit=amount,
                from_bills=Decimal("0"),
                method=method,
                status=status,
                reason="退多收",
                refunded_at=datetime.combine(day, time(15), tzinfo=SHANGHAI).astimezone(UTC),
                business_date=day,
                created_by=by.user_id,
            )
            payment.unallocated -= amount
            payment.refunded += amount
            db.session.add(refund)
            db.session.flush()
        return refund


def make_desk(code: str = "DESK") -> Desk:
    owner = member(Role.OWNER, name="业主管理员")
    cashier = member(Role.CASHIER, tenant=owner.tenant, name="收款员甲")
    other = member(Role.CASHIER, tenant=owner.tenant, name="收款员乙")
    finance = member(Role.FINANCE, tenant=owner.tenant, name="财务丙")
    estate = estate_with_households(owner.tenant_id, code, buildings=1, rooms=3)
    with tenant_context(owner.tenant_id):
        households = list_households(estate, 1, 10).items
    scope_member(cashier, estate)
    scope_member(other, estate)
    return Desk(owner, cashier, other, finance, households, estate)
