"""Liveness and readiness for load balancers and orchestrators."""
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
    assert body["errors"]["checks"] == {"database": "ok", "redis": "unreachable"}
