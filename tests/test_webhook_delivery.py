"""The webhook sender against a real HTTP receiver on loopback: signatures, outages, retries, limits, SSRF."""
import http.server
import json
import threading
import time
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from extensions import db
from models import AuditEntry, OutboxMail, User, WebhookDelivery, WebhookEndpoint
from models.base import utcnow
from services import webhooks
from services.assignments import do_takeover
from services.events import replay
from services.retention import prune_once
from tests.call_helpers import ask, video_call, world  # noqa: F401 - world: the call tests' fixture
from tests.factories import Auth, go_online, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ALL_TYPES = ["conversation.started", "conversation.assigned", "conversation.ended", "message.created",
             "offline_form.submitted", "rating.created", "call.started", "call.ended"]
ORIGIN = "https://shop.example"
SPEC_PATH = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


class MaxJitter:
    """The jitter's upper bound every time: waits are the ceiling, so the test can step past them."""

    @staticmethod
    def uniform(low, high):
        return high


class Receiver:
    """A threaded HTTP server on loopback that verifies every delivery with the secrets it is given."""

    def __init__(self, port=0):
        self.received, self.rejected, self.secrets, self.mode = [], [], [], "ok"
        self.die_after = None  # goes away by itself once it has received this many
        self.lock = threading.Lock()
        self.port = port
        self.start()

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                verified = []
                for secret in receiver.secrets:
                    try:
                        Webhook(secret).verify(body, headers)
                        verified.append(secret)
                    except Exception:  # noqa: BLE001 - a signature that does not verify with this secret
                        pass
                with receiver.lock:
                    (receiver.received if verified else receiver.rejected).append(
                        {"headers": headers, "body": json.loads(body), "verified": verified})
                mode = receiver.mode
                if receiver.die_after is not None and len(receiver.received) >= receiver.die_after:
                    receiver.die_after = None
                    receiver.stop()  # from a handler thread: the listener is closed before this answer goes
                if mode == "slow":
                    time.sleep(1.5)
                if mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"http://127.0.0.1:{receiver.port}/elsewhere")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                status = 500 if mode == "error" else 200
                answer = {"huge": b"x" * (1024 * 1024), "nul": b"ok\x00\xff\xfe done"}.get(mode, b'{"ok": true}')
                self.send_response(status)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                try:
                    self.wfile.write(answer)
                except OSError:  # the sender stopped reading: that is the point
                    pass

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def ids(self):
        return [r["headers"]["webhook-id"] for r in self.received]


@pytest.fixture
def app_config():
    return {"WEBHOOKS_ALLOW_PRIVATE": True, "WEBHOOKS_BACKOFF_BASE_S": 10, "WEBHOOKS_BACKOFF_MAX_S": 600,
            "WEBHOOKS_TIMEOUT_S": 0.5, "WEBHOOKS_CONNECT_TIMEOUT_S": 0.5, "WEBHOOKS_RESPONSE_MAX_BYTES": 4096}


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def setup(app, client, receiver):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    go_online(agent)
    auth = Auth(client)
    headers = auth.headers(admin)
    created = client.post("/api/webhooks", json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                                 "event_types": ALL_TYPES}, headers=headers)
    assert created.status_code == 201, created.get_json()
    receiver.secrets = [created.get_json()["secret"]]
    return {"workspace_id": workspace.id, "admin_email": admin.email, "agent_id": agent.id, "interface": interface,
            "headers": headers, "agent_headers": auth.headers(agent), "endpoint": created.get_json()}


def _deliveries(endpoint_id=None):
    stmt = select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint_id:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    db.session.expire_all()
    return db.session.scalars(stmt).all()


def _chat(client, setup, texts=("hello",)):
    """A visitor opens the widget, writes, the agent takes over and answers: started, messages, assigned."""
    widget = Widget(client, setup["interface"], origin=ORIGIN)
    widget.open()
    for n, text in enumerate(texts):
        assert widget.send(text, f"v-{widget.conversation_id}-{n}").status_code in (200, 201)
    do_takeover(db.session.get(User, setup["agent_id"]), widget.conversation_id)
    return widget


def test_every_event_arrives_signed_and_an_outage_loses_none(client, setup, receiver):
    widget = _chat(client, setup, texts=("hello", "anyone?"))
    first = _deliveries()
    assert {d.event_type for d in first} >= {"conversation.started", "message.created", "conversation.assigned"}
    assert webhooks.send_due(now=utcnow(), rng=MaxJitter) == (len(first), 0)
    assert sorted(receiver.ids()) == sorted(d.webhook_id for d in first) and not receiver.rejected
    for got in receiver.received:
        body = got["body"]
        assert set(body) == {"type", "timestamp", "data"} and body["type"] in ALL_TYPES
        assert got["headers"]["host"] == f"127.0.0.1:{receiver.port}"
        assert got["headers"]["webhook-signature"].startswith("v1,")
    message = next(r["body"] for r in receiver.received if r["body"]["type"] == "message.created")
    assert message["data"]["message"]["text"] in ("hello", "anyone?")

    # The receiver goes away: the next events fail and wait, backed off.
    receiver.stop()
    assert widget.send("still there?", "v-outage").status_code in (200, 201)
    ended = client.post(f"/api/conversations/{widget.conversation_id}/end", json={}, headers=setup["agent_headers"])
    assert ended.status_code == 200, ended.get_json()
    pending = [d for d in _deliveries() if d.status == "pending"]
    clock = utcnow()
    assert {d.event_type for d in pending} >= {"message.created", "conversation.ended"}
    assert webhooks.send_due(now=clock, rng=MaxJitter) == (0, len(pending))
    after_one = {d.id: d for d in _deliveries() if d.status == "pending"}
    assert set(after_one) == {d.id for d in pending}
    assert all(d.attempts == 1 and d.next_attempt_at == clock + timedelta(seconds=10) for d in after_one.values())
    assert all(d.last_status_code is None and d.last_error for d in after_one.values())
    # Not due yet: nothing is attempted; then a second failure doubles the wait.
    assert webhooks.send_due(now=clock + timedelta(seconds=5), rng=MaxJitter) == (0, 0)
    assert webhooks.send_due(now=clock + timedelta(seconds=10), rng=MaxJitter) == (0, len(pending))
    assert all(d.attempts == 2 and d.next_attempt_at == clock + timedelta(seconds=30)
               for d in _deliveries() if d.status == "pending")

    # Back on the same port: every waiting event arrives, with the webhook-id it had from the start.
    receiver.start()
    assert webhooks.send_due(now=clock + timedelta(seconds=30), rng=MaxJitter) == (len(pending), 0)
    rows = _deliveries()
    assert all(d.status == "delivered" and d.last_status_code == 200 for d in rows)
    assert sorted(receiver.ids()) == sorted(d.webhook_id for d in rows)
    assert {after_one[d.id].webhook_id for d in pending} <= set(receiver.ids())
    types = [r["body"]["type"] for r in receiver.received]
    assert types.count("conversation.ended") == 1 and "conversation.started" in types


def test_a_receiver_dying_in_the_middle_of_a_round_loses_nothing(client, setup, receiver):
    _chat(client, setup, texts=[f"m{n}" for n in range(6)])
    rows = _deliveries()
    receiver.die_after = 3
    delivered, failed = webhooks.send_due(now=utcnow(), rng=MaxJitter)
    assert (delivered, failed) == (3, len(rows) - 3)
    receiver.start()
    later = utcnow() + timedelta(seconds=10)
    assert webhooks.send_due(now=later, rng=MaxJitter) == (failed, 0)
    assert all(d.status == "delivered" for d in _deliveries())
    assert set(receiver.ids()) == {d.webhook_id for d in rows}


def test_a_retry_carries_the_same_webhook_id_and_body(client, setup, receiver):
    _chat(client, setup)
    clock = utcnow()
    receiver.mode = "error"
    count = len(_deliveries())
    assert webhooks.send_due(now=clock, rng=MaxJitter) == (0, count)
    assert all(d.last_status_code == 500 and d.last_error == "HTTP 500" for d in _deliveries())
    receiver.mode = "ok"
    assert webhooks.send_due(now=clock + timedelta(seconds=10), rng=MaxJitter) == (count, 0)
    ids = receiver.ids()
    assert len(ids) == 2 * count and sorted(set(ids)) == sorted(d.webhook_id for d in _deliveries())
    by_id = {}
    for got in receiver.received:
        by_id.setdefault(got["headers"]["webhook-id"], []).append(got["body"])
    assert all(len(bodies) == 2 and bodies[0] == bodies[1] for bodies in by_id.values())


def test_rotation_signs_with_both_secrets_during_the_overlap(client, setup, receiver, app):
    old = setup["endpoint"]["secret"]
    rotated = client.post(f"/api/webhooks/{setup['endpoint']['id']}/rotate-secret", headers=setup["headers"])
    new = rotated.get_json()["secret"]
    receiver.secrets = [old, new]
    _chat(client, setup)
    count = len(_deliveries())
    assert webhooks.send_due(now=utcnow()) == (count, 0)
    assert all(got["verified"] == [old, new] for got in receiver.received)
    assert all(len(got["headers"]["webhook-signature"].split(" ")) == 2 for got in receiver.received)
    # After the overlap only the new secret signs.
    receiver.received.clear()
    delivery = _deliveries()[0]
    client.post(f"/api/webhooks/{setup['endpoint']['id']}/deliveries/{delivery.id}/redeliver", headers=setup["headers"])
    later = utcnow() + timedelta(seconds=app.config["WEBHOOKS_SECRET_OVERLAP_S"] + 1)
    assert webhooks.send_due(now=later) == (1, 0)
    assert receiver.received[0]["verified"] == [new]
    assert len(receiver.received[0]["headers"]["webhook-signature"].split(" ")) == 1


@pytest.mark.parametrize("mode, error", [("slow", "timed out"), ("redirect", "redirect_not_followed")])
def test_a_slow_receiver_times_out_and_a_redirect_is_not_followed(client, setup, receiver, mode, error):
    receiver.mode = mode
    _chat(client, setup, texts=())
    count = len(_deliveries())
    assert webhooks.send_due(now=utcnow(), rng=MaxJitter) == (0, count)
    rows = _deliveries()
    assert all(d.status == "pending" and error in d.last_error for d in rows), [d.last_error for d in rows]
    assert all(r["headers"].get("host") and r["body"]["type"] != "elsewhere" for r in receiver.received)
    if mode == "redirect":
        assert all(d.last_status_code == 302 for d in rows)
        assert len(receiver.received) == count  # no request followed the Location


def test_a_huge_answer_is_cut(client, setup, receiver):
    receiver.mode = "huge"
    _chat(client, setup, texts=())
    count = len(_deliveries())
    assert webhooks.send_due(now=utcnow()) == (count, 0)
    for row in _deliveries():
        assert row.status == "delivered" and row.last_status_code == 200
        assert row.response_excerpt == "x" * 1024


def test_an_answer_with_nul_and_broken_utf8_is_stored_cleaned(client, setup, receiver):
    receiver.mode = "nul"
    Widget(client, setup["interface"], origin=ORIGIN).open()
    assert webhooks.send_due(now=utcnow()) == (1, 0)
    assert _deliveries()[0].response_excerpt == "ok done"


def test_a_name_rebound_to_loopback_after_registration_is_refused_at_send_time(client, setup, receiver, app,
                                                                                  monkeypatch):
    answers = {"hooks.example.com": ["93.184.216.34"]}  # public at registration; never connected to
    monkeypatch.setattr(webhooks, "resolve", lambda host, port: list(answers[host]))
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = False
    created = client.post("/api/webhooks", json={"url": f"http://hooks.example.com:{receiver.port}/hook",
                                                 "event_types": ["conversation.started"]}, headers=setup["headers"])
    assert created.status_code == 201, created.get_json()
    endpoint_id = created.get_json()["id"]
    client.patch(f"/api/webhooks/{setup['endpoint']['id']}", json={"enabled": False}, headers=setup["headers"])
    answers["hooks.example.com"] = ["127.0.0.1"]  # DNS rebinding
    _chat(client, setup, texts=())
    rows = _deliveries(endpoint_id)
    assert len(rows) == 1
    assert webhooks.send_due(now=utcnow()) == (0, 1)
    row = _deliveries(endpoint_id)[0]
    assert row.status == "failed" and row.last_error.startswith("address_refused") and row.last_status_code is None
    assert receiver.received == [] and receiver.rejected == []

    # Allowed by the setting: the same name reaches the receiver, pinned to the address checked, with its Host.
    app.config["WEBHOOKS_ALLOW_PRIVATE"] = True
    receiver.secrets = [created.get_json()["secret"]]
    client.post(f"/api/webhooks/{endpoint_id}/deliveries/{row.id}/redeliver", headers=setup["headers"])
    assert webhooks.send_due(now=utcnow()) == (1, 0)
    assert receiver.received[0]["headers"]["host"] == f"hooks.example.com:{receiver.port}"


def test_a_failing_endpoint_is_disabled_after_the_run_and_admins_are_told(client, setup, receiver, app):
    app.config.update(WEBHOOKS_DISABLE_AFTER_FAILURES=3, WEBHOOKS_DISABLE_AFTER_S=3600, WEBHOOKS_MAX_ATTEMPTS=50)
    receiver.stop()
    widget = Widget(client, setup["interface"], origin=ORIGIN)
    widget.open()  # one delivery: conversation.started
    clock = utcnow()
    endpoint_id = setup["endpoint"]["id"]
    steps = [clock, clock + timedelta(seconds=10), clock + timedelta(seconds=40)]
    for now in steps:  # three failures in 40 s: a run, but not yet a long one
        assert webhooks.send_due(now=now, rng=MaxJitter) == (0, 1)
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    db.session.refresh(endpoint)
    assert endpoint.enabled and endpoint.consecutive_failures == 3
    later = clock + timedelta(hours=2)
    assert webhooks.send_due(now=later, rng=MaxJitter) == (0, 1)
    db.session.refresh(endpoint)
    assert not endpoint.enabled and endpoint.disabled_reason == "failing"
    mails = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "webhook_disabled")).all()
    assert len(mails) == 1 and mails[0].recipients == [setup["admin_email"]]
    assert endpoint.url in mails[0].body_text and endpoint.secret not in mails[0].body_text
    assert db.session.scalar(select(AuditEntry.action).where(AuditEntry.action == "webhook_disabled"))
    admin_id = db.session.scalar(select(User.id).where(User.email == setup["admin_email"]))
    [notice] = [f for f in replay(f"user:{admin_id}", 0) if f["type"] == "webhook.disabled"]
    assert notice["data"]["webhook_id"] == endpoint_id and notice["data"]["consecutive_failures"] == 4
    assert notice["data"]["url"] == endpoint.url
    assert not [f for f in replay(f"user:{setup['agent_id']}", 0) if f["type"] == "webhook.disabled"]
    shown = client.get(f"/api/webhooks/{endpoint_id}", headers=setup["headers"]).get_json()
    assert shown["enabled"] is False and shown["disabled_reason"] == "failing"
    # Disabled: nothing more is attempted, and redelivery says why.
    assert webhooks.send_due(now=later + timedelta(days=1), rng=MaxJitter) == (0, 0)
    row = _deliveries()[0]
    refused = client.post(f"/api/webhooks/{endpoint_id}/deliveries/{row.id}/redeliver", headers=setup["headers"])
    assert refused.status_code == 409 and refused.get_json()["code"] == "webhook_disabled"
    # Enabled again, with the receiver back: the waiting event goes out and the count starts over.
    receiver.start()
    client.patch(f"/api/webhooks/{endpoint_id}", json={"enabled": True}, headers=setup["headers"])
    assert webhooks.send_due(now=later + timedelta(days=1), rng=MaxJitter) == (1, 0)
    db.session.refresh(endpoint)
    assert endpoint.enabled and endpoint.consecutive_failures == 0


def test_gives_up_after_the_maximum_attempts(client, setup, receiver, app):
    app.config["WEBHOOKS_MAX_ATTEMPTS"] = 2
    receiver.mode = "error"
    Widget(client, setup["interface"], origin=ORIGIN).open()
    clock = utcnow()
    assert webhooks.send_due(now=clock, rng=MaxJitter) == (0, 1)
    assert webhooks.send_due(now=clock + timedelta(seconds=10), rng=MaxJitter) == (0, 1)
    row = _deliveries()[0]
    assert row.status == "failed" and row.attempts == 2 and row.next_attempt_at is None
    assert webhooks.send_due(now=clock + timedelta(days=1), rng=MaxJitter) == (0, 0)


def test_the_delivery_log_and_manual_redelivery(client, setup, receiver):
    _chat(client, setup)
    assert webhooks.send_due(now=utcnow())[1] == 0
    url = f"/api/webhooks/{setup['endpoint']['id']}/deliveries"
    log = client.get(url, headers=setup["headers"], query_string={"page_size": 2}).get_json()
    count = len(_deliveries())
    assert log["total"] == count and len(log["items"]) == 2
    item = log["items"][0]
    assert item["id"] == max(d.id for d in _deliveries())  # newest first
    assert item["status"] == "delivered" and item["attempts"] == 1 and item["last_status_code"] == 200
    assert item["latency_ms"] >= 0 and item["response_excerpt"] == '{"ok": true}' and item["delivered_at"]
    assert item["webhook_id"].startswith("msg_") and item["next_attempt_at"] is None
    assert client.get(url, headers=setup["headers"], query_string={"status": "failed"}).get_json()["total"] == 0
    before = receiver.ids().count(item["webhook_id"])
    again = client.post(f"{url}/{item['id']}/redeliver", headers=setup["headers"])
    assert again.status_code == 202 and again.get_json()["status"] == "pending"
    assert webhooks.send_due(now=utcnow()) == (1, 0)
    assert receiver.ids().count(item["webhook_id"]) == before + 1
    assert client.post(f"{url}/999999/redeliver", headers=setup["headers"]).status_code == 404
    assert client.post(f"{url}/{item['id']}/redeliver", headers=setup["agent_headers"]).status_code == 403


def test_two_senders_never_send_one_delivery_twice(client, setup, receiver):
    Widget(client, setup["interface"], origin=ORIGIN).open()
    clock = utcnow()
    row = _deliveries()[0]
    claimed = webhooks._do_claim(row.id, clock)
    assert claimed is not None and webhooks._do_claim(row.id, clock) is None


def test_retention_prunes_old_deliveries(client, setup, receiver, app):
    Widget(client, setup["interface"], origin=ORIGIN).open()
    assert len(_deliveries()) == 1
    done = prune_once(now=utcnow() + timedelta(days=app.config["RETENTION_WEBHOOK_DELIVERIES_DAYS"] + 1))
    assert done["webhook deliveries"] == 1 and _deliveries() == []


def _spec_check(body):
    """Raise unless body is what the spec's top-level `webhooks` entry for its type declares."""
    document = json.loads(SPEC_PATH.read_text())
    entry = document["webhooks"][body["type"]]["post"]
    schema = entry["requestBody"]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": document["components"]}).validate(body)


def test_calls_and_offline_forms_send_their_events_as_the_spec_declares(client, receiver, world):
    data = world
    created = client.post("/api/webhooks", json={"url": f"http://127.0.0.1:{receiver.port}/hook",
                                                 "event_types": ALL_TYPES}, headers=data["admin_headers"])
    receiver.secrets = [created.get_json()["secret"]]
    widget, call = video_call(client, data)
    hung = client.post(widget.url("/call/hangup"), headers=widget.headers())
    assert hung.status_code == 200, hung.get_json()
    for headers in data["headers"]:
        client.put("/api/availability", json={"availability": "offline"}, headers=headers)
    late, request_id = ask(client, data, "live_chat")
    sent = client.post(late.url("/offline-form"), json={"request_id": request_id, "answers": {
        "name": "Ann", "email": "ann@example.com", "message": "Call me"}}, headers=late.headers())
    assert sent.status_code == 201, sent.get_json()
    assert webhooks.send_due(now=utcnow())[1] == 0
    bodies = [r["body"] for r in receiver.received]
    types = [b["type"] for b in bodies]
    for expected in ("conversation.started", "conversation.assigned", "call.started", "call.ended",
                     "offline_form.submitted", "message.created"):
        assert expected in types, types
    assert "rating.created" not in types
    for body in bodies:
        _spec_check(body)
    ended = next(b for b in bodies if b["type"] == "call.ended")
    assert ended["data"]["call"]["id"] == call.id and ended["data"]["call"]["ended_by"] == "visitor"
    form = next(b for b in bodies if b["type"] == "offline_form.submitted")
    assert form["data"]["submission"]["data"]["name"] == "Ann"
