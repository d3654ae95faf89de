"""Fixtures: an app on SQLite (or on PostgreSQL when TEST_DATABASE_URL is set)."""
import os
import tempfile

# Redis publish/subscribe channels are the same in every database of a server: two test runs on one machine
# (CI beside a developer's run) would read each other's frames. Each run gets its own channel prefix, set
# before config.py reads it; the servers the tests start inherit it.
os.environ.setdefault("BROKER_PREFIX", f"test-{os.getpid()}")

import pytest  # noqa: E402

from app import create_app  # noqa: E402
from config import TestConfig  # noqa: E402
from extensions import db  # noqa: E402
from tests import frame_contract, response_contract  # noqa: E402
from tests.factories import Auth  # noqa: E402

_schema_ready = set()


def pytest_configure(config):
    """Check every WebSocket frame of the run against openapi/asyncapi.json (tests/frame_contract.py).

    Installed once, before any test: the client side on websocket-client, the server side on the send
    path of the in-process servers. A send path that cannot be found stops the run here, loudly.
    """
    frame_contract.validator()  # the committed document loads and compiles, or nothing runs
    frame_contract.install_client_hook()
    frame_contract.install_server_hook()
    response_contract.install()  # and every REST response of the test client against openapi/openapi.json


def pytest_terminal_summary(terminalreporter):
    totals = frame_contract.totals
    terminalreporter.write_line(
        f"frame contract (openapi/asyncapi.json): {totals.get('client_frames', 0)} frames read by test sockets, "
        f"{totals.get('server_frames', 0)} sent by in-process servers, checked")
    terminalreporter.write_line(
        f"response contract (openapi/openapi.json): {sum(response_contract.seen.values())} objects of "
        f"{len(response_contract.seen)} response schemas checked")
    for why, count in frame_contract.waived.items():
        terminalreporter.write_line(f"frame contract: known deviation let through {count} times: {why}")


@pytest.fixture(autouse=True)
def frames_follow_the_contract():
    """Fail the test when a frame sent or received during it breaks the contract, whichever thread saw it."""
    ledger = frame_contract.ledger
    ledger.reset()
    yield
    with ledger.lock:
        violations = list(ledger.violations)
        in_process, server_frames = ledger.in_process_client_frames, ledger.server_frames
    ledger.reset()
    if violations:
        pytest.fail(f"{len(violations)} WebSocket frame(s) outside openapi/asyncapi.json during this test:\n"
                    + "\n".join(str(v) for v in violations[:5]), pytrace=False)
    if in_process and not server_frames:
        pytest.fail(f"test sockets read {in_process} frames from an in-process server, but the server-side "
                    f"hook {frame_contract.SERVER_SEND_HOOK} saw none: the send path moved. Point "
                    "SERVER_SEND_HOOK in tests/frame_contract.py at the function every outgoing frame "
                    "passes through now.", pytrace=False)


@pytest.fixture(autouse=True)
def responses_follow_the_contract():
    """Fail the test when a response its test client received breaks openapi/openapi.json."""
    response_contract.ledger.reset()
    yield
    violations = list(response_contract.ledger.violations)
    response_contract.ledger.reset()
    if violations:
        pytest.fail(f"{len(violations)} response(s) outside openapi/openapi.json during this test:\n"
                    + "\n".join(violations[:5]), pytrace=False)


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
