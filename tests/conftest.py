"""Test setup.

Backends come from the environment, as in production: ``DATABASE_URL`` (the runtime role),
``DATABASE_OWNER_URL`` (migrations), ``REDIS_URL``. Without ``DATABASE_URL`` the suite runs on
a fresh SQLite file. The schema is always built by the Alembic migrations.

Each test runs inside a transaction that is rolled back (``db`` is bound to one connection,
services' commits become savepoints). Tests marked ``committed`` use real commits instead
(a worker process, a browser or concurrent threads must see the data); every table is
emptied after them.

Tests marked ``postgres``/``redis``/``browser`` skip when the service is missing, except in
CI (``CI=true``), where they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from pathlib import Path

import pytest
from flask import has_request_context, request
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, scoped_session, sessionmaker

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
CHROMIUM = "/usr/bin/chromium"


def _per_worker_backends() -> None:
    """Under pytest-xdist (``-n 2``) each worker gets its own PostgreSQL database (the URL's
    name + ``_gw0``, ``_gw1`` …, which must exist: ``.ci/run`` creates them) and its own Redis
    db (the URL's number − the worker's): the suite resets the schema and empties tables, so
    workers must never share them. SQLite files live in each worker's own temporary folder."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    for key in ("DATABASE_URL", "DATABASE_OWNER_URL"):
        url = os.environ.get(key) or ""
        if url.startswith("postgresql") and not url.endswith(f"_{worker}"):
            os.environ[key] = f"{url}_{worker}"
    redis_url = os.environ.get("REDIS_URL") or ""
    base, _, number = redis_url.rpartition("/")
    if base and number.isdigit():
        os.environ["REDIS_URL"] = f"{base}/{int(number) - int(worker.removeprefix('gw'))}"


_per_worker_backends()


def _backend_env(tmp_root: Path) -> dict:
    url = os.environ.get("DATABASE_URL")
    if not url:
        sqlite = tmp_root / "test.sqlite3"
        url = f"sqlite:///{sqlite}"
    return {
        "DATABASE_URL": url,
        "DATABASE_OWNER_URL": os.environ.get("DATABASE_OWNER_URL") or url,
    }


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    tmp_root = tmp_path_factory.mktemp("ruihe")
    env = _backend_env(tmp_root)
    os.environ.update(env)
    os.environ["RUIHE_INSTANCE_PATH"] = str(tmp_root / "instance")
    from ruihe_saas import create_app
    from ruihe_saas.config import normalise_database_url

    # Loading a tenant definition checks its [[billing]] entries but runs no billing in tests
    # (the demo's 53,000 bills take a minute); tests/functional/test_demo_billing.py does.
    app = create_app({"TESTING": True, "SERVER_NAME": None, "RUIHE_DEFINITION_BILLING": False})
    app.teardown_request(_close_request_session)
    _reset_schema(normalise_database_url(env["DATABASE_OWNER_URL"]))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
    yield app
    with app.app_context():
        from ruihe_saas.extensions import db as database

        database.engine.dispose()


def _reset_schema(owner_url: str) -> None:
    """Start from an empty database so the migrations build everything."""
    engine = create_engine(owner_url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        else:
            tables = connection.execute(
                text("SELECT name FROM sqlite_master WHERE type='table'")
            ).scalars()
            for table in list(tables):
                connection.execute(text(f'DROP TABLE IF EXISTS "{table}"'))
    engine.dispose()


@pytest.fixture(scope="session")
def is_postgres(app) -> bool:
    return app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")


def pytest_runtest_setup(item):
    needs = {m.name for m in item.iter_markers()} & {"postgres", "redis", "browser"}
    for need in needs:
        problem = _service_problem(need)
        if problem:
            if IN_CI:
                pytest.fail(f"CI requires {need}: {problem}")
            pytest.skip(f"needs {need}: {problem}")


def _service_problem(need: str) -> str | None:
    if need == "postgres":
        url = os.environ.get("DATABASE_URL", "")
        return (
            None
            if url.startswith(("postgresql", "postgres:"))
            else "DATABASE_URL is not PostgreSQL"
        )
    if need == "redis":
        url = os.environ.get("REDIS_URL")
        if not url:
            return "REDIS_URL is not set"
        from redis import Redis

        try:
            Redis.from_url(url, socket_connect_timeout=2).ping()
        except Exception as error:  # noqa: BLE001
            return f"Redis unreachable: {error}"
        return None
    if need == "browser":
        return None if shutil.which(CHROMIUM) or Path(CHROMIUM).exists() else f"{CHROMIUM} missing"
    return None


@pytest.fixture(autouse=True)
def db(request, app):
    """The ``db`` extension, inside a per-test transaction that is rolled back."""
    from ruihe_saas.extensions import db as database
    from ruihe_saas.extensions import limiter

    with app.app_context():
        limiter.reset()
    if request.node.get_closest_marker("committed"):
        with app.app_context():
            yield database
            database.session.remove()
            _empty_all_tables(app)
        return
    with app.app_context():
        connection = database.engine.connect()
        transaction = connection.begin()
        original = database.session
        # Each request gets its own session (as in production), the test another one; all
        # share the test's connection, so everything is rolled back at the end.
        database.session = scoped_session(
            sessionmaker(
                bind=connection,
                class_=Session,
                join_transaction_mode="create_savepoint",
                # Test code reads its objects after requests commit, outside any tenant.
                expire_on_commit=False,
            ),
            scopefunc=_session_scope,
        )
        database.session.per_request = True
        try:
            yield database
        finally:
            database.session.remove()
            database.session = original
            transaction.rollback()
            connection.close()


def _session_scope() -> int:
    return id(request._get_current_object()) if has_request_context() else 0


def _close_request_session(exc) -> None:
    from ruihe_saas.extensions import db as database

    if getattr(database.session, "per_request", False):
        database.session.remove()


def _empty_all_tables(app) -> None:
    from ruihe_saas.config import normalise_database_url
    from ruihe_saas.extensions import db as database

    engine = create_engine(normalise_database_url(app.config["DATABASE_OWNER_URL"]))
    tables = [t.name for t in reversed(database.metadata.sorted_tables)]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                connection.execute(text(f"DELETE FROM {table}"))
    engine.dispose()


class CommittingClient(FlaskClient):
    """Commits the test's setup before each request, as if it had happened earlier: a
    request's rollback then undoes only the request (the outer test transaction still
    undoes everything at the end)."""

    def open(self, *args, **kwargs):
        from ruihe_saas.extensions import db as database

        database.session.commit()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = CommittingClient
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# --- helpers ---------------------------------------------------------------------------


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_from(client, url: str) -> str:
    page = client.get(url)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1) or match.group(2)


def login(client, email: str, password: str, follow: bool = False):
    token = csrf_from(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=follow,
    )


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"
