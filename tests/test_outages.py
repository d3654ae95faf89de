"""Outages: PostgreSQL or Redis stops under two server processes, and two outbox senders meet.

The server tests stop and start a PostgreSQL cluster and a Redis of their own,
on free ports: the machine's shared servers are never touched.
"""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

from config import TestConfig
from extensions import db
from models import OutboxMail
from services import mailer
from services.mailer import queue_mail
from tests.conftest import is_postgres
from tests.factories import PASSWORD, make_interface, make_user, make_workspace
from tests.live import Client, GunicornServer, free_port
from tests.smtp import smtp_server  # noqa: F401 - fixture

ORIGIN = "https://shop.example"
DASHBOARD = "http://localhost:3000"
# Debian keeps initdb and pg_ctl out of PATH, under the server's version.
PG_BIN = (sorted(glob.glob("/usr/lib/postgresql/*/bin")) or [os.path.dirname(shutil.which("initdb") or "")])[-1]
REDIS_SERVER = shutil.which("redis-server")


def _missing_binaries():
    missing = [name for name in ("initdb", "pg_ctl") if not (PG_BIN and os.path.exists(os.path.join(PG_BIN, name)))]
    return missing + ([] if REDIS_SERVER else ["redis-server"])


needs_private_servers = pytest.mark.skipif(
    not is_postgres() or bool(_missing_binaries()),
    reason="needs TEST_DATABASE_URL (PostgreSQL runs of the suite) and the PostgreSQL and redis-server "
           f"binaries to run private servers (missing: {', '.join(_missing_binaries()) or 'none'})",
)


# -- private servers ------------------------------------------------------------


def _wait(predicate, seconds, step=0.1):
    """Poll predicate until it is true or the time is up; the last result."""
    deadline = time.monotonic() + seconds
    while True:
        result = predicate()
        if result or time.monotonic() >= deadline:
            return result
        time.sleep(step)


class PrivateRedis:
    """A redis-server process on a free port, without persistence."""

    def __init__(self):
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self):
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def start(self):
        self.proc = subprocess.Popen([REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--daemonize", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not _wait(self.ping, 10):
            self.stop()
            raise AssertionError("the private redis-server did not start")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster in a temporary directory, on a free port.

    initdb refuses to run as root: as root, the cluster belongs to the postgres user.
    """

    def __init__(self):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="livechat-outage-pg-")
        self.data = os.path.join(self.dir, "data")
        self.as_owner = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self):
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args, timeout=60):
        subprocess.run([*self.as_owner, *args], check=True, timeout=timeout, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    def init(self):
        self._run(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "postgres", "--auth=trust", "--no-sync")
        return self

    def start(self):
        options = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"),
                  "-o", options, "-w", "-t", "30", "start")

    def stop(self):
        self._run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")

    def remove(self):
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # not running
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def private():
    """A private PostgreSQL and Redis, and an app on them that writes the test data."""
    from app import create_app

    pg, redis_server = PrivatePostgres(), PrivateRedis()
    try:
        pg.init()
        pg.start()
        redis_server.start()
        app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=pg.url, PASSWORD_HASH_PROFILE="fast",
                         INSTANCE_PATH=pg.dir, SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True})
        with app.app_context():
            db.create_all()
            db.session.commit()
            yield pg, redis_server, app
            db.session.remove()
            db.engine.dispose()
        app.extensions["broker"].close()
    finally:
        redis_server.stop()
        pg.remove()


@pytest.fixture(scope="module")
def servers(private, tmp_path_factory):
    """Two gunicorn servers (the production gevent worker) sharing the private PostgreSQL and Redis."""
    pg, redis_server, _ = private
    env = {"DATABASE_URL": pg.url, "REDIS_URL": redis_server.url, "RATELIMIT_STORAGE_URI": redis_server.url,
           "JWT_SECRET_KEY": TestConfig.JWT_SECRET_KEY, "PASSWORD_HASH_PROFILE": "fast", "CORS_ORIGINS": DASHBOARD,
           "BROKER_PREFIX": "outage", "INSTANCE_PATH": pg.dir}
    logs = tmp_path_factory.mktemp("outage-logs")
    with GunicornServer(env, worker_class="gevent", log_path=logs / "one.log") as one, \
            GunicornServer(env, worker_class="gevent", log_path=logs / "two.log") as two:
        yield one, two


# -- HTTP ---------------------------------------------------------------------------


def call(base, method, path, body=None, token=None, origin=None, timeout=10):
    """(status, headers, body) of one request; a body that is not JSON is returned as text."""
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if origin:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, headers, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, error.headers, error.read()
    try:
        return status, headers, json.loads(raw or b"null")
    except ValueError:
        return status, headers, raw.decode(errors="replace")


def _setup_chat(server_visitor, server_agent):
    """An interface, an agent logged in on one server, a visitor on the other whose chat the agent took over."""
    workspace, _ = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    key = interface.public_key
    status, _, opened = call(server_visitor.url, "POST", f"/api/widget/{key}/sessions", origin=ORIGIN)
    assert status == 201, opened
    status, _, login = call(server_agent.url, "POST", "/api/auth/login", {"email": agent.email, "password": PASSWORD},
                            origin=DASHBOARD)
    assert status == 200, login
    conversation_id = opened["conversation"]["id"]
    status, _, taken = call(server_agent.url, "POST", f"/api/conversations/{conversation_id}/takeover",
                            token=login["access_token"], origin=DASHBOARD)
    assert status == 200, taken
    email = agent.email
    db.session.remove()  # this process holds no connection when a server stops under it
    return {"key": key, "email": email, "agent_token": login["access_token"], "visitor_token": opened["visitor_token"],
            "conversation_id": conversation_id}


def _routes(chat):
    """(name, method, path, body, token, origin) of the calls a widget, an agent and a dashboard make."""
    key, cid = chat["key"], chat["conversation_id"]
    widget = f"/api/widget/{key}"
    return [
        ("widget open (browser)", "POST", f"{widget}/sessions", None, None, ORIGIN),
        ("widget open (no Origin)", "POST", f"{widget}/sessions", None, None, None),
        ("widget reopen with token", "POST", f"{widget}/sessions", None, chat["visitor_token"], ORIGIN),
        ("visitor message", "POST", f"{widget}/conversations/{cid}/messages", {"text": "hi", "client_id": "v"},
         chat["visitor_token"], ORIGIN),
        ("visitor history", "GET", f"{widget}/conversations/{cid}/messages", None, chat["visitor_token"], ORIGIN),
        ("visitor ticket", "POST", f"{widget}/sockets/ticket", None, chat["visitor_token"], ORIGIN),
        ("login", "POST", "/api/auth/login", {"email": chat["email"], "password": PASSWORD}, None, DASHBOARD),
        ("me", "GET", "/api/auth/me", None, chat["agent_token"], DASHBOARD),
        ("agent message", "POST", f"/api/conversations/{cid}/messages", {"text": "hello", "client_id": "a"},
         chat["agent_token"], DASHBOARD),
        ("agent ticket", "POST", "/api/sockets/ticket", None, chat["agent_token"], DASHBOARD),
        ("readiness", "GET", "/readyz", None, None, None),
    ]


def _socket_refusal(server):
    """(status, headers) with which the server refuses a WebSocket handshake (its ticket is checked first)."""
    import websocket

    try:
        websocket.create_connection(server.url.replace("http://", "ws://") + "/ws?ticket=not-a-ticket",
                                    origin=ORIGIN, timeout=10).close()
    except websocket.WebSocketBadStatusException as error:
        return error.status_code, {key.lower(): value for key, value in (error.resp_headers or {}).items()}
    return 101, {}


def _visitor_socket(server, chat):
    status, _, ticket = call(server.url, "POST", f"/api/widget/{chat['key']}/sockets/ticket",
                             token=chat["visitor_token"], origin=ORIGIN)
    assert status == 201, ticket
    sock = Client(server.url, ticket["ticket"], origin=ORIGIN, timeout=10)
    assert sock.recv()["type"] == "hello"
    sock.send({"type": "resume", "positions": {}, "ref": "r"})
    sock.recv_until(lambda f: f["type"] == "ack")
    return sock


def _agent_says(server, chat, text):
    status, _, sent = call(server.url, "POST", f"/api/conversations/{chat['conversation_id']}/messages",
                           {"text": text, "client_id": text}, token=chat["agent_token"], origin=DASHBOARD)
    assert status == 201, sent
    return time.monotonic()


def _heard_after(sock, text, seconds):
    """Seconds until the visitor's socket hears the agent's message `text` (fails after `seconds`)."""
    start = time.monotonic()
    sock.ws.settimeout(seconds)
    try:
        sock.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == text)
    except Exception as error:  # a socket timeout: the message did not come in time
        raise AssertionError(f"{text!r} not heard within {seconds} s ({error.__class__.__name__})") from None
    return time.monotonic() - start


# -- PostgreSQL stops --------------------------------------------------------------


@needs_private_servers
def test_database_outage_answers_503_with_retry_after_everywhere_and_recovers(private, servers):
    pg, _, _ = private
    one, two = servers
    chat = _setup_chat(one, two)
    routes = _routes(chat)
    pg.stop()
    try:
        problems = []
        for server in (one, two):
            for name, method, path, body, token, origin in routes:
                status, headers, answer = call(server.url, method, path, body, token, origin)
                if status != 503 or not isinstance(answer, dict) or answer.get("code") != "unavailable" \
                        or not headers.get("Retry-After"):
                    problems.append((name, status, answer))
                elif path.startswith("/api/widget/") and origin and headers.get("Access-Control-Allow-Origin") != origin:
                    problems.append((name, "the page may not read the answer", dict(headers)))
            status, _, _ = call(server.url, "GET", "/healthz")
            if status != 200:
                problems.append(("liveness", status, None))
            status, headers = _socket_refusal(server)
            if status != 503 or not headers.get("retry-after"):
                problems.append(("socket upgrade", status, headers))
        assert not problems, "\n".join(map(repr, problems))
    finally:
        pg.start()

    # Without a restart of the servers: every call works again once the database is back.
    def all_answer():
        return all(call(server.url, "GET", "/readyz")[0] == 200 for server in (one, two))

    assert _wait(all_answer, 15, step=0.3), "the servers did not recover"
    for server in (one, two):
        for name, method, path, body, token, origin in routes:
            status, _, answer = call(server.url, method, path, body, token, origin)
            assert status in (200, 201), (name, status, answer)
        assert _socket_refusal(server)[0] == 401  # the ticket is read again, and is no ticket


def test_widget_call_from_a_page_during_a_database_outage_is_503_not_500():
    # The widget's CORS hook runs after the error handlers; what it meets there must still answer 503.
    from app import create_app
    from tests.test_errors import UNREACHABLE_DB, close_app

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB,
                     SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}})
    try:
        client = app.test_client()
        for path in ("/api/widget/pk_some-key/sessions", "/api/widget/pk_some-key/sockets/ticket"):
            response = client.post(path, headers={"Origin": ORIGIN})
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.get_json()["code"] == "unavailable"
            assert response.headers["Retry-After"]
            assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    finally:
        close_app(app)


def test_readiness_during_an_outage_says_when_to_try_again():
    from app import create_app
    from tests.test_errors import UNREACHABLE_DB, close_app

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB,
                     SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}})
    try:
        response = app.test_client().get("/readyz")
        assert response.status_code == 503 and response.get_json()["code"] == "unavailable"
        assert response.headers["Retry-After"]
    finally:
        close_app(app)


@pytest.fixture
def limits_in_an_absent_redis(app_config):
    """The rate limits kept in a Redis that does not answer (nothing listens on port 1)."""
    from extensions import limiter

    app_config.update({"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0", "WIDGET_LIMIT_PER_ADDRESS": "3/minute"})
    yield
    limiter._storage_dead = False  # the limiter outlives this app: the next one starts on its own storage


def test_rate_limits_are_kept_in_memory_while_redis_is_away(limits_in_an_absent_redis, app, client, caplog):
    workspace, _ = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    path = f"/api/widget/{interface.public_key}/sessions"
    with caplog.at_level("WARNING"):
        statuses = [client.post(path, headers={"Origin": ORIGIN}).status_code for _ in range(4)]
        login = client.post("/api/auth/login", json={"email": agent.email, "password": PASSWORD})
    # The widget and login keep working, and the limits still hold, per process.
    assert statuses == [201, 201, 201, 429]
    assert login.status_code == 200, login.get_json()
    said = [r for r in caplog.records if "Rate limit storage unreachable" in r.getMessage()]
    assert len(said) == 1, [r.getMessage() for r in caplog.records]


# -- Redis stops -------------------------------------------------------------------


@needs_private_servers
def test_redis_outage_keeps_serving_and_delivering_across_servers(private, servers):
    _, redis_server, _ = private
    one, two = servers
    logged_before = {server: len(server.log()) for server in (one, two)}
    chat = _setup_chat(one, two)
    sock = _visitor_socket(one, chat)
    _agent_says(two, chat, "before")
    assert _heard_after(sock, "before", 5) < 2
    calls = [route for route in _routes(chat) if route[0] in
             ("widget open (browser)", "visitor ticket", "login", "visitor message", "agent ticket")]

    redis_server.stop()
    try:
        for server in (one, two):
            for name, method, path, body, token, origin in calls:
                status, _, answer = call(server.url, method, path, body, token, origin)
                assert status in (200, 201), (server.url, name, status, answer)
        # The agent's server cannot publish; the visitor's server hears it from the event table, not later.
        for text in ("during 1", "during 2"):
            _agent_says(two, chat, text)
            assert _heard_after(sock, text, 2.5) < 2.5
    finally:
        redis_server.start()

    # Redis is back: the servers use it again (their listeners retry within a few seconds), and messages
    # go through at once.
    assert _wait(lambda: all("broker connection back" in s.log()[logged_before[s]:] for s in (one, two)), 10,
                 step=0.3), [s.log()[logged_before[s]:] for s in (one, two)]
    _agent_says(two, chat, "after")
    assert _heard_after(sock, "after", 2) < 2
    for server in (one, two):
        for name, method, path, body, token, origin in calls:
            status, _, answer = call(server.url, method, path, body, token, origin)
            assert status in (200, 201), (server.url, name, status, answer)
    sock.close()

    for server in (one, two):
        log = server.log()[logged_before[server]:]
        # Said once per outage, not once per request or per reconnect attempt.
        assert log.count("Rate limit storage unreachable") == 1, log[-3000:]
        assert log.count("broker connection lost") == 1, log[-3000:]
        assert log.count("broker connection back") == 1, log[-3000:]
        assert "Traceback" not in log, log[-3000:]


class Heard:
    """What a broker's subscribers heard, with bounded waits."""

    def __init__(self):
        import threading

        self.items = []
        self.changed = threading.Condition()

    def subscriber(self, stream):
        def callback(frame):
            with self.changed:
                self.items.append((stream, frame.get("type"), frame.get("pos")))
                self.changed.notify_all()
        return callback

    def wait_for(self, item, seconds):
        with self.changed:
            return self.changed.wait_for(lambda: item in self.items, seconds)

    def clear(self):
        with self.changed:
            del self.items[:]


@pytest.fixture
def private_redis():
    if not REDIS_SERVER:
        pytest.skip("needs the redis-server binary to run a private Redis")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def _brokers(url, *tables):
    """One RedisBroker per event table (a dict of stream positions), sharing a channel prefix."""
    import uuid

    from services.broker import RedisBroker

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    return [RedisBroker(url, prefix=prefix, stream_positions=lambda streams, table=table: dict(table))
            for table in tables]


def test_broker_catches_sockets_up_from_the_table_while_redis_is_away_and_when_it_is_back(private_redis):
    from services.broker import RESYNC

    table = {"user:1": 4, "user:2": 7}  # the event table's positions; "another process" writes to it
    here, there = brokers = _brokers(private_redis.url, table, table)
    heard = Heard()
    try:
        for stream in table:
            here.subscribe(stream, heard.subscriber(stream))

        private_redis.stop()
        # The first look of an outage sends every socket to the table once...
        assert heard.wait_for(("user:2", RESYNC, None), 3), heard.items
        heard.clear()
        # ...then only the streams that moved, within a poll.
        table["user:1"] = 5
        start = time.monotonic()
        assert heard.wait_for(("user:1", RESYNC, None), 2.5), heard.items
        assert time.monotonic() - start < 2.5
        assert ("user:2", RESYNC, None) not in heard.items

        private_redis.start()
        assert _wait(lambda: here.connected and there.connected, 8), "the brokers did not reconnect"
        there.publish("user:1", {"type": "y", "stream": "user:1", "pos": 6})
        assert heard.wait_for(("user:1", "y", 6), 3), heard.items
    finally:
        for broker in brokers:
            broker.close()


def test_a_publish_that_failed_is_announced_to_the_processes_that_never_lost_redis(private_redis):
    from services.broker import RESYNC

    here, there = brokers = _brokers(private_redis.url, {}, {})
    heard_here, heard_there = Heard(), Heard()
    try:
        here.subscribe("user:3", heard_here.subscriber("user:3"))
        there.subscribe("user:3", heard_there.subscriber("user:3"))
        publish = here._redis.publish

        def fails_once(*args):
            here._redis.publish = publish
            raise ConnectionError("lost on the way")

        here._redis.publish = fails_once
        here.publish("user:3", {"type": "x", "stream": "user:3", "pos": 1})
        # This process's sockets hear it at once; the other process is told to read the table.
        assert ("user:3", "x", 1) in heard_here.items
        assert heard_there.wait_for(("user:3", RESYNC, None), 3), heard_there.items
        assert ("user:3", "x", 1) not in heard_there.items
        assert _wait(lambda: here.connected, 3)
    finally:
        for broker in brokers:
            broker.close()


# -- the outbox with two senders ---------------------------------------------------


def test_two_senders_on_the_same_due_row_make_one_attempt(smtp_server, app, monkeypatch):  # noqa: F811
    # Both senders read the row as due; one makes its attempt (SMTP is down: it fails and backs off)
    # before the other claims it. The second claim must see the row is no longer due.
    smtp_server.stop()
    queue_mail("test", ["to@example.com"], "Subject", "Body")
    db.session.commit()
    claim = mailer._do_claim
    other_sender = []

    def claim_after_the_other_sender(row_id, now):
        if not other_sender:
            other_sender.append(True)
            with app.app_context():
                other_sender.append(mailer.do_send_due())
                db.session.remove()
        return claim(row_id, now)

    monkeypatch.setattr(mailer, "_do_claim", claim_after_the_other_sender)
    assert mailer.do_send_due() == (0, 0)
    assert other_sender == [True, (0, 1)]
    db.session.expire_all()
    (row,) = db.session.query(OutboxMail).all()
    assert row.attempts == 1
    assert row.next_attempt_at > row.created_at


@pytest.fixture
def one_connection(app_config):
    """An app whose pool holds one connection and waits 0.2 s for it."""
    app_config.update(SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0, "pool_timeout": 0.2})


def test_every_connection_busy_answers_503_not_500_and_serving_resumes(one_connection, app, client, auth, caplog):
    # Under overload every pooled connection can be taken: a request that waits out the pool's timeout meets
    # SQLAlchemy's TimeoutError, which is not a driver error. It is an outage to the client, never a 500.
    import logging

    from errors import Unavailable
    from services.core import run_command
    from services.sockets import keep_present
    from sqlalchemy import text

    workspace, admin = make_workspace()
    interface = make_interface(workspace, allowed_origins=[ORIGIN])
    headers, key, admin_id = auth.headers(admin), interface.public_key, admin.id
    db.session.remove()  # the test's own session gives the one connection back
    held = db.engine.connect()  # ...which is now taken, as a burst of slow transactions would
    held.execute(text("select 1"))
    try:
        with caplog.at_level(logging.WARNING):
            busy = client.get("/api/auth/me", headers=headers)
            widget = client.post(f"/api/widget/{key}/sessions", headers={"Origin": ORIGIN})
            with pytest.raises(Unavailable):
                run_command("ping", lambda: db.session.execute(text("select 1")))
            keep_present("user", admin_id, batched=False)  # a socket's heartbeat is logged, the socket stays
        for response in (busy, widget):
            assert response.status_code == 503, response.get_data(as_text=True)
            assert response.get_json()["code"] == "unavailable"
            assert response.headers["Retry-After"]
        assert widget.headers["Access-Control-Allow-Origin"] == ORIGIN
        assert "unhandled error" not in caplog.text and "database busy" in caplog.text
        assert "socket heartbeat: database unavailable (TimeoutError)" in caplog.text
    finally:
        held.close()
    assert client.get("/api/auth/me", headers=headers).status_code == 200
    assert client.post(f"/api/widget/{key}/sessions", headers={"Origin": ORIGIN}).status_code == 201
