"""What agents and visitors hear when a chat changes hands, with real sockets.

The visitor is on one server and the agents on the other (two gunicorn
processes on PostgreSQL with Redis; one threaded server on the embedded default).
No agent here sends `subscribe`: holding a chat is what makes a socket follow it.
"""
import time

import pytest
import websocket

from tests.factories import make_component, make_interface, make_user, make_workspace, go_online
from tests.test_agent_e2e import DASHBOARD, ORIGIN, Agent, Visitor, http, message_event, servers  # noqa: F401


@pytest.fixture
def world(app):
    workspace, admin = make_workspace()
    agents = [make_user(workspace), make_user(workspace)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat")
    go_online(*agents)
    return {"agents": agents, "interface": interface, "admin": admin}


def ask(visitor, agents=()):
    """The visitor asks for a live chat; the request id, from the agents' offers."""
    visitor.act(type="button", button_id="button_0")
    assert visitor.act(type="button", button_id="live_chat")[0] == 200
    offers = [agent.sock.recv_until(lambda f: f["type"] == "live_chat_request") for agent in agents]
    return offers[0]["data"]["request_id"] if offers else None


def say(visitor, text):
    visitor.sock.send({"type": "message.send", "conversation_id": visitor.conversation_id, "client_id": text,
                       "text": text, "ref": text})
    visitor.sock.recv_until(lambda f: f.get("ref") == text and f["type"] == "ack")


def quiet(sock, seconds=1.5):
    """Every frame the socket gets within `seconds`."""
    frames, deadline = [], time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.ws.settimeout(left)
        try:
            frames.append(sock.recv())
        except websocket.WebSocketTimeoutException:
            break
    sock.ws.settimeout(10)
    return frames


def test_an_agent_who_accepts_over_rest_hears_the_visitor_without_subscribing(world, servers):
    visitor_base, agent_base = servers
    agent = Agent(agent_base, world["agents"][0])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [agent])

    status, body = http(agent_base, "POST", f"/api/requests/{request_id}/accept", token=agent.token,
                        origin=DASHBOARD)
    assert status == 200, body
    say(visitor, "Straight after the accept")  # no wait: nothing falls between the accept and the follow
    updated = agent.sock.recv_until(lambda f: f["type"] == "conversation.updated")
    assert updated["stream"] == f"user:{agent.user.id}"
    assert isinstance(updated["data"]["conversation_pos"], int)
    agent.sock.recv_until(message_event("Straight after the accept"))
    visitor.sock.send({"type": "typing", "conversation_id": visitor.conversation_id, "typing": True})
    typing = agent.sock.recv_until(lambda f: f["type"] == "typing")
    assert typing["data"]["sender_type"] == "visitor"
    for client in (agent.sock, visitor.sock):
        client.close()


def test_accept_on_the_socket_then_transfer_moves_the_chat_between_sockets(world, servers):
    visitor_base, agent_base = servers
    first, second = (Agent(agent_base, user) for user in world["agents"])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [first, second])

    accepted = first.command({"type": "request.accept", "request_id": request_id, "ref": "a"})
    assert accepted["type"] == "ack"
    say(visitor, "Hello agent")
    first.sock.recv_until(message_event("Hello agent"))

    moved = first.command({"type": "conversation.transfer", "conversation_id": visitor.conversation_id,
                           "agent_id": second.user.id, "ref": "t"})
    assert moved["type"] == "ack"
    # The receiving agent's socket follows from the transfer on: it hears the transfer's own message too.
    second.sock.recv_until(message_event(f"{second.user.name} has joined the chat."))
    say(visitor, "Are you the new one?")
    second.sock.recv_until(message_event("Are you the new one?"))
    visitor.sock.send({"type": "typing", "conversation_id": visitor.conversation_id, "typing": True})
    second.sock.recv_until(lambda f: f["type"] == "typing")
    late = [f for f in quiet(first.sock) if f.get("stream") == f"conversation:{visitor.conversation_id}"]
    assert not [f for f in late if f["type"] in ("message.created", "typing")
                and f.get("data", {}).get("message", {}).get("text") != f"{second.user.name} has joined the chat."]
    for client in (first.sock, second.sock, visitor.sock):
        client.close()


def test_an_agent_who_takes_over_hears_the_visitor_and_stops_when_the_chat_ends(world, servers):
    visitor_base, agent_base = servers
    agent = Agent(agent_base, world["agents"][0])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    visitor.act(type="button", button_id="button_0")

    status, body = http(agent_base, "POST", f"/api/conversations/{visitor.conversation_id}/takeover",
                        token=agent.token, origin=DASHBOARD)
    assert status == 200, body
    say(visitor, "A human?")
    agent.sock.recv_until(message_event("A human?"))
    ended = agent.command({"type": "conversation.end", "conversation_id": visitor.conversation_id, "ref": "e"})
    assert ended["type"] == "ack"
    agent.sock.recv_until(lambda f: f["type"] == "conversation.updated" and f["stream"].startswith("user:")
                          and f["data"]["conversation"]["status"] == "closed")
    visitor.sock.send({"type": "typing", "conversation_id": visitor.conversation_id, "typing": True})
    assert not [f for f in quiet(agent.sock) if f["type"] == "typing"]
    for client in (agent.sock, visitor.sock):
        client.close()


def test_hello_and_resume_follow_the_chats_the_agent_holds(world, servers):
    visitor_base, agent_base = servers
    agent = Agent(agent_base, world["agents"][0])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [agent])
    assert agent.command({"type": "request.accept", "request_id": request_id, "ref": "a"})["type"] == "ack"
    stream = f"conversation:{visitor.conversation_id}"
    seen = agent.sock.recv_until(message_event(f"You are now chatting with {agent.user.name}."))
    agent.sock.close()

    say(visitor, "Did you leave?")  # while the agent's socket is away
    status, ticket = http(agent_base, "POST", "/api/sockets/ticket", token=agent.token, origin=DASHBOARD)
    from tests.live import Client

    sock = Client(agent_base, ticket["ticket"], origin=DASHBOARD)
    hello = sock.recv()
    assert hello["type"] == "hello" and stream in hello["streams"]
    assert hello["streams"][stream] > seen["pos"]
    sock.send({"type": "resume", "positions": {stream: seen["pos"]}, "ref": "r"})
    ack = sock.recv_until(lambda f: f.get("ref") == "r")
    assert stream in ack["data"]["positions"]
    sock.recv_until(message_event("Did you leave?"))

    # Without a position the held chat is followed from now on.
    status, ticket = http(agent_base, "POST", "/api/sockets/ticket", token=agent.token, origin=DASHBOARD)
    fresh = Client(agent_base, ticket["ticket"], origin=DASHBOARD)
    fresh.recv()
    fresh.send({"type": "resume", "positions": {}, "ref": "r"})
    fresh.recv_until(lambda f: f.get("ref") == "r")
    say(visitor, "Still there?")
    fresh.recv_until(message_event("Still there?"))
    for client in (sock, fresh, visitor.sock):
        client.close()


def test_an_auto_assigned_agent_hears_the_visitor(app, servers):
    from models import RoutingMode

    workspace, _ = make_workspace()
    user = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[user],
                               routing_mode=RoutingMode.LEAST_BUSY)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat")
    go_online(user)
    visitor_base, agent_base = servers
    agent = Agent(agent_base, user)
    visitor = Visitor(visitor_base, interface.public_key)
    ask(visitor)
    agent.sock.recv_until(lambda f: f["type"] == "conversation.updated" and f["stream"] == f"user:{user.id}")
    say(visitor, "Picked me automatically?")
    agent.sock.recv_until(message_event("Picked me automatically?"))
    for client in (agent.sock, visitor.sock):
        client.close()


def _requeued_text(agent, position):
    return f"{agent.name} left; you are back in the queue, position {position}."


def _history(visitor):
    status, page = http(visitor.base, "GET", f"/api/widget/{visitor.key}/conversations/{visitor.conversation_id}"
                        "/messages", token=visitor.token, origin=ORIGIN)
    assert status == 200, page
    return page["items"]


def test_a_visitor_whose_agent_goes_absent_is_told_they_wait_again(world, servers, app):
    from datetime import timedelta

    from sqlalchemy import update

    from extensions import db
    from models import User
    from models.base import utcnow
    from services.presence import sweep_absent

    visitor_base, agent_base = servers
    first, second = (Agent(agent_base, user) for user in world["agents"])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [first, second])
    assert first.command({"type": "request.accept", "request_id": request_id, "ref": "a"})["type"] == "ack"
    first.sock.close()
    db.session.execute(update(User).where(User.id == first.user.id)
                       .values(presence_seen_at=utcnow() - timedelta(seconds=3600)))
    db.session.commit()
    assert sweep_absent() == [first.user.id]

    told = visitor.sock.recv_until(message_event(_requeued_text(first.user, 1)))
    assert told["data"]["message"]["sender_type"] == "system"
    assert told["data"]["message"]["data"]["event"] == "requeued"
    updated = visitor.sock.recv_until(lambda f: f["type"] == "conversation.updated")
    assert updated["data"]["conversation"]["status"] == "waiting"
    assert updated["data"]["conversation"]["agent_id"] is None
    assert updated["pos"] > told["pos"]
    assert [m["text"] for m in _history(visitor)][-1] == _requeued_text(first.user, 1)
    offer = second.sock.recv_until(lambda f: f["type"] == "live_chat_request")
    assert offer["data"]["conversation_id"] == visitor.conversation_id
    for client in (second.sock, visitor.sock):
        client.close()


def test_a_visitor_whose_agent_is_deleted_is_told_with_the_interface_text(world, servers, app):
    from extensions import db
    from models import Component, ComponentType
    from tests.factories import PASSWORD

    component = db.session.query(Component).filter_by(type=ComponentType.LIVE_CHAT).one()
    component.config = {**component.config, "messages": {**component.config["messages"],
                                                         "requeued": "Sorry, {agent_name} had to go (#{position})."}}
    db.session.commit()
    visitor_base, agent_base = servers
    doomed, other = (Agent(agent_base, user) for user in world["agents"])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [doomed, other])
    assert doomed.command({"type": "request.accept", "request_id": request_id, "ref": "a"})["type"] == "ack"
    status, login = http(agent_base, "POST", "/api/auth/login", {"email": world["admin"].email,
                                                                 "password": PASSWORD})
    status, _ = http(agent_base, "DELETE", f"/api/agents/{doomed.user.id}", token=login["access_token"],
                     origin=DASHBOARD)
    assert status == 204
    visitor.sock.recv_until(message_event(f"Sorry, {doomed.user.name} had to go (#1)."))
    visitor.sock.recv_until(lambda f: f["type"] == "conversation.updated"
                            and f["data"]["conversation"]["status"] == "waiting")
    for client in (doomed.sock, other.sock, visitor.sock):  # the closed one too: gunicorn waits for its connection
        client.close()


def _later(seconds):
    from datetime import timedelta

    from models.base import utcnow

    return utcnow() + timedelta(seconds=seconds)


def _request(visitor):
    status, body = http(visitor.base, "GET", f"/api/widget/{visitor.key}/conversations/{visitor.conversation_id}"
                        "/request", token=visitor.token, origin=ORIGIN)
    assert status == 200, body
    return body


def _seen(visitor, when):
    from sqlalchemy import update

    from extensions import db
    from models import Visitor as VisitorRow

    db.session.execute(update(VisitorRow).where(VisitorRow.id == visitor.sock.frames[0]["id"])
                       .values(presence_seen_at=when))
    db.session.commit()


def _reconnect(visitor):
    from tests.live import Client

    status, ticket = http(visitor.base, "POST", f"/api/widget/{visitor.key}/sockets/ticket", token=visitor.token,
                          origin=ORIGIN)
    assert status == 201
    visitor.sock = Client(visitor.base, ticket["ticket"], origin=ORIGIN)
    assert visitor.sock.recv()["type"] == "hello"  # its first heartbeat is written before hello


def test_a_visitor_who_leaves_a_waiting_request_abandons_it(world, servers, app):
    from services.presence import sweep_absent_visitors

    visitor_base, agent_base = servers
    first, second = (Agent(agent_base, user) for user in world["agents"])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [first, second])
    visitor.sock.close()

    grace = app.config["VISITOR_PRESENCE_GRACE_S"]
    assert sweep_absent_visitors(now=_later(grace - 5)) == []  # a reload or a short drop
    assert sweep_absent_visitors(now=_later(grace + 5)) == [visitor.sock.frames[0]['id']]
    for agent in (first, second):
        withdrawn = agent.sock.recv_until(lambda f: f["type"] == "notification.withdrawn")
        assert withdrawn["data"]["reason"] == "abandoned"
    assert _request(visitor)["status"] == "abandoned"
    late = first.command({"type": "request.accept", "request_id": request_id, "ref": "a"})
    assert late["type"] == "error" and late["code"] == "request_abandoned"
    status, waiting = http(agent_base, "GET", "/api/requests", token=first.token, origin=DASHBOARD)
    assert status == 200 and request_id not in [r["request_id"] for r in waiting["items"]]
    for client in (first.sock, second.sock):
        client.close()


def test_a_visitor_who_comes_back_within_the_grace_keeps_their_place(world, servers, app):
    from services.presence import sweep_absent_visitors

    visitor_base, agent_base = servers
    agent = Agent(agent_base, world["agents"][0])
    ahead = Visitor(visitor_base, world["interface"].public_key)
    ask(ahead, [agent])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    ask(visitor, [agent])
    assert _request(visitor)["queue_position"] == 2
    visitor.sock.close()

    grace = app.config["VISITOR_PRESENCE_GRACE_S"]
    _seen(visitor, _later(-(grace - 10)))  # gone for most of the grace period
    assert sweep_absent_visitors() == []
    _reconnect(visitor)
    assert sweep_absent_visitors(now=_later(11)) == []  # without the socket's refresh they would be gone now
    assert _request(visitor)["status"] == "pending" and _request(visitor)["queue_position"] == 2
    for client in (agent.sock, ahead.sock, visitor.sock):
        client.close()


def test_the_agent_hears_the_visitor_is_away_and_an_idle_chat_closes(world, servers, app):
    from services.presence import sweep_absent_visitors, sweep_idle_chats

    visitor_base, agent_base = servers
    agent = Agent(agent_base, world["agents"][0])
    visitor = Visitor(visitor_base, world["interface"].public_key)
    request_id = ask(visitor, [agent])
    assert agent.command({"type": "request.accept", "request_id": request_id, "ref": "a"})["type"] == "ack"
    visitor.sock.close()

    grace, idle = app.config["VISITOR_PRESENCE_GRACE_S"], app.config["VISITOR_IDLE_TIMEOUT_S"]
    assert sweep_absent_visitors(now=_later(grace + 5)) == [visitor.sock.frames[0]['id']]
    away = agent.sock.recv_until(lambda f: f["type"] == "visitor.presence"
                                 and f["stream"] == f"conversation:{visitor.conversation_id}")
    assert away["data"]["online"] is False and away["data"]["visitor_id"] == visitor.sock.frames[0]['id']
    agent.sock.recv_until(lambda f: f["type"] == "visitor.presence" and f["stream"] == f"user:{agent.user.id}")
    _reconnect(visitor)
    back = agent.sock.recv_until(lambda f: f["type"] == "visitor.presence")
    assert back["data"]["online"] is True
    assert sweep_idle_chats(now=_later(idle + 5)) == []  # back: the chat stays

    visitor.sock.close()
    assert sweep_absent_visitors(now=_later(grace + 5)) == [visitor.sock.frames[0]['id']]
    assert sweep_idle_chats(now=_later(grace + 5)) == []  # away, not idle yet
    assert sweep_idle_chats(now=_later(idle + 5)) == [visitor.conversation_id]
    closed = agent.sock.recv_until(lambda f: f["type"] == "conversation.updated" and f["stream"].startswith("user:")
                                   and f["data"]["conversation"]["status"] == "closed")
    assert closed["data"]["conversation"]["id"] == visitor.conversation_id
    assert _history(visitor)[-1]["text"] == "The chat has ended: the visitor left."
    agent.sock.close()
