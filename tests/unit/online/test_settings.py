"""Gateway settings: defaults, validation (422 per field), the active gateway."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.online.settings import (
    active_gateway,
    application_fee_fen,
    connected_account_of,
    gateway_settings,
    update_gateway_settings,
)
from ruihe_saas.payments.gateway import GatewayNotConfigured
from ruihe_saas.payments.models import GatewayMode, GatewaySettings
from ruihe_saas.payments.stripe_gateway import StripeGateway
from ruihe_saas.tenancy import tenant_context
from tests.factories import TenantFactory
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    enable_gateway,
    standin_fixture,
    standin_server_fixture,
)

VALID = {
    "enabled": True,
    "mode": "connect",
    "connected_account_id": "acct_1Nv0FGQ9RKHgCVdK",
    "application_fee_percent": "1.50",
    "payment_methods": ["wechat_pay", "card"],
}


def test_defaults_without_a_row(db):
    tenant = TenantFactory()
    with tenant_context(tenant.id):
        row = gateway_settings()
        assert row.enabled is False
        assert row.mode == GatewayMode.CONNECT
        assert row.payment_methods == ["card"]
        assert row not in db.session  # nothing stored by reading
        with pytest.raises(GatewayNotConfigured):
            active_gateway()


def test_update_and_read_back(db):
    tenant = TenantFactory()
    with tenant_context(tenant.id):
        row = update_gateway_settings(**VALID)
        assert row.payment_methods == ["card", "wechat_pay"]  # canonical order
        assert row.application_fee_percent == Decimal("1.50")
        again = update_gateway_settings(**{**VALID, "application_fee_percent": "0"})
        assert again.id == row.id
        assert db.session.scalars(db.select(GatewaySettings)).all() == [row]
        assert gateway_settings().application_fee_percent == Decimal("0.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "paypal"}, "mode"),
        ({"mode": None}, "mode"),
        ({"connected_account_id": ""}, "connected_account_id"),
        ({"connected_account_id": None}, "connected_account_id"),
        ({"connected_account_id": "acct 123"}, "connected_account_id"),
        ({"connected_account_id": "cus_123"}, "connected_account_id"),
        ({"connected_account_id": "acct_" + "x" * 80}, "connected_account_id"),
        ({"connected_account_id": 12}, "connected_account_id"),
        ({"application_fee_percent": "-1"}, "application_fee_percent"),
        ({"application_fee_percent": "100"}, "application_fee_percent"),
        ({"application_fee_percent": "1.234"}, "application_fee_percent"),
        ({"application_fee_percent": "abc"}, "application_fee_percent"),
        ({"application_fee_percent": "NaN"}, "application_fee_percent"),
        ({"application_fee_percent": "Infinity"}, "application_fee_percent"),
        ({"application_fee_percent": True}, "application_fee_percent"),
        ({"payment_methods": []}, "payment_methods"),
        ({"payment_methods": ["card", "paypal"]}, "payment_methods"),
        ({"payment_methods": [1]}, "payment_methods"),
        ({"payment_methods": {"card": 1}}, "payment_methods"),
        ({"enabled": "maybe"}, "enabled"),
        ({"mode": "platform", "application_fee_percent": "2"}, "application_fee_percent"),
    ],
)
def test_validation(db, change, field):
    tenant = TenantFactory()
    with tenant_context(tenant.id):
        with pytest.raises(ValidationFailed) as raised:
            update_gateway_settings(**{**VALID, **change})
        assert raised.value.status == 422
        assert field in raised.value.fields
        assert db.session.scalars(db.select(GatewaySettings)).all() == []


def test_platform_mode_needs_no_account(db):
    tenant = TenantFactory()
    with tenant_context(tenant.id):
        row = update_gateway_settings(
            enabled=True, mode="platform", application_fee_percent="", payment_methods=["card"]
        )
        assert connected_account_of(row) is None
        assert application_fee_fen(row, 10000) is None


def test_connect_account_and_fee(db):
    tenant = TenantFactory()
    with tenant_context(tenant.id):
        row = update_gateway_settings(**{**VALID, "application_fee_percent": "2.50"})
        assert connected_account_of(row) == "acct_1Nv0FGQ9RKHgCVdK"
        assert application_fee_fen(row, 20050) == 501  # 501.25 → 501
        assert application_fee_fen(row, 20060) == 502  # 501.5 → 502 (half up)


def test_active_gateway(app, db, stripe_standin):
    tenant = TenantFactory()
    enable_gateway(tenant.id)
    with tenant_context(tenant.id):
        gateway, row = active_gateway()
        assert isinstance(gateway, StripeGateway) and row.enabled
        update_gateway_settings(**{**VALID, "enabled": False})
        with pytest.raises(GatewayNotConfigured):
            active_gateway()
        update_gateway_settings(**VALID)
        app.config["STRIPE_SECRET_KEY"] = None  # restored by the fixture
        with pytest.raises(GatewayNotConfigured):
            active_gateway()


def test_settings_are_per_tenant(db):
    first, second = TenantFactory(), TenantFactory()
    enable_gateway(first.id, mode="connect", connected_account_id="acct_1First")
    with tenant_context(second.id):
        assert gateway_settings().enabled is False
        assert gateway_settings().connected_account_id is None
