"""The production shape: two server processes sharing PostgreSQL and Redis.

The visitor talks to one server, the agent's socket is on the other; the
servers' own background threads expire requests and send the mail.
"""
import json
import os
import urllib.request

import pytest

from config import TestConfig
from tests.conftest import database_url, is_postgres
from tests.factories import PASSWORD, go_online, make_component, make_interface, make_user, make_workspace
from tests.live import Client, GunicornServer
from tests.smtp import SMTPServer, body_parts

pytestmark = pytest.mark.skipif(
    not (is_postgres() and os.environ.get("TEST_REDIS_URL")),
    reason="needs TEST_DATABASE_URL (PostgreSQL) and TEST_REDIS_URL; .ci/run sets both",
)

ORIGIN = "https://shop.example"
DASHBOARD = "http://localhost:3000"


def server_env(smtp_port=1):
    return {"DATABASE_URL": database_url(), "REDIS_URL": os.environ["TEST_REDIS_URL"],
            "JWT_SECRET_KEY": TestConfig.JWT_SECRET_KEY, "PASSWORD_HASH_PROFILE": "fast",
            "RATELIMIT_STORAGE_URI": "memory://", "CORS_ORIGINS": DASHBOARD,
            "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port), "OUTBOX_POLL_S": "1",
            "OUTBOX_SENDER_THREAD": "1", "SWEEPER_THREAD": "1", "SWEEP_INTERVAL_S": "0.2"}


class Http:
    def __init__(self, base, token=None, origin=None):
        self.base, self.token, self.origin = base, token, origin

    def __call__(self, method, path, body=None):
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        if self.origin:
            request.add_header("Origin", self.origin)
        try:
            with urllib.request.urlopen(request, timeout=15) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@pytest.fixture
def smtp():
    server = SMTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def servers(app, smtp):
    # The production worker (gunicorn.conf.py's default), with psycopg and Redis under gevent.
    with GunicornServer(server_env(smtp.port), worker_class="gevent") as one, \
            GunicornServer(server_env(smtp.port), worker_class="gevent") as two:
        yield one, two


class VisitorOn:
    """A visitor whose browser talks to one server."""

    def __init__(self, server, key):
        self.http = Http(server.url, origin=ORIGIN)
        self.key = key
        status, opened = self.http("POST", f"/api/widget/{key}/sessions")
        assert status == 201, opened
        self.http.token = opened["visitor_token"]
        self.conversation_id = opened["conversation"]["id"]
        self.opened = opened

    def act(self, **action):
        return self.http("POST", f"/api/widget/{self.key}/conversations/{self.conversation_id}/actions", action)

    def messages(self):
        status, page = self.http("GET", f"/api/widget/{self.key}/conversations/{self.conversation_id}/messages")
        assert status == 200
        return page["items"]


def agent_socket(server, agent):
    http = Http(server.url, origin=DASHBOARD)
    status, login = http("POST", "/api/auth/login", {"email": agent.email, "password": PASSWORD})
    assert status == 200, login
    http.token = login["access_token"]
    status, ticket = http("POST", "/api/sockets/ticket")
    assert status == 201
    sock = Client(server.url, ticket["ticket"], origin=DASHBOARD)
    assert sock.recv()["type"] == "hello"
    sock.send({"type": "resume", "positions": {}, "ref": "r"})
    sock.recv_until(lambda f: f["type"] == "ack")
    return sock


def wait_for_history(visitor, predicate, seconds=15):
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        history = visitor.messages()
        if predicate(history):
            return history
        time.sleep(0.2)
    raise AssertionError(f"history never matched: {[m['text'] for m in visitor.messages()]}")


def test_the_visitor_story_across_two_servers(app, servers, smtp):
    one, two = servers
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent], request_timeout_s=1)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}},
                                            "chat_message": {"show_back": True}})
    make_component(interface, "message", {"text": "Anything else?", "buttons": [{"label": "No"}]})
    key = interface.public_key
    go_online(agent)
    sock = agent_socket(two, agent)

    # open, first action, walk the flow with a button, Back and Skip
    visitor = VisitorOn(one, key)
    assert [m["text"] for m in visitor.opened["messages"]] == ["Hello!"]
    assert visitor.act(type="button", button_id="button_0")[0] == 200
    initiated = sock.recv_until(lambda f: f["type"] == "new_chat_initiated")
    assert initiated["data"]["conversation_id"] == visitor.conversation_id
    assert visitor.act(type="back")[1]["conversation"]["component_id"] is not None
    visitor.act(type="button", button_id="button_0")
    status, skipped = visitor.act(type="skip")
    assert status == 200 and [m["text"] for m in skipped["messages"] if m["sender_type"] == "bot"] == ["Anything else?"]

    # live chat request: the agent on the other server is told
    second = VisitorOn(one, key)
    second.act(type="button", button_id="button_0")
    status, asked = second.act(type="button", button_id="live_chat")
    assert status == 200 and asked["conversation"]["status"] == "waiting"
    request = sock.recv_until(lambda f: f["type"] == "live_chat_request")
    assert request["data"]["conversation_id"] == second.conversation_id

    # nobody accepts within the deadline: a server's sweeper runs the offline path (form active)
    history = wait_for_history(second, lambda h: h[-1]["data"] and h[-1]["data"].get("form"))
    assert history[-1]["text"] == "Sorry, none of our agents is available right now."
    withdrawn = sock.recv_until(lambda f: f["type"] == "notification.withdrawn")
    assert withdrawn["data"] == {"notification_id": request["data"]["notification_id"], "reason": "expired"}

    # the form is stored and its e-mail reaches the SMTP server, sent by a server's outbox thread
    status, receipt = second.http("POST", f"/api/widget/{key}/conversations/{second.conversation_id}/offline-form",
                                  {"request_id": history[-1]["data"]["request_id"],
                                   "answers": {"name": "Ada", "email": "ada@example.org", "message": "Call me"}})
    assert status == 201, receipt
    assert smtp.wait_for(1, timeout=20)
    mail = smtp.messages[-1]
    assert mail["To"] == admin.email and mail["Reply-To"] == "ada@example.org"
    assert "Call me" in body_parts(mail)[0]

    # video request: the agent sees video_chat_request
    third = VisitorOn(one, key)
    third.act(type="button", button_id="button_0")
    assert third.act(type="button", button_id="video_chat")[0] == 200
    video = sock.recv_until(lambda f: f["type"] == "video_chat_request")
    assert video["data"]["conversation_id"] == third.conversation_id

    # nobody online: the offline message at once
    status, _ = Http(two.url, token=None)("GET", "/healthz")
    assert status == 200
    from extensions import db
    from models import Availability

    agent.availability = Availability.OFFLINE
    db.session.commit()
    fourth = VisitorOn(two, key)
    fourth.act(type="button", button_id="button_0")
    status, asked = fourth.act(type="button", button_id="live_chat")
    assert asked["conversation"]["status"] == "bot"
    assert asked["messages"][-1]["text"] == "Sorry, none of our agents is available right now."
    sock.close()


def test_visitor_on_one_server_reaches_agent_socket_on_the_other(app, servers):
    one, two = servers
    workspace, _ = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    visitor = VisitorOn(one, interface.public_key)
    sock = agent_socket(two, agent)
    sock.send({"type": "subscribe", "stream": f"conversation:{visitor.conversation_id}", "ref": "s"})
    sock.recv_until(lambda f: f["type"] == "ack" and f["ref"] == "s")
    for n in range(5):
        status, _ = visitor.http("POST", f"/api/widget/{visitor.key}/conversations/{visitor.conversation_id}/messages",
                                 {"text": f"hello {n}", "client_id": f"c{n}"})
        assert status == 201
    frames = [sock.recv_until(lambda f: f["type"] == "message.created") for _ in range(5)]
    assert [f["data"]["message"]["text"] for f in frames] == [f"hello {n}" for n in range(5)]
    assert [f["pos"] for f in frames] == sorted(f["pos"] for f in frames)
    sock.close()
