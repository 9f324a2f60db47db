"""``POST /stripe/webhook``: outside tenant URLs and CSRF-exempt; the signature is the auth."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("stripe_webhook", __name__)
