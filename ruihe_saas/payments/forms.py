"""Forms of the desk payment pages: taking a payment for one household."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateTimeLocalField,
    HiddenField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ruihe_saas.payments.desk import MAX_KEY, MAX_NOTE, MAX_REFERENCE
from ruihe_saas.payments.models import DESK_METHODS, PaymentMethod

METHOD_LABELS = {
    PaymentMethod.CASH: _l("Cash"),
    PaymentMethod.BANK_TRANSFER: _l("Bank transfer"),
    PaymentMethod.POS_CARD: _l("POS card"),
    PaymentMethod.WECHAT_QR: _l("WeChat Pay QR"),
    PaymentMethod.ALIPAY_QR: _l("Alipay QR"),
    PaymentMethod.ONLINE: _l("Online"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class BillChoices(SelectMultipleField):
    """The household's open bills as checkboxes (values are bill ids)."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class TakePaymentForm(FlaskForm):
    """A desk payment of one household. A blank amount means the total outstanding of the
    ticked bills (of all open bills when none is ticked)."""

    bill_ids = BillChoices(_l("Bills to settle"), choices=[], validate_choice=True)
    amount = StringField(
        _l("Amount (yuan)"),
        filters=[_strip],
        validators=[Length(max=20)],
        description=_l("Leave blank for the total of the ticked bills."),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    method = SelectField(
        _l("Method"),
        choices=[SelectChoice(m.value, METHOD_LABELS[m]) for m in DESK_METHODS],
        default=PaymentMethod.CASH.value,
    )
    reference = StringField(
        _l("Reference"),
        filters=[_strip],
        validators=[Length(max=MAX_REFERENCE)],
        description=_l("Transfer, POS slip or QR transaction number (required unless cash)."),
    )
    paid_at = DateTimeLocalField(
        _l("Paid at"),
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[Optional()],
        description=_l("Leave blank for now."),
    )
    note = TextAreaField(_l("Note"), filters=[_strip], validators=[Length(max=MAX_NOTE)])
    idempotency_key = HiddenField(validators=[Length(max=MAX_KEY)])

    def with_bills(self, bills) -> TakePaymentForm:
        self.bill_ids.choices = [
            (str(bill.id), f"{bill.period} {bill.number} {bill.outstanding}") for bill in bills
        ]
        return self
