"""Data protection: finding a visitor, their export, their erasure (proved by scanning every table), retention."""
import hashlib
import hmac
import io
import json
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import JSON, String, Text, func, select, text, update

from extensions import db
from models import (
    AuditEntry,
    Conversation,
    ConversationStatus,
    Event,
    Message,
    OfflineSubmission,
    OutboxMail,
    Visitor,
    Workspace,
)
from models.attachment import StoredFileDeletion
from models.base import utcnow
from models.live_request import LiveRequest
from models.search import FTS_TABLE
from models.webhook import WebhookEventType
from services.retention import prune_once
from tests.conftest import is_postgres
from tests.staff_helpers import ORIGIN, live_chat, make_world
from tests.test_errors import assert_error
from tests.widget_helpers import Widget

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a5f0f1a00000000049454e44ae426082")


@pytest.fixture(autouse=True)
def files(app_config, tmp_path):
    """Stored files in a directory of the test's (set before the app is built: autouse); a way to list them."""
    root = tmp_path / "files"
    app_config.update(STORAGE_BACKEND="local", STORAGE_DIR=str(root))
    return lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def world(files, app, client, auth):
    world = make_world(auth)
    world["files"] = files
    return world


def _secrets():
    tag = secrets.token_hex(6)
    return {"name": f"Zenobia Quill{tag}", "email": f"zq{tag}@mail.example", "attribute": f"plan{tag}",
            "text": f"parcelword{tag}", "filename": f"passport{tag}.png", "external": f"user-{tag}"}


def _visitor_with_history(client, world, s):
    """A visitor with details, a live chat (messages both ways, a file, a note), a form and an outbox mail."""
    admin, agent = world["headers"]["admin"], world["headers"]["agent"]
    widget = live_chat(client, world["interface"], agent)
    patched = client.patch(f"/api/widget/{widget.key}/visitor", headers=widget.headers(),
                           json={"name": s["name"], "email": s["email"], "attributes": {"plan": s["attribute"]}})
    assert patched.status_code == 200, patched.get_json()
    uploaded = client.post(widget.url("/attachments"), headers=widget.headers(), content_type="multipart/form-data",
                           data={"file": (io.BytesIO(PNG), s["filename"], "image/png")})
    assert uploaded.status_code == 201, uploaded.get_json()
    sent = client.post(widget.url("/messages"), headers=widget.headers(), json={
        "text": f"My order {s['text']} for {s['email']}", "client_id": "v1", "attachment_ids": [uploaded.get_json()["id"]]})
    assert sent.status_code == 201, sent.get_json()
    cid = widget.conversation_id
    reply = client.post(f"/api/conversations/{cid}/messages", headers=agent,
                        json={"text": f"Thanks {s['name']}, about {s['text']}", "client_id": "a1"})
    assert reply.status_code == 201, reply.get_json()
    note = client.post(f"/api/conversations/{cid}/notes", headers=agent,
                       json={"text": f"{s['name']} ({s['email']}) asked about {s['text']}"})
    assert note.status_code == 201, note.get_json()
    # An offline form from an earlier request, and the e-mail it queued (stored as the form service stores them).
    conversation = db.session.get(Conversation, cid)
    request = db.session.scalar(select(LiveRequest).where(LiveRequest.conversation_id == cid))
    db.session.add(OfflineSubmission(workspace_id=conversation.workspace_id, interface_id=conversation.interface_id,
                                     conversation_id=cid, request_id=request.id,
                                     data={"email": s["email"], "topic": "Delivery",
                                           "message": f"Call me about {s['text']}", "newsletter": True},
                                     recipients=["owner@shop.example"]))
    db.session.add(OutboxMail(workspace_id=conversation.workspace_id, kind="offline_form",
                              recipients=["owner@shop.example"], reply_to=s["email"], subject="Offline message",
                              body_text=f"Email: {s['email']}\nTopic: Delivery\nMessage: Call me about {s['text']}"))
    db.session.add(OutboxMail(workspace_id=conversation.workspace_id, kind="offline_form",
                              recipients=["owner@shop.example"], reply_to="someone@else.example",
                              subject="Offline message", body_text="Topic: Delivery\nMessage: another visitor's"))
    db.session.commit()
    assert client.get(f"/api/conversations/{cid}", headers=admin).status_code == 200
    return widget


def _end(client, world, widget):
    ended = client.post(f"/api/conversations/{widget.conversation_id}/end", json={},
                        headers=world["headers"]["agent"])
    assert ended.status_code == 200, ended.get_json()


def _visitor_id(widget):
    return db.session.get(Conversation, widget.conversation_id).visitor_id


def _holders(needles):
    """(table, column) pairs of every text or JSON column, in every table of the metadata, holding a needle."""
    found = set()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON))
                   or isinstance(getattr(c.type, "impl", None), (String, Text, JSON))]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)).all():
            for column, value in zip(columns, row):
                if value is None:
                    continue
                shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                found.update((table.name, column.name, needle) for needle in needles if needle.lower() in shown.lower())
    return found


def _fts_finds(word):
    if is_postgres():
        return db.session.scalar(select(func.count()).select_from(Message).where(
            func.to_tsvector("simple", Message.text).op("@@")(func.plainto_tsquery("simple", word))))
    return db.session.scalar(text(f"SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :q"),
                             {"q": f'"{word}"'})


def test_lookup_by_email_or_external_id_for_admins_only(client, world):
    s = _secrets()
    widget = _visitor_with_history(client, world, s)
    admin = world["headers"]["admin"]
    found = client.get("/api/visitors", query_string={"email": s["email"].upper()}, headers=admin)
    assert found.status_code == 200, found.get_json()
    body = found.get_json()
    assert body["total"] == 1 and body["items"][0]["id"] == _visitor_id(widget)
    assert body["items"][0]["name"] == s["name"] and body["items"][0]["erased_at"] is None
    shown = client.get(f"/api/visitors/{_visitor_id(widget)}", headers=admin)
    assert shown.status_code == 200 and shown.get_json() == body["items"][0]
    assert_error(client.get(f"/api/visitors/{_visitor_id(widget)}", headers=world["headers"]["stranger"]), 404)
    assert client.get("/api/visitors", query_string={"email": "nobody@mail.example"}, headers=admin) \
        .get_json()["total"] == 0
    assert client.get("/api/visitors", query_string={"external_id": s["external"]}, headers=admin) \
        .get_json()["total"] == 0
    assert_error(client.get("/api/visitors", headers=world["headers"]["agent"]), 403)
    assert client.get("/api/visitors", headers=world["headers"]["stranger"]).get_json()["total"] == 0
    assert_error(client.get("/api/visitors", query_string={"email": "x" * 300}, headers=admin), 422)


def test_export_holds_everything_about_the_visitor(client, world):
    s = _secrets()
    widget = _visitor_with_history(client, world, s)
    visitor_id = _visitor_id(widget)
    url = f"/api/visitors/{visitor_id}/export"
    assert_error(client.get(url, headers=world["headers"]["agent"]), 403)
    assert_error(client.get(url, headers=world["headers"]["stranger"]), 404)
    assert_error(client.get("/api/visitors/999999/export", headers=world["headers"]["admin"]), 404)
    response = client.get(url, headers=world["headers"]["admin"])
    assert response.status_code == 200, response.get_json()
    export = response.get_json()
    assert export["visitor"]["email"] == s["email"] and export["visitor"]["attributes"] == {"plan": s["attribute"]}
    assert export["truncated"] is False
    [conversation] = export["conversations"]
    assert conversation["conversation"]["id"] == widget.conversation_id
    senders = {m["sender_type"] for m in conversation["messages"]}
    assert {"bot", "visitor", "agent"} <= senders
    assert [m["seq"] for m in conversation["messages"]] == sorted(m["seq"] for m in conversation["messages"])
    assert any(s["text"] in m["text"] for m in conversation["messages"] if m["sender_type"] == "visitor")
    assert [a["filename"] for a in conversation["attachments"]] == [s["filename"]]
    assert "url" in conversation["attachments"][0] and "data" not in conversation["attachments"][0]
    assert conversation["offline_submissions"][0]["data"]["email"] == s["email"]
    assert len(conversation["live_requests"]) == 1 and conversation["calls"] == []
    assert s["name"] in conversation["notes"][0]["text"]
    assert conversation["rating"] is None
    _end(client, world, widget)
    assert client.post(widget.url("/rating"), json={"score": 5, "comment": "Great"},
                       headers=widget.headers()).status_code == 201
    [rated] = client.get(url, headers=world["headers"]["admin"]).get_json()["conversations"]
    assert (rated["rating"]["score"], rated["rating"]["comment"]) == (5, "Great")
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "visitor_exported"))
    assert entry.details["visitor"] == f"visitor#{visitor_id}"


def test_export_is_capped(client, world, app):
    s = _secrets()
    widget = _visitor_with_history(client, world, s)
    app.config["EXPORT_MESSAGES_MAX"] = 2
    export = client.get(f"/api/visitors/{_visitor_id(widget)}/export", headers=world["headers"]["admin"]).get_json()
    assert export["truncated"] is True
    [conversation] = export["conversations"]
    assert conversation["messages_truncated"] is True and [m["seq"] for m in conversation["messages"]] == [1, 2]


def test_erase_leaves_no_trace_in_any_table(client, world):
    s = _secrets()
    # An endpoint for every event: its deliveries' payloads carry the messages, names and form answers.
    hook = client.post("/api/webhooks", headers=world["headers"]["admin"], json={
        "url": "https://93.184.216.34/hooks", "event_types": [str(kind) for kind in WebhookEventType]})
    assert hook.status_code == 201, hook.get_json()
    widget = _visitor_with_history(client, world, s)
    other = _visitor_with_history(client, world, {**_secrets(), "name": "Other Person"})
    _end(client, world, widget)
    _end(client, world, other)
    # After the chat: a rating with a comment, and the transcript mailed to another address they give.
    transcript_to = "copy-" + s["email"]
    rated = client.post(widget.url("/rating"), json={"score": 4, "comment": f"About {s['text']}: fine"},
                        headers=widget.headers())
    assert rated.status_code == 201, rated.get_json()
    mailed = client.post(widget.url("/transcript"), json={"email": transcript_to}, headers=widget.headers())
    assert mailed.status_code == 202, mailed.get_json()
    visitor_id = _visitor_id(widget)
    needles = [s["name"], s["email"], s["text"], s["attribute"], s["filename"], transcript_to]
    assert {holder[0] for holder in _holders(needles)} >= {"visitors", "messages", "notes", "attachments", "events",
                                                          "offline_submissions", "outbox_mails", "ratings",
                                                          "webhook_deliveries"}
    assert _fts_finds(s["text"]) == 2
    stored = world["files"]()
    assert len(stored) == 2
    last_seq = db.session.get(Conversation, widget.conversation_id).last_seq

    url = f"/api/visitors/{visitor_id}/erase"
    assert_error(client.post(url, headers=world["headers"]["agent"]), 403)
    assert_error(client.post(url, headers=world["headers"]["stranger"]), 404)
    erased = client.post(url, headers=world["headers"]["admin"])
    assert erased.status_code == 200, erased.get_json()
    body = erased.get_json()
    assert body["erased_at"] and (body["name"], body["email"], body["external_id"], body["attributes"]) == (
        None, None, None, {})

    assert _holders(needles) == set()
    assert _fts_finds(s["text"]) == 0
    listed = client.get("/api/conversations", query_string={"q": s["text"], "scope": "all"},
                        headers=world["headers"]["admin"]).get_json()
    assert listed["total"] == 0
    # The shape stays for the statistics: every message, with its sender and seq; the other visitor is untouched.
    messages = db.session.scalars(select(Message).where(Message.conversation_id == widget.conversation_id)).all()
    assert len(messages) == last_seq and all(m.text == "" for m in messages)
    assert db.session.get(Conversation, widget.conversation_id).erased_at is not None
    assert len(world["files"]()) == 1 and db.session.scalar(select(func.count()).select_from(StoredFileDeletion)) == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxMail).where(
        OutboxMail.reply_to == "someone@else.example")) == 2
    assert db.session.get(Visitor, _visitor_id(other)).name == "Other Person"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "visitor_erased"))
    assert entry.details == {"visitor": f"visitor#{visitor_id}", "conversations": 1}

    # Their token is dead; erasing again answers the same and audits nothing more.
    assert_error(client.get(widget.url("/messages"), headers=widget.headers()), 401)
    again = client.post(url, headers=world["headers"]["admin"])
    assert again.status_code == 200 and again.get_json()["erased_at"] == body["erased_at"]
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                             .where(AuditEntry.action == "visitor_erased")) == 1
    assert_error(client.post("/api/visitors/999999/erase", headers=world["headers"]["admin"]), 404)


def test_erase_refuses_a_chat_with_an_agent_and_closes_one_with_the_bot(client, world):
    widget = live_chat(client, world["interface"], world["headers"]["agent"])
    url = f"/api/visitors/{_visitor_id(widget)}/erase"
    assert_error(client.post(url, headers=world["headers"]["admin"]), 409, "visitor_in_chat")
    assert db.session.get(Visitor, _visitor_id(widget)).erased_at is None
    bot_only = Widget(client, world["interface"], origin=ORIGIN)
    bot_only.open()
    erased = client.post(f"/api/visitors/{_visitor_id(bot_only)}/erase", headers=world["headers"]["admin"])
    assert erased.status_code == 200, erased.get_json()
    conversation = db.session.get(Conversation, bot_only.conversation_id)
    assert conversation.status == ConversationStatus.CLOSED and conversation.erased_at is not None


def test_workspace_retention_setting(client, world):
    admin = world["headers"]["admin"]
    shown = client.get("/api/workspace", headers=admin)
    assert shown.status_code == 200 and shown.get_json()["retention_days"] is None
    changed = client.patch("/api/workspace", json={"retention_days": 30}, headers=admin)
    assert changed.status_code == 200 and changed.get_json()["retention_days"] == 30
    assert db.session.get(Workspace, world["workspace"].id).retention_days == 30
    for bad in (0, 3651, "x", True, 10 ** 30):
        assert_error(client.patch("/api/workspace", json={"retention_days": bad}, headers=admin), 422)
    assert_error(client.patch("/api/workspace", json={}, headers=admin), 422)
    assert_error(client.patch("/api/workspace", json={"retention_days": 5}, headers=world["headers"]["agent"]), 403)
    assert client.patch("/api/workspace", json={"retention_days": None}, headers=admin) \
        .get_json()["retention_days"] is None
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action == "retention_changed")).all()
    assert len(actions) == 2


def _close(widget, days_ago, now):
    db.session.execute(update(Conversation).where(Conversation.id == widget.conversation_id).values(
        status=ConversationStatus.CLOSED, closed_at=now - timedelta(days=days_ago)))
    db.session.commit()


def test_retention_erases_old_closed_conversations_in_batches(client, world, app):
    now = utcnow()
    told = [_secrets() for _ in range(3)]
    old = [_visitor_with_history(client, world, secret) for secret in told]
    for widget in old:
        _end(client, world, widget)
    recent = Widget(client, world["interface"], origin=ORIGIN)
    recent.open()
    for widget, days in zip(old, (40, 50, 60)):
        _close(widget, days, now)
    _close(recent, 5, now)
    # Kept forever until the workspace says otherwise.
    assert prune_once(now=now)["erased conversations"] == 0
    db.session.execute(update(Workspace).where(Workspace.id == world["workspace"].id).values(retention_days=30))
    db.session.commit()
    app.config.update(RETENTION_ERASE_BATCH_SIZE=2, RETENTION_MAX_BATCHES=1)
    assert prune_once(now=now)["erased conversations"] == 2  # the oldest two this run
    assert db.session.get(Conversation, old[0].conversation_id).erased_at is None
    assert prune_once(now=now)["erased conversations"] == 1
    assert prune_once(now=now)["erased conversations"] == 0  # idempotent
    for widget in old:
        assert db.session.get(Conversation, widget.conversation_id).erased_at is not None
        assert db.session.get(Visitor, _visitor_id(widget)).erased_at is not None  # nothing left of theirs
    assert db.session.get(Conversation, recent.conversation_id).erased_at is None
    assert world["files"]() == []
    assert _holders([secret[key] for secret in told for key in ("name", "email", "text", "attribute", "filename")]) \
        == set()
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 3  # the other visitors' mails stay
    # A later clock reaches the recent one.
    assert prune_once(now=now + timedelta(days=26))["erased conversations"] == 1
    assert db.session.scalar(select(func.count()).select_from(Event).where(
        Event.stream == f"conversation:{recent.conversation_id}")) == 0


def test_an_erased_verified_visitor_is_no_longer_their_user(client, world):
    interface = world["interface"]
    identity = {"user_id": "user-42", "user_hash": hmac.new(interface.identity_secret.encode(), b"user-42",
                                                            hashlib.sha256).hexdigest()}
    opened = client.post(f"/api/widget/{interface.public_key}/sessions", headers={"Origin": ORIGIN},
                         json={"name": "Verified Vera", "email": "vera@mail.example", "identity": identity})
    assert opened.status_code == 201, opened.get_json()
    first = opened.get_json()["visitor"]["id"]
    admin = world["headers"]["admin"]
    found = client.get("/api/visitors", query_string={"external_id": "user-42"}, headers=admin).get_json()
    assert [v["id"] for v in found["items"]] == [first]
    assert client.post(f"/api/visitors/{first}/erase", headers=admin).status_code == 200
    assert client.get("/api/visitors", query_string={"external_id": "user-42"}, headers=admin).get_json()["total"] == 0
    # The same user comes back: a new visitor, with nothing of the erased one's.
    again = client.post(f"/api/widget/{interface.public_key}/sessions", headers={"Origin": ORIGIN},
                        json={"identity": identity}).get_json()
    assert again["visitor"]["id"] != first and again["visitor"]["name"] is None
    assert db.session.get(Visitor, first).external_id is None


@pytest.mark.parametrize("query", [{"interface_id": 0}, {"email": "a\x00b@mail.example"}, {"email": " "},
                                   {"external_id": "x" * 129}, {"page_size": 1000}])
def test_a_visitor_search_refuses_hostile_input(client, world, query):
    assert_error(client.get("/api/visitors", query_string=query, headers=world["headers"]["admin"]), 422)


def test_admin_of_another_workspace_gets_404_on_every_visitor_route(client, world):
    s = _secrets()
    widget = _visitor_with_history(client, world, s)
    _end(client, world, widget)
    visitor_id = _visitor_id(widget)
    stranger = world["headers"]["stranger"]
    for method, suffix in (("GET", ""), ("GET", "/export"), ("POST", "/erase")):
        assert_error(client.open(f"/api/visitors/{visitor_id}{suffix}", method=method, headers=stranger), 404)
    assert client.get("/api/visitors", query_string={"email": s["email"]}, headers=stranger).get_json()["total"] == 0
    visitor = db.session.get(Visitor, visitor_id)
    assert (visitor.name, visitor.erased_at) == (s["name"], None)
    assert not db.session.scalar(select(func.count()).select_from(AuditEntry).where(
        AuditEntry.action.in_(["visitor_exported", "visitor_erased"])))
