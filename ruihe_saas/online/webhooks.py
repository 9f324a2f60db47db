"""``POST /stripe/webhook``: outside tenant URLs and CSRF-exempt; the signature is the auth.

The raw body is verified (``Stripe-Signature``, v1 HMAC-SHA256 with ``STRIPE_WEBHOOK_SECRET``,
``STRIPE_WEBHOOK_TOLERANCE`` seconds) before anything is parsed: a missing, wrong, stale or
tampered signature, or a body that is not an event, gets 400 and writes nothing. A verified
event is applied once (``online.events.apply_event``) and answered 200 at once — also when it
is ignored or belongs to no tenant here, so Stripe does not retry it. The request pipeline
commits the event row with its effect; slow work (calls back to Stripe) goes to RQ jobs.
"""

from __future__ import annotations

import logging

from flask import Blueprint, jsonify, request
from flask_babel import lazy_gettext as _l

from ruihe_saas.errors import error_response
from ruihe_saas.payments.gateway import InvalidSignature

log = logging.getLogger(__name__)

bp = Blueprint("stripe_webhook", __name__)


def webhook_gateway():
    """The gateway that verifies webhooks (deployment keys, not a tenant's settings)."""
    from ruihe_saas.payments.stripe_gateway import StripeGateway

    return StripeGateway()


@bp.post("/stripe/webhook")
def stripe_webhook():
    from ruihe_saas.online.events import apply_event

    payload = request.get_data(cache=False)
    try:
        event = webhook_gateway().parse_webhook(payload, request.headers.get("Stripe-Signature"))
    except InvalidSignature as error:
        # never log the header or the body: only why it was refused
        log.info("stripe webhook refused: %s", error)
        return error_response(400, _l("Invalid signature."), code="invalid_signature")
    outcome = apply_event(event, source="webhook")
    return jsonify({"received": True, "outcome": outcome})
