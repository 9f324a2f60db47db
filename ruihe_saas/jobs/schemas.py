from __future__ import annotations

import marshmallow as ma


class JobProgressSchema(ma.Schema):
    done = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)


class JobSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    name = ma.fields.String(required=True)
    queue = ma.fields.String(required=True)
    status = ma.fields.String(required=True)
    attempts = ma.fields.Integer(required=True)
    progress = ma.fields.Nested(JobProgressSchema, required=True)
    result = ma.fields.Raw(allow_none=True)
    error = ma.fields.String(allow_none=True)
    enqueued_at = ma.fields.DateTime(allow_none=True)
    started_at = ma.fields.DateTime(allow_none=True)
    ended_at = ma.fields.DateTime(allow_none=True)


class JobAcceptedSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    status = ma.fields.String(required=True)
    job_id = ma.fields.UUID(required=True)
