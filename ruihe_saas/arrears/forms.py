"""Forms of the arrears pages: a chasing record (催缴记录)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ruihe_saas.arrears.chases import MAX_RESULT
from ruihe_saas.arrears.models import ChaseChannel

CHANNEL_LABELS = {
    ChaseChannel.PHONE: _l("Phone"),
    ChaseChannel.VISIT: _l("Home visit"),
    ChaseChannel.NOTICE: _l("Written notice"),
    ChaseChannel.WECHAT_GROUP: _l("WeChat group"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class ChaseForm(FlaskForm):
    chased_on = DateField(
        _l("Date of the chase"),
        validators=[InputRequired(message=_l("Enter the date of the chase."))],
    )
    channel = SelectField(
        _l("Channel"),
        choices=[SelectChoice(key.value, label) for key, label in CHANNEL_LABELS.items()],
        default=ChaseChannel.PHONE.value,
    )
    result = TextAreaField(
        _l("Result"),
        filters=[_strip],
        description=_l("What the household said, e.g. promised to pay by the end of the month."),
        validators=[Length(max=MAX_RESULT)],
    )
    promised_on = DateField(_l("Promised payment date"), validators=[Optional()])

    def to_data(self) -> dict:
        return {
            "chased_on": self.chased_on.data,
            "channel": ChaseChannel(self.channel.data),
            "result": self.result.data or "",
            "promised_on": self.promised_on.data,
        }
