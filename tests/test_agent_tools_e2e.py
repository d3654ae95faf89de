"""The agent's everyday tools end to end, on two server processes sharing PostgreSQL and Redis.

A verified visitor starts on one device (server one) and continues on another (server two); a visitor who
only types the same e-mail sees nothing of it. The verified visitor asks for a live chat and sends a PNG;
the agent, whose socket is on server two, downloads it through the signed link, answers with a canned
response and leaves a note mentioning a colleague whose socket is on server one. The colleague is told;
the visitor never sees the note, over REST or on their socket.
"""
import hashlib
import hmac
import json
import os
import urllib.request
import uuid

import pytest

from tests.factories import PASSWORD, go_online, make_component, make_interface, make_user, make_workspace
from tests.live import Client, GunicornServer
from tests.conftest import is_postgres
from tests.test_scale_out import DASHBOARD, ORIGIN, Http, agent_socket, server_env

pytestmark = pytest.mark.skipif(
    not (is_postgres() and os.environ.get("TEST_REDIS_URL")),
    reason="needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL; .ci/run sets both",
)

# The smallest valid PNG: a 1x1 transparent pixel.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


@pytest.fixture
def servers(app):
    with GunicornServer(server_env(), worker_class="gevent") as one, \
            GunicornServer(server_env(), worker_class="gevent") as two:
        yield one, two


def upload(http, path, filename, content, content_type):
    """POST one multipart `file` part, as a browser's FormData does."""
    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(http.base + path, method="POST", data=body)
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Bearer {http.token}")
    request.add_header("Origin", http.origin)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def download(url):
    with urllib.request.urlopen(url, timeout=15) as response:
        return response.status, response.headers, response.read()


class Device:
    """One browser of a visitor, on one server."""

    def __init__(self, server, key, **details):
        self.http = Http(server.url, origin=ORIGIN)
        self.key = key
        status, self.opened = self.http("POST", f"/api/widget/{key}/sessions", details)
        assert status == 201, self.opened
        self.http.token = self.opened["visitor_token"]
        self.visitor_id = self.opened["visitor_id"]
        self.conversation_id = self.opened["conversation"]["id"]
        self.base = f"/api/widget/{key}/conversations/{self.conversation_id}"

    def messages(self):
        status, page = self.http("GET", self.base + "/messages")
        assert status == 200, page
        return page["items"]

    def socket(self, server):
        status, ticket = self.http("POST", f"/api/widget/{self.key}/sockets/ticket")
        assert status == 201, ticket
        sock = Client(server.url, ticket["ticket"], origin=ORIGIN)
        assert sock.recv()["type"] == "hello"
        sock.send({"type": "subscribe", "stream": f"conversation:{self.conversation_id}", "after": 0, "ref": "s"})
        sock.recv_until(lambda f: f["type"] == "ack" and f.get("ref") == "s")
        return sock


def signed(secret, user_id):
    return {"user_id": user_id, "user_hash": hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()}


def test_verified_visitor_file_canned_answer_and_note_across_two_servers(app, servers):
    one, two = servers
    workspace, admin = make_workspace()
    agent = make_user(workspace, name="Ann Agent")
    colleague = make_user(workspace, name="Bob Colleague")
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent, colleague])
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat", {})
    go_online(agent)

    # The site's server reads the identity secret (admins only) and signs its user's id.
    admin_http = Http(one.url, origin=DASHBOARD)
    status, login = admin_http("POST", "/api/auth/login", {"email": admin.email, "password": PASSWORD})
    assert status == 200, login
    admin_http.token = login["access_token"]
    status, secret = admin_http("GET", f"/api/interfaces/{interface.id}/identity-secret")
    assert status == 200, secret
    identity = signed(secret["identity_secret"], "user-42")
    key = interface.public_key

    # 1. the verified visitor starts on their laptop (server one) and continues on their phone (server two)
    laptop = Device(one, key, identity=identity, name="Vera Visitor", email="vera@example.org")
    assert laptop.opened["visitor"]["verified"] is True and laptop.opened["visitor"]["email_verified"] is True
    status, _ = laptop.http("POST", laptop.base + "/messages", {"client_id": "l1", "text": "typed on my laptop"})
    assert status == 201
    phone = Device(two, key, identity=identity)
    assert (phone.visitor_id, phone.conversation_id) == (laptop.visitor_id, laptop.conversation_id)
    assert "typed on my laptop" in [m["text"] for m in phone.messages()]

    # 2. someone typing the same e-mail, unverified, gets their own visitor and sees nothing of Vera's
    stranger = Device(two, key, name="Not Vera", email="vera@example.org")
    assert stranger.visitor_id != laptop.visitor_id and stranger.conversation_id != laptop.conversation_id
    assert stranger.opened["visitor"]["email_verified"] is False
    assert "typed on my laptop" not in json.dumps(stranger.opened)
    assert "typed on my laptop" not in [m["text"] for m in stranger.messages()]
    status, _ = stranger.http("GET", laptop.base + "/messages")
    assert status == 404
    status, _ = stranger.http("GET", f"/api/widget/{key}/conversations/{laptop.conversation_id}")
    assert status == 404

    # the verified visitor asks for a live chat from the phone; the agent (socket on server two) accepts
    ann = agent_socket(two, agent)
    bob = agent_socket(one, colleague)
    status, _ = phone.http("POST", phone.base + "/actions", {"type": "button", "button_id": "button_0"})
    assert status == 200
    status, asked = phone.http("POST", phone.base + "/actions", {"type": "button", "button_id": "live_chat"})
    assert status == 200 and asked["conversation"]["status"] == "waiting", asked
    offered = ann.recv_until(lambda f: f["type"] == "live_chat_request")
    assert offered["data"]["conversation_id"] == phone.conversation_id
    ann.send({"type": "request.accept", "request_id": offered["data"]["request_id"], "ref": "acc"})
    accepted = ann.recv_until(lambda f: f["type"] in ("ack", "error") and f.get("ref") == "acc")
    assert accepted["type"] == "ack", accepted
    assert accepted["data"]["conversation"]["visitor"]["name"] == "Vera Visitor"
    assert accepted["data"]["conversation"]["visitor"]["external_id"] == "user-42"
    watching = laptop.socket(one)  # the laptop follows the conversation too

    # 3. the visitor sends a PNG (through server one); the agent downloads it through the signed link
    status, uploaded = upload(laptop.http, laptop.base + "/attachments", "../../screenshot.png", PNG, "image/png")
    assert status == 201, uploaded
    assert uploaded["content_type"] == "image/png" and uploaded["filename"] == "screenshot.png"
    status, sent = laptop.http("POST", laptop.base + "/messages",
                               {"client_id": "l2", "text": "see this", "attachment_ids": [uploaded["id"]]})
    assert status == 201, sent
    created = ann.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == "see this")
    [attachment] = created["data"]["message"]["attachments"]
    status, headers, body = download(attachment["url"])  # a link made for the agent, served by either server
    assert status == 200 and body == PNG
    assert headers["Content-Type"] == "image/png" and headers["X-Content-Type-Options"] == "nosniff"
    assert "screenshot.png" in headers["Content-Disposition"]
    tampered = attachment["url"][:-1] + ("A" if attachment["url"][-1] != "A" else "B")
    with pytest.raises(urllib.error.HTTPError) as refused:
        download(tampered)
    assert refused.value.code == 403

    # 4. the agent answers with a canned response filled in for this conversation
    agent_http = Http(two.url, origin=DASHBOARD)
    status, login = agent_http("POST", "/api/auth/login", {"email": agent.email, "password": PASSWORD})
    agent_http.token = login["access_token"]
    status, canned = agent_http("POST", "/api/canned-responses",
                                {"shortcut": "hello", "text": "Hi {visitor_name}, {agent_name} here. Got your file."})
    assert status == 201, canned
    conversation = f"/api/conversations/{phone.conversation_id}"
    status, rendered = agent_http("POST", f"{conversation}/canned-responses/{canned['id']}/render")
    assert status == 200 and rendered["text"] == "Hi Vera Visitor, Ann Agent here. Got your file.", rendered
    ann.send({"type": "message.send", "conversation_id": phone.conversation_id, "client_id": "a1",
              "text": rendered["text"], "ref": "m1"})
    assert ann.recv_until(lambda f: f.get("ref") == "m1")["type"] == "ack"
    watching.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == rendered["text"])

    # 5. a note mentioning the colleague: Bob (server one) is told, the visitor never sees it
    secret_text = "Refund approved internally, do not tell yet"
    status, note = agent_http("POST", f"{conversation}/notes", {"text": secret_text, "mentions": [colleague.id]})
    assert status == 201, note
    mentioned = bob.recv_until(lambda f: f["type"] == "note.mentioned")
    assert mentioned["data"]["note_id"] == note["id"]
    assert mentioned["data"]["conversation_id"] == phone.conversation_id
    assert ann.recv_until(lambda f: f["type"] == "note.created")["data"]["note"]["id"] == note["id"]
    # a message after the note: once the laptop has it, it has had everything before it on its stream
    ann.send({"type": "message.send", "conversation_id": phone.conversation_id, "client_id": "a2",
              "text": "Anything else?", "ref": "m2"})
    watching.recv_until(lambda f: f["type"] == "message.created"
                        and f["data"]["message"]["text"] == "Anything else?")
    assert secret_text not in json.dumps(watching.frames)
    assert all(not f["type"].startswith("note.") for f in watching.frames)
    for device in (laptop, phone):
        assert secret_text not in json.dumps(device.messages())
        status, seen = device.http("GET", f"/api/widget/{key}/conversations/{device.conversation_id}")
        assert status == 200 and secret_text not in json.dumps(seen)
    # a visitor socket replaying the conversation from the start has no note either
    replay = phone.socket(two)
    replay.send({"type": "ping", "ref": "p"})
    replay.recv_until(lambda f: f.get("ref") == "p")
    assert secret_text not in json.dumps(replay.frames)
    for sock in (ann, bob, watching, replay):
        sock.close()
