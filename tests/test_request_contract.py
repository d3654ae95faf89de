"""Request schemas state every rule the server enforces, and the server enforces what they state.

For each JSON request body: a body the spec allows (checked with jsonschema against openapi/openapi.json)
is accepted, and bodies the spec forbids, made from the spec itself (one per rule of each top-level
property: its type, length, pattern, enum, range, count, keys; each required property left out) are
refused with 422. A rule added to the spec that the server does not enforce, or the reverse, fails here.

One leniency is left on purpose: marshmallow reads "12" as 12 and "yes" as true. A client that follows the
spec never sends those, so the wrong-type cases here are values no field coerces ("twelve", "maybe").
"""
import hashlib
import hmac
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ROOT = Path(__file__).resolve().parent.parent
ORIGIN = "https://shop.example"
_REF = "#/components/schemas/"
# Request bodies this module does not send, and why.
NOT_SENT = {
    ("post", "/api/auth/set-password"): "needs a mailed token; tests/test_auth.py covers its rules",
    ("post", "/api/auth/login"): "rate limited per address; tests/test_auth.py covers its rules",
}


def document():
    return json.loads((ROOT / "openapi" / "openapi.json").read_text())


def resolve(schema, doc):
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"][len(_REF):]]
    return schema


def body_schema(doc, method, path):
    return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def validator(doc, schema):
    return Draft202012Validator({**schema, "components": doc["components"]})


def object_schema(doc, schema, body):
    """The object schema a body is checked against (for a union, the variant its discriminator names)."""
    schema = resolve(schema, doc)
    if "discriminator" in schema:
        target = schema["discriminator"]["mapping"][body[schema["discriminator"]["propertyName"]]]
        return resolve({"$ref": target}, doc)
    return schema


def _types(prop):
    types = prop.get("type", [])
    return types if isinstance(types, list) else [types]


def forbidden_values(doc, prop):
    """(rule, value) pairs, each breaking one rule of the property schema."""
    prop = resolve(prop, doc)
    types = _types(prop)
    cases = []
    if types and "null" not in types and "anyOf" not in prop:
        cases.append(("null", None))
    if "string" in types:
        cases.append(("type", 12345))
        if prop.get("minLength"):
            cases.append(("minLength", "a" * (prop["minLength"] - 1)))
        if "maxLength" in prop:
            cases.append(("maxLength", "a" * (prop["maxLength"] + 1)))
        if "pattern" in prop:
            for candidate in ("   ", "", "x\ny", "ftp://x", "-"):
                if not Draft202012Validator(prop).is_valid(candidate):
                    cases.append(("pattern", candidate))
                    break
        if "enum" in prop:
            cases.append(("enum", "not-one-of-them"))
    if "integer" in types:
        cases.append(("type", "twelve"))
        if "minimum" in prop:
            cases.append(("minimum", prop["minimum"] - 1))
        if "maximum" in prop:
            cases.append(("maximum", prop["maximum"] + 1))
    if "boolean" in types:
        cases.append(("type", "maybe"))
    if "array" in types:
        cases.append(("type", {}))
        if "maxItems" in prop:
            cases.append(("maxItems", [1] * (prop["maxItems"] + 1)))
    if "object" in types:
        cases.append(("type", []))
        if "maxProperties" in prop:
            cases.append(("maxProperties", {f"k{i}": "x" for i in range(prop["maxProperties"] + 1)}))
        if "maxLength" in prop.get("propertyNames", {}):
            cases.append(("propertyNames", {"k" * (prop["propertyNames"]["maxLength"] + 1): "x"}))
    return cases


def forbidden_bodies(doc, schema, valid):
    """(what, body) pairs: valid with one rule of the spec broken; each checked to be invalid by the spec."""
    target = object_schema(doc, schema, valid)
    out = []
    for name in target.get("required", []):
        if name in valid:
            out.append((f"{name} left out", {k: v for k, v in valid.items() if k != name}))
    for name, prop in target.get("properties", {}).items():
        for rule, value in forbidden_values(doc, prop):
            out.append((f"{name}: {rule}", {**valid, name: value}))
    if target.get("minProperties"):
        out.append(("minProperties", {}))
    check = validator(doc, schema)
    return [(what, body) for what, body in out if not check.is_valid(body)]


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agent, other = make_user(workspace), make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent, other])
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    live = make_component(interface, "live_chat", {})
    go_online(agent, other)
    return {"admin": auth.headers(admin), "agent": auth.headers(agent), "other": other, "agent_id": agent.id,
            "interface": interface, "live": live}


def _etag(client, url, headers):
    response = client.get(url, headers=headers)
    return {**headers, "If-Match": response.headers["ETag"]}


def _bodies(doc, media_type):
    return {(method, path) for path, item in doc["paths"].items() for method, op in item.items()
            if isinstance(op, dict) and media_type in op.get("requestBody", {}).get("content", {})}


def test_every_request_body_is_sent(world):
    """Every operation with a JSON body is in the cases below or in NOT_SENT; the others are file uploads."""
    doc = document()
    with_body = _bodies(doc, "application/json")
    assert with_body == set(CASES) | set(NOT_SENT), sorted(with_body ^ (set(CASES) | set(NOT_SENT)))
    uploads = {(method, path) for path, item in doc["paths"].items() for method, op in item.items()
               if isinstance(op, dict) and "requestBody" in op} - with_body
    assert uploads == _bodies(doc, "multipart/form-data") == set(UPLOADS), sorted(uploads)


# Multipart bodies: one binary `file` part (tests/test_attachments.py sends them, good and bad).
UPLOADS = [("post", "/api/conversations/{conversation_id}/attachments"),
           ("post", "/api/widget/{public_key}/conversations/{conversation_id}/attachments")]


@pytest.mark.parametrize(("method", "path"), UPLOADS, ids=[f"{m} {p}" for m, p in UPLOADS])
def test_an_upload_body_is_one_required_binary_file(method, path):
    doc = document()
    body = doc["paths"][path][method]["requestBody"]
    schema = object_schema(doc, body["content"]["multipart/form-data"]["schema"], {})
    assert body["required"] and schema["required"] == ["file"]
    assert schema["properties"]["file"]["format"] == "binary" and schema["properties"]["file"]["type"] == "string"


def _send(client, world, method, path):
    """The URL, headers and a valid body of one operation, made against world."""
    interface, live = world["interface"], world["live"]
    admin, agent = world["admin"], world["agent"]
    flow = f"/api/interfaces/{interface.id}/components"
    component = f"{flow}/{live.id}"
    if path.startswith("/api/widget/"):
        widget = Widget(client, interface, origin=ORIGIN)
        widget.open()
        suffix = path.rsplit("}", 1)[1]
        if suffix == "/offline-form":
            client.put("/api/availability", json={"availability": "offline"}, headers=agent)
            client.patch(f"/api/agents/{world['other'].id}", json={"is_active": False}, headers=admin)
            client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"},
                        headers=widget.headers())
            client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                        headers=widget.headers())
            request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
            body = {"request_id": request_id, "answers": {"name": "Ann", "email": "ann@example.com",
                                                          "message": "Call me"}}
        elif suffix == "/actions":
            body = {"type": "button", "button_id": "button_0"}
        elif suffix in ("/sessions", "/visitor"):
            body = {"name": "Ann", "email": "ann@example.com", "attributes": {"plan": "pro"}}
            if suffix == "/sessions":
                body["identity"] = {"user_id": "u1", "user_hash": hmac.new(
                    interface.identity_secret.encode(), b"u1", hashlib.sha256).hexdigest()}
                return f"/api/widget/{interface.public_key}/sessions", {"Origin": ORIGIN}, body, 201
            return f"/api/widget/{interface.public_key}/visitor", widget.headers(), body, 200
        elif suffix == "/read":
            body = {"seq": 1}
        elif suffix in ("/rating", "/transcript"):
            for button in ("button_0", "live_chat"):
                client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                            headers=widget.headers())
            request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
            client.post(f"/api/requests/{request_id}/accept", headers=agent)
            client.post(f"/api/conversations/{widget.conversation_id}/end", json={}, headers=agent)
            body = {"score": 4, "comment": "Quick"} if suffix == "/rating" else {"email": "ann@example.com"}
            return widget.url(suffix), widget.headers(), body, 201 if suffix == "/rating" else 202
        else:
            body = {"client_id": "c1", "text": "Hello"}
        return widget.url(suffix), widget.headers(), body, 201 if suffix not in ("/actions", "/read") else 200
    if path.startswith("/api/conversations/"):
        widget = Widget(client, interface, origin=ORIGIN)
        widget.open()
        client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"},
                    headers=widget.headers())
        client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                    headers=widget.headers())
        request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
        conversation = client.post(f"/api/requests/{request_id}/accept", headers=agent).get_json()
        url = f"/api/conversations/{conversation['id']}" + path.rsplit("}", 1)[1]
        body = {"/messages": {"client_id": "a1", "text": "Hi"}, "/read": {"seq": 1},
                "/transfer": {"agent_id": world["other"].id, "note": "over to you"},
                "/hand-back": {"component_id": None}, "/end": {"reason": "done"},
                "/notes": {"text": "Refund approved", "mentions": [world["other"].id]}}[path.rsplit("}", 1)[1]]
        return url, agent, body, 201 if path.endswith(("/messages", "/notes")) else 200
    table = {
        ("post", "/api/agents"): ("/api/agents", admin, {"name": "New", "email": "new@example.com"}, 201),
        ("patch", "/api/workspace"): ("/api/workspace", admin, {"name": "Acme", "timezone": "Europe/Berlin",
                                                                "retention_days": 90}, 200),
        ("patch", "/api/agents/{agent_id}"): (f"/api/agents/{world['agent_id']}", admin, {"max_chats": 2}, 200),
        ("post", "/api/interfaces"): ("/api/interfaces", admin, {"name": "Shop", "allowed_origins": [ORIGIN]}, 201),
        ("patch", "/api/interfaces/{interface_id}"): (f"/api/interfaces/{interface.id}", admin,
                                                      {"name": "Shop 2"}, 200),
        ("put", "/api/interfaces/{interface_id}/agents"): (f"/api/interfaces/{interface.id}/agents", admin,
                                                           {"agent_ids": [world["agent_id"]]}, 200),
        ("post", "/api/interfaces/{interface_id}/components"): (flow, admin, {"type": "message"}, 201),
        ("put", "/api/interfaces/{interface_id}/components/{component_id}"): (
            component, _etag(client, component, admin), {"type": "live_chat", "name": "Talk"}, 200),
        ("patch", "/api/interfaces/{interface_id}/components/{component_id}"): (
            component, _etag(client, component, admin), {"type": "live_chat", "name": "Talk"}, 200),
        ("post", "/api/interfaces/{interface_id}/components/{component_id}/move"): (
            component + "/move", admin, {"position": 0}, 200),
        ("put", "/api/availability"): ("/api/availability", agent, {"availability": "online"}, 200),
        ("post", "/api/canned-responses"): ("/api/canned-responses", admin,
                                            {"shortcut": "hello", "text": "Hi {visitor_name}", "scope": "shared"}, 201),
        # A literal public address: nothing is resolved, and no test sends anything there.
        ("post", "/api/webhooks"): ("/api/webhooks", admin, {"url": "https://93.184.216.34/hooks",
                                                             "event_types": ["message.created"]}, 201),
    }
    if (method, path) == ("patch", "/api/canned-responses/{canned_response_id}"):
        canned = client.post("/api/canned-responses", json={"shortcut": "mine", "text": "Hi"}, headers=agent)
        return f"/api/canned-responses/{canned.get_json()['id']}", agent, {"text": "Hi {agent_name}"}, 200
    if path == "/api/webhooks/{webhook_id}":
        created = client.post("/api/webhooks", json={"url": "https://93.184.216.34/hooks",
                                                     "event_types": ["message.created"]}, headers=admin).get_json()
        return f"/api/webhooks/{created['id']}", admin, {"description": "CRM"}, 200
    if (method, path) in table:
        return table[(method, path)]
    section = path.rsplit("/", 1)[1]
    body = {"options": {"live_chat": {"enabled": True}}, "messages": {"welcome": "Hi"},
            "offline-form": {"active": False}, "chat-message": {"text": "Talk to us?"}}[section]
    return component + "/live-chat/" + section, _etag(client, component, admin), body, 200


CASES = [
    ("post", "/api/agents"), ("patch", "/api/agents/{agent_id}"), ("post", "/api/interfaces"),
    ("patch", "/api/interfaces/{interface_id}"), ("put", "/api/interfaces/{interface_id}/agents"),
    ("post", "/api/interfaces/{interface_id}/components"),
    ("put", "/api/interfaces/{interface_id}/components/{component_id}"),
    ("patch", "/api/interfaces/{interface_id}/components/{component_id}"),
    ("post", "/api/interfaces/{interface_id}/components/{component_id}/move"),
    ("put", "/api/interfaces/{interface_id}/components/{component_id}/live-chat/options"),
    ("put", "/api/interfaces/{interface_id}/components/{component_id}/live-chat/messages"),
    ("put", "/api/interfaces/{interface_id}/components/{component_id}/live-chat/offline-form"),
    ("put", "/api/interfaces/{interface_id}/components/{component_id}/live-chat/chat-message"),
    ("put", "/api/availability"),
    ("post", "/api/conversations/{conversation_id}/messages"), ("post", "/api/conversations/{conversation_id}/read"),
    ("post", "/api/conversations/{conversation_id}/transfer"),
    ("post", "/api/conversations/{conversation_id}/hand-back"),
    ("post", "/api/conversations/{conversation_id}/end"),
    ("post", "/api/conversations/{conversation_id}/notes"),
    ("post", "/api/canned-responses"), ("patch", "/api/canned-responses/{canned_response_id}"),
    ("patch", "/api/workspace"),
    ("post", "/api/widget/{public_key}/conversations/{conversation_id}/messages"),
    ("post", "/api/widget/{public_key}/conversations/{conversation_id}/read"),
    ("post", "/api/widget/{public_key}/conversations/{conversation_id}/actions"),
    ("post", "/api/widget/{public_key}/conversations/{conversation_id}/offline-form"),
    ("post", "/api/widget/{public_key}/sessions"), ("patch", "/api/widget/{public_key}/visitor"),
    ("post", "/api/webhooks"), ("patch", "/api/webhooks/{webhook_id}"),
    ("post", "/api/widget/{public_key}/conversations/{conversation_id}/rating"),
    ("post", "/api/widget/{public_key}/conversations/{conversation_id}/transcript"),
]


@pytest.mark.parametrize(("method", "path"), CASES, ids=[f"{m} {p}" for m, p in CASES])
def test_the_server_refuses_what_the_spec_forbids_and_takes_what_it_allows(client, world, method, path):
    doc = document()
    schema = body_schema(doc, method, path)
    url, headers, valid, status = _send(client, world, method, path)
    assert validator(doc, schema).is_valid(valid), list(validator(doc, schema).iter_errors(valid))
    forbidden = forbidden_bodies(doc, schema, valid)
    assert forbidden, "the spec forbids nothing in this body"
    accepted = []
    for what, body in forbidden:
        response = client.open(url, method=method.upper(), json=body, headers=headers)
        if response.status_code != 422:
            accepted.append((what, body, response.status_code))
    assert not accepted, f"the spec forbids, the server did not refuse with 422: {accepted}"
    response = client.open(url, method=method.upper(), json=valid, headers=headers)
    assert response.status_code == status, response.get_json()
