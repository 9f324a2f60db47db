"""A tenant (receipt prefix RH) with an estate, bills, and paid payments with receipts."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime

from pypdf import PdfReader

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db
from ruihe_saas.payments.services import record_payment
from ruihe_saas.receipts.services import issue_receipt
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member


@dataclass
class Desk:
    owner: object
    cashier: object
    estate: object
    schedule: object
    households: list

    @property
    def tenant_id(self):
        return self.owner.tenant_id

    def bill(self, index: int, period: str, service="100.00", garbage="10.00"):
        return bill_for(
            self.households[index],
            period,
            {"property_service": service, "garbage": garbage},
            self.schedule,
            due_date=date.fromisoformat(period + "-28"),
        )

    def pay(self, index: int, amount, method="cash", *, paid_at=None, reference="", **kwargs):
        """A payment by the cashier, with its receipt."""
        with tenant_context(self.tenant_id), acting_as(self.cashier.user_id):
            payment = record_payment(
                self.households[index].id,
                amount,
                method,
                paid_at=paid_at or datetime(2024, 6, 10, 9, 30),
                reference=reference,
                **kwargs,
            )
            receipt = issue_receipt(payment)
        return payment, receipt


def make_desk(code: str = "RCPT", owner=None) -> Desk:
    owner = owner or member(Role.OWNER)
    owner.tenant.receipt_prefix = "RH"
    cashier = member(Role.CASHIER, tenant=owner.tenant, name="收银员小王")
    estate = estate_with_households(owner.tenant_id, code, buildings=1, rooms=3)
    scope_member(cashier, estate)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        households = list_households(estate, 1, 100).items
    db.session.flush()
    return Desk(owner, cashier, estate, schedule, households)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def first_page_text(data: bytes) -> str:
    return PdfReader(io.BytesIO(data)).pages[0].extract_text()
