"""Receipts: PDF, reprint, cancel: JSON API.

- ``GET /payments/<id>/receipt``: the receipt's number, status and print count;
- ``GET /payments/<id>/receipt.pdf``: the receipt as PDF (inline); the first print is the
  original, every later one a copy (副本), counted (``view_payments``);
- ``POST /payments/<id>/receipt/cancel`` ``{"reason"}``: cancel the receipt (作废); it keeps
  its number (``refund_payments``; 422 without a reason, 409 when already cancelled).

Payments of another tenant or outside the member's estates: 404.
"""

from __future__ import annotations

import uuid

import marshmallow as ma

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.payments.models import ReceiptStatus
from ruihe_saas.receipts import services
from ruihe_saas.receipts.pdf import pdf_response
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors

blp = tenant_api_blueprint(
    "receipts_api", __name__, "", description="Receipts: PDF, reprint, cancel"
)
PDF = {"type": "string", "format": "binary"}


class ReceiptRecordSchema(ma.Schema):
    payment_id = ma.fields.UUID(dump_only=True)
    number = ma.fields.String(dump_only=True, metadata={"example": "RH-2024-000123"})
    status = ma.fields.Enum(ReceiptStatus, by_value=True, dump_only=True)
    print_count = ma.fields.Integer(
        dump_only=True,
        metadata={"description": "Prints so far; every print after the first is a copy (副本)."},
    )
    issued_at = ma.fields.DateTime(dump_only=True)
    cancelled_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    cancel_reason = ma.fields.String(dump_only=True)


class ReceiptCancelSchema(ma.Schema):
    reason = ma.fields.String(
        required=True,
        validate=ma.validate.Length(min=1, max=services.MAX_CANCEL_REASON),
        metadata={"description": "Why the receipt is cancelled (required)."},
    )


@blp.get("/payments/<uuid:payment_id>/receipt")
@blp.response(200, ReceiptRecordSchema)
@require_permission(Permission.VIEW_PAYMENTS)
def get_receipt(payment_id: uuid.UUID):
    """The payment's receipt: number, status, prints, cancellation."""
    return services.get_receipt(services.get_payment(payment_id))


@blp.get("/payments/<uuid:payment_id>/receipt.pdf")
@blp.response(
    200,
    PDF,
    content_type="application/pdf",
    description="The receipt (收据) as PDF, shown inline, named after the receipt number. "
    "Every print after the first is marked 副本 (header ``X-Receipt-Copy: 1``).",
)
@require_permission(Permission.VIEW_PAYMENTS)
def receipt_pdf(payment_id: uuid.UUID):
    """Print the payment's receipt (counted: reprints say 副本)."""
    payment = services.get_payment(payment_id)
    data, copy = services.print_receipt(payment)
    return pdf_response(data, services.get_receipt(payment).number, copy)


@blp.post("/payments/<uuid:payment_id>/receipt/cancel")
@blp.arguments(ReceiptCancelSchema)
@blp.response(200, ReceiptRecordSchema)
@errors(blp, 400, 409, 422)
@require_permission(Permission.REFUND_PAYMENTS)
def cancel_receipt(data, payment_id: uuid.UUID):
    """Cancel the receipt (作废) with a reason; it keeps its number. 409 if already
    cancelled."""
    return services.cancel_receipt(payment_id, data["reason"])
