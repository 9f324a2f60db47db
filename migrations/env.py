"""Alembic environment. Migrations run as the schema owner (``DATABASE_OWNER_URL``, which
defaults to ``DATABASE_URL``); the app itself connects as the runtime role."""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import create_engine, pool

from ruihe_saas.models import import_all_models

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")

import_all_models()
target_db = current_app.extensions["migrate"].db
owner_url = current_app.config["DATABASE_OWNER_URL"]
config.set_main_option("sqlalchemy.url", owner_url.replace("%", "%%"))
config.attributes.setdefault("app_role", current_app.config["RUIHE_DB_APP_ROLE"])


def get_metadata():
    return target_db.metadata


def run_migrations_offline():
    context.configure(url=owner_url, target_metadata=get_metadata(), literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("compare_type", True)
    conf_args.setdefault("render_as_batch", owner_url.startswith("sqlite"))

    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(connection=connectable, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(owner_url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=get_metadata(), **conf_args)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
