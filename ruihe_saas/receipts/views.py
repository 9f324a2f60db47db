"""Receipt pages: a payment's receipt (number, status, prints, what it settled) with the
print button, the PDF itself (the print button's target: the first print is the original,
later ones say 副本), and cancelling a receipt (作废) with a reason.

Endpoints other pages link to: ``receipts.show`` and ``receipts.pdf`` (``payment_id``),
``receipts.cancel`` (``payment_id``, needs ``refund_payments``).
"""

from __future__ import annotations

import uuid

from flask import current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.errors import DomainError
from ruihe_saas.receipts import services
from ruihe_saas.receipts.forms import CancelReceiptForm
from ruihe_saas.receipts.pdf import pdf_response, receipt_content, yuan
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.web.forms import apply_field_errors

bp = tenant_html_blueprint("receipts", __name__, "/receipts")


@bp.app_template_global("receipt_yuan")
def receipt_yuan(amount) -> str:
    """¥1,234.50, as on the printed receipt."""
    return yuan(amount)


def _render(template: str, payment, form=None, status: int = 200):
    receipt = services.get_receipt(payment)
    return render_template(
        template,
        payment=payment,
        receipt=receipt,
        content=receipt_content(payment, receipt),
        payment_url=(
            url_for("payments.show", payment_id=payment.id)
            if "payments.show" in current_app.view_functions
            else None
        ),
        form=form or CancelReceiptForm(formdata=None),
    ), status


@bp.get("/<uuid:payment_id>/")
@require_permission(Permission.VIEW_PAYMENTS)
def show(payment_id: uuid.UUID):
    """The payment's receipt with the print button (and the cancel form for finance)."""
    return _render("receipts/show.html", services.get_payment(payment_id))


@bp.get("/<uuid:payment_id>.pdf")
@require_permission(Permission.VIEW_PAYMENTS)
def pdf(payment_id: uuid.UUID):
    """The receipt PDF (print button target); every print after the first says 副本."""
    payment = services.get_payment(payment_id)
    data, copy = services.print_receipt(payment)
    return pdf_response(data, services.get_receipt(payment).number, copy)


@bp.route("/<uuid:payment_id>/cancel", methods=["GET", "POST"])
@require_permission(Permission.REFUND_PAYMENTS)
def cancel(payment_id: uuid.UUID):
    """Cancel the receipt (作废) with a reason; it keeps its number."""
    payment = services.get_payment(payment_id)
    form = CancelReceiptForm()
    status = 200
    if form.is_submitted():
        status = 422
        if form.validate():
            try:
                receipt = services.cancel_receipt(payment.id, form.reason.data)
            except DomainError as error:
                apply_field_errors(form, error)
                status = error.status
            else:
                flash(_("Receipt %(number)s cancelled.", number=receipt.number), "success")
                return redirect(url_for(".show", payment_id=payment.id))
    return _render("receipts/cancel.html", payment, form, status)
