"""Desk payments API.

- ``POST /payments`` ``{"household_id", "amount", "method", "reference", "bill_ids"?,
  "paid_at"?, "note"?}`` (TAKE_PAYMENTS), optional ``Idempotency-Key`` header → 201, the
  payment with its receipt number and allocations; a replay of the same key and body → 200
  with the first payment; the same key with another body → 422 on ``idempotency_key``.
- ``GET /payments`` (VIEW_PAYMENTS) filtered by ``household_id``, ``estate_id``, ``method``,
  ``from`` / ``to`` (business dates) and ``cashier_id``; ``GET /payments/<id>``.
"""

from __future__ import annotations

import uuid

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.payments import desk
from ruihe_saas.payments.schemas import (
    PaymentCreateSchema,
    PaymentDetailSchema,
    PaymentIdempotencyHeaders,
    PaymentListArgs,
    PaymentSchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import page_schema

blp = tenant_api_blueprint(
    "payments_api", __name__, "", description="Desk payments: record, list, show"
)


@blp.post("/payments")
@blp.arguments(PaymentCreateSchema)
@blp.arguments(PaymentIdempotencyHeaders, location="headers", as_kwargs=True)
@blp.response(201, PaymentDetailSchema)
@blp.alt_response(200, schema=PaymentDetailSchema, description="A replay: the first payment.")
@errors(blp, 400, 409)
@require_permission(Permission.TAKE_PAYMENTS)
def record_payment(data, idempotency_key=None):
    """Record a desk payment (cash, bank transfer, POS card, WeChat/Alipay QR) of one
    household, allocate it (chosen bills, else oldest outstanding first; the excess is
    prepaid credit) and issue its receipt."""
    payment, created = desk.record_desk_payment(
        data["household_id"],
        data["amount"],
        data["method"],
        reference=data["reference"],
        bill_ids=data["bill_ids"],
        paid_at=data["paid_at"],
        note=data["note"],
        idempotency_key=idempotency_key,
    )
    body = desk.payment_detail(payment).as_dict()
    return body, 201 if created else 200


@blp.get("/payments")
@blp.arguments(PaymentListArgs, location="query")
@blp.response(200, page_schema(PaymentSchema))
@require_permission(Permission.VIEW_PAYMENTS)
def list_payments(args):
    """Payments, newest first. A named estate or household must exist in your scope (404)."""
    page = desk.payment_summaries(desk.list_payments(args))
    page.items = [detail.as_dict() for detail in page.items]
    return page


@blp.get("/payments/<uuid:payment_id>")
@blp.response(200, PaymentDetailSchema)
@require_permission(Permission.VIEW_PAYMENTS)
def get_payment(payment_id: uuid.UUID):
    """A payment with its receipt number and allocations (bill, period, fee item)."""
    return desk.payment_detail(desk.get_payment(payment_id)).as_dict()
