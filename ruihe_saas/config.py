"""Configuration read from the environment.

Every setting is documented in README.md ("Configuration"). Nothing secret has a default that
would work in production: ``create_app`` refuses to start in production without ``SECRET_KEY``.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path


def _bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _dev_secret_key(instance_path: Path) -> str:
    """A development secret generated once and kept in ``instance/secret_key``."""
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for ``postgresql://`` URLs (the driver this project installs)."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def from_environment(instance_path: Path) -> dict:
    env = os.environ.get("RUIHE_ENV", "development")
    production = env == "production"
    if production and not os.environ.get("DATABASE_URL"):
        raise RuntimeError("DATABASE_URL must be set when RUIHE_ENV=production")
    database_url = normalise_database_url(
        os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'ruihe.sqlite3'}"
    )
    owner_url = os.environ.get("DATABASE_OWNER_URL")
    secret_key = os.environ.get("SECRET_KEY")
    if not secret_key and not production:
        secret_key = _dev_secret_key(instance_path)
    redis_url = os.environ.get("REDIS_URL") or None
    return {
        "RUIHE_ENV": env,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "DATABASE_OWNER_URL": normalise_database_url(owner_url) if owner_url else database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            "pool_size": int(os.environ.get("RUIHE_DB_POOL_SIZE", "5")),
        }
        if database_url.startswith("postgresql")
        else {},
        "RUIHE_DB_APP_ROLE": os.environ.get("RUIHE_DB_APP_ROLE", "ruihe_app"),
        "REDIS_URL": redis_url,
        "RATELIMIT_STORAGE_URI": redis_url or "memory://",
        "RATELIMIT_HEADERS_ENABLED": True,
        "RUIHE_LOGIN_LIMIT": os.environ.get("RUIHE_LOGIN_LIMIT", "5 per minute"),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production or _bool("RUIHE_SECURE_COOKIES"),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production or _bool("RUIHE_SECURE_COOKIES"),
        "PERMANENT_SESSION_LIFETIME": timedelta(
            minutes=int(os.environ.get("RUIHE_SESSION_MINUTES", "480"))
        ),
        "API_TOKEN_DAYS": int(os.environ.get("RUIHE_API_TOKEN_DAYS", "90")),
        # billing runs: households per chunk (one transaction each), a pause between chunks
        # to yield to other load, and when a run without progress counts as abandoned
        "RUIHE_BILLING_CHUNK": int(os.environ.get("RUIHE_BILLING_CHUNK", "2000")),
        "RUIHE_BILLING_THROTTLE_MS": int(os.environ.get("RUIHE_BILLING_THROTTLE_MS", "0")),
        "RUIHE_BILLING_STALE_SECONDS": int(os.environ.get("RUIHE_BILLING_STALE_SECONDS", "300")),
        "BABEL_DEFAULT_LOCALE": "zh",
        "BABEL_DEFAULT_TIMEZONE": os.environ.get("RUIHE_TIMEZONE", "Asia/Shanghai"),
        "RUIHE_LANGUAGES": ["zh", "en"],
        "RUIHE_HSTS": production,
        # Reverse proxies in front of the app (load balancer, nginx): trust that many
        # X-Forwarded-For/-Proto hops, so throttling sees the client's address, not the proxy's.
        "RUIHE_PROXY_COUNT": int(os.environ.get("RUIHE_PROXY_COUNT", "0")),
        "RUIHE_JOBS_INLINE": redis_url is None,
        # Uploads (household imports) are read into memory: refuse bodies above this (413).
        "MAX_CONTENT_LENGTH": int(os.environ.get("RUIHE_MAX_UPLOAD_MB", "12")) * 1024 * 1024,
        "STRIPE_SECRET_KEY": os.environ.get("STRIPE_SECRET_KEY"),
        "STRIPE_WEBHOOK_SECRET": os.environ.get("STRIPE_WEBHOOK_SECRET"),
        # another Stripe-compatible API (a test stand-in such as localstripe); unset: Stripe
        "STRIPE_API_BASE": os.environ.get("STRIPE_API_BASE") or None,
        "STRIPE_WEBHOOK_TOLERANCE": int(os.environ.get("STRIPE_WEBHOOK_TOLERANCE", "300")),
        # how long a resident's pay link (signed, no login) stays valid
        "RUIHE_PAY_LINK_DAYS": int(os.environ.get("RUIHE_PAY_LINK_DAYS", "30")),
        # public base URL for links that leave the app (Stripe success/cancel URLs, QR codes);
        # unset: the URL of the request that makes them
        "RUIHE_PUBLIC_URL": os.environ.get("RUIHE_PUBLIC_URL") or None,
        # flask-smorest / OpenAPI
        "API_TITLE": "Ruihe SaaS API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
