"""Webhook endpoints: CRUD and roles, URLs refused (SSRF), secrets, and what queueing costs the message path."""
import json
import logging

import pytest
from sqlalchemy import event, select
from standardwebhooks import Webhook

from blueprints.socket_protocol import SocketSession
from extensions import db
from models import AuditEntry, User, WebhookDelivery, WebhookEndpoint
from models.conversation import Conversation, Visitor
from services import webhooks
from services.assignments import do_takeover
from tests.factories import Auth, go_online, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ALL_TYPES = ["conversation.started", "conversation.assigned", "conversation.ended", "message.created",
             "offline_form.submitted", "rating.created", "call.started", "call.ended"]
PUBLIC = "93.184.216.34"  # a global address: only ever handed out by the fake resolver, never connected to


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch):
    """Names resolve from this table (no real DNS in tests); anything else does not resolve."""
    table = {"hooks.example.com": [PUBLIC], "internal.example.com": ["10.1.2.3"],
             "mixed.example.com": [PUBLIC, "192.168.1.5"], "metadata.example.com": ["169.254.169.254"],
             "localhost": ["127.0.0.1"], "2130706433": ["127.0.0.1"]}  # as getaddrinfo reads a decimal IPv4

    def resolve(host, port):
        if host not in table:
            raise OSError("no such host")
        return list(table[host])

    monkeypatch.setattr(webhooks, "resolve", resolve)
    return table


@pytest.fixture
def world(app, client):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    other, other_admin = make_workspace("Other")
    auth = Auth(client)
    return {"workspace": workspace, "admin": admin, "agent": agent, "admin_headers": auth.headers(admin),
            "agent_headers": auth.headers(agent), "other_headers": auth.headers(other_admin)}


def _create(client, headers, url="https://hooks.example.com/livechat", **fields):
    body = {"url": url, "event_types": fields.pop("event_types", ["message.created"]), **fields}
    return client.post("/api/webhooks", json=body, headers=headers)


def test_create_shows_a_standard_webhooks_secret_once(client, world):
    response = _create(client, world["admin_headers"], event_types=ALL_TYPES, description="CRM")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["secret"].startswith("whsec_") and len(body["secret"]) >= len("whsec_") + 32
    Webhook(body["secret"])  # the format the reference library reads
    assert body["event_types"] == ALL_TYPES and body["enabled"] is True and body["description"] == "CRM"
    shown = client.get(f"/api/webhooks/{body['id']}", headers=world["admin_headers"]).get_json()
    assert "secret" not in shown
    listed = client.get("/api/webhooks", headers=world["admin_headers"]).get_json()
    assert listed["total"] == 1 and "secret" not in listed["items"][0]


def test_crud_and_the_audit_trail_never_holds_the_secret(client, world, caplog):
    caplog.set_level(logging.DEBUG)
    headers = world["admin_headers"]
    created = _create(client, headers, event_types=["message.created", "message.created"]).get_json()
    assert created["event_types"] == ["message.created"]
    url = f"/api/webhooks/{created['id']}"
    patched = client.patch(url, json={"event_types": ["call.started", "call.ended"], "enabled": False},
                           headers=headers)
    assert patched.status_code == 200 and patched.get_json()["event_types"] == ["call.started", "call.ended"]
    assert patched.get_json()["enabled"] is False
    assert client.patch(url, json={}, headers=headers).status_code == 422
    rotated = client.post(url + "/rotate-secret", headers=headers).get_json()
    assert rotated["secret"] != created["secret"] and rotated["previous_secret_until"] is not None
    assert client.delete(url, headers=headers).status_code == 204
    assert client.get(url, headers=headers).status_code == 404
    actions = [e.action for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["webhook_created", "webhook_updated", "webhook_secret_rotated", "webhook_deleted"]
    trail = json.dumps([e.details for e in db.session.scalars(select(AuditEntry))])
    log_text = caplog.text
    for secret in (created["secret"], rotated["secret"]):
        assert secret not in trail and secret not in log_text
    audit = client.get("/api/audit", headers=headers, query_string={"action": "webhook_created"}).get_json()
    assert audit["total"] == 1


def test_agents_are_403_and_other_workspaces_404(client, world):
    created = _create(client, world["admin_headers"]).get_json()
    url = f"/api/webhooks/{created['id']}"
    assert client.get("/api/webhooks", headers=world["agent_headers"]).status_code == 403
    assert _create(client, world["agent_headers"]).status_code == 403
    assert client.post(url + "/rotate-secret", headers=world["agent_headers"]).status_code == 403
    assert client.get(url + "/deliveries", headers=world["agent_headers"]).status_code == 403
    for method in ("get", "delete"):
        assert getattr(client, method)(url, headers=world["other_headers"]).status_code == 404
    assert client.patch(url, json={"enabled": False}, headers=world["other_headers"]).status_code == 404
    assert client.post(url + "/rotate-secret", headers=world["other_headers"]).status_code == 404
    assert client.get(url + "/deliveries", headers=world["other_headers"]).status_code == 404
    assert client.post(url + "/deliveries/1/redeliver", headers=world["other_headers"]).status_code == 404
    assert client.get("/api/webhooks", headers=world["other_headers"]).get_json()["total"] == 0
    assert client.get(url, headers=world["admin_headers"]).status_code == 200


@pytest.mark.parametrize("url, code", [
    ("ftp://hooks.example.com/x", "webhook_url_invalid"),
    ("https://user:pass@hooks.example.com/x", "webhook_url_invalid"),
    ("https://user@hooks.example.com/x", "webhook_url_invalid"),
    ("http://127.0.0.1/hook", "webhook_url_private"),
    ("http://127.0.0.1:8080/hook", "webhook_url_private"),
    ("http://localhost/hook", "webhook_url_private"),
    ("http://[::1]/hook", "webhook_url_private"),
    ("http://[::ffff:127.0.0.1]/hook", "webhook_url_private"),
    ("http://0.0.0.0/hook", "webhook_url_private"),
    ("http://10.0.0.1/hook", "webhook_url_private"),
    ("http://192.168.0.10/hook", "webhook_url_private"),
    ("http://100.64.0.1/hook", "webhook_url_private"),
    ("http://224.0.0.1/hook", "webhook_url_private"),
    ("http://169.254.1.1/hook", "webhook_url_private"),
    ("http://169.254.169.254/latest/meta-data", "webhook_url_metadata"),
    ("http://[fd00:ec2::254]/latest", "webhook_url_metadata"),
    ("https://internal.example.com/hook", "webhook_url_private"),
    ("https://mixed.example.com/hook", "webhook_url_private"),
    ("https://metadata.example.com/hook", "webhook_url_metadata"),
    ("https://nowhere.example.com/hook", "webhook_url_unresolvable"),
    ("not a url", "webhook_url_invalid"),
    ("https://", "webhook_url_invalid"),
    ("https://hooks.example.com:99999/x", "webhook_url_invalid"),
    ("https://hooks.example.com:0/x", "webhook_url_invalid"),
    ("http://2130706433/hook", "webhook_url_private"),  # 127.0.0.1 in decimal: checked as resolved
    ("https://hooks.example.com/a\x00b", "validation_error"),
    ("javascript:alert(1)", "webhook_url_invalid"),
    ("https://" + "a" * 2050 + ".com/", "validation_error"),
])
def test_every_bad_url_is_422_with_its_code(client, world, url, code):
    response = _create(client, world["admin_headers"], url=url)
    assert response.status_code == 422, response.get_json()
    body = response.get_json()
    assert body["code"] == code, body
    assert "url" in body["errors"]["json"]
    assert db.session.scalar(select(WebhookEndpoint.id)) is None


def test_a_patch_to_a_bad_url_is_refused_and_changes_nothing(client, world):
    created = _create(client, world["admin_headers"]).get_json()
    response = client.patch(f"/api/webhooks/{created['id']}", json={"url": "http://10.0.0.1/", "enabled": False},
                            headers=world["admin_headers"])
    assert response.status_code == 422 and response.get_json()["code"] == "webhook_url_private"
    endpoint = db.session.get(WebhookEndpoint, created["id"])
    db.session.refresh(endpoint)
    assert endpoint.url == "https://hooks.example.com/livechat" and endpoint.enabled


def test_private_addresses_are_allowed_by_the_setting_but_metadata_never(client, world, app):
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    assert _create(client, world["admin_headers"], url="http://127.0.0.1:9/hook").status_code == 201
    assert _create(client, world["admin_headers"], url="http://10.0.0.1/hook").status_code == 201
    refused = _create(client, world["admin_headers"], url="http://169.254.169.254/")
    assert refused.status_code == 422 and refused.get_json()["code"] == "webhook_url_metadata"


@pytest.mark.parametrize("body", [
    {"url": "https://hooks.example.com/x", "event_types": []},
    {"url": "https://hooks.example.com/x", "event_types": ["message.deleted"]},
    {"url": "https://hooks.example.com/x", "event_types": ["message.created"] * 9},
    {"url": "https://hooks.example.com/x", "event_types": "message.created"},
    {"url": "https://hooks.example.com/x", "event_types": ["message.created"], "description": "x" * 501},
    {"url": 5, "event_types": ["message.created"]},
    {"event_types": ["message.created"]},
])
def test_bad_bodies_are_422(client, world, body):
    response = client.post("/api/webhooks", json=body, headers=world["admin_headers"])
    assert response.status_code == 422 and response.get_json()["code"] == "validation_error", response.get_json()


# -- queueing -----------------------------------------------------------------------


class Statements:
    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def _statement(self, conn, cursor, statement, *args):
        self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._statement)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)


def _send(session, conversation_id, client_id):
    frames = session.handle_text(json.dumps({"type": "message.send", "ref": client_id,
                                             "conversation_id": conversation_id, "text": "hello",
                                             "client_id": client_id}))
    assert frames[0]["type"] == "ack", frames
    return frames[0]["data"]


@pytest.fixture
def chat(app, client):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=["https://shop.example"], agents=[agent])
    go_online(agent)
    widget = Widget(client, interface, origin="https://shop.example")
    widget.open()
    do_takeover(agent, widget.conversation_id)
    conversation = db.session.get(Conversation, widget.conversation_id)
    visitor = db.session.get(Visitor, conversation.visitor_id)
    return {"workspace": workspace, "admin": admin, "agent": agent, "visitor": visitor,
            "conversation_id": conversation.id, "admin_email": admin.email,
            "ids": {"agent": (User, agent.id), "visitor": (Visitor, visitor.id)}}


def _count_send(chat, side, client_id):
    # Fetched anew: a request in between ended the session the fixture's objects belonged to.
    principal = db.session.get(*chat["ids"][side])
    session = SocketSession(principal, push=lambda *a: None)
    session.hello()
    _send(session, chat["conversation_id"], client_id + "-warm")
    with Statements(db.engine) as seen:
        _send(session, chat["conversation_id"], client_id)
    return seen.statements


@pytest.mark.parametrize("side", ["agent", "visitor"])
def test_a_message_in_a_workspace_without_endpoints_costs_no_statement_more(client, chat, side):
    statements = _count_send(chat, side, "m")
    assert not any("webhook" in statement for statement in statements), statements
    assert len(statements) <= 5, statements
    assert db.session.scalar(select(WebhookDelivery.id)) is None


@pytest.mark.parametrize("side", ["agent", "visitor"])
def test_with_an_endpoint_a_message_costs_one_insert_select(client, chat, side):
    admin_email = chat["admin_email"]
    without = len(_count_send(chat, side, "before"))
    headers = Auth(client).headers(admin_email)
    assert _create(client, headers, event_types=["message.created"]).status_code == 201
    assert _create(client, headers, event_types=["message.created"], enabled=False).status_code == 201
    assert _create(client, headers, event_types=["call.started"]).status_code == 201
    statements = _count_send(chat, side, "after")
    webhook_statements = [s for s in statements if "webhook" in s]
    assert len(webhook_statements) == 1 and webhook_statements[0].lstrip().upper().startswith("INSERT"), statements
    if db.engine.dialect.name == "postgresql":
        # Without an endpoint a message alone is one statement (services/group_commit.py); with one it is
        # written in a transaction, the delivery's row beside its own three: numbering, message, and the stream
        # position with the event row.
        assert without == 1 and len(statements) == 3 + 1, statements
    else:
        assert len(statements) == without + 1
    # One delivery per message (warm-up and counted), for the one enabled endpoint subscribed to it.
    rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [r.event_type for r in rows] == ["message.created", "message.created"]  # none before the endpoint
    payload = json.loads(rows[-1].payload)
    assert payload["type"] == "message.created" and payload["data"]["message"]["client_id"] == "after"
    assert rows[0].webhook_id != rows[1].webhook_id and rows[0].webhook_id.startswith("msg_")


def test_a_rolled_back_change_queues_nothing(client, chat):
    headers = Auth(client).headers(chat["admin"])
    _create(client, headers, event_types=ALL_TYPES)
    conversation = db.session.get(Conversation, chat["conversation_id"])
    webhooks.conversation_ended(conversation)
    db.session.rollback()
    assert db.session.scalar(select(WebhookDelivery.id)) is None


def test_an_admin_from_another_workspace_never_gets_these_events(client, chat, world):
    # world's other admin registers an endpoint in their own workspace: chat's messages are not theirs.
    _create(client, world["other_headers"], event_types=ALL_TYPES)
    session = SocketSession(chat["agent"], push=lambda *a: None)
    session.hello()
    _send(session, chat["conversation_id"], "mine")
    assert db.session.scalar(select(WebhookDelivery.id)) is None
