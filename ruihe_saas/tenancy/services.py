"""Creating and finding tenants (platform operations: tenants are not tenant-owned)."""

from __future__ import annotations

import re

from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import Tenant

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,38}[a-z0-9]$")
RESERVED_SLUGS = {"api", "admin", "static", "login", "logout", "auth", "t", "www", "stripe"}


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip()
    if not SLUG_RE.match(slug) or slug in RESERVED_SLUGS:
        raise ValidationFailed(
            "Invalid tenant slug.",
            fields={"slug": ["3–40 lowercase letters, digits or hyphens, starting with a letter."]},
        )
    return slug


def find_tenant(slug: str) -> Tenant | None:
    return db.session.scalar(select(Tenant).where(Tenant.slug == slug))


def get_tenant(slug: str) -> Tenant:
    tenant = find_tenant(slug)
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}.")
    return tenant


def create_tenant(slug: str, name: str) -> Tenant:
    slug = validate_slug(slug)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise ValidationFailed("Invalid name.", fields={"name": ["1–200 characters."]})
    if find_tenant(slug):
        raise Conflict("This slug is taken.", fields={"slug": ["Already taken."]})
    tenant = Tenant(slug=slug, name=name)
    db.session.add(tenant)
    db.session.flush()
    return tenant
