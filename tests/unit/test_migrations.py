"""Migrations: one head, and the migrated schema matches the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from ruihe_saas.app import PROJECT_ROOT
from ruihe_saas.extensions import db as database
from ruihe_saas.models import import_all_models


def test_exactly_one_head():
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.mark.postgres
def test_models_match_migrations_on_postgresql(app):
    import_all_models()
    from sqlalchemy import create_engine

    from ruihe_saas.config import normalise_database_url

    engine = create_engine(normalise_database_url(app.config["DATABASE_OWNER_URL"]))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, database.metadata) == []
    finally:
        engine.dispose()
