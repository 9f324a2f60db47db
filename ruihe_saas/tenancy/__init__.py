"""Tenancy: tenants, the current-tenant context and the one mechanism that enforces it."""

from ruihe_saas.tenancy import rls as _rls  # noqa: F401  (installs the RLS settings event)
from ruihe_saas.tenancy import scoping as _scoping  # noqa: F401  (installs the ORM events)
from ruihe_saas.tenancy.context import (
    CrossTenantWrite,
    TenantNotSet,
    current_tenant_id,
    require_tenant_id,
    tenant_context,
    unscoped,
)

__all__ = [
    "CrossTenantWrite",
    "TenantNotSet",
    "current_tenant_id",
    "require_tenant_id",
    "tenant_context",
    "unscoped",
]
