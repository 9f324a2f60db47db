from __future__ import annotations

import marshmallow as ma

from ruihe_saas.web.pagination import PageArgs

OBJECT_TYPES = [
    "estate",
    "building",
    "household",
    "parking_space",
    "transition",
    "member",
    "member_estate",
    "checklist_template_item",
]


class AuditArgs(PageArgs):
    object = ma.fields.UUID(load_default=None, metadata={"description": "The object's id."})
    object_type = ma.fields.String(load_default=None, validate=ma.validate.OneOf(OBJECT_TYPES))
    estate_id = ma.fields.UUID(load_default=None)


class AuditEventSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    at = ma.fields.DateTime(required=True)
    object_type = ma.fields.String(required=True)
    object_id = ma.fields.UUID(required=True)
    estate_id = ma.fields.UUID(allow_none=True)
    action = ma.fields.String(required=True, metadata={"enum": ["create", "update", "delete"]})
    changes = ma.fields.Dict(
        required=True,
        metadata={"description": "Changed fields: {field: [old, new]}."},
    )
    actor_user_id = ma.fields.UUID(allow_none=True)
