"""Hostile input is a 4xx in the error shape, never a 500: huge integers, deep JSON, unstorable text, missing bodies."""
import json
import os
import socket
from pathlib import Path

import pytest

from extensions import api, db
from models import Message
from models.base import ID_MAX
from schemas.inbound import JSON_DEPTH_MAX
from blueprints.socket_protocol import SocketSession
from tests.factories import make_component, make_interface, make_user, make_workspace
from tests.live import Client, GunicornServer
from tests.test_errors import assert_error
from tests.widget_helpers import Widget

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://shop.example"
HUGE = 2**70
DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
LIST_PATHS = ["/api/agents", "/api/audit", "/api/conversations", "/api/interfaces", "/api/notifications",
              "/api/requests", "/api/interfaces/{interface}/offline-submissions", "/api/canned-responses",
              "/api/conversations/{conversation}/notes"]


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    make_component(interface, "message", {"text": "Hi"})
    live = make_component(interface, "live_chat", {})
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    return {"workspace": workspace, "admin": admin, "agent": agent, "interface": interface, "live": live,
            "widget": widget, "headers": auth.headers(admin)}


def _post_raw(client, path, raw, headers=None):
    return client.post(path, data=raw, content_type="application/json", headers=headers or {})


# -- integers past their range ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LIST_PATHS)
@pytest.mark.parametrize("page", [HUGE, 2**63, 100_001, 0])
def test_page_beyond_its_range_is_422_on_every_list(client, world, path, page):
    url = path.format(interface=world["interface"].id, conversation=world["widget"].conversation_id)
    response = client.get(url, query_string={"page": page}, headers=world["headers"])
    assert_error(response, 422, "validation_error", field="page", location="query")


@pytest.mark.parametrize("path", LIST_PATHS)
def test_the_last_page_allowed_is_an_empty_page(client, world, path):
    url = path.format(interface=world["interface"].id, conversation=world["widget"].conversation_id)
    response = client.get(url, query_string={"page": 100_000},
                          headers=world["headers"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["items"] == []


@pytest.mark.parametrize("field", ["after", "before"])
def test_message_cursor_beyond_its_range_is_422(client, world, field):
    widget = world["widget"]
    assert_error(widget.messages(**{field: HUGE}), 422, field=field, location="query")
    response = client.get(f"/api/conversations/{widget.conversation_id}/messages", query_string={field: HUGE},
                          headers=world["headers"])
    assert_error(response, 422, field=field, location="query")


@pytest.mark.parametrize("path", ["/api/offline-submissions/{big}", "/api/conversations/{big}",
                                  "/api/interfaces/{big}/components", "/api/conversations/{big}/messages"])
@pytest.mark.parametrize("big", [ID_MAX + 1, 2**63, HUGE, "9" * 5000], ids=["id_max+1", "2^63", "2^70", "5000 digits"])
def test_path_id_beyond_its_range_is_404(client, world, path, big):
    assert_error(client.get(path.format(big=big), headers=world["headers"]), 404, "not_found")


def test_widget_path_id_beyond_its_range_is_404(client, world):
    widget = world["widget"]
    response = client.get(f"/api/widget/{widget.key}/conversations/{HUGE}", headers=widget.headers())
    assert_error(response, 404, "not_found")


def test_offline_form_request_id_beyond_its_range_is_422(client, world):
    widget = world["widget"]
    response = client.post(widget.url("/offline-form"), json={"request_id": HUGE, "answers": {}},
                           headers=widget.headers())
    assert_error(response, 422, field="request_id")


@pytest.mark.parametrize("path, body, field", [
    ("/api/conversations/{conversation}/read", {"seq": HUGE}, "seq"),
    ("/api/conversations/{conversation}/transfer", {"agent_id": HUGE}, "agent_id"),
    ("/api/conversations/{conversation}/hand-back", {"component_id": HUGE}, "component_id"),
    ("/api/interfaces/{interface}/components/{live}/move", {"position": HUGE}, "position"),
])
def test_body_integer_beyond_its_range_is_422(client, world, path, body, field):
    url = path.format(conversation=world["widget"].conversation_id, interface=world["interface"].id,
                      live=world["live"].id)
    assert_error(client.post(url, json=body, headers=world["headers"]), 422, field=field)


@pytest.mark.parametrize("path, field", [("/api/audit", "conversation_id"), ("/api/conversations", "interface_id"),
                                         ("/api/agents", "interface_id")])
def test_query_id_beyond_its_range_is_422(client, world, path, field):
    response = client.get(path, query_string={field: HUGE}, headers=world["headers"])
    assert_error(response, 422, field=field, location="query")


@pytest.mark.parametrize("frame, field", [
    ({"type": "message.send", "conversation_id": HUGE, "client_id": "c", "text": "x"}, "conversation_id"),
    ({"type": "read", "conversation_id": 1, "seq": HUGE}, "seq"),
    ({"type": "subscribe", "stream": "conversation:1", "after": HUGE}, "after"),
    ({"type": "resume", "positions": {"conversation:1": HUGE}}, "positions"),
    ({"type": "request.accept", "request_id": HUGE}, "request_id"),
])
def test_frame_integer_beyond_its_range_is_a_422_frame(world, frame, field):
    visitor_or_agent = world["agent"] if frame["type"] == "request.accept" else _visitor(world["widget"])
    session = SocketSession(visitor_or_agent, push=lambda stream, event: None)
    [error] = session.handle_text(json.dumps(frame))
    assert (error["type"], error["status"]) == ("error", 422), error
    assert field in error["errors"]


@pytest.mark.parametrize("stream", [f"conversation:{HUGE}", f"conversation:{ID_MAX + 1}", "conversation:-1",
                                    "conversation:1_0", "visitor: 1", "user:" + "9" * 5000])
def test_stream_naming_an_id_out_of_range_is_a_404_frame(world, stream):
    session = SocketSession(_visitor(world["widget"]), push=lambda event_stream, event: None)
    [error] = session.handle_text(json.dumps({"type": "subscribe", "stream": stream[:64], "ref": "s"}))
    assert (error["type"], error["status"]) in (("error", 404), ("error", 422)), error
    [error] = session.handle_text(json.dumps({"type": "resume", "positions": {stream[:64]: 0}}))
    assert error["type"] == "error" and error["status"] in (404, 422), error


def _inbound_integers(spec):
    """(where, schema) of every integer a client sends: path and query parameters, and request bodies."""
    components = spec["components"]["schemas"]

    def walk(where, schema, seen):
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                yield from walk(where, components[name], seen | {name})
            return
        if schema.get("readOnly"):
            return
        if schema.get("type") == "integer":
            yield where, schema
        for key, sub in schema.get("properties", {}).items():
            yield from walk(f"{where}.{key}", sub, seen)
        for key in ("items", "additionalProperties"):
            if isinstance(schema.get(key), dict):
                yield from walk(f"{where}[]", schema[key], seen)
        for key in ("allOf", "oneOf", "anyOf"):
            for sub in schema.get(key, []):
                yield from walk(where, sub, seen)

    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            for parameter in item.get("parameters", []) + operation.get("parameters", []):
                if "$ref" in parameter:
                    parameter = spec["components"]["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
                yield from walk(f"{method} {path} {parameter['name']}", parameter["schema"], frozenset())
            for media in operation.get("requestBody", {}).get("content", {}).values():
                yield from walk(f"{method} {path} body", media["schema"], frozenset())


def test_every_inbound_integer_has_a_declared_range(app):
    integers = list(_inbound_integers(api.spec.to_dict()))
    assert len(integers) > 30
    unbounded = [where for where, schema in integers if "minimum" not in schema or "maximum" not in schema]
    assert unbounded == []
    ids = {schema["maximum"] for where, schema in integers if where.endswith("_id")}
    assert ids == {ID_MAX}


def test_every_socket_command_integer_has_a_range():
    from marshmallow import fields, validate

    from schemas.events import COMMAND_SCHEMAS

    def integers(schema, where):
        for name, field in schema.fields.items():
            inner = field.value_field if isinstance(field, fields.Dict) else field
            if isinstance(field, fields.Nested):
                yield from integers(field.schema, f"{where}.{name}")
            elif isinstance(inner, fields.Integer):
                yield f"{where}.{name}", inner

    found = [(where, field) for kind, schema in COMMAND_SCHEMAS.items() for where, field in integers(schema(), kind)]
    assert found
    unbounded = [where for where, field in found
                 if not any(isinstance(v, validate.Range) and v.min is not None and v.max is not None
                            for v in field.validators)]
    assert unbounded == []


# -- 10,000-deep JSON -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [DEEP, DEEP_OBJECT, "[" * (JSON_DEPTH_MAX + 1) + "]" * (JSON_DEPTH_MAX + 1)])
def test_deep_json_at_login_without_a_token_is_400(client, raw):
    assert_error(_post_raw(client, "/api/auth/login", raw), 400, "bad_request")


def test_deep_json_is_400_on_every_json_route(app, client, world):
    widget = world["widget"]
    headers = {**world["headers"], "If-Match": "*"}
    operations = 0
    for path, item in api.spec.to_dict()["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "application/json" not in operation.get("requestBody", {}).get(
                    "content", {}):
                continue  # no body, or a file upload (multipart: tests/test_attachments.py)
            url = path.replace("{public_key}", widget.key).replace("{conversation_id}", str(widget.conversation_id))
            url = url.replace("{interface_id}", str(world["interface"].id)).replace("{component_id}",
                                                                                   str(world["live"].id))
            url = url.replace("{agent_id}", str(world["agent"].id)).replace("{request_id}", "1")
            url = url.replace("{canned_response_id}", "1")
            url = url.replace("{webhook_id}", "1")
            who = widget.headers() if path.startswith("/api/widget") else headers
            response = client.open(url, method=method.upper(), data=DEEP_OBJECT, content_type="application/json",
                                   headers=who)
            assert_error(response, 400)
            operations += 1
    assert operations > 20


def test_moderately_nested_json_inside_the_bound_still_works(client, world):
    answers = json.dumps({"request_id": 1, "answers": {"name": [[["x"]]]}})
    response = _post_raw(client, world["widget"].url("/offline-form"), answers, world["widget"].headers())
    assert response.status_code in (404, 409, 422), response.get_json()


def test_deep_json_frame_is_an_error_frame(world):
    session = SocketSession(_visitor(world["widget"]), push=lambda stream, event: None)
    for raw in (DEEP, DEEP_OBJECT):
        [error] = session.handle_text(raw)
        assert (error["type"], error["status"], error["code"]) == ("error", 400, "malformed_frame")
    assert session.handle_text('{"type": "ping"}')[0]["type"] == "pong"


def test_deep_json_over_a_real_socket_keeps_it_serving(world, server):
    sock = Client(server.url, world["widget"].ticket(), origin=ORIGIN)
    sock.recv()
    sock.ws.send(DEEP)
    assert sock.recv()["code"] == "malformed_frame"
    sock.send({"type": "ping", "ref": "p"})
    assert sock.recv() == {"type": "pong", "ref": "p"}
    sock.close()


# -- text that no column can store ------------------------------------------------------------------------------


BAD_TEXTS = ["\ud800", "a\udfffb", "nul\u0000inside"]


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_unstorable_message_text_is_422_on_the_field(client, world, text):
    widget = world["widget"]
    raw = json.dumps({"text": text, "client_id": "c1"})
    assert_error(_post_raw(client, widget.url("/messages"), raw, widget.headers()), 422, field="text")
    client.post(f"/api/conversations/{widget.conversation_id}/takeover", headers=world["headers"])
    raw = json.dumps({"text": text, "client_id": "c2"})
    response = _post_raw(client, f"/api/conversations/{widget.conversation_id}/messages", raw, world["headers"])
    assert_error(response, 422, field="text")
    assert db.session.query(Message).filter(Message.client_id.in_(["c1", "c2"])).count() == 0


@pytest.mark.parametrize("path, body, field", [
    ("/api/auth/login", {"email": "a@example.com", "password": "\ud800"}, "password"),
    ("/api/agents", {"name": "\ud800", "email": "x@example.com"}, "name"),
    ("/api/interfaces", {"name": "W", "allowed_origins": ["https://a.example\ud800"]}, "allowed_origins"),
    ("/api/interfaces/{interface}/components", {"type": "message", "config": {"text": "hi \ud800"}}, "config"),
])
def test_lone_surrogate_anywhere_in_a_body_is_422_on_its_field(client, world, path, body, field):
    url = path.format(interface=world["interface"].id)
    assert_error(_post_raw(client, url, json.dumps(body), world["headers"]), 422, field=field)


def test_lone_surrogate_in_a_key_is_422(client, world):
    widget = world["widget"]
    raw = json.dumps({"request_id": 1, "answers": {"\ud800": "x"}})
    body = assert_error(_post_raw(client, widget.url("/offline-form"), raw, widget.headers()), 422, field="answers")
    raw = json.dumps({"\ud800": 1})
    body = assert_error(_post_raw(client, widget.url("/offline-form"), raw, widget.headers()), 422)
    assert "\\ud800" in body["errors"]["json"]


@pytest.mark.parametrize("email", ["\ud800@example.com", "a\u0000@example.com", "a@example.com" + "x" * 5000])
def test_login_throttle_key_is_storable_whatever_the_email(app, email):
    from blueprints.auth import _login_account_key

    with app.test_request_context("/api/auth/login", method="POST", json={"email": email, "password": "x"}):
        key = _login_account_key()
    key.encode("utf-8")
    assert "\0" not in key and len(key) <= 300


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="the throttle's Redis storage")
def test_login_with_unstorable_email_is_422_with_redis_throttling(tmp_path):
    from app import create_app
    from config import TestConfig
    from tests.test_errors import close_app

    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path}/t.db",
                     RATELIMIT_STORAGE_URI=os.environ["TEST_REDIS_URL"])
    try:
        raw = json.dumps({"email": "\ud800@example.com", "password": "x"})
        assert_error(_post_raw(app.test_client(), "/api/auth/login", raw), 422, field="email")
    finally:
        close_app(app)


def test_nul_in_a_query_string_is_422(client, world):
    response = client.get("/api/agents", query_string={"q": "a\u0000b"}, headers=world["headers"])
    assert_error(response, 422, field="q", location="query")


def test_widget_key_that_cannot_be_one_is_404(client):
    for key in ("pk_%00x", "nul%00", "pk_" + "a" * 62, "%ED%A0%80"):
        assert_error(client.post(f"/api/widget/{key}/sessions"), 404, "not_found")


@pytest.mark.parametrize("text", BAD_TEXTS)
def test_unstorable_text_in_a_frame_is_a_422_frame(world, text):
    widget = world["widget"]
    session = SocketSession(_visitor(widget), push=lambda stream, event: None)
    frame = json.dumps({"type": "message.send", "conversation_id": widget.conversation_id, "client_id": "s",
                        "text": text, "ref": "r"})
    [error] = session.handle_text(frame)
    assert (error["type"], error["status"], error["ref"]) == ("error", 422, "r"), error
    assert "text" in error["errors"]


def test_every_schema_refuses_unstorable_text():
    import importlib
    import pkgutil

    import marshmallow as ma

    import schemas
    from schemas.common import Schema

    for module in pkgutil.iter_modules(schemas.__path__):
        importlib.import_module(f"schemas.{module.name}")

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [cls for cls in subclasses(ma.Schema) if cls.__module__.startswith("schemas.")]
    assert len(ours) > 50
    assert [cls.__name__ for cls in ours if not issubclass(cls, Schema)] == []


# -- request line and size limits -------------------------------------------------------------------------------


def _raw_get(url, target):
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), head.decode("latin-1"), body


def test_gunicorn_takes_request_lines_up_to_its_limit_and_refuses_longer_ones_in_the_error_shape(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/gunicorn.db", "JWT_SECRET_KEY": "x" * 32, "REDIS_URL": ""}
    with GunicornServer(env) as server:
        status, head, body = _raw_get(server.url, "/api/no-such-thing?q=" + "x" * 8000)
        assert status == 404 and "application/json" in head
        assert json.loads(body)["code"] == "not_found"
        status, head, body = _raw_get(server.url, "/api/no-such-thing?q=" + "x" * 8200)
        assert status == 414 and "application/json" in head
        assert set(json.loads(body)) == {"code", "status", "message"}
        assert json.loads(body)["status"] == 414
    readme = (ROOT / "README.md").read_text()
    assert "GUNICORN_LIMIT_REQUEST_LINE" in readme and "8190" in readme


def test_long_request_line_inside_the_limit_answers_json(client, world):
    response = client.get("/api/agents", query_string={"q": "x" * 7000}, headers=world["headers"])
    assert_error(response, 422, field="q", location="query")


# -- bodies the spec calls required -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/agents/{agent}", "/api/interfaces/{interface}"])
def test_patch_without_a_body_is_422(client, world, path):
    url = path.format(agent=world["agent"].id, interface=world["interface"].id)
    body = assert_error(client.patch(url, headers=world["headers"]), 422, "validation_error")
    assert body["errors"]["json"]
    assert_error(client.patch(url, json={}, headers=world["headers"]), 422, "validation_error")


def test_end_without_a_body_ends_the_chat(client, world):
    conversation = world["widget"].conversation_id
    client.post(f"/api/conversations/{conversation}/takeover", headers=world["headers"])
    response = client.post(f"/api/conversations/{conversation}/end", headers=world["headers"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "closed"


def test_spec_says_which_bodies_are_required(app):
    paths = api.spec.to_dict()["paths"]
    assert paths["/api/agents/{agent_id}"]["patch"]["requestBody"]["required"] is True
    assert paths["/api/interfaces/{interface_id}"]["patch"]["requestBody"]["required"] is True
    assert paths["/api/conversations/{conversation_id}/end"]["post"]["requestBody"]["required"] is False


# -- an empty button label means the default -------------------------------------------------------------------


def test_empty_button_label_takes_the_default(client, world):
    url = f"/api/interfaces/{world['interface'].id}/components/{world['live'].id}/live-chat/options"
    headers = {**world["headers"], "If-Match": "*"}
    body = {"live_chat": {"enabled": True, "label": ""}, "video_chat": {"enabled": True, "label": "  "}}
    response = client.put(url, json=body, headers=headers)
    assert response.status_code == 200, response.get_json()
    options = response.get_json()["config"]["options"]
    assert (options["live_chat"]["label"], options["video_chat"]["label"]) == ("Live chat", "Video chat")


def _visitor(widget):
    from models import Conversation

    return db.session.get(Conversation, widget.conversation_id).visitor
