"""Every error, from any layer, answers JSON in one shape: {code, status, message, errors?}."""
import json
import re

import pytest
from flask_jwt_extended import create_access_token

from app import create_app
from config import TestConfig
from extensions import api, db
from models import User
from tests.factories import make_interface, make_user, make_workspace

# Nothing listens on port 1: connecting fails at once, like a database that is down.
UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"
ERROR_KEYS = {"code", "status", "message", "errors"}


def assert_error(response, status, code=None, field=None, location="json"):
    """Assert the error shape; with field, that errors[location] names it."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) <= ERROR_KEYS and {"code", "status", "message"} <= set(body), body
    assert body["status"] == status
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert "Traceback" not in response.get_data(as_text=True)
    if code is not None:
        assert body["code"] == code, body
    if field is not None:
        assert field in body.get("errors", {}).get(location, {}), body
    return body


@pytest.fixture
def admin_headers(app, auth):
    _, admin = make_workspace()
    return auth.headers(admin)


def test_unknown_url_is_404_json(client):
    assert_error(client.get("/api/no-such-thing"), 404, "not_found")


def test_wrong_method_is_405_json_with_allow(client):
    response = client.put("/healthz")
    assert_error(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_body_over_max_content_length_is_413_json(app, client, admin_headers):
    too_big = b'{"name": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'
    response = client.post("/api/agents", data=too_big, content_type="application/json", headers=admin_headers)
    assert_error(response, 413, "payload_too_large")


def test_malformed_json_is_400_json(client, admin_headers):
    response = client.post("/api/agents", data='{"name": "x",', content_type="application/json",
                           headers=admin_headers)
    body = assert_error(response, 400, "bad_request")
    assert body["errors"] == {"json": ["Invalid JSON body."]}


@pytest.mark.parametrize("payload", [[1, 2], "a string", 42, None])
def test_json_that_is_not_an_object_is_422(client, admin_headers, payload):
    response = client.post("/api/agents", data=json.dumps(payload), content_type="application/json",
                           headers=admin_headers)
    assert_error(response, 422, "validation_error")


def test_unexpected_exception_is_500_json_without_details():
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals /etc/passwd")

    try:
        response = app.test_client().get("/boom")
    finally:
        close_app(app)
    body = assert_error(response, 500, "internal_error")
    assert "secret" not in body["message"]


def test_unexpected_exception_discards_the_uncommitted_change(app, client):
    workspace, admin = make_workspace()

    @app.route("/half-done")
    def half_done():
        db.session.get(User, admin.id).name = "Half done"
        raise RuntimeError("after a change, before the commit")

    assert_error(client.get("/half-done"), 500)
    db.session.commit()  # whatever the failed request left in the session would be written now
    db.session.expire_all()
    assert db.session.get(User, admin.id).name != "Half done"


def _token_for_user_one(app):
    with app.test_request_context():
        return create_access_token(identity="1", additional_claims={"kind": "user", "ver": 1, "ws": 1,
                                                                   "role": "admin"})


def close_app(app):
    """Release what an app made outside the app fixture holds (engine, broker thread)."""
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    broker = app.extensions.get("broker")
    if broker is not None:
        broker.close()


@pytest.fixture
def app_without_database():
    """An app whose database refuses connections, as during an outage."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=UNREACHABLE_DB,
                     SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}})
    try:
        with app.app_context():
            yield app
    finally:
        close_app(app)


@pytest.mark.parametrize("method, path, body", [
    ("get", "/api/agents", None),
    ("get", "/api/interfaces/1", None),
    ("post", "/api/interfaces", {"name": "Widget"}),
])
def test_database_outage_on_an_authenticated_route_is_503_json(app_without_database, method, path, body):
    client = app_without_database.test_client()
    headers = {"Authorization": f"Bearer {_token_for_user_one(app_without_database)}"}
    response = getattr(client, method)(path, json=body, headers=headers)
    assert_error(response, 503, "unavailable")
    assert response.headers["Retry-After"]


def test_database_outage_on_login_is_503_json(app_without_database):
    response = app_without_database.test_client().post(
        "/api/auth/login", json={"email": "someone@example.com", "password": "whatever it is"})
    assert_error(response, 503, "unavailable")


def _bearer_operations():
    """(method, path) of every operation the OpenAPI document says needs a bearer token."""
    operations = []
    for path, item in api.spec.to_dict()["paths"].items():
        for method, operation in item.items():
            if isinstance(operation, dict) and operation.get("security") == [{"bearerAuth": []}]:
                operations.append((method, path))
    return operations


def _concrete(path):
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_operation_documented_as_bearer_answers_401_without_a_token(app, client):
    operations = _bearer_operations()
    assert ("get", "/api/agents") in operations
    for method, path in operations:
        # A body that would be invalid: authentication must be decided before parsing.
        response = client.open(_concrete(path), method=method.upper(), json={"unknown": "field"})
        assert_error(response, 401)


@pytest.mark.parametrize("header", ["Bearer not-a-jwt", "Basic dXNlcjpwYXNz", "Bearer "])
def test_bad_authorization_header_is_401_json(client, header):
    assert_error(client.get("/api/agents", headers={"Authorization": header}), 401)


@pytest.mark.parametrize("path", ["/api/agents/{big}", "/api/agents/{big}/invitation",
                                  "/api/interfaces/{big}", "/api/interfaces/{big}/rotate-key"])
def test_id_beyond_the_integer_range_is_404_not_500(client, admin_headers, path):
    method = "post" if path.endswith(("invitation", "rotate-key")) else "get"
    response = getattr(client, method)(path.format(big=2**31), headers=admin_headers)
    assert_error(response, 404, "not_found")
    response = getattr(client, method)(path.format(big=10**30), headers=admin_headers)
    assert_error(response, 404, "not_found")


def test_id_beyond_the_integer_range_in_a_body_is_422(app, client, auth):
    workspace, admin = make_workspace()
    interface = make_interface(workspace)
    agent = make_user(workspace)
    headers = auth.headers(admin)
    response = client.post("/api/agents", json={"name": "A", "email": "big@example.com", "interface_ids": [2**31]},
                           headers=headers)
    assert_error(response, 422, field="interface_ids")
    response = client.put(f"/api/interfaces/{interface.id}/agents", json={"agent_ids": [agent.id, 10**30]},
                          headers=headers)
    assert_error(response, 422, field="agent_ids")
    response = client.get("/api/agents", query_string={"interface_id": 2**40}, headers=headers)
    assert response.status_code == 422
