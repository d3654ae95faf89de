"""Liveness and readiness for load balancers and orchestrators."""
import os
import time
from types import SimpleNamespace

import pytest

from app import create_app
from config import TestConfig
from tests.test_errors import app_without_database, assert_error, close_app  # noqa: F401 - a fixture


def test_healthz_is_200(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_is_200_without_a_database(app_without_database):
    assert app_without_database.test_client().get("/healthz").status_code == 200


def test_readyz_is_200_with_the_database_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok"
    assert set(body["checks"].values()) == {"ok"}


def test_readyz_is_503_when_the_database_is_unreachable(app_without_database):
    response = app_without_database.test_client().get("/readyz")
    body = assert_error(response, 503, "unavailable")
    assert body["errors"]["checks"]["database"] == "unreachable"
    assert "database" in body["message"]


def test_readyz_is_503_naming_an_unreachable_broker(app):
    # The broker is only checked when configured; nothing listens on port 1.
    broken = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
                        REDIS_URL="redis://127.0.0.1:1/0")
    try:
        response = broken.test_client().get("/readyz")
    finally:
        close_app(broken)
    body = assert_error(response, 503, "unavailable")
    assert body["errors"]["checks"] == {"database": "ok", "redis": "unreachable", "broker": "disconnected"}
    assert body["message"] == "Not ready: broker disconnected, redis unreachable"


@pytest.mark.parametrize("answers, connected, status, checks", [
    (True, True, 200, {"database": "ok", "redis": "ok", "broker": "ok"}),
    # Redis answers, but this process's listener is not subscribed: its sockets would hear events late.
    (True, False, 503, {"database": "ok", "redis": "ok", "broker": "disconnected"}),
    (False, True, 503, {"database": "ok", "redis": "unreachable", "broker": "ok"}),
])
def test_readyz_reports_redis_and_the_brokers_listener(app, client, monkeypatch, answers, connected, status, checks):
    monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.extensions, "broker", SimpleNamespace(ping=lambda: answers, connected=connected))
    response = client.get("/readyz")
    if status == 200:
        assert response.status_code == 200 and response.get_json() == {"status": "ok", "checks": checks}
    else:
        assert assert_error(response, 503, "unavailable")["errors"]["checks"] == checks


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs Redis (TEST_REDIS_URL)")
def test_readyz_asks_redis_through_one_pool_and_follows_the_listener(app, client, monkeypatch):
    import redis

    broker = app.extensions["broker"]
    pool = broker._probe.connection_pool
    made = []
    make_connection = pool.make_connection
    monkeypatch.setattr(pool, "make_connection", lambda: made.append(1) or make_connection())

    def no_new_client(*args, **kwargs):
        raise AssertionError("a probe made a Redis client of its own")

    monkeypatch.setattr(redis.Redis, "from_url", no_new_client)
    for _ in range(5):
        response = client.get("/readyz")
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    assert len(made) <= 1
    monkeypatch.undo()  # the listener makes a new client each time it resubscribes

    # The listener drops its subscription (as when a publish fails): it resubscribes and readiness follows.
    broker._lost(ConnectionError("dropped by the test"))
    deadline = time.monotonic() + 10
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "the listener did not come back"
        time.sleep(0.05)
    assert broker.connected
