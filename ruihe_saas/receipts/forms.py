"""Forms of the receipt pages: cancelling a receipt (作废) with a reason."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from ruihe_saas.receipts.services import MAX_CANCEL_REASON


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class CancelReceiptForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for cancelling"),
        filters=[_strip],
        description=_l("E.g. wrong household, amount entered twice."),
        validators=[
            InputRequired(message=_l("Enter the reason.")),
            Length(max=MAX_CANCEL_REASON),
        ],
    )
