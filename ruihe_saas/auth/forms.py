from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField
from wtforms.validators import DataRequired, EqualTo, Length

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.passwords import MIN_PASSWORD_LENGTH

ROLE_LABELS = {
    Role.OWNER: _l("Owner"),
    Role.ESTATE_ADMIN: _l("Estate admin"),
    Role.FINANCE: _l("Finance"),
    Role.CASHIER: _l("Cashier"),
    Role.VIEWER: _l("Viewer"),
}


def role_choices():
    return [(role.value, label) for role, label in ROLE_LABELS.items()]


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1000)])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(
        _l("New password"), validators=[DataRequired(), Length(min=MIN_PASSWORD_LENGTH, max=1000)]
    )
    confirm = PasswordField(
        _l("Repeat new password"),
        validators=[DataRequired(), EqualTo("new_password", message=_l("Passwords differ."))],
    )


class MemberAddForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=254)])
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])
    estates = SelectMultipleField(_l("Estates (estate admins and cashiers)"), choices=[])


class MemberRoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=role_choices, validators=[DataRequired()])
    estates = SelectMultipleField(_l("Estates"), choices=[])


class ConfirmForm(FlaskForm):
    """A form with nothing but its CSRF token (logout, remove)."""
