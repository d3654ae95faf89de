"""The agent's story with real WebSocket clients: the visitor on one server, agents on the other.

On PostgreSQL with Redis (TEST_DATABASE_URL, TEST_REDIS_URL) the two servers are
gunicorn processes; on the embedded default one threaded server plays both.
"""
import json
import os
import urllib.request

import pytest

from config import TestConfig
from tests.conftest import database_url, is_postgres
from tests.factories import PASSWORD, go_online, make_component, make_interface, make_user, make_workspace
from tests.live import Client, GunicornServer, ThreadServer

ORIGIN = "https://shop.example"
DASHBOARD = "http://localhost:3000"
SCALE_OUT = is_postgres() and bool(os.environ.get("TEST_REDIS_URL"))


@pytest.fixture
def servers(app):
    if SCALE_OUT:
        env = {"DATABASE_URL": database_url(), "REDIS_URL": os.environ["TEST_REDIS_URL"],
               "JWT_SECRET_KEY": TestConfig.JWT_SECRET_KEY, "PASSWORD_HASH_PROFILE": "fast",
               "RATELIMIT_ENABLED": "0", "CORS_ORIGINS": DASHBOARD}
        with GunicornServer(env) as one, GunicornServer(env) as two:
            yield one.url, two.url
    else:
        app.config["RATELIMIT_ENABLED"] = False
        with ThreadServer(app) as server:
            yield server.url, server.url


def http(base, method, path, body=None, token=None, origin=None):
    request = urllib.request.Request(base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if origin:
        request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Agent:
    def __init__(self, base, user):
        self.base, self.user = base, user
        status, login = http(base, "POST", "/api/auth/login", {"email": user.email, "password": PASSWORD})
        assert status == 200, login
        self.token = login["access_token"]
        self.sock = self.connect()

    def connect(self):
        status, ticket = http(self.base, "POST", "/api/sockets/ticket", token=self.token, origin=DASHBOARD)
        assert status == 201
        sock = Client(self.base, ticket["ticket"], origin=DASHBOARD)
        assert sock.recv()["type"] == "hello"
        sock.send({"type": "resume", "positions": {}, "ref": "resume"})
        sock.recv_until(lambda f: f["type"] == "ack" and f["ref"] == "resume")
        return sock

    def command(self, frame):
        self.sock.send(frame)
        answer = self.sock.recv_until(lambda f: f.get("ref") == frame["ref"] and f["type"] in ("ack", "error"))
        return answer


class Visitor:
    def __init__(self, base, key):
        self.base, self.key = base, key
        status, opened = http(base, "POST", f"/api/widget/{key}/sessions", origin=ORIGIN)
        assert status == 201
        self.token, self.conversation_id = opened["visitor_token"], opened["conversation"]["id"]
        status, ticket = http(base, "POST", f"/api/widget/{key}/sockets/ticket", token=self.token, origin=ORIGIN)
        self.sock = Client(base, ticket["ticket"], origin=ORIGIN)
        self.sock.recv()
        self.sock.send({"type": "resume", "positions": {}, "ref": "resume"})
        self.sock.recv_until(lambda f: f["type"] == "ack")

    def act(self, **action):
        return http(self.base, "POST", f"/api/widget/{self.key}/conversations/{self.conversation_id}/actions",
                    action, token=self.token, origin=ORIGIN)


def message_event(text):
    return lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == text


@pytest.fixture
def world(app):
    workspace, admin = make_workspace()
    agents = [make_user(workspace), make_user(workspace)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat")
    make_component(interface, "message", {"text": "The bot is back.", "buttons": [{"label": "Ok"}]})
    go_online(*agents)
    return {"agents": agents, "interface": interface, "admin": admin}


def test_request_accept_chat_transfer_hand_back_end(world, servers):
    visitor_base, agent_base = servers
    first, second = (Agent(agent_base, user) for user in world["agents"])
    visitor = Visitor(visitor_base, world["interface"].public_key)

    visitor.act(type="button", button_id="button_0")
    assert visitor.act(type="button", button_id="live_chat")[0] == 200
    offers = [agent.sock.recv_until(lambda f: f["type"] == "live_chat_request") for agent in (first, second)]
    assert {o["data"]["conversation_id"] for o in offers} == {visitor.conversation_id}
    request_id = offers[0]["data"]["request_id"]

    accepted = first.command({"type": "request.accept", "request_id": request_id, "ref": "a1"})
    assert accepted["type"] == "ack" and accepted["data"]["conversation"]["agent_id"] == first.user.id
    withdrawn = second.sock.recv_until(lambda f: f["type"] == "notification.withdrawn")
    assert withdrawn["data"]["notification_id"] == offers[1]["data"]["notification_id"]
    late = second.command({"type": "request.accept", "request_id": request_id, "ref": "a2"})
    assert late["type"] == "error" and late["code"] == "request_taken"
    visitor.sock.recv_until(message_event(f"You are now chatting with {first.user.name}."))

    # messages both ways
    stream = f"conversation:{visitor.conversation_id}"
    assert first.command({"type": "subscribe", "stream": stream, "ref": "s1"})["type"] == "ack"
    visitor.sock.send({"type": "message.send", "conversation_id": visitor.conversation_id, "client_id": "v1",
                       "text": "Where is my parcel?"})
    first.sock.recv_until(message_event("Where is my parcel?"))
    first.command({"type": "message.send", "conversation_id": visitor.conversation_id, "client_id": "a1",
                   "text": "Let me check.", "ref": "m1"})
    visitor.sock.recv_until(message_event("Let me check."))
    first.sock.send({"type": "typing", "conversation_id": visitor.conversation_id, "typing": True})
    typing = visitor.sock.recv_until(lambda f: f["type"] == "typing")
    assert typing["data"]["sender_type"] == "agent"

    # transfer to the second agent, who then chats
    moved = first.command({"type": "conversation.transfer", "conversation_id": visitor.conversation_id,
                           "agent_id": second.user.id, "ref": "t1"})
    assert moved["data"]["conversation"]["agent_id"] == second.user.id
    visitor.sock.recv_until(message_event(f"{second.user.name} has joined the chat."))
    assert second.command({"type": "subscribe", "stream": stream, "ref": "s2"})["type"] == "ack"
    refused = first.command({"type": "message.send", "conversation_id": visitor.conversation_id,
                             "client_id": "a2", "text": "still me?", "ref": "m2"})
    assert refused["type"] == "error" and refused["code"] == "not_assigned"

    # hand back to the bot, take over again, end
    back = second.command({"type": "conversation.hand_back", "conversation_id": visitor.conversation_id, "ref": "h"})
    assert back["data"]["conversation"]["status"] == "bot"
    visitor.sock.recv_until(message_event("The bot is back."))
    taken = second.command({"type": "conversation.takeover", "conversation_id": visitor.conversation_id,
                            "ref": "to"})
    assert taken["data"]["conversation"]["status"] == "active"
    ended = second.command({"type": "conversation.end", "conversation_id": visitor.conversation_id, "ref": "e"})
    assert ended["data"]["conversation"]["status"] == "closed"
    visitor.sock.recv_until(message_event("The chat has ended."))
    for client in (first.sock, second.sock, visitor.sock):
        client.close()


def test_a_visitor_cannot_use_agent_commands(world, servers):
    visitor = Visitor(servers[0], world["interface"].public_key)
    visitor.sock.send({"type": "conversation.takeover", "conversation_id": visitor.conversation_id, "ref": "x"})
    answer = visitor.sock.recv_until(lambda f: f.get("ref") == "x")
    assert answer["type"] == "error" and answer["status"] == 403
    visitor.sock.close()


def test_deleting_an_agent_mid_chat_closes_their_sockets_and_requeues_the_chat(world, servers, app):
    from extensions import db
    from models import Conversation, LiveRequest

    visitor_base, agent_base = servers
    doomed, other = (Agent(agent_base, user) for user in world["agents"])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    visitor.act(type="button", button_id="button_0")
    visitor.act(type="button", button_id="live_chat")
    request_id = doomed.sock.recv_until(lambda f: f["type"] == "live_chat_request")["data"]["request_id"]
    assert doomed.command({"type": "request.accept", "request_id": request_id, "ref": "a"})["type"] == "ack"

    status, login = http(agent_base, "POST", "/api/auth/login", {"email": world["admin"].email,
                                                                 "password": PASSWORD})
    status, _ = http(agent_base, "DELETE", f"/api/agents/{doomed.user.id}", token=login["access_token"],
                     origin=DASHBOARD)
    assert status == 204
    assert doomed.sock.close_code() == 4401
    offered = other.sock.recv_until(lambda f: f["type"] == "live_chat_request")
    assert offered["data"]["conversation_id"] == visitor.conversation_id
    db.session.expire_all()
    conversation = db.session.get(Conversation, visitor.conversation_id)
    assert conversation.status.value == "waiting" and conversation.agent_id is None
    pending = db.session.query(LiveRequest).filter(LiveRequest.conversation_id == conversation.id,
                                                  LiveRequest.status == "pending").one()
    assert other.command({"type": "request.accept", "request_id": pending.id, "ref": "b"})["type"] == "ack"
    for client in (other.sock, visitor.sock):
        client.close()
