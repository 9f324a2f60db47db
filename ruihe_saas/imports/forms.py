from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, Length, Optional, Regexp

from ruihe_saas.estates.schemas import CODE_RE


class ImportForm(FlaskForm):
    file = FileField(
        _l("File (.xlsx or .csv)"), validators=[FileRequired(message=_l("Choose a file."))]
    )
    dry_run = BooleanField(_l("Check only (import nothing)"))


class CopyEstateForm(FlaskForm):
    """A new estate with the buildings of this one."""

    name = StringField(_l("Name of the new estate"), validators=[DataRequired(), Length(max=100)])
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            Regexp(CODE_RE, message=_l("1–20 letters, digits, - or _.")),
        ],
    )
    address = StringField(_l("Address"), validators=[Optional(), Length(max=200)])
