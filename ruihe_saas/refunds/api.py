"""Refunds of payments: JSON API.

- ``POST /payments/<id>/refunds`` ``{"amount", "reason", "method"?, "reference"?}``
  (REFUND_PAYMENTS), optional ``Idempotency-Key`` header → 201, the refund with its
  reversals (a replay of the same key and body → 200 with the first refund; the same key
  with another body → 422 on ``idempotency_key``). Online payments are refunded through the
  gateway (409 when it refuses or is not configured: nothing is stored).
- ``GET /payments/<id>/refunds`` (VIEW_PAYMENTS): the payment's refunds, oldest first;
- ``GET /refunds`` (VIEW_PAYMENTS), filtered by ``estate_id``, ``household_id``,
  ``payment_id``, ``from`` / ``to`` (tenant-local days), ``status``, ``method``;
- ``GET /refunds/<id>``: a refund with its reversals.

Bad input: 422 with field messages; another tenant's or an out-of-scope payment: 404.
"""

from __future__ import annotations

import uuid

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.refunds import services
from ruihe_saas.refunds.schemas import (
    RefundCreateSchema,
    RefundDetailSchema,
    RefundIdempotencyHeaders,
    RefundListArgs,
    RefundSchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import PageArgs, page_schema

blp = tenant_api_blueprint("refunds_api", __name__, "", description="Refunds of payments")


@blp.post("/payments/<uuid:payment_id>/refunds")
@blp.arguments(RefundCreateSchema)
@blp.arguments(RefundIdempotencyHeaders, location="headers", as_kwargs=True)
@blp.response(201, RefundDetailSchema)
@blp.alt_response(200, schema=RefundDetailSchema, description="A replay: the first refund.")
@errors(blp, 400, 409)
@require_permission(Permission.REFUND_PAYMENTS)
def create_refund(data, payment_id: uuid.UUID, idempotency_key=None):
    """Refund part or all of a payment: its prepaid credit first, then its allocations
    newest first (the bills reopen). Online payments go back through the gateway."""
    refund, created = services.refund_payment_once(
        payment_id,
        data["amount"],
        data["reason"],
        method=data["method"],
        idempotency_key=idempotency_key,
        reference=data["reference"],
    )
    return services.refund_detail(refund), 201 if created else 200


@blp.get("/payments/<uuid:payment_id>/refunds")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(RefundDetailSchema))
@require_permission(Permission.VIEW_PAYMENTS)
def payment_refunds(args, payment_id: uuid.UUID):
    """The payment's refunds with their reversals, newest first."""
    payment = services.get_payment(payment_id)
    page = services.list_refunds(
        payment_id=payment.id, page=args["page"], per_page=args["per_page"]
    )
    page.items = [services.refund_detail(refund) for refund in page.items]
    return page


@blp.get("/refunds")
@blp.arguments(RefundListArgs, location="query")
@blp.response(200, page_schema(RefundSchema))
@require_permission(Permission.VIEW_PAYMENTS)
def list_refunds(args):
    """Refunds, newest first. A named estate, household or payment must exist in your
    scope (404)."""
    return services.summaries(services.list_refunds(**args))


@blp.get("/refunds/<uuid:refund_id>")
@blp.response(200, RefundDetailSchema)
@require_permission(Permission.VIEW_PAYMENTS)
def get_refund(refund_id: uuid.UUID):
    return services.refund_detail(services.get_refund(refund_id))
