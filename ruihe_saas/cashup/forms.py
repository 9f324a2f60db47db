"""Form of the cash-up page: closing a day (日结), confirmed by a tick."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, StringField
from wtforms.validators import DataRequired, Length

from ruihe_saas.cashup.services import MAX_NOTE


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class CloseDayForm(FlaskForm):
    date = HiddenField()
    cashier_id = HiddenField()
    note = StringField(_l("Note"), filters=[_strip], validators=[Length(max=MAX_NOTE)])
    confirm = BooleanField(
        _l("I have counted the money and the totals above are correct; close this day."),
        validators=[DataRequired(message=_l("Tick the box to confirm the cash-up."))],
    )
