"""The application factory."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from flask import Flask, g, request
from flask_babel import get_locale

from ruihe_saas import config as config_module
from ruihe_saas.extensions import babel, csrf, db, limiter, login_manager, migrate

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        instance_path=os.environ.get("RUIHE_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.from_mapping(config_module.from_environment(Path(app.instance_path)))
    if test_config:
        app.config.from_mapping(test_config)
    _check_production(app)
    if app.config["RUIHE_PROXY_COUNT"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["RUIHE_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    import ruihe_saas.audit.recorder  # noqa: F401  (writes the audit trail on every flush)
    import ruihe_saas.tenancy  # noqa: F401  (installs the scoping events before any query)
    from ruihe_saas.models import import_all_models

    import_all_models()

    db.init_app(app)
    with app.app_context():
        from ruihe_saas.sqlite import make_sqlite_transactional

        make_sqlite_transactional(db.engine)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    _init_login(app)

    from ruihe_saas.errors import register_error_handlers
    from ruihe_saas.web.pipeline import init_pipeline

    register_error_handlers(app)
    init_pipeline(app)
    _register_blueprints(app)
    _register_cli(app)
    app.extensions["ruihe_pid"] = os.getpid()
    app.jinja_env.globals["get_locale"] = get_locale
    if app.config["RUIHE_ENV"] == "production":
        with app.app_context():
            _check_database_role(app)
    return app


def _check_production(app: Flask) -> None:
    if app.config["RUIHE_ENV"] != "production":
        return
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set when RUIHE_ENV=production")


def _check_database_role(app: Flask) -> None:
    """In production the runtime role must be subject to row-level security."""
    from ruihe_saas.tenancy.roles import runtime_role_bypasses_rls

    if runtime_role_bypasses_rls(db.engine):
        db.engine.dispose()
        raise RuntimeError(
            "DATABASE_URL connects as a superuser, a BYPASSRLS role or the tables' owner: "
            "row-level security would not apply. Connect as the app role (RUIHE_DB_APP_ROLE)."
        )


def _select_locale() -> str:
    chosen = request.cookies.get("lang") if request else None
    return chosen if chosen in {"zh", "en"} else "zh"


def _init_login(app: Flask) -> None:
    from ruihe_saas.auth.models import User
    from ruihe_saas.tenancy.context import set_actor

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    login_manager.login_message = None

    @login_manager.user_loader
    def load_user(session_id: str):
        user_id, _, generation = session_id.partition(":")
        try:
            user = db.session.get(User, uuid.UUID(user_id))
        except ValueError:
            return None
        if user is None or not user.is_active or str(user.session_generation) != generation:
            return None
        g.actor = user
        g.actor_token = set_actor(user.id)
        return user


def _register_blueprints(app: Flask) -> None:
    from ruihe_saas.arrears import api as arrears_api
    from ruihe_saas.arrears import views as arrears_views
    from ruihe_saas.audit import api as audit_api
    from ruihe_saas.auth import api as auth_api
    from ruihe_saas.auth import views as auth_views
    from ruihe_saas.billing import api as billing_api
    from ruihe_saas.billing import views as billing_views
    from ruihe_saas.cashup import api as cashup_api
    from ruihe_saas.cashup import views as cashup_views
    from ruihe_saas.estates import api as estates_api
    from ruihe_saas.estates import views as estates_views
    from ruihe_saas.fees import api as fees_api
    from ruihe_saas.fees import views as fees_views
    from ruihe_saas.handover import api as handover_api
    from ruihe_saas.handover import views as handover_views
    from ruihe_saas.imports import api as imports_api
    from ruihe_saas.imports import views as imports_views
    from ruihe_saas.jobs import api as jobs_api
    from ruihe_saas.ledger import api as ledger_api
    from ruihe_saas.ledger import views as ledger_views
    from ruihe_saas.online import api as online_api
    from ruihe_saas.online import views as online_views
    from ruihe_saas.online import webhooks as online_webhooks
    from ruihe_saas.payments import api as payments_api
    from ruihe_saas.payments import views as payments_views
    from ruihe_saas.receipts import api as receipts_api
    from ruihe_saas.receipts import views as receipts_views
    from ruihe_saas.refunds import api as refunds_api
    from ruihe_saas.refunds import views as refunds_views
    from ruihe_saas.tenancy import api as tenancy_api
    from ruihe_saas.tenancy import views as tenancy_views
    from ruihe_saas.web.api import api, init_api

    init_api(app)
    for blueprint in (
        auth_api.auth_blp,
        auth_api.members_blp,
        tenancy_api.blp,
        jobs_api.blp,
        estates_api.blp,
        handover_api.blp,
        imports_api.blp,
        audit_api.blp,
        fees_api.blp,
        billing_api.blp,
        arrears_api.blp,
        payments_api.blp,
        receipts_api.blp,
        refunds_api.blp,
        cashup_api.blp,
        online_api.blp,
        ledger_api.blp,
    ):
        api.register_blueprint(blueprint)
        csrf.exempt(blueprint)
    from ruihe_saas.tenancy.blueprints import template_helpers

    app.context_processor(template_helpers)
    app.register_blueprint(auth_views.bp)
    app.register_blueprint(auth_views.members)
    app.register_blueprint(tenancy_views.bp)
    app.register_blueprint(tenancy_views.tenant_bp)
    app.register_blueprint(estates_views.bp)
    app.register_blueprint(handover_views.bp)
    app.register_blueprint(imports_views.bp)
    app.register_blueprint(fees_views.bp)
    app.register_blueprint(billing_views.bp)
    app.register_blueprint(arrears_views.bp)
    app.register_blueprint(payments_views.bp)
    app.register_blueprint(receipts_views.bp)
    app.register_blueprint(refunds_views.bp)
    app.register_blueprint(cashup_views.bp)
    app.register_blueprint(online_views.bp)
    app.register_blueprint(online_views.public)
    app.register_blueprint(online_webhooks.bp)
    app.register_blueprint(ledger_views.bp)
    csrf.exempt(online_webhooks.bp)  # Stripe signs the body instead


def _register_cli(app: Flask) -> None:
    from ruihe_saas.cli import register_cli

    register_cli(app)
