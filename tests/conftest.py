"""Fixtures: an app on SQLite (or on PostgreSQL when TEST_DATABASE_URL is set)."""
import os
import tempfile

import pytest

from app import create_app
from config import TestConfig
from extensions import db
from tests.factories import Auth

_schema_ready = set()


def database_url():
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        from config import _normalise_db_url

        return _normalise_db_url(url)
    return f"sqlite:///{_sqlite_dir()}/test.db"


_tmp = {}


def _sqlite_dir():
    if "dir" not in _tmp:
        _tmp["dir"] = tempfile.mkdtemp(prefix="livechat-test-")
    return _tmp["dir"]


def is_postgres():
    return database_url().startswith("postgresql")


@pytest.fixture
def app_config():
    """Overrides of TestConfig for one test; tests may update it before using app."""
    return {}


@pytest.fixture
def app(app_config):
    url = database_url()
    overrides = {"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_PROFILE": "fast", "INSTANCE_PATH": _sqlite_dir()}
    if os.environ.get("TEST_REDIS_URL"):
        overrides["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    app = create_app(TestConfig, **{**overrides, **app_config})
    with app.app_context():
        if url not in _schema_ready:
            db.drop_all()
            db.create_all()
            _schema_ready.add(url)
        yield app
        db.session.remove()
        app.extensions["broker"].close()
        _clear_tables()
        db.engine.dispose()


def _clear_tables():
    with db.engine.begin() as conn:
        for table in reversed(db.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def server(app):
    """The app served over real HTTP and WebSocket on loopback, in this process."""
    from tests.live import ThreadServer

    with ThreadServer(app) as srv:
        yield srv


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def auth(client):
    return Auth(client)
