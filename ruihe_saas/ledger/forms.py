"""Forms of the finance pages: an expense or income entry, improvement spending, an
account, closing and reopening a month, reversing an entry. Choices are set by the view;
the services check every value (and answer field errors the form shows)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from ruihe_saas.ledger.models import AccountType

PAY_FROM_CHOICES = [SelectChoice("bank", _l("Bank")), SelectChoice("cash", _l("Cash"))]
TYPE_LABELS = {
    AccountType.ASSET: _l("Asset"),
    AccountType.LIABILITY: _l("Liability"),
    AccountType.EQUITY: _l("Equity"),
    AccountType.INCOME: _l("Income"),
    AccountType.EXPENSE: _l("Expense"),
}


def _strip(value):
    return value.strip() if isinstance(value, str) else value


class _MoneyForm(FlaskForm):
    amount = StringField(
        _l("Amount (yuan)"),
        filters=[_strip],
        validators=[InputRequired(message=_l("Enter the amount."))],
    )
    entry_date = DateField(
        _l("Date"), validators=[InputRequired(message=_l("Use a date like 2024-07-31."))]
    )
    reference = StringField(
        _l("Reference number"),
        filters=[_strip],
        description=_l("The voucher or invoice number."),
        validators=[InputRequired(message=_l("Enter the reference number.")), Length(max=100)],
    )
    pay_from = SelectField(_l("Paid from / into"), choices=PAY_FROM_CHOICES, default="bank")


class EntryForm(_MoneyForm):
    """An expense or an income of an entity (an estate or the collective economy)."""

    estate = SelectField(_l("Entity"), validate_choice=False)
    account = SelectField(_l("Account"), validate_choice=False)
    memo = StringField(_l("Memo"), filters=[_strip], validators=[Length(max=300)])

    def to_data(self) -> dict:
        return {
            "estate_id": self.estate.data or None,
            "account_id": self.account.data,
            "amount": self.amount.data,
            "entry_date": self.entry_date.data,
            "reference": self.reference.data,
            "memo": self.memo.data or "",
            "pay_from": self.pay_from.data,
        }


class ImprovementForm(_MoneyForm):
    """An improvement project's spending, charged to the estate's improvement fund."""

    estate = SelectField(_l("Estate"), validate_choice=False)
    memo = StringField(
        _l("Project"),
        filters=[_strip],
        description=_l("E.g. 62 e-bike charging ports, building 3."),
        validators=[InputRequired(message=_l("Name the improvement project.")), Length(max=300)],
    )

    def to_data(self) -> dict:
        return {
            "estate_id": self.estate.data or None,
            "amount": self.amount.data,
            "entry_date": self.entry_date.data,
            "reference": self.reference.data,
            "memo": self.memo.data or "",
            "pay_from": self.pay_from.data,
        }


class AccountForm(FlaskForm):
    code = StringField(
        _l("Code"),
        filters=[_strip],
        description=_l(
            "4 to 10 digits; the first: 1 asset, 2 liability, 3 equity, 5 income, 6 expense."
        ),  # fmt: skip
        validators=[InputRequired(message=_l("Use 4 to 10 digits."))],
    )
    name = StringField(
        _l("Name"),
        filters=[_strip],
        validators=[InputRequired(message=_l("Enter the account's name."))],
    )
    type = SelectField(
        _l("Type"),
        choices=[SelectChoice(key.value, label) for key, label in TYPE_LABELS.items()],
        default=AccountType.EXPENSE.value,
        validate_choice=False,
    )


class ReopenForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        filters=[_strip],
        validators=[InputRequired(message=_l("Say why the month reopens.")), Length(max=200)],
    )


class ReverseForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        filters=[_strip],
        validators=[InputRequired(message=_l("Say why it is reversed.")), Length(max=200)],
    )
    entry_date = DateField(
        _l("Date of the reversal"),
        description=_l("Default: the entry's own date (it must be in an open month)."),
        validators=[Optional()],
    )


class PlainForm(FlaskForm):
    """A button: only the CSRF token."""
