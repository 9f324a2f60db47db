"""Forms of the online payment pages: the owners' gateway settings and the residents' pay form.

Values are checked by the services (``online.settings``, ``online.checkout``), whose field
messages are put back on these forms; the forms only parse."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField, SelectMultipleField, StringField
from wtforms.widgets import CheckboxInput, ListWidget

from ruihe_saas.payments.models import GatewayMode

METHOD_LABELS = {
    "card": _l("Bank card"),
    "alipay": _l("Alipay"),
    "wechat_pay": _l("WeChat Pay"),
}
MODE_LABELS = {
    GatewayMode.CONNECT: _l("Stripe Connect: charges on the company's own Stripe account"),
    GatewayMode.PLATFORM: _l("Platform keys: single-company deployment"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def pre_validate(self, form) -> None:
        """Unknown values are the service's to report (with its field message)."""


class GatewaySettingsForm(FlaskForm):
    enabled = BooleanField(_l("Accept online payments"))
    mode = SelectField(
        _l("Mode"),
        choices=[SelectChoice(mode.value, label) for mode, label in MODE_LABELS.items()],
        default=GatewayMode.CONNECT.value,
        validate_choice=False,
    )
    connected_account_id = StringField(
        _l("Connected account id"),
        filters=[_strip],
        description=_l("The company's Stripe account, e.g. acct_1Nv0FGQ9RKHgCVdK."),
        render_kw={"maxlength": 100, "autocomplete": "off"},
    )
    application_fee_percent = StringField(
        _l("Platform application fee (%)"),
        filters=[_strip],
        default="0.00",
        description=_l("Taken by the platform from each payment; 0 for none."),
        render_kw={"inputmode": "decimal", "maxlength": 10},
    )
    payment_methods = MultiCheckboxField(
        _l("Payment methods"),
        choices=[SelectChoice(key, label) for key, label in METHOD_LABELS.items()],
        default=["card"],
    )

    def to_data(self) -> dict:
        return {
            "enabled": bool(self.enabled.data),
            "mode": self.mode.data,
            "connected_account_id": self.connected_account_id.data or "",
            "application_fee_percent": self.application_fee_percent.data or "0",
            "payment_methods": list(self.payment_methods.data or []),
        }


class PayForm(FlaskForm):
    """The resident's choice of bills (choices: the household's open bills)."""

    bill_ids = MultiCheckboxField(_l("Bills to pay"))
