"""The chart of accounts as finance keeps it: list, add, deactivate and reactivate accounts.
Services flush, never commit.

Template accounts carry a ``role`` automatic postings look them up by: those cannot be
deactivated (409). Added accounts have no role; their code is 4–10 digits, unique in the
tenant, and its first digit must fit the type (1 asset, 2 liability, 3 equity, 5 income,
6 expense — as the template's codes).
"""

from __future__ import annotations

import re
import uuid

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.ledger.models import Account, AccountType
from ruihe_saas.ledger.services import ensure_chart
from ruihe_saas.tenancy.lookup import get_owned

CODE = re.compile(r"^[0-9]{4,10}$")
MAX_NAME = 100
CODE_PREFIX = {
    AccountType.ASSET: "1",
    AccountType.LIABILITY: "2",
    AccountType.EQUITY: "3",
    AccountType.INCOME: "5",
    AccountType.EXPENSE: "6",
}


def list_accounts(*, active_only: bool = False, types=None) -> list[Account]:
    """The tenant's chart by code (created from the template on first use)."""
    if db.session.scalar(select(Account.id).limit(1)) is None:
        ensure_chart()
    statement = select(Account).order_by(Account.code)
    if active_only:
        statement = statement.where(Account.active.is_(True))
    if types:
        statement = statement.where(Account.type.in_(list(types)))
    return list(db.session.scalars(statement))


def get_account(account_id: uuid.UUID) -> Account:
    account = get_owned(Account, account_id)
    if account is None:
        raise NotFound(_l("Account not found."))
    return account


def add_account(code: str, name: str, account_type) -> Account:
    """Add an account without a role; 422 with field messages on bad input."""
    code = (code or "").strip() if isinstance(code, str) else ""
    name = (name or "").strip() if isinstance(name, str) else ""
    fields: dict[str, list] = {}
    try:
        account_type = AccountType(account_type)
    except ValueError:
        fields["type"] = [_l("Choose asset, liability, equity, income or expense.")]
        account_type = None
    if not CODE.match(code):
        fields["code"] = [_l("Use 4 to 10 digits.")]
    elif account_type is not None and not code.startswith(CODE_PREFIX[account_type]):
        fields["code"] = [
            _l("A code of this type starts with %(digit)s.", digit=CODE_PREFIX[account_type])
        ]
    if not name:
        fields["name"] = [_l("Enter the account's name.")]
    elif len(name) > MAX_NAME:
        fields["name"] = [_l("At most %(num)s characters.", num=MAX_NAME)]
    if fields:
        raise ValidationFailed(_l("The account has invalid fields."), fields=fields)
    list_accounts()  # the template first, so its codes are taken
    if db.session.scalar(select(Account.id).where(Account.code == code)) is not None:
        raise ValidationFailed(
            _l("The account has invalid fields."),
            fields={"code": [_l("This code is already in use.")]},
        )
    account = Account(code=code, name=name, type=account_type, role=None, active=True)
    db.session.add(account)
    db.session.flush()
    return account


def set_active(account_id: uuid.UUID, active: bool) -> Account:
    """Deactivate (no new postings; its lines stay) or reactivate an account."""
    account = get_account(account_id)
    if not active and account.role:
        raise Conflict(_l("Automatic postings use this account: it cannot be deactivated."))
    account.active = bool(active)
    db.session.flush()
    return account
