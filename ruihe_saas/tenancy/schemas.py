from __future__ import annotations

import marshmallow as ma

from ruihe_saas.tenancy.models import TenantStatus
from ruihe_saas.tenancy.services import RESERVED_SLUGS, SLUG_RE


class TenantCreateSchema(ma.Schema):
    slug = ma.fields.String(
        required=True,
        validate=[
            ma.validate.Regexp(SLUG_RE, error="3–40 lowercase letters, digits or hyphens."),
            ma.validate.NoneOf(sorted(RESERVED_SLUGS), error="This slug is reserved."),
        ],
        metadata={"pattern": SLUG_RE.pattern},
    )
    name = ma.fields.String(
        required=True,
        validate=ma.validate.Regexp(r"^\s*\S.{0,199}$", error="1–200 characters."),
        metadata={"pattern": r"^\s*\S.{0,199}$"},
    )
    owner_email = ma.fields.Email(
        load_default=None, validate=ma.validate.Length(max=254), allow_none=True
    )


class TenantSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    status = ma.fields.Enum(TenantStatus, by_value=True, required=True)
