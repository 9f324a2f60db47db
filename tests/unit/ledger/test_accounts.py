"""Adding, deactivating and reactivating accounts of the chart."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.ledger import accounts, services
from ruihe_saas.ledger.models import AccountType, EntrySource
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.factories import member


@pytest.fixture
def tenant_id(db):
    return member().tenant_id


def test_the_chart_starts_from_the_template(tenant_id):
    with tenant_context(tenant_id):
        chart = accounts.list_accounts()
        assert [a.code for a in chart][:3] == ["1001", "1002", "1012"]
        assert {a.type for a in accounts.list_accounts(types=[AccountType.EXPENSE])} == {
            AccountType.EXPENSE
        }


def test_add_an_account(tenant_id):
    with tenant_context(tenant_id):
        account = accounts.add_account(" 6409 ", " 安保 ", "expense")
        assert (account.code, account.name, account.type, account.role) == (
            "6409",
            "安保",
            AccountType.EXPENSE,
            None,
        )
        assert account in accounts.list_accounts(active_only=True)


@pytest.mark.parametrize(
    ("code", "name", "kind", "field"),
    [
        ("640", "安保", "expense", "code"),
        ("64a9", "安保", "expense", "code"),
        ("1409", "安保", "expense", "code"),  # an expense code starts with 6
        ("6401", "重复", "expense", "code"),  # the template's 人工
        ("6409", "", "expense", "name"),
        ("6409", "x" * 101, "expense", "name"),
        ("6409", "安保", "costs", "type"),
        (None, None, None, "code"),
    ],
)
def test_bad_accounts(tenant_id, code, name, kind, field):
    with tenant_context(tenant_id):
        with pytest.raises(ValidationFailed) as error:
            accounts.add_account(code, name, kind)
        assert field in error.value.fields


def test_deactivate_and_reactivate(tenant_id):
    with tenant_context(tenant_id):
        account = accounts.add_account("5302", "广告收入", "income")
        accounts.set_active(account.id, False)
        assert account not in accounts.list_accounts(active_only=True)
        with pytest.raises(ValidationFailed):  # no postings to an inactive account
            services.post_entry(
                date(2024, 7, 1),
                [
                    Posting(role="cash", debit=Decimal("1")),
                    Posting(account_id=account.id, credit=Decimal("1")),
                ],
                source=EntrySource.MANUAL,
            )
        assert accounts.set_active(account.id, True).active
        with pytest.raises(Conflict):
            accounts.set_active(services.account_for("receivable").id, False)
        with pytest.raises(NotFound):
            accounts.set_active(uuid.uuid4(), False)


def test_another_tenants_account_is_not_found(tenant_id, db):
    with tenant_context(tenant_id):
        account = accounts.add_account("6409", "安保", "expense")
    other = member().tenant_id
    with tenant_context(other), pytest.raises(NotFound):
        accounts.get_account(account.id)
