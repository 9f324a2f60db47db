"""The refund form: amount, reason, method, reference of one payment's refund."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, Length

from ruihe_saas.payments.models import RefundMethod, RefundStatus
from ruihe_saas.refunds.services import MAX_KEY, MAX_REASON, MAX_REFERENCE

REQUIRED = _l("Required.")

REFUND_METHOD_LABELS = {
    RefundMethod.GATEWAY: _l("Back through the payment gateway"),
    RefundMethod.ORIGINAL: _l("Original method"),
    RefundMethod.CASH: _l("Cash"),
    RefundMethod.BANK_TRANSFER: _l("Bank transfer"),
}

REFUND_STATUS_LABELS = {
    RefundStatus.PENDING: _l("Pending"),
    RefundStatus.SUCCEEDED: _l("Refunded"),
    RefundStatus.FAILED: _l("Failed (restored)"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class RefundForm(FlaskForm):
    """A refund of one payment. The service checks the amount (> 0, 2 decimals, at most
    what is left) and the method (online payments: gateway only)."""

    amount = StringField(
        _l("Amount (yuan)"),
        filters=[_strip],
        validators=[DataRequired(message=REQUIRED), Length(max=20)],
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    reason = StringField(
        _l("Reason"),
        filters=[_strip],
        validators=[DataRequired(message=REQUIRED), Length(max=MAX_REASON)],
    )
    method = SelectField(_l("Refund method"), choices=[], validate_choice=True)
    reference = StringField(
        _l("Reference"),
        filters=[_strip],
        validators=[Length(max=MAX_REFERENCE)],
        description=_l("Transfer number or slip, if any."),
    )
    # one key per form shown: a double submit refunds once
    idempotency_key = HiddenField(validators=[Length(max=MAX_KEY)])

    def with_methods(self, methods) -> RefundForm:
        self.method.choices = [SelectChoice(m.value, REFUND_METHOD_LABELS[m]) for m in methods]
        if self.method.data not in {m.value for m in methods} and not self.is_submitted():
            self.method.data = methods[0].value
        return self
