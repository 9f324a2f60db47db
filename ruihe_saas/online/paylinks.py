"""Residents' pay links: a signed, expiring token naming the tenant and the household.

``make_pay_token(household_id)`` signs ``[tenant id, household id]`` (each UUID's 16 bytes
in URL-safe base64: a short link makes a QR code that scans easily) with the app's
``SECRET_KEY`` (itsdangerous, salt ``pay-link``); ``read_pay_token(token)`` checks the
signature and the age (``RUIHE_PAY_LINK_DAYS``): a forged or mangled token is
``PayLinkInvalid`` (404), an old one ``PayLinkExpired`` (410). Nothing is stored: a link
cannot be revoked one by one, only all at once by rotating ``SECRET_KEY``; it shows a
household's open bills and lets anyone holding it pay them, nothing else.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app, url_for
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ruihe_saas.errors import DomainError, NotFound
from ruihe_saas.estates.models import Household
from ruihe_saas.tenancy.context import require_tenant_id
from ruihe_saas.tenancy.lookup import get_owned

SALT = "pay-link"
MAX_TOKEN_LENGTH = 400


class PayLinkInvalid(DomainError):
    status = 404
    code = "not_found"


class PayLinkExpired(DomainError):
    status = 410
    code = "gone"


@dataclass(frozen=True)
class PayToken:
    tenant_id: uuid.UUID
    household_id: uuid.UUID
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class PayLink:
    token: str
    url: str
    expires_at: datetime


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def link_days() -> int:
    return int(current_app.config.get("RUIHE_PAY_LINK_DAYS") or 30)


def _pack(value: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode("ascii")


def _unpack(value) -> uuid.UUID:
    if not isinstance(value, str) or len(value) != 22:
        raise ValueError("not a packed UUID")
    return uuid.UUID(bytes=base64.urlsafe_b64decode(value + "=="))


def token_payload(tenant_id: uuid.UUID, household_id: uuid.UUID) -> list[str]:
    """What a token signs (tests sign their own variants with it)."""
    return [_pack(tenant_id), _pack(household_id)]


def make_pay_token(household_id: uuid.UUID | str) -> str:
    """A token for the current tenant's household (404 if it is not one of the tenant's,
    or outside the member's estates)."""
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    return _serializer().dumps(token_payload(require_tenant_id(), household.id))


def read_pay_token(token: str) -> PayToken:
    """The tenant and household a token names; ``PayLinkInvalid`` / ``PayLinkExpired``."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise PayLinkInvalid(_l("This payment link is not valid."))
    serializer = _serializer()
    max_age = link_days() * 86400
    try:
        payload, signed_at = serializer.loads(token, max_age=max_age, return_timestamp=True)
    except SignatureExpired:
        raise PayLinkExpired(
            _l("This payment link has expired. Ask the property office for a new one.")
        ) from None
    except (BadSignature, ValueError, TypeError, UnicodeError):
        raise PayLinkInvalid(_l("This payment link is not valid.")) from None
    try:
        tenant_packed, household_packed = payload
        tenant_id, household_id = _unpack(tenant_packed), _unpack(household_packed)
    except (TypeError, ValueError, binascii.Error):
        raise PayLinkInvalid(_l("This payment link is not valid.")) from None
    issued = signed_at if signed_at.tzinfo else signed_at.replace(tzinfo=UTC)
    return PayToken(tenant_id, household_id, issued, issued + timedelta(seconds=max_age))


def public_url(endpoint: str, **values) -> str:
    """An absolute URL of a public page: ``RUIHE_PUBLIC_URL`` if set, else this request's host."""
    base = current_app.config.get("RUIHE_PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, _external=False, **values)
    # this request's host (outside a request, url_for needs SERVER_NAME)
    return url_for(endpoint, _external=True, **values)


def pay_url(household_or_token: Household | str) -> str:
    """The absolute URL of a household's pay page (or of an existing token's)."""
    token = (
        household_or_token
        if isinstance(household_or_token, str)
        else make_pay_token(household_or_token.id)
    )
    return public_url("pay.pay_page", token=token)


def pay_link(household_id: uuid.UUID | str) -> PayLink:
    """A new link for the household: token, absolute URL and when it stops working."""
    token = make_pay_token(household_id)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=link_days())
    return PayLink(token=token, url=pay_url(token), expires_at=expires)
