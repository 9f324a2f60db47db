"""Billing forms: voiding (红冲) a bill or a line, starting a billing run."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, SubmitField
from wtforms.validators import DataRequired, Length, Regexp

from ruihe_saas.billing.bills import MAX_REASON
from ruihe_saas.billing.periods import PERIOD_PATTERN

REQUIRED = _l("Required.")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class VoidForm(FlaskForm):
    """Void the unpaid remainder of a bill or of one line, with a reason."""

    reason = StringField(
        _l("Reason"),
        filters=[_strip],
        validators=[DataRequired(message=REQUIRED), Length(max=MAX_REASON)],
    )

    def for_line(self, line_id) -> VoidForm:
        """Give the form's input a page-unique id (one form per line, same field name)."""
        self.reason.id = self.reason.label.field_id = f"reason-{line_id}"
        return self


class RunForm(FlaskForm):
    """Start a billing run: "preview" (a dry run) or "run" (issues the bills)."""

    period = StringField(
        _l("Period"),
        filters=[_strip],
        validators=[
            DataRequired(message=REQUIRED),
            Regexp(PERIOD_PATTERN, message=_l("Use the form YYYY-MM, e.g. 2024-07.")),
        ],
        description=_l("YYYY-MM"),
    )
    preview = SubmitField(_l("Preview"))
    run = SubmitField(_l("Issue bills"))

    @property
    def dry_run(self) -> bool:
        """Only the "run" button issues bills; anything else (Enter, "preview") previews."""
        return not self.run.data
