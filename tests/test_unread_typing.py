"""Typing indicators both ways and their throttle, read positions both ways, unread counts."""
import pytest
from sqlalchemy import func, select

from extensions import db
from models import Event
from services.typing_throttle import TypingThrottle
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.live import Client
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agent = make_user(workspace, max_chats=3)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat", {})
    go_online(agent)
    clock = FakeClock()
    app.extensions["typing_throttle"] = TypingThrottle(2.0, clock=clock)
    return {"agent": agent, "interface": interface, "headers": auth.headers(agent), "clock": clock,
            "admin_headers": auth.headers(admin)}


def live_chat(client, world):
    """A visitor whose live request the agent accepted."""
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    for button in ("button_0", "live_chat"):
        response = client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                               headers=widget.headers())
        assert response.status_code == 200, response.get_json()
    request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
    assert client.post(f"/api/requests/{request_id}/accept", headers=world["headers"]).status_code == 200
    return widget


def sockets(client, server, world, widget):
    """The agent's socket and the visitor's, both resumed (the agent's follows the chat it holds)."""
    ticket = client.post("/api/sockets/ticket", headers=world["headers"]).get_json()["ticket"]
    pair = Client(server.url, ticket), Client(server.url, widget.ticket(), origin=ORIGIN)
    for n, sock in enumerate(pair):
        sock.recv()
        sock.send({"type": "resume", "positions": {}, "ref": f"resume{n}"})
        sock.recv_until(lambda f, n=n: f.get("ref") == f"resume{n}")
    return pair


def typing(sock, conversation_id, value, ref):
    sock.send({"type": "typing", "conversation_id": conversation_id, "typing": value, "ref": ref})
    sock.recv_until(lambda f: f.get("ref") == ref)


def typing_frames(sock, sender_type, since, limit=50):
    """The typing values sock got from sender_type after its frame number since, up to the first false."""
    for _ in range(limit):
        seen = [f["data"]["typing"] for f in sock.frames[since:]
                if f["type"] == "typing" and f["data"]["sender_type"] == sender_type]
        if False in seen:
            return seen[:seen.index(False) + 1]
        sock.recv()
    raise AssertionError(f"no typing false from the {sender_type} in {limit} frames")


def test_typing_reaches_the_other_side_and_repeats_within_the_interval_are_dropped(client, server, world):
    widget = live_chat(client, world)
    cid = widget.conversation_id
    agent_sock, visitor_sock = sockets(client, server, world, widget)
    try:
        mark = len(agent_sock.frames)
        typing(visitor_sock, cid, True, "v1")
        typing(visitor_sock, cid, True, "v2")  # within the interval: dropped
        world["clock"].now += 1.9
        typing(visitor_sock, cid, True, "v3")  # still within it: dropped
        typing(visitor_sock, cid, False, "v4")  # false always goes
        assert typing_frames(agent_sock, "visitor", mark) == [True, False]
        heard = [f for f in agent_sock.frames[mark:] if f["type"] == "typing"][0]
        assert heard["data"]["sender_type"] == "visitor" and heard["data"]["conversation_id"] == cid
        assert "pos" not in heard  # ephemeral: no position, nothing to replay

        mark = len(visitor_sock.frames)
        typing(agent_sock, cid, True, "a1")
        typing(agent_sock, cid, True, "a2")
        world["clock"].now += 2.1  # the interval is over: the next true goes again
        typing(agent_sock, cid, True, "a3")
        typing(agent_sock, cid, False, "a4")
        assert typing_frames(visitor_sock, "agent", mark) == [True, True, False]
        heard = [f for f in visitor_sock.frames[mark:]
                 if f["type"] == "typing" and f["data"]["sender_type"] == "agent"][0]
        assert heard["data"]["sender_type"] == "agent" and heard["data"]["sender_name"] == world["agent"].name

        mark = len(agent_sock.frames)
        typing(visitor_sock, cid, True, "v5")  # after a false, typing again shows at once
        typing(visitor_sock, cid, False, "v6")
        assert typing_frames(agent_sock, "visitor", mark) == [True, False]
    finally:
        agent_sock.close()
        visitor_sock.close()
    assert db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "typing")) == 0


def test_the_throttle_keeps_principals_and_conversations_apart_and_stays_bounded():
    clock = FakeClock()
    throttle = TypingThrottle(2.0, clock=clock, max_keys=3)
    assert throttle.allow(("visitor", 1, 10), True)
    assert not throttle.allow(("visitor", 1, 10), True)
    assert throttle.allow(("user", 1, 10), True)  # an agent with the same id is someone else
    assert throttle.allow(("visitor", 1, 11), True)  # and another conversation another indicator
    assert throttle.allow(("visitor", 2, 10), True)  # full: stale keys go, or all of them
    assert len(throttle._last) <= 3
    clock.now += 5
    assert throttle.allow(("visitor", 2, 10), True)


def test_each_side_sees_the_others_read_position(client, server, world):
    widget = live_chat(client, world)
    cid = widget.conversation_id
    agent_sock, visitor_sock = sockets(client, server, world, widget)
    try:
        sent = widget.send("Hi there", "v1").get_json()
        agent_sock.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["id"] == sent["id"])
        read = client.post(f"/api/conversations/{cid}/read", json={"seq": sent["seq"]}, headers=world["headers"])
        assert read.status_code == 200 and read.get_json()["seq"] == sent["seq"]
        heard = visitor_sock.recv_until(lambda f: f["type"] == "conversation.read"
                                        and f["data"]["reader"] == "agent")
        assert heard["data"] == {"conversation_id": cid, "reader": "agent", "seq": sent["seq"]}
        assert client.get(widget.url(), headers=widget.headers()).get_json()["agent_read_seq"] == sent["seq"]

        answers = [client.post(f"/api/conversations/{cid}/messages", json={"text": text, "client_id": text},
                               headers=world["headers"]).get_json() for text in ("Hello", "How can I help?")]
        visitor_sock.send({"type": "read", "conversation_id": cid, "seq": answers[0]["seq"], "ref": "r1"})
        visitor_sock.recv_until(lambda f: f.get("ref") == "r1")
        heard = agent_sock.recv_until(lambda f: f["type"] == "conversation.read"
                                      and f["data"]["reader"] == "visitor")
        assert heard["data"] == {"conversation_id": cid, "reader": "visitor", "seq": answers[0]["seq"]}
        # and over REST, for a widget without a socket
        read = client.post(widget.url("/read"), json={"seq": answers[1]["seq"]}, headers=widget.headers())
        assert read.status_code == 200 and read.get_json()["seq"] == answers[1]["seq"]
        heard = agent_sock.recv_until(lambda f: f["type"] == "conversation.read"
                                      and f["data"]["reader"] == "visitor")
        assert heard["data"]["seq"] == answers[1]["seq"]
        assert client.get(f"/api/conversations/{cid}", headers=world["headers"]).get_json()["visitor_read_seq"] \
            == answers[1]["seq"]
        back = client.post(widget.url("/read"), json={"seq": 1}, headers=widget.headers())  # never moves back
        assert back.status_code == 200 and back.get_json()["seq"] == answers[1]["seq"]
    finally:
        agent_sock.close()
        visitor_sock.close()


def unread(client, world, cid):
    listed = client.get("/api/conversations", query_string={"scope": "mine"}, headers=world["headers"]).get_json()
    one = client.get(f"/api/conversations/{cid}", headers=world["headers"]).get_json()
    [item] = [item for item in listed["items"] if item["id"] == cid]
    assert item["unread_count"] == one["unread_count"]
    return one["unread_count"]


def test_unread_count_moves_when_the_visitor_writes_and_when_the_agent_reads(client, world):
    widget = live_chat(client, world)
    cid = widget.conversation_id
    before = unread(client, world, cid)  # the bot phase: the visitor's button presses
    sent = [widget.send(f"message {n}", f"v{n}").get_json() for n in range(3)]
    assert unread(client, world, cid) == before + 3
    client.post(f"/api/conversations/{cid}/messages", json={"text": "On it", "client_id": "a1"},
                headers=world["headers"])
    assert unread(client, world, cid) == before + 3  # the agent's own messages are not unread
    client.post(f"/api/conversations/{cid}/read", json={"seq": sent[1]["seq"]}, headers=world["headers"])
    assert unread(client, world, cid) == 1
    client.post(f"/api/conversations/{cid}/read", json={"seq": sent[2]["seq"] + 5}, headers=world["headers"])
    assert unread(client, world, cid) == 0
    widget.send("one more", "v9")
    assert unread(client, world, cid) == 1
    # only the agents' reads count: the visitor's view of the conversation has no unread_count
    assert "unread_count" not in client.get(widget.url(), headers=widget.headers()).get_json()
    # an admin reading someone else's chat sees the agent's count
    assert client.get(f"/api/conversations/{cid}", headers=world["admin_headers"]).get_json()["unread_count"] == 1
