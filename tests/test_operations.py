"""Operations: JSON logs with request ids, start-up checks, proxies, metrics, socket caps, the CLI."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import websocket
from flask_jwt_extended import verify_jwt_in_request

import logs
from extensions import db
from tests.factories import PASSWORD, make_workspace


# ---------------------------------------------------------------------------
# Structured logs


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def format_record(message, *args, name="livechat.test", level=logging.INFO):
    record = logging.LogRecord(name, level, __file__, 1, message, args, None)
    return logs.Formatter().format(record)


def test_a_sane_request_id_is_kept_and_anything_else_replaced(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc.DEF_1-2"}).headers["X-Request-ID"] == "abc.DEF_1-2"
    for bad in ["x" * 65, "has space", "semi;colon", "é", ""]:
        given = client.get("/healthz", headers={"X-Request-ID": bad}).headers["X-Request-ID"]
        assert given != bad and len(given) == 32 and given.isalnum()
    first, second = (client.get("/healthz").headers["X-Request-ID"] for _ in range(2))
    assert first != second
    # Errors carry it too, including those answered before the view runs.
    assert client.get("/api/nowhere", headers={"X-Request-ID": "r-404"}).headers["X-Request-ID"] == "r-404"


def test_log_lines_are_json_with_the_request_id_user_and_workspace(app, auth):
    workspace, admin = make_workspace()
    headers = {**auth.headers(admin), "X-Request-ID": "req-42"}
    with app.test_request_context("/api/auth/me", headers=headers):
        app.preprocess_request()
        verify_jwt_in_request()
        captured = [format_record("handled %s", "it", name="livechat.probe")]
    line = json.loads(captured[-1])
    assert line["message"] == "handled it" and line["level"] == "INFO" and line["logger"] == "livechat.probe"
    assert line["request_id"] == "req-42"
    assert line["user_id"] == admin.id and line["workspace_id"] == workspace.id
    assert line["time"].endswith("+00:00")


@pytest.mark.parametrize("message, secret", [
    ("GET /set-password?token=%s HTTP/1.1", "s3cr3t-link-token"),
    ("GET /ws?x=1&ticket=%s", "tick-et_value"),
    ("GET /x?refresh_token=%s&a=b", "refresh-value"),
    ("headers: Authorization: Bearer %s", "opaque-bearer-value"),
    ("headers %s", {"Authorization": "Bearer dict-bearer-value"}),
    ("a bare jwt %s in text", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
])
def test_the_formatter_redacts_tokens_tickets_and_authorization(message, secret):
    line = format_record(message, secret)
    value = secret if isinstance(secret, str) else "dict-bearer-value"
    assert value not in line
    assert "[redacted]" in json.loads(line)["message"]


def test_request_logs_never_carry_tokens_tickets_or_authorization(app, auth, caplog):
    """Whatever reaches a log record on the way through a request is free of credentials once formatted."""
    workspace, admin = make_workspace()
    headers = auth.headers(admin)
    access_token = headers["Authorization"].split()[1]
    client = app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.get("/api/auth/me?token=query-token-value&ticket=query-ticket-value", headers=headers)
        client.get("/ws?ticket=socket-ticket-value", headers=headers)
        client.post("/api/auth/set-password", json={"token": "body-link-token", "password": "x"})
        logging.getLogger("livechat.probe").warning("request %s %s", "GET /x?ticket=socket-ticket-value",
                                                    {"Authorization": f"Bearer {access_token}"})
    formatted = "\n".join(logs.Formatter().format(record) for record in caplog.records)
    assert formatted
    for secret in ["query-token-value", "query-ticket-value", "socket-ticket-value", "body-link-token",
                   access_token]:
        assert secret not in formatted


# ---------------------------------------------------------------------------
# gunicorn as shipped


class ShippedGunicorn:
    """`gunicorn -c gunicorn.conf.py wsgi:app` with its output kept in a file."""

    def __init__(self, tmp_path, env):
        from tests.live import free_port

        self.port = free_port()
        self.out = tmp_path / "gunicorn.out"
        self.env = {**os.environ, "OUTBOX_SENDER_THREAD": "0", "SWEEPER_THREAD": "0",
                    "INSTANCE_PATH": str(tmp_path), "PUBLIC_URL": f"http://127.0.0.1:{self.port}", **env}

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        from tests.live import ROOT

        self.handle = open(self.out, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self.handle, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.out.read_text()[-3000:]
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("gunicorn did not start in time")

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.handle.close()

    def lines(self):
        return self.out.read_text().splitlines()


def http(base, method, path, body=None, headers=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def shipped_env():
    from config import TestConfig
    from tests.conftest import database_url

    env = {"DATABASE_URL": database_url(), "JWT_SECRET_KEY": TestConfig.JWT_SECRET_KEY,
           "RATELIMIT_STORAGE_URI": "memory://"}
    if os.environ.get("TEST_REDIS_URL"):
        # Channels are shared by every Redis database: a prefix of its own keeps other servers' events out.
        env.update(REDIS_URL=os.environ["TEST_REDIS_URL"], BROKER_PREFIX=f"ops-test-{os.getpid()}")
    return env


def open_sockets(server, access_token):
    """The admin sockets /metrics counts with one held open, then once its worker was killed and replaced."""

    def scraped():
        text = http(server.url, "GET", "/metrics")[2].decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith('livechat_sockets_open{role="admin"}'))

    ticket = json.loads(http(server.url, "POST", "/api/sockets/ticket",
                             headers={"Authorization": f"Bearer {access_token}"})[2])["ticket"]
    ws = websocket.create_connection(server.url.replace("http", "ws") + f"/ws?ticket={ticket}", timeout=10,
                                     suppress_origin=True)
    ws.recv()
    held = scraped()
    worker = [json.loads(line)["message"] for line in server.lines() if "Booting worker" in line][-1]
    os.kill(int(worker.rsplit(" ", 1)[1]), signal.SIGKILL)  # no finally runs: only child_exit can tell
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            after = scraped()
            break
        except OSError:  # the master is starting the next worker
            time.sleep(0.2)
    ws.close()
    return held, after


def test_gunicorn_as_shipped_logs_json_lines_with_request_ids_and_no_secrets(app, tmp_path):
    workspace, admin = make_workspace()
    db.session.commit()
    # young collections every 100 objects: the worker surely has some to time and report
    with ShippedGunicorn(tmp_path, {**shipped_env(), "GC_THRESHOLDS": "100,10,10"}) as server:
        status, headers, _ = http(server.url, "GET", "/healthz", headers={"X-Request-ID": "probe-1"})
        assert status == 200 and headers["X-Request-ID"] == "probe-1"
        http(server.url, "GET", "/set-password?token=link-secret-value")
        http(server.url, "GET", "/ws?ticket=ticket-secret-value", headers={"X-Request-ID": "probe-ws"})
        http(server.url, "GET", "/api/auth/me", headers={"Authorization": "Bearer bearer-secret-value"})
        status, _, body = http(server.url, "POST", "/api/auth/login", {"email": admin.email, "password": PASSWORD})
        access_token = json.loads(body)["access_token"]
        status, _, body = http(server.url, "POST", "/api/sockets/ticket",
                               headers={"Authorization": f"Bearer {access_token}"})
        ticket = json.loads(body)["ticket"]
        ws = websocket.create_connection(server.url.replace("http", "ws") + f"/ws?ticket={ticket}", timeout=10,
                                         suppress_origin=True, header=["X-Request-ID: probe-socket"])
        assert json.loads(ws.recv())["type"] == "hello"
        ws.send(json.dumps({"type": "ping", "ref": "p1"}))
        ws.recv()
        ws.close()
        time.sleep(0.5)
        status, _, body = http(server.url, "GET", "/metrics")
        assert status == 200
        assert list(tmp_path.glob("metrics-*/*.db"))  # multiprocess mode, in a directory of its own
        assert open_sockets(server, access_token) == (1, 0)
    assert not list(tmp_path.glob("metrics-*"))  # removed with the server
    exposition = body.decode()
    series = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
              for line in exposition.splitlines() if line and not line.startswith("#")}
    assert series['livechat_http_request_duration_seconds_count{method="GET",route="/healthz",status="2xx"}'] >= 2
    assert series['livechat_http_request_duration_seconds_count{method="POST",route="/api/auth/login",'
                  'status="2xx"}'] == 1
    assert series['livechat_sockets_open{role="admin"}'] == 0
    assert series['livechat_socket_frames_total{direction="out",type="hello"}'] == 1
    assert series['livechat_socket_frames_total{direction="in",type="ping"}'] == 1
    assert series["livechat_broker_connected"] == 1
    assert series["livechat_outbox_backlog"] == 0
    assert "livechat_db_pool_in_use" in series
    assert series['livechat_gc_pause_seconds_count{generation="0"}'] >= 10  # the shipped 20,000: none here
    lines = server.lines()
    records = [json.loads(line) for line in lines if line.strip()]  # every line is one JSON object
    access = [record for record in records if record["logger"] == "gunicorn.access"]
    by_id = {record.get("request_id"): record for record in access}
    assert by_id["probe-1"]["path"] == "/healthz" and by_id["probe-1"]["status"] == 200
    assert by_id["probe-ws"]["path"] == "/ws" and by_id["probe-ws"]["status"] == 400
    ticket_line = next(record for record in access if record["path"] == "/api/sockets/ticket")
    assert ticket_line["user_id"] == admin.id and ticket_line["workspace_id"] == workspace.id
    assert all(record.get("request_id") for record in access) and len(access) >= 4
    assert any(record["logger"] == "gunicorn.error" for record in records)
    socket_lines = [record for record in records if record.get("request_id") == "probe-socket"
                    and record["logger"] == "blueprints.ws"]
    assert {record["message"] for record in socket_lines} == {"socket opened", "socket closed"}
    assert all(record["user_id"] == admin.id and record["workspace_id"] == workspace.id for record in socket_lines)
    text = "\n".join(lines)
    for secret in ["link-secret-value", "ticket-secret-value", "bearer-secret-value", ticket, access_token]:
        assert secret not in text


# ---------------------------------------------------------------------------
# Start-up checks


def import_config(env):
    """Import config.py in a fresh interpreter with env; return (exit code, output)."""
    from tests.live import ROOT

    clean = {k: v for k, v in os.environ.items() if k not in env}
    proc = subprocess.run([sys.executable, "-c", "import config"], cwd=ROOT, env={**clean, **env},
                          capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize("name, value", [
    ("OUTBOX_POLL_S", "abc"), ("OUTBOX_POLL_S", "0"), ("DB_POOL_SIZE", "-1"), ("SWEEP_INTERVAL_S", "nan"),
    ("MAIL_USE_TLS", "maybe"), ("PASSWORD_HASH_PROFILE", "cheap"), ("WIDGET_LIMIT_PER_ADDRESS", "lots"),
    ("LOG_FORMAT", "xml"), ("TURN_TTL_S", "0"), ("STUN_URLS", "stun.example.com:3478"),
    ("GC_THRESHOLDS", "20000,10"), ("GC_THRESHOLDS", "50,10,10"), ("GC_THRESHOLDS", "20000,0,10"),
    ("GC_THRESHOLDS", "20000,10,x"),
])
def test_a_bad_setting_names_its_variable(name, value):
    code, output = import_config({name: value})
    assert code != 0
    last = output.strip().splitlines()[-1]
    assert last.startswith("config.SettingsError: ") and name in last and repr(value) in last


def test_turn_urls_without_their_secret_refuse_to_start():
    code, output = import_config({"TURN_URLS": "turn:turn.example.com:3478", "TURN_SECRET": ""})
    assert code != 0 and "TURN_URLS is set but TURN_SECRET is not" in output
    assert import_config({"TURN_URLS": "turn:turn.example.com:3478", "TURN_SECRET": "s" * 20})[0] == 0


def test_the_readme_lists_every_setting_config_and_gunicorn_read():
    import re

    from tests.live import ROOT

    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    read = set()
    for name in ("config.py", "gunicorn.conf.py"):
        source = (ROOT / name).read_text()
        read |= set(re.findall(r'(?:_env_\w+\(|environ(?:\.get)?[(\[])"([A-Z][A-Z0-9_]+)"', source))
        read |= set(re.findall(r'"((?:DB|GUNICORN)_[A-Z_]+)"', source))
    assert len(read) > 40
    assert sorted(name for name in read if f"`{name}`" not in table) == []


def production_app(**settings):
    from app import create_app
    from config import Config

    base = {"SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://nobody@127.0.0.1:1/none", "REDIS_URL": None,
            "JWT_SECRET_KEY": "k" * 40, "PUBLIC_URL": "https://chat.example.com", "PASSWORD_HASH_PROFILE": "default",
            "OUTBOX_SENDER_THREAD": False, "SWEEPER_THREAD": False, "LOG_FORMAT": "text"}
    return create_app(Config, **{**base, **settings})


@pytest.mark.parametrize("settings, named", [
    ({"JWT_SECRET_KEY": None}, "JWT_SECRET_KEY is not set"),
    ({"JWT_SECRET_KEY": "short"}, "JWT_SECRET_KEY is shorter"),
    ({"PUBLIC_URL": "http://localhost:5000"}, "PUBLIC_URL is not set"),
    ({"PUBLIC_URL": ""}, "PUBLIC_URL is not set"),
    ({"PASSWORD_HASH_PROFILE": "fast"}, "PASSWORD_HASH_PROFILE=fast"),
])
def test_a_deployment_refuses_to_start_with_embedded_only_settings(settings, named):
    from config import SettingsError

    with pytest.raises(SettingsError, match=named):
        production_app(**settings)


def test_a_deployment_with_its_settings_starts_and_the_embedded_default_needs_none(tmp_path):
    from config import SettingsError

    assert production_app().config["JWT_SECRET_KEY"] == "k" * 40
    assert production_app(PASSWORD_HASH_PROFILE="fast", TEST_SERVER=True)  # the test suite's own servers
    # (without JWT_SECRET_KEY it would use the one generated in instance/)
    assert production_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/x.db", PUBLIC_URL="http://localhost:5000",
                          PASSWORD_HASH_PROFILE="fast")
    with pytest.raises(SettingsError):
        production_app(JWT_SECRET_KEY=None, PUBLIC_URL=None)


# ---------------------------------------------------------------------------
# Behind a proxy


def login_from(client, n, forwarded_for, peer="10.0.0.1"):
    return client.post("/api/auth/login", json={"email": f"nobody{n}@example.com", "password": "x" * 12},
                       headers={"X-Forwarded-For": forwarded_for}, environ_base={"REMOTE_ADDR": peer})


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "3/minute"
    statuses = [login_from(client, n, f"203.0.113.{n}").status_code for n in range(4)]
    assert statuses == [401, 401, 401, 429]  # one bucket: the peer's, whatever the header claims
    with app.test_request_context(headers={"X-Forwarded-For": "203.0.113.9"}, environ_base={"REMOTE_ADDR": "10.0.0.1"}):
        from extensions import client_address

        assert client_address() == "10.0.0.1"


@pytest.mark.parametrize("app_config", [{"TRUSTED_PROXIES": 1}])
def test_behind_a_trusted_proxy_limits_key_on_the_client_it_names(app, client):
    app.config["LOGIN_LIMIT_PER_ADDRESS"] = "3/minute"
    first = [login_from(client, n, "198.51.100.1").status_code for n in range(4)]
    assert first == [401, 401, 401, 429]
    assert login_from(client, 9, "198.51.100.2").status_code == 401  # another client behind the same proxy
    # Only the last hop is the proxy's own: an address the client prepended is not believed.
    assert login_from(client, 10, "6.6.6.6, 198.51.100.1").status_code == 429
    response = client.get("/healthz", headers={"X-Forwarded-For": "198.51.100.3", "X-Forwarded-Proto": "https"})
    assert response.status_code == 200


@pytest.mark.parametrize("trusted, expected", [("0", [401, 401, 429, 429]), ("1", [401, 401, 401, 401])])
def test_gunicorn_as_shipped_believes_x_forwarded_for_only_behind_a_trusted_proxy(app, tmp_path, trusted, expected):
    db.session.commit()  # the tables exist for the server
    env = {**shipped_env(), "TRUSTED_PROXIES": trusted, "LOGIN_LIMIT_PER_ADDRESS": "2/minute"}
    with ShippedGunicorn(tmp_path, env) as server:
        statuses = [http(server.url, "POST", "/api/auth/login", {"email": f"nobody{n}@example.com",
                                                                  "password": "x" * 12},
                         {"X-Forwarded-For": f"203.0.113.{n}"})[0] for n in range(4)]
    # Untrusted, every login is the TCP peer's (one bucket of 2); trusted, each names its own client.
    assert statuses == expected


# ---------------------------------------------------------------------------
# Metrics


def sample(name, **labels):
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0


def test_metrics_are_open_without_a_token_and_outside_the_api_document(app, client):
    from extensions import api

    response = client.get("/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    assert b"livechat_outbox_backlog 0.0" in response.data and b"# TYPE livechat_sockets_open gauge" in response.data
    assert "/metrics" not in api.spec.to_dict()["paths"]


@pytest.mark.parametrize("app_config", [{"METRICS_TOKEN": "scrape-me-0123456789"}])
def test_metrics_need_the_bearer_token_when_one_is_set(app, client):
    for headers in [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "scrape-me-0123456789"}]:
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert response.get_json()["code"] == "unauthorized" and response.headers["WWW-Authenticate"]
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me-0123456789"}).status_code == 200


def test_http_latency_is_labelled_by_route_template(app, client, auth):
    workspace, admin = make_workspace()
    headers = auth.headers(admin)
    labels = {"method": "GET", "route": "/api/agents/<id:agent_id>", "status": "4xx"}
    before = sample("livechat_http_request_duration_seconds_count", **labels)
    assert client.get("/api/agents/987654", headers=headers).status_code == 404
    assert sample("livechat_http_request_duration_seconds_count", **labels) == before + 1
    client.open("/nowhere/123", method="BREW")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'route="/api/agents/<id:agent_id>"' in text and "987654" not in text
    assert "BREW" not in text and "/nowhere" not in text
    assert 'livechat_http_request_duration_seconds_count{method="other",route="unmatched",status="4xx"}' in text


def test_an_outcome_is_counted_once_committed_and_never_when_rolled_back(app):
    from metrics import LIVE_REQUESTS, count_after_commit

    from sqlalchemy import text

    before = sample("livechat_live_requests_total", outcome="expired")
    db.session.execute(text("SELECT 1"))
    count_after_commit(db.session, LIVE_REQUESTS, outcome="expired")
    db.session.rollback()
    db.session.execute(text("SELECT 1"))
    db.session.commit()
    assert sample("livechat_live_requests_total", outcome="expired") == before
    db.session.execute(text("SELECT 1"))
    count_after_commit(db.session, LIVE_REQUESTS, outcome="expired")
    db.session.commit()
    assert sample("livechat_live_requests_total", outcome="expired") == before + 1


# ---------------------------------------------------------------------------
# Sockets per address

SHOP = "https://shop.example"


@pytest.mark.parametrize("app_config", [{"SOCKET_LIMIT_PER_ADDRESS": 2}])
def test_an_address_past_its_sockets_is_refused_before_the_upgrade(app, client, server):
    from tests.factories import make_interface
    from tests.live import Client
    from tests.widget_helpers import Widget

    workspace, _ = make_workspace()
    widget = Widget(client, make_interface(workspace, allowed_origins=[SHOP]), origin=SHOP)
    widget.open()
    open_now = [Client(server.url, widget.ticket(), origin=SHOP) for _ in range(2)]
    for socket_client in open_now:
        assert socket_client.recv()["type"] == "hello"
    spare = widget.ticket()
    assert app.extensions["socket_slots"].held("127.0.0.1") == 2
    refused = sample("livechat_sockets_refused_total", reason="per_address")
    with pytest.raises(websocket.WebSocketBadStatusException) as refusal:
        Client(server.url, spare, origin=SHOP)
    assert refusal.value.status_code == 429 and refusal.value.resp_headers["retry-after"] == "30"
    assert json.loads(refusal.value.resp_body) == {"code": "too_many_sockets", "status": 429,
                                                   "message": "Too many sockets open from this address"}
    assert sample("livechat_sockets_refused_total", reason="per_address") == refused + 1
    # A closed socket gives its slot back, and the refused ticket was never used.
    open_now.pop().close()
    slots = app.extensions["socket_slots"]
    deadline = time.monotonic() + 5
    while slots.held("127.0.0.1") > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    again = Client(server.url, spare, origin=SHOP)
    assert again.recv()["type"] == "hello"
    again.close()
    open_now[0].close()


def test_refused_upgrades_give_their_slot_back_at_once(app, server):
    from tests.live import Client

    app.config["SOCKET_LIMIT_PER_ADDRESS"] = 1
    for _ in range(3):  # a bad ticket: refused after the slot was taken
        with pytest.raises(websocket.WebSocketBadStatusException) as refusal:
            Client(server.url, "nope")
        assert refusal.value.status_code != 429
    assert app.extensions["socket_slots"].held("127.0.0.1") == 0


# ---------------------------------------------------------------------------
# The first minutes


def test_every_url_make_run_prints_answers(client):
    import re

    from tests.live import ROOT

    makefile = (ROOT / "Makefile").read_text()
    run_recipe = makefile.split("\nrun: migrate\n", 1)[1].split("\n\n", 1)[0]
    paths = set(re.findall(r"http://\$\(HOST\):\$\(PORT\)(/[\w./-]*)", run_recipe))
    assert {"/api/docs", "/api/openapi.json", "/healthz", "/metrics"} <= paths
    for path in paths - {"/api/auth/login"}:
        assert client.get(path).status_code == 200, path
    assert client.post("/api/auth/login", json={"email": "a@example.com", "password": "x" * 12}).status_code == 401
    assert "/api" not in paths  # nothing answers there


def test_admin_link_issues_a_fresh_single_use_link_and_voids_the_older_ones(app, client, runner):
    from tests.factories import make_user

    workspace, admin = make_workspace()
    agent = make_user(workspace)
    db.session.commit()

    def link(*args):
        result = runner.invoke(args=["workspace", "admin-link", *args])
        assert result.exit_code == 0, result.output
        assert admin.email in result.output
        return result.output.strip().rsplit("token=", 1)[1]

    older, newer = link(), link("--email", admin.email.upper())
    new_password = "a fresh admin passphrase"
    assert client.post("/api/auth/set-password", json={"token": older, "password": new_password}).status_code == 400
    assert client.post("/api/auth/set-password", json={"token": newer, "password": new_password}).status_code == 204
    assert client.post("/api/auth/set-password", json={"token": newer, "password": new_password}).status_code == 400
    assert client.post("/api/auth/login", json={"email": admin.email, "password": new_password}).status_code == 200
    for email in [agent.email, "nobody@example.com"]:
        result = runner.invoke(args=["workspace", "admin-link", "--email", email])
        assert result.exit_code != 0 and "No active admin" in result.output
    assert runner.invoke(args=["workspace", "admin-link", "--email", "not an address"]).exit_code != 0


def test_ensure_default_says_how_to_get_a_new_admin_link_on_later_runs(app, runner):
    first = runner.invoke(args=["workspace", "ensure-default"])
    assert first.exit_code == 0 and "set-password?token=" in first.output
    later = runner.invoke(args=["workspace", "ensure-default"])
    assert later.exit_code == 0 and "make admin-link" in later.output and "token=" not in later.output


def test_live_requests_are_counted_by_outcome_through_the_widget(app, client):
    from datetime import timedelta

    from models.base import utcnow
    from services.live_requests import sweep_expired
    from tests.factories import go_online, make_component, make_interface, make_user
    from tests.widget_helpers import Widget

    workspace, _ = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[SHOP], agents=[agent])
    make_component(interface, "live_chat")
    outcomes = ["opened", "offline", "expired"]
    before = {outcome: sample("livechat_live_requests_total", outcome=outcome) for outcome in outcomes}

    def ask():
        widget = Widget(client, interface, origin=SHOP)
        widget.open()
        response = client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                               headers=widget.headers())
        assert response.status_code == 200, response.get_json()

    ask()  # nobody online: opened and offline at once
    go_online(agent)
    ask()  # pending until its deadline passes
    assert sweep_expired(now=utcnow() + timedelta(hours=1)) == 1
    after = {outcome: sample("livechat_live_requests_total", outcome=outcome) - before[outcome]
             for outcome in outcomes}
    assert after == {"opened": 2, "offline": 1, "expired": 1}


def test_time_to_accept_is_observed_once_the_accept_commits(app, client):
    from models import LiveRequest, RequestStatus
    from services.assignments import do_accept
    from tests.factories import go_online, make_component, make_interface, make_user
    from tests.widget_helpers import Widget

    workspace, _ = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[SHOP], agents=[agent])
    make_component(interface, "live_chat")
    go_online(agent)
    before = sample("livechat_live_request_accept_seconds_count", kind="text")
    widget = Widget(client, interface, origin=SHOP)
    widget.open()
    response = client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                           headers=widget.headers())
    assert response.status_code == 200, response.get_json()
    request = db.session.scalars(db.select(LiveRequest).where(LiveRequest.status == RequestStatus.PENDING)).one()
    assert sample("livechat_live_request_accept_seconds_count", kind="text") == before
    do_accept(db.session.get(type(agent), agent.id), request.id)
    assert sample("livechat_live_request_accept_seconds_count", kind="text") == before + 1


def test_event_delivery_latency_is_measured_from_the_frames_commit_time():
    from datetime import datetime, timedelta, timezone

    from metrics import observe_delivery

    count, total = sample("livechat_event_delivery_seconds_count"), sample("livechat_event_delivery_seconds_sum")
    written = datetime.now(timezone.utc) - timedelta(seconds=2)
    observe_delivery({"type": "message.created", "pos": 3, "at": written.isoformat()})
    observe_delivery({"type": "message.created", "pos": 4, "at": "not a time"})  # ignored, never an error
    observe_delivery({"type": "typing"})  # ephemeral frames carry no commit time
    assert sample("livechat_event_delivery_seconds_count") == count + 1
    assert 2 <= sample("livechat_event_delivery_seconds_sum") - total < 60


def test_a_live_event_on_a_socket_is_timed_and_its_replay_is_not(app, client, server):
    from tests.live import Client
    from tests.widget_helpers import Widget

    workspace, _ = make_workspace()
    from tests.factories import make_interface

    interface = make_interface(workspace, allowed_origins=[SHOP])
    widget = Widget(client, interface, origin=SHOP)
    widget.open()
    assert widget.send("before the socket", "c0").status_code == 201
    before = sample("livechat_event_delivery_seconds_count")
    sock = Client(server.url, widget.ticket(), origin=SHOP)
    sock.recv()
    sock.send({"type": "resume", "positions": {f"conversation:{widget.conversation_id}": 0}})
    sock.recv_until(lambda f: f["type"] == "ack")
    assert sample("livechat_event_delivery_seconds_count") == before  # a replay is not a delivery
    assert widget.send("live", "c1").status_code == 201
    sock.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == "live")
    deadline = time.monotonic() + 5
    while sample("livechat_event_delivery_seconds_count") == before and time.monotonic() < deadline:
        time.sleep(0.05)  # observed just after the send, on the socket's own thread
    assert sample("livechat_event_delivery_seconds_count") > before
    frames_in = {kind: sample("livechat_socket_frames_total", direction="in", type=kind) for kind in ("ping", "other")}
    sock.send({"type": "ping", "ref": "p"})
    sock.recv_until(lambda f: f.get("ref") == "p")
    sock.send({"type": "no.such.command", "ref": "x"})
    sock.recv_until(lambda f: f.get("ref") == "x")
    assert {kind: sample("livechat_socket_frames_total", direction="in", type=kind) - frames_in[kind]
            for kind in frames_in} == {"ping": 1, "other": 1}  # unknown types share one label
    sock.close()


def test_gunicorn_refuses_a_bad_setting_before_any_worker_boots(tmp_path):
    from tests.live import ROOT

    proc = subprocess.run([sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "wsgi:app"],
                          cwd=ROOT, env={**os.environ, "INSTANCE_PATH": str(tmp_path), "SWEEP_INTERVAL_S": "soon"},
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "SettingsError: SWEEP_INTERVAL_S='soon'" in proc.stdout + proc.stderr
    assert "Booting worker" not in proc.stdout + proc.stderr
