"""The application factory."""
import logging

from flask import Flask, g
from flask.json.provider import DefaultJSONProvider
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

import logs
import metrics
import models  # noqa: F401 - registers every table on the metadata
from blueprints import register_blueprints
from blueprints.common import register_converters
from blueprints.docs_assets import bp as docs_assets_bp
from blueprints.pages import bp as pages_bp
from blueprints.webapps import bp as webapps_bp
from blueprints.widget_assets import bp as widget_assets_bp
from blueprints.ws import bp as ws_bp
from cli import register_cli
from config import BASE_DIR, Config, check_settings, instance_secret
from errors import register_error_handlers, register_jwt_errors
from extensions import api, cors, db, jwt, limiter, mail, migrate, sock
from schemas.inbound import check_depth
from schemas.openapi import ContractPlugin
from models.identity import release_after_request
from services.auth import load_token_user, read_user_token
from services.broker import make_broker
from services.events import stream_positions_reader
from services.mailer import outbox_sender
from services.retention import prune_once
from services.sweeper import sweep_once
from services.visitors import TOKEN_KIND_VISITOR, load_token_visitor, read_visitor_token
from services.webhooks import webhook_sender
from services.workers import PeriodicWorker


def create_app(config_class=Config, **overrides):
    """Build the app for a configuration class (and optional overrides)."""
    app = Flask(__name__, instance_relative_config=False)
    app.config.from_object(config_class)
    app.config.update(overrides)
    if not app.config["TESTING"]:
        check_settings(app.config)
    logs.init_app(app)
    metrics.init_app(app)
    if not app.config.get("JWT_SECRET_KEY"):
        app.config["JWT_SECRET_KEY"] = instance_secret("jwt-secret")

    db.init_app(app)
    app.teardown_request(release_after_request(db))
    migrate.init_app(app, db, directory=str(_migrations_dir()), render_as_batch=True, compare_type=True)
    jwt.init_app(app)
    mail.init_app(app)
    sock.init_app(app)
    # Registered before the limiter's own hook, so it runs after it (Flask runs them in reverse).
    app.after_request(_retry_after_only_when_it_applies)
    limiter.init_app(app)
    # The widget answers CORS per interface itself (blueprints/widget.py).
    cors.init_app(app, resources={r"/api/(?!widget/).*": {"origins": app.config["CORS_ORIGINS"]}},
                  expose_headers=["ETag", "Retry-After"], allow_headers=["Authorization", "Content-Type", "If-Match"])
    app.json = BoundedJSONProvider(app)
    register_converters(app, api)  # before any rule uses them
    # The spec's last pass (schemas/openapi.py): responses require what the server always sends.
    api.init_app(app, spec_kwargs={"extra_plugins": [ContractPlugin()]})

    _register_jwt_callbacks()
    register_jwt_errors(jwt)
    register_error_handlers(app, api)

    app.extensions["broker"] = make_broker(app.config, stream_positions=stream_positions_reader(app))
    register_blueprints(api)
    app.register_blueprint(ws_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(docs_assets_bp)
    app.register_blueprint(webapps_bp)
    app.register_blueprint(widget_assets_bp)

    register_cli(app)
    if app.config["TRUSTED_PROXIES"]:
        hops = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def _retry_after_only_when_it_applies(response):
    """Retry-After means "come back later": only a 429 or a 503 says that."""
    if response.status_code not in (429, 503):
        response.headers.pop("Retry-After", None)
    return response


class BoundedJSONProvider(DefaultJSONProvider):
    """request.get_json() with bounded nesting: a 10,000-deep body is a 400, not a RecursionError."""

    def loads(self, s, **kwargs):
        check_depth(s)
        return super().loads(s, **kwargs)


def _migrations_dir():
    return BASE_DIR / "migrations"


def _register_jwt_callbacks():
    # flask-jwt-extended asks for the blocklist first, then for the token's user or visitor: one read
    # (read_user_token, read_visitor_token) answers the first and keeps the answer to the second.
    @jwt.token_in_blocklist_loader
    def _revoked(header, claims):
        read = read_visitor_token if claims.get("kind") == TOKEN_KIND_VISITOR else read_user_token
        revoked, principal = read(claims)
        g.token_principal = (claims["jti"], principal)
        return revoked

    @jwt.user_lookup_loader
    def _user(header, claims):
        held = g.pop("token_principal", None)
        if held is not None and held[0] == claims["jti"]:
            return held[1]
        if claims.get("kind") == TOKEN_KIND_VISITOR:
            return load_token_visitor(claims)
        return load_token_user(claims)


def start_background(app):
    """Start the outbox sender, the sweeper and retention (server processes only, not the CLI).

    The sweep and retention run under a lease each: one process of the deployment does a round.
    """
    if app.config.get("OUTBOX_SENDER_THREAD"):
        app.extensions["outbox_sender"] = outbox_sender(app).start()
    if app.config.get("SWEEPER_THREAD"):
        app.extensions["sweeper"] = PeriodicWorker(app, "sweeper", app.config["SWEEP_INTERVAL_S"], sweep_once,
                                                   lease="sweep").start()
    if app.config.get("WEBHOOKS_SENDER_THREAD"):
        app.extensions["webhook_sender"] = webhook_sender(app).start()
    if app.config.get("RETENTION_THREAD"):
        app.extensions["retention"] = PeriodicWorker(app, "retention", app.config["RETENTION_INTERVAL_S"], prune_once,
                                                     lease="retention").start()


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    """SQLite: enforce foreign keys, wait on locks, let readers run beside a writer."""
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


logging.getLogger("werkzeug").setLevel(logging.WARNING)
