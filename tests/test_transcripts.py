"""Transcripts: a visitor's ended chat mailed through the outbox, escaped, with no note and file links that expire."""
import re
import time

import pytest
from sqlalchemy import select

import services.attachments as attachments_module
from extensions import db
from models import Conversation, OutboxMail
from services.mailer import do_send_due
from tests.smtp import body_parts, smtp_server  # noqa: F401 - fixture
from tests.staff_helpers import ORIGIN, live_chat, make_world
from tests.test_attachments import PNG, download, visitor_upload
from tests.test_errors import assert_error
from tests.widget_helpers import Widget

NOTE = "Refund approved by Ann, do not tell yet"
HOSTILE = "<script>alert('x')</script> & bye"


@pytest.fixture
def world(smtp_server, app_config, tmp_path, auth, client):  # noqa: F811
    app_config.update(STORAGE_BACKEND="local", STORAGE_DIR=str(tmp_path / "files"))
    world = make_world(auth)
    world["widget"] = live_chat(client, world["interface"], world["headers"]["agent"])
    world["smtp"] = smtp_server
    return world


def _chat_and_end(client, world):
    widget, agent = world["widget"], world["headers"]["agent"]
    conversation = f"/api/conversations/{widget.conversation_id}"
    shot = visitor_upload(client, widget, PNG, "shot.png").get_json()
    response = client.post(widget.url("/messages"), headers=widget.headers(),
                           json={"text": HOSTILE, "client_id": "v1", "attachment_ids": [shot["id"]]})
    assert response.status_code == 201, response.get_json()
    assert client.post(conversation + "/messages", json={"text": "Happy to help", "client_id": "a1"},
                       headers=agent).status_code == 201
    assert client.post(conversation + "/notes", json={"text": NOTE}, headers=agent).status_code == 201
    assert client.post(conversation + "/end", json={}, headers=agent).status_code == 200


def _ask(client, widget, email="vera@example.com"):
    return client.post(widget.url("/transcript"), json={"email": email}, headers=widget.headers())


def _delivered(world, count=1):
    sent, failed = do_send_due()
    assert sent >= 1, db.session.scalars(select(OutboxMail.last_error)).all()
    return world["smtp"].wait_for(count)


def test_the_visitor_gets_the_transcript_of_the_ended_chat(world, client, app, monkeypatch):
    widget = world["widget"]
    assert_error(_ask(client, widget), 409, "conversation_not_closed")
    _chat_and_end(client, world)
    response = _ask(client, widget)
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["email"] == "vera@example.com"
    (mail,) = _delivered(world)
    assert mail["To"] == "vera@example.com" and "Shop" in mail["Subject"]
    plain, html = body_parts(mail)
    for part in (plain, html):
        assert "Happy to help" in part and "The chat has ended." in part and "shot.png" in part
        assert NOTE not in part and "Refund approved" not in part
    assert HOSTILE in plain
    assert "<script>" not in html and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; bye" in html
    (url,) = re.findall(r'href="([^"]+)"', html)
    url = url.replace("&amp;", "&")
    assert url in plain
    assert download(client, url).data == PNG
    # the link works for TRANSCRIPT_LINK_TTL_S, not forever
    later = time.time() + app.config["TRANSCRIPT_LINK_TTL_S"] + 60
    assert download(client, url).status_code == 200
    monkeypatch.setattr(attachments_module.time, "time", lambda: later)
    assert_error(download(client, url), 403, "link_expired")


def test_only_the_visitors_own_conversation_and_a_valid_address(world, client):
    _chat_and_end(client, world)
    other = Widget(client, world["interface"], origin=ORIGIN)
    other.open()
    other.conversation_id = world["widget"].conversation_id
    assert_error(_ask(client, other), 404, "not_found")
    for email in ("not-an-address", "a@b.c\r\nBcc: x@example.com", "x" * 250 + "@example.com", ""):
        assert_error(_ask(client, world["widget"], email), 422, "validation_error")
    assert db.session.scalar(select(OutboxMail.id).where(OutboxMail.kind == "transcript")) is None


def test_transcripts_are_limited_per_conversation(world, client, app):
    app.config["TRANSCRIPT_LIMIT_PER_CONVERSATION"] = "2/hour"
    _chat_and_end(client, world)
    # only mail queued counts: refused requests do not use the limit up
    for _ in range(3):
        assert_error(_ask(client, world["widget"], "not-an-address"), 422, "validation_error")
    assert [_ask(client, world["widget"]).status_code for _ in range(2)] == [202, 202]
    limited = _ask(client, world["widget"])
    assert_error(limited, 429, "rate_limited")
    assert limited.headers["Retry-After"]


def _verified(world, email_verified):
    conversation = db.session.get(Conversation, world["widget"].conversation_id)
    conversation.visitor.email, conversation.visitor.email_verified = "vera@example.com", email_verified
    world["interface"].transcript_auto_send = True
    db.session.commit()


def test_the_interface_mails_it_when_the_chat_ends_to_a_verified_address_only(world, client):
    _verified(world, True)
    _chat_and_end(client, world)
    (row,) = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "transcript")).all()
    assert row.recipients == ["vera@example.com"] and NOTE not in row.body_html
    (mail,) = _delivered(world)
    assert "Happy to help" in body_parts(mail)[0]


def test_a_typed_address_gets_nothing_unasked(world, client):
    _verified(world, False)
    _chat_and_end(client, world)
    assert db.session.scalar(select(OutboxMail.id).where(OutboxMail.kind == "transcript")) is None


def test_admins_turn_automatic_transcripts_on(world, client):
    url = f"/api/interfaces/{world['interface'].id}"
    response = client.patch(url, json={"transcript_auto_send": True}, headers=world["headers"]["admin"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["transcript_auto_send"] is True
    assert client.patch(url, json={"transcript_auto_send": False},
                        headers=world["headers"]["agent"]).status_code == 403


def test_long_lines_are_folded_for_smtp(world, client):
    widget, agent = world["widget"], world["headers"]["agent"]
    long_word, escaped = "x" * 4000, "<" * 4000
    for n, text in enumerate((long_word, escaped, "word " * 800)):
        assert client.post(widget.url("/messages"), json={"text": text, "client_id": f"l{n}"},
                           headers=widget.headers()).status_code == 201
    assert client.post(f"/api/conversations/{widget.conversation_id}/end", json={}, headers=agent).status_code == 200
    assert _ask(client, widget).status_code == 202
    (mail,) = _delivered(world)  # the SMTP server refuses a line over 998 characters
    plain, html = body_parts(mail)
    assert plain.replace("\n", "").count("x") >= 4000 and html.count("&lt;") == 4000
