"""Login throttling: the 6th failed login within a minute, for one account or from one
address, is refused with 429. Counted in Redis when ``REDIS_URL`` is set (shared by every
gunicorn worker), in memory otherwise. Only failed attempts count (``g.login_failed``)."""

from __future__ import annotations

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from ruihe_saas.extensions import limiter


def _account_key() -> str:
    email = request.form.get("email")
    if email is None:
        body = request.get_json(silent=True)
        email = body.get("email") if isinstance(body, dict) else None
    return "account:" + (str(email or "").strip().lower()[:254])


def _address_key() -> str:
    return "address:" + (get_remote_address() or "unknown")


def _failed(response) -> bool:
    return bool(g.get("login_failed"))


def _limit() -> str:
    return current_app.config["RUIHE_LOGIN_LIMIT"]


def _only_posts() -> bool:
    return request.method != "POST"


def login_throttled(view):
    """Apply both limits (per account, per address) to a login endpoint."""
    for scope, key in (("login-account", _account_key), ("login-address", _address_key)):
        view = limiter.shared_limit(
            _limit, scope, key_func=key, deduct_when=_failed, exempt_when=_only_posts
        )(view)
    return view


def mark_login_failed() -> None:
    g.login_failed = True
