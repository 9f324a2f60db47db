from __future__ import annotations

import marshmallow as ma

from ruihe_saas.tenancy.models import TenantStatus


class TenantCreateSchema(ma.Schema):
    slug = ma.fields.String(required=True, validate=ma.validate.Length(min=3, max=40))
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    owner_email = ma.fields.Email(
        load_default=None, validate=ma.validate.Length(max=254), allow_none=True
    )


class TenantSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    slug = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    status = ma.fields.Enum(TenantStatus, by_value=True, required=True)
