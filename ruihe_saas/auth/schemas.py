from __future__ import annotations

import marshmallow as ma

from ruihe_saas.auth.models import Role


class TokenRequestSchema(ma.Schema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class TokenSchema(ma.Schema):
    token = ma.fields.String(required=True)
    expires_at = ma.fields.DateTime(required=True)


class MembershipBriefSchema(ma.Schema):
    tenant_slug = ma.fields.String(required=True, attribute="tenant.slug")
    tenant_name = ma.fields.String(required=True, attribute="tenant.name")
    role = ma.fields.Enum(Role, by_value=True, required=True)


class MeSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    email = ma.fields.String(required=True)
    name = ma.fields.String(required=True)
    is_platform_admin = ma.fields.Boolean(required=True)
    memberships = ma.fields.List(ma.fields.Nested(MembershipBriefSchema), required=True)


ESTATE_IDS_DOC = (
    "Estates an estate admin or cashier works on; null for roles that see every estate."
)


class MemberSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    user_id = ma.fields.UUID(required=True)
    email = ma.fields.String(required=True, attribute="user.email")
    name = ma.fields.String(required=True, attribute="user.name")
    role = ma.fields.Enum(Role, by_value=True, required=True)
    estate_ids = ma.fields.Method(
        "_estate_ids",
        metadata={"type": "array", "items": {"type": "string", "format": "uuid"}},
        allow_none=True,
    )
    created_at = ma.fields.DateTime(allow_none=True)

    def _estate_ids(self, membership):
        from ruihe_saas.auth.services import estate_scope_of

        scope = estate_scope_of(membership)
        return None if scope is None else sorted(str(e) for e in scope)


class MemberCreateSchema(ma.Schema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    role = ma.fields.Enum(Role, by_value=True, required=True)
    estate_ids = ma.fields.List(
        ma.fields.UUID(),
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=500),
        metadata={"description": ESTATE_IDS_DOC},
    )


class MemberUpdateSchema(ma.Schema):
    role = ma.fields.Enum(Role, by_value=True)
    estate_ids = ma.fields.List(
        ma.fields.UUID(),
        allow_none=True,
        validate=ma.validate.Length(max=500),
        metadata={"description": ESTATE_IDS_DOC},
    )
