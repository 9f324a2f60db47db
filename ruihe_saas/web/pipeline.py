"""The request pipeline around every view: one commit per successful request (then queued
jobs are dispatched), rollback otherwise, contexts left at teardown, security headers."""

from __future__ import annotations

from flask import Flask, current_app, g, request

from ruihe_saas.extensions import db
from ruihe_saas.tenancy.blueprints import leave_tenant
from ruihe_saas.tenancy.context import reset_actor


def commit_request(response):
    if response.status_code < 400:
        from ruihe_saas.jobs import commit_and_dispatch

        commit_and_dispatch()
    else:
        db.session.rollback()
    return response


def leave_contexts(exc) -> None:
    leave_tenant()
    token = g.pop("actor_token", None)
    if token is not None:
        reset_actor(token)
    # Nothing about this request (user, token, tenant, membership) may outlive it, even
    # where the app context does (a CLI command or a test issuing several requests).
    for key in list(g):
        g.pop(key, None)


def security_headers(response):
    headers = response.headers
    if request.path.startswith("/api/v1/docs"):
        # Swagger UI sets inline styles; its scripts are still same-origin files only.
        csp = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:"
    else:
        csp = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
    headers.setdefault("Content-Security-Policy", csp)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if current_app.config.get("RUIHE_HSTS"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def init_pipeline(app: Flask) -> None:
    app.after_request(commit_request)
    app.after_request(security_headers)
    app.teardown_request(leave_contexts)
