"""Response schemas tell the truth: what the spec requires, real responses carry.

Every response the test client receives is validated against openapi/openapi.json (tests/response_contract.py,
installed by conftest.py). This module drives one day of the API through every response schema, and checks
the document itself: no response property optional unless listed below with the reason.
"""
import io
import json
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo
from pathlib import Path

import pytest

from schemas.openapi import component_refs
from tests import response_contract
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "openapi.json"
ORIGIN = "https://shop.example"
_REF = "#/components/schemas/"

# (schema, property) -> why the server may leave it out of a response. Everything else is always sent.
MAY_BE_ABSENT = {
    ("Error", "errors"): "sent only when there are per-field errors",
    ("Health", "checks"): "only /readyz checks the dependencies",
    ("IceServer", "username"): "a STUN server has no credentials",
    ("IceServer", "credential"): "a STUN server has no credentials",
    ("ButtonTarget", "component_id"): "only a target of type component has one",
    ("ButtonAction", "component_id"): "only an action of type component has one",
    ("BotShowData", "request_id"): "only the welcome and offline stages belong to a request",
    ("ChatEndedEvent", "reason"): "only a chat the visitor left says why it ended",
    ("Conversation", "unread_count"): "only the agents' conversation list and conversation view count them",
    ("Conversation", "rating"): "only the agents' conversation list and conversation view carry it",
}
# The error components (blueprints/contract.py: one per set of codes, each with Error's properties) leave out
# `errors` as Error does, for the same reason.
ERROR_MAY_BE_ABSENT = {"errors": MAY_BE_ABSENT[("Error", "errors")]}
# Objects of the document whose keys or values no schema says, and why (request and response alike).
FREE_FORM = {
    ("AuditEntry", "details"): "its keys depend on `action` (routing mode, notified agent ids, a transfer's "
                               "from and to...); the audit trail is read by people, not parsed by clients",
}
# Response schemas no flow here reaches, and why.
NOT_EXERCISED = {
    "PaginationMetadata": "flask-smorest's own component; no operation refers to it",
    "Error": "the `default` response: a status the operation does not list (a 500, a 405...)",
}
# Error components this flow provokes (a 404 and a 422); the others are the answers of the error cases of the
# suite, every one of them validated too (tests/response_contract.py), and the codes they can carry are
# checked against the errors the suite provokes (tests/test_contract.py).
ERRORS_EXERCISED = {"Error404", "Error422"}


def spec():
    return json.loads(SPEC.read_text())


def error_components(document):
    """The components the error responses (4xx, 5xx) of the operations refer to."""
    names = set()
    for item in document["paths"].values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for status, response in operation["responses"].items():
                if status != "default" and int(status) >= 400:
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    names.add(ref[len(_REF):])
    return names


def response_schemas(document):
    """The component schemas some response refers to, directly or through another."""
    schemas = document["components"]["schemas"]
    todo = component_refs(document["components"].get("responses", {}))
    for item in document["paths"].values():
        for method, operation in item.items():
            if isinstance(operation, dict) and "responses" in operation:
                todo |= component_refs(operation["responses"])
    seen = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo |= component_refs(schemas[name]) - seen
    return seen


def property_counts(document):
    """required / optional / nullable response properties, and the optional ones by (schema, property)."""
    schemas = document["components"]["schemas"]
    counts, optional = Counter(), set()
    for name in response_schemas(document):
        schema = schemas[name]
        required = set(schema.get("required", ()))
        for prop, body in schema.get("properties", {}).items():
            counts["properties"] += 1
            counts["required" if prop in required else "optional"] += 1
            if prop not in required:
                optional.add((name, prop))
            types = body.get("type")
            if body.get("nullable") or (isinstance(types, list) and "null" in types) \
                    or {"type": "null"} in body.get("anyOf", []) + body.get("oneOf", []):
                counts["nullable"] += 1
        if "properties" in schema and not required:
            counts["schemas requiring nothing"] += 1
    return counts, optional


def test_no_response_property_is_optional_unless_listed_with_a_reason():
    document = spec()
    _, optional = property_counts(document)
    listed = set(MAY_BE_ABSENT) | {(name, prop) for name in error_components(document) for prop in ERROR_MAY_BE_ABSENT}
    assert optional == listed, (
        f"optional but not listed: {sorted(optional - listed)}; "
        f"listed but required: {sorted(listed - optional)}")


def test_no_free_form_object_is_left_but_those_listed_with_a_reason():
    def free(prop):
        types = prop.get("type")
        types = types if isinstance(types, list) else [types]
        return ("object" in types and "properties" not in prop
                and prop.get("additionalProperties", True) in ({}, True))

    found = {(name, prop) for name, schema in spec()["components"]["schemas"].items()
             for prop, body in schema.get("properties", {}).items() if free(body)}
    assert found == set(FREE_FORM), f"free-form, not listed: {sorted(found - set(FREE_FORM))}; " \
                                    f"listed, typed now: {sorted(set(FREE_FORM) - found)}"


def test_no_schema_has_a_property_of_its_own_name():
    """A generated client names the model and the property's type alike (Availability.availability)."""
    def flat(name):
        return name.replace("_", "").lower()

    def named_type(body):  # a value the generator gives a class of its own: an enum, object, array, $ref
        types = body.get("type")
        types = types if isinstance(types, list) else [types]
        return "enum" in body or "$ref" in body or "anyOf" in body or {"object", "array"} & set(types)

    for name, schema in spec()["components"]["schemas"].items():
        for prop, body in schema.get("properties", {}).items():
            assert not (flat(prop) == flat(name) and named_type(body)), f"{name}.{prop}"


def test_no_ref_hides_in_an_allof_with_a_default():
    def walk(node, where):
        if isinstance(node, dict):
            assert not ("allOf" in node and "default" in node), where
            assert not ("$ref" in node and "default" in node), where
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{where}/{index}")

    document = spec()
    walk(document["components"], "#/components")
    walk(document["paths"], "#/paths")


@pytest.mark.parametrize("app_config", [{"STUN_URLS": ["stun:127.0.0.1:3478"], "TURN_URLS": ["turn:127.0.0.1:3478"],
                                         "TURN_SECRET": "turn-secret-for-tests"}])
def test_a_day_of_the_api_answers_as_documented(app, client, auth):
    """Every response schema, met in real responses that the conftest hook validates."""
    before = Counter(response_contract.seen)
    workspace, admin = make_workspace()
    admin_headers = auth.headers(admin)
    agent = make_user(workspace, max_chats=3)
    other = make_user(workspace, max_chats=3)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent, other])
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    live = make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
    target = make_component(interface, "message", {"text": "Back with the bot.", "buttons": [
        {"label": "Ok"}, {"label": "Again", "target": {"type": "component", "component_id": live.id}}]})
    go_online(agent, other)
    tokens = auth.login(agent.email)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    other_headers = auth.headers(other)

    def ok(response, status=200):
        assert response.status_code == status, response.get_json()
        return response.get_json()

    # Auth, agents, interfaces, components (admin).
    ok(client.get("/api/auth/me", headers=headers))
    ok(client.post("/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}))
    ok(client.get("/api/agents", headers=admin_headers))
    new = ok(client.post("/api/agents", json={"name": "New", "email": "new@example.com",
                                              "interface_ids": [interface.id]}, headers=admin_headers), 201)
    ok(client.patch(f"/api/agents/{new['id']}", json={"max_chats": 2}, headers=admin_headers))
    ok(client.get("/api/interfaces", headers=admin_headers))
    ok(client.get(f"/api/interfaces/{interface.id}", headers=admin_headers))
    ok(client.get(f"/api/interfaces/{interface.id}/identity-secret", headers=admin_headers))
    ok(client.patch(f"/api/interfaces/{interface.id}", json={"prechat_form": {"enabled": False, "fields": [
        {"key": "company", "label": "Company"}]}}, headers=admin_headers))
    hours = {"enabled": False, "timezone": "Europe/Berlin", "weekly": {"monday": [{"start": "09:00", "end": "17:00"}]},
             "exceptions": [{"date": "2026-12-25", "ranges": []}]}  # kept, not followed: the day goes on as usual
    ok(client.patch(f"/api/interfaces/{interface.id}", json={"business_hours": hours}, headers=admin_headers))
    flow = f"/api/interfaces/{interface.id}/components"
    ok(client.get(flow, headers=admin_headers))
    for stage in ("start", "offline", "takeover", "outside_hours"):
        ok(client.get(f"{flow}/{live.id}/preview", query_string={"stage": stage}, headers=admin_headers))
    ok(client.get(f"{flow}/{target.id}/preview", headers=admin_headers))
    ok(client.get(f"{flow}/{live.id}/live-chat/agents", headers=admin_headers))
    assert client.get("/api/agents/999999", headers=admin_headers).status_code == 404  # an Error404
    assert client.post("/api/agents", json={"name": ""}, headers=admin_headers).status_code == 422
    ok(client.get("/healthz"))
    ok(client.get("/readyz"))

    # A visitor asks for a video chat; an agent accepts, calls, and they talk.
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    ok(client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"},
                   headers=widget.headers()))
    ok(client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                   headers=widget.headers()))
    request_id = ok(client.get(widget.url("/request"), headers=widget.headers()))["request_id"]
    ok(client.get("/api/requests", headers=headers))
    ok(client.get("/api/notifications", headers=headers))
    conversation = ok(client.post(f"/api/requests/{request_id}/accept", headers=headers))
    url = f"/api/conversations/{conversation['id']}"
    ok(client.post(url + "/calls", headers=headers), 201)
    ok(client.post(widget.url("/call/accept"), headers=widget.headers()))
    ok(client.get(url + "/call/ice-servers", headers=headers))
    ok(client.get(widget.url("/call/ice-servers"), headers=widget.headers()))
    ok(client.get(url + "/calls", headers=headers))
    ok(client.get(widget.url("/calls"), headers=widget.headers()))
    ok(client.post(url + "/call/hangup", headers=headers))
    ok(client.post(url + "/messages", json={"client_id": "a1", "text": "Hi"}, headers=headers), 201)
    ok(widget.send("Hello", "v1"), 201)
    canned = ok(client.post("/api/canned-responses", json={"shortcut": "hi", "text": "Hi {visitor_name}"},
                            headers=headers), 201)
    ok(client.patch(f"/api/canned-responses/{canned['id']}", json={"text": "Hello {visitor_name}"}, headers=headers))
    ok(client.get("/api/canned-responses", headers=headers))
    ok(client.post(f"{url}/canned-responses/{canned['id']}/render", headers=headers))
    ok(client.post(url + "/notes", json={"text": "Wants a refund", "mentions": [other.id]}, headers=headers), 201)
    ok(client.get(url + "/notes", headers=headers))
    # A file, uploaded then sent with a message, read back by both sides.
    uploaded = ok(client.post(widget.url("/attachments"), data={"file": (io.BytesIO(b"a note\n"), "note.txt")},
                              headers=widget.headers(), content_type="multipart/form-data"), 201)
    ok(client.post(widget.url("/messages"), json={"client_id": "v2", "text": "", "attachment_ids": [uploaded["id"]]},
                   headers=widget.headers()), 201)
    ok(client.get(widget.url(f"/attachments/{uploaded['id']}"), headers=widget.headers()))
    ok(client.get(url + f"/attachments/{uploaded['id']}", headers=headers))
    ok(widget.messages())
    ok(client.get(url + "/messages", headers=headers))
    ok(client.post(url + "/read", json={"seq": 1}, headers=headers))
    ok(client.get("/api/conversations", headers=headers))
    ok(client.get(url, headers=headers))
    ok(client.get(widget.url(), headers=widget.headers()))
    ok(client.post(url + "/transfer", json={"agent_id": other.id}, headers=headers))
    ok(client.post(url + "/hand-back", headers=other_headers))
    ok(client.post(url + "/takeover", headers=other_headers))
    ok(client.post(url + "/end", json={"reason": "done"}, headers=other_headers))
    ok(client.get(url + "/messages", headers=headers))  # transferred, handed back, ended, the call's events
    # Once it ended: the visitor rates it and asks for its transcript; the agents see the rating.
    ok(client.post(widget.url("/rating"), json={"score": 5, "comment": "Quick"}, headers=widget.headers()), 201)
    ok(client.post(widget.url("/transcript"), json={"email": "ann@example.com"}, headers=widget.headers()), 202)
    ok(client.get(url, headers=headers))
    ok(client.get("/api/ratings", headers=admin_headers))
    ok(client.patch("/api/workspace", json={"timezone": "Europe/Berlin"}, headers=admin_headers))
    ok(client.get("/api/workspace", headers=admin_headers))
    today = datetime.now(ZoneInfo("Europe/Berlin")).date().isoformat()  # the workspace's day, not UTC's
    ok(client.get("/api/reports/interfaces", query_string={"from": today, "to": today}, headers=admin_headers))
    ok(client.get("/api/reports/agents", query_string={"from": today, "to": today}, headers=admin_headers))
    ok(client.get("/api/audit", headers=admin_headers))
    ok(client.get("/api/availability", headers=headers))
    ok(client.post("/api/sockets/ticket", headers=headers), 201)
    ok(client.post(f"/api/widget/{interface.public_key}/sockets/ticket", headers=widget.headers()), 201)

    # The agent of a chat is deactivated: the chat waits in the queue again, and the visitor is told.
    again = Widget(client, interface, origin=ORIGIN)
    again.open()
    ok(client.post(again.url("/actions"), json={"type": "button", "button_id": "button_0"}, headers=again.headers()))
    ok(client.post(again.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                   headers=again.headers()))
    request_id = ok(client.get(again.url("/request"), headers=again.headers()))["request_id"]
    ok(client.post(f"/api/requests/{request_id}/accept", headers=other_headers))
    ok(client.patch(f"/api/agents/{other.id}", json={"is_active": False}, headers=admin_headers))
    assert ok(again.messages())["items"][-1]["data"]["event"] == "requeued"

    # Nobody online: the offline form, stored and read back.
    ok(client.put("/api/availability", json={"availability": "offline"}, headers=headers))
    late = Widget(client, interface, origin=ORIGIN)
    late.open()
    ok(client.post(late.url("/actions"), json={"type": "button", "button_id": "button_0"}, headers=late.headers()))
    ok(client.post(late.url("/actions"), json={"type": "button", "button_id": "live_chat"}, headers=late.headers()))
    offline = ok(client.get(late.url("/request"), headers=late.headers()))
    ok(client.post(late.url("/offline-form"), json={"request_id": offline["request_id"], "answers": {
        "name": "Ann", "email": "ann@example.com", "message": "Call me"}}, headers=late.headers()), 201)
    submissions = ok(client.get(f"/api/interfaces/{interface.id}/offline-submissions", headers=admin_headers))
    ok(client.get(f"/api/offline-submissions/{submissions['items'][0]['id']}", headers=admin_headers))
    # Webhooks (a literal public address: nothing resolved, nothing sent, no sender runs in tests).
    hook = ok(client.post("/api/webhooks", json={"url": "https://93.184.216.34/hooks", "event_types": [
        "conversation.started", "message.created"]}, headers=admin_headers), 201)
    ok(client.get("/api/webhooks", headers=admin_headers))
    ok(client.patch(f"/api/webhooks/{hook['id']}", json={"description": "CRM"}, headers=admin_headers))
    ok(client.post(f"/api/webhooks/{hook['id']}/rotate-secret", headers=admin_headers))
    Widget(client, interface, origin=ORIGIN).open()
    deliveries = ok(client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=admin_headers))
    ok(client.post(f"/api/webhooks/{hook['id']}/deliveries/{deliveries['items'][0]['id']}/redeliver",
                   headers=admin_headers), 202)

    # Data protection: the first visitor is found, exported and erased; the workspace keeps chats a year.
    visitor_id = conversation["visitor"]["id"]
    ok(client.get("/api/visitors", headers=admin_headers))
    ok(client.get(f"/api/visitors/{visitor_id}", headers=admin_headers))
    ok(client.get(f"/api/visitors/{visitor_id}/export", headers=admin_headers))
    ok(client.post(f"/api/visitors/{visitor_id}/erase", headers=admin_headers))
    ok(client.get("/api/workspace", headers=admin_headers))
    ok(client.patch("/api/workspace", json={"retention_days": 365}, headers=admin_headers))

    exercised = {name for name, count in (response_contract.seen - before).items() if count}
    document = spec()
    assert ERRORS_EXERCISED <= exercised, sorted(ERRORS_EXERCISED - exercised)
    missing = response_schemas(document) - exercised - set(NOT_EXERCISED) - error_components(document)
    assert not missing, f"response schemas no response of this flow carried: {sorted(missing)}"
