"""The socket protocol: tickets, origins, resume, idempotent sends, bad frames."""
import json

import pytest
import websocket

from services import events as events_module
from blueprints.socket_protocol import CloseSocket, SocketSession
from tests.factories import make_interface, make_user, make_workspace
from tests.live import Client
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


@pytest.fixture
def setup(app, client):
    workspace, admin = make_workspace()
    interface = make_interface(workspace, allowed_origins=[ORIGIN])
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    return {"workspace": workspace, "admin": admin, "interface": interface, "widget": widget}


def _session(principal):
    sent = []
    session = SocketSession(principal, push=lambda stream, frame: sent.append((stream, frame)))
    return session, sent


def _visitor(widget):
    from extensions import db
    from models import Conversation

    return db.session.get(Conversation, widget.conversation_id).visitor


def test_resume_after_drop_gets_exactly_the_missed_events_in_order(setup, server):
    from services.events import last_pos

    widget = setup["widget"]
    stream = f"conversation:{widget.conversation_id}"
    first = Client(server.url, widget.ticket(), origin=ORIGIN)
    first.recv()
    first.send({"type": "resume", "positions": {}})
    first.recv_until(lambda f: f["type"] == "ack")
    assert widget.send("before the drop", "c1").status_code == 201
    first.recv_until(lambda f: f["type"] == "message.created")
    seen = max(f["pos"] for f in first.frames if f.get("stream") == stream)
    first.close()

    for n in range(5):  # while the socket is away
        assert widget.send(f"missed {n}", f"m{n}").status_code == 201
    missed = last_pos(stream) - seen
    assert missed >= 5

    second = Client(server.url, widget.ticket(), origin=ORIGIN)
    second.recv()
    second.send({"type": "resume", "positions": {stream: seen}})
    second.recv_until(lambda f: f["type"] == "ack")
    replayed = [second.recv() for _ in range(missed)]
    assert [f["pos"] for f in replayed] == list(range(seen + 1, seen + missed + 1))
    texts = [f["data"]["message"]["text"] for f in replayed if f["type"] == "message.created"]
    assert texts == [f"missed {n}" for n in range(5)]
    # and then live, with nothing repeated
    assert widget.send("after", "a1").status_code == 201
    live = second.recv_until(lambda f: f["type"] == "message.created")
    assert live["pos"] > seen + missed and live["data"]["message"]["text"] == "after"
    assert len({f["pos"] for f in second.frames if "pos" in f}) == len([f for f in second.frames if "pos" in f])
    second.close()


def test_message_sent_twice_over_the_socket_is_stored_once(setup, server):
    widget = setup["widget"]
    sock = Client(server.url, widget.ticket(), origin=ORIGIN)
    sock.recv()
    sock.send({"type": "resume", "positions": {}})
    sock.recv_until(lambda f: f["type"] == "ack")
    command = {"type": "message.send", "conversation_id": widget.conversation_id, "client_id": "same",
               "text": "hello", "ref": "r1"}
    sock.send(command)
    first_ack = sock.recv_until(lambda f: f["type"] == "ack")
    sock.send({**command, "ref": "r2"})
    second_ack = sock.recv_until(lambda f: f["type"] == "ack" and f["ref"] == "r2")
    # an ack goes straight back while the event goes through the broker, so either may come first; a later
    # message's event comes after any event of the retry on the same stream
    sock.send({**command, "client_id": "later", "text": "later", "ref": "r3"})
    sock.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["client_id"] == "later")
    sock.close()
    assert first_ack["data"]["created"] is True and second_ack["data"]["created"] is False
    assert first_ack["data"]["message_id"] == second_ack["data"]["message_id"]
    events = [f for f in sock.frames if f["type"] == "message.created" and f["data"]["message"]["client_id"] == "same"]
    assert len(events) == 1
    history = widget.messages().get_json()["items"]
    assert [m["client_id"] for m in history].count("same") == 1


def test_rest_retry_with_same_client_id_returns_the_first_message(setup):
    widget = setup["widget"]
    first = widget.send("hi", "dup").get_json()
    again = widget.send("hi", "dup").get_json()
    assert first["id"] == again["id"] and first["seq"] == again["seq"]
    assert len(widget.messages().get_json()["items"]) == 1


@pytest.mark.parametrize("ticket", [None, "", "not-a-ticket"])
def test_socket_without_a_valid_ticket_is_refused_before_upgrade(server, setup, ticket):
    url = server.url.replace("http", "ws") + "/ws" + (f"?ticket={ticket}" if ticket is not None else "")
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=5, origin=ORIGIN)
    assert refused.value.status_code == 401
    assert json.loads(refused.value.resp_body)["code"] == "invalid_ticket"


def test_used_ticket_is_refused(server, setup):
    ticket = setup["widget"].ticket()
    Client(server.url, ticket, origin=ORIGIN).close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Client(server.url, ticket, origin=ORIGIN)
    assert refused.value.status_code == 401


def test_socket_from_a_wrong_origin_is_refused(server, setup):
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Client(server.url, setup["widget"].ticket(), origin="https://evil.example")
    assert refused.value.status_code == 403


def test_agent_socket_from_a_wrong_origin_is_refused(server, setup, auth, client):
    agent = make_user(setup["workspace"], interfaces=[setup["interface"]])
    ticket = client.post("/api/sockets/ticket", headers=auth.headers(agent)).get_json()["ticket"]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Client(server.url, ticket, origin="https://evil.example")
    assert refused.value.status_code == 403


def test_agent_socket_from_the_servers_own_origin_is_accepted(server, setup, auth, client):
    # The console is served by the app (/console): its socket comes from the server's own origin, whatever
    # CORS_ORIGINS lists for separate apps.
    agent = make_user(setup["workspace"], interfaces=[setup["interface"]])
    ticket = client.post("/api/sockets/ticket", headers=auth.headers(agent)).get_json()["ticket"]
    sock = Client(server.url, ticket, origin=server.url)
    try:
        assert sock.recv()["type"] == "hello"
    finally:
        sock.close()
    ticket = client.post("/api/sockets/ticket", headers=auth.headers(agent)).get_json()["ticket"]
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        Client(server.url, ticket, origin=server.url.replace("127.0.0.1", "127.0.0.1.evil.example"))
    assert refused.value.status_code == 403


def test_visitor_cannot_read_or_follow_another_visitors_conversation(setup, client, server):
    other = Widget(client, setup["interface"], origin=ORIGIN)
    other.open()
    other.send("secret", "s1")
    mine = setup["widget"]
    for path in ("", "/messages"):
        response = client.get(f"/api/widget/{mine.key}/conversations/{other.conversation_id}{path}",
                              headers=mine.headers())
        assert response.status_code == 404
    response = client.post(f"/api/widget/{mine.key}/conversations/{other.conversation_id}/messages",
                           json={"text": "x", "client_id": "x"}, headers=mine.headers())
    assert response.status_code == 404

    sock = Client(server.url, mine.ticket(), origin=ORIGIN)
    sock.recv()
    sock.send({"type": "subscribe", "stream": f"conversation:{other.conversation_id}", "after": 0, "ref": "s"})
    answer = sock.recv()
    assert answer["type"] == "error" and answer["status"] == 404 and answer["ref"] == "s"
    sock.send({"type": "message.send", "conversation_id": other.conversation_id, "client_id": "z", "text": "x"})
    assert sock.recv()["status"] == 404
    other.send("still secret", "s2")
    sock.send({"type": "ping", "ref": "p"})
    assert sock.recv() == {"type": "pong", "ref": "p"}  # nothing of the other conversation came in between
    sock.close()


def test_bad_frames_get_error_frames_and_the_socket_keeps_serving(setup, server):
    sock = Client(server.url, setup["widget"].ticket(), origin=ORIGIN)
    sock.recv()
    sock.ws.send("not json")
    assert sock.recv()["code"] == "malformed_frame"
    sock.send(["a", "list"])
    assert sock.recv()["code"] == "malformed_frame"
    sock.send({"type": "launch.missiles"})
    assert sock.recv()["code"] == "unknown_type"
    sock.send({"type": "message.send", "conversation_id": setup["widget"].conversation_id, "client_id": "c",
               "text": "x", "sender_type": "agent", "seq": 99})
    error = sock.recv()
    assert error["status"] == 422 and set(error["errors"]) == {"sender_type", "seq"}
    sock.send({"type": "ping"})
    assert sock.recv()["type"] == "pong"
    sock.close()


def test_oversized_frame_closes_only_that_socket(setup, server, client):
    big = Client(server.url, setup["widget"].ticket(), origin=ORIGIN)
    big.recv()
    other = Widget(client, setup["interface"], origin=ORIGIN)
    other.open()
    small = Client(server.url, other.ticket(), origin=ORIGIN)
    small.recv()
    big.ws.send("x" * (70 * 1024))
    assert big.close_code() == 1009
    small.send({"type": "ping"})
    assert small.recv()["type"] == "pong"
    small.close()


def test_database_gone_after_the_upgrade_closes_with_1013_try_again_later(setup, server, monkeypatch, caplog):
    # The ticket is checked before the upgrade; hello reads the database after it. If the database fails in
    # between, the socket closes with 1013 (try again later) so the client backs off and reconnects, not 1011.
    import logging

    from sqlalchemy.exc import OperationalError

    import blueprints.socket_protocol as protocol

    heads = protocol.stream_heads

    def database_gone(streams):
        raise OperationalError("SELECT ...", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr(protocol, "stream_heads", database_gone)
    with caplog.at_level(logging.WARNING):
        refused = Client(server.url, setup["widget"].ticket(), origin=ORIGIN)
        assert refused.close_code() == 1013
    assert "socket closed: database unavailable (Exception)" in caplog.text and "socket failed" not in caplog.text
    monkeypatch.setattr(protocol, "stream_heads", heads)  # back: the reconnection gets its hello
    again = Client(server.url, setup["widget"].ticket(), origin=ORIGIN)
    assert again.recv()["type"] == "hello"
    again.close()


def test_frame_flood_is_throttled_then_closed(setup):
    session, _ = _session(_visitor(setup["widget"]))
    answers = [session.handle_text('{"type":"ping"}') for _ in range(60)]
    assert any(frames[0].get("code") == "rate_limited" for frames in answers)
    assert answers[0][0]["type"] == "pong"
    with pytest.raises(CloseSocket) as closed:
        for _ in range(500):
            session.handle_text('{"type":"ping"}')
    assert closed.value.code == 1008


def test_deliver_drops_duplicates_and_fills_gaps_from_the_log(setup):
    widget = setup["widget"]
    stream = f"conversation:{widget.conversation_id}"
    session, _ = _session(_visitor(widget))
    session.handle_text(json.dumps({"type": "resume", "positions": {}}))
    for n in range(3):
        widget.send(f"m{n}", f"c{n}")
    from services.events import replay

    frames = replay(stream, 0)
    assert len(frames) >= 3
    # the broker lost all but the last: it fills the gap from the database
    out = session.deliver(stream, frames[-1])
    assert [f["pos"] for f in out] == list(range(1, len(frames) + 1))
    assert session.deliver(stream, frames[1]) == []  # a late duplicate
    assert session.deliver(stream, frames[-1]) == []


def test_resume_too_far_behind_is_told_to_refetch(setup, monkeypatch):
    widget = setup["widget"]
    for n in range(6):
        widget.send(f"m{n}", f"c{n}")
    monkeypatch.setattr(events_module, "REPLAY_LIMIT", 3)
    monkeypatch.setattr("services.events.REPLAY_LIMIT", 3)
    session, _ = _session(_visitor(widget))
    stream = f"conversation:{widget.conversation_id}"
    from blueprints import socket_protocol

    monkeypatch.setattr(socket_protocol, "replay", lambda s, after: events_module.replay(s, after, limit=3))
    frames = session.handle_text(json.dumps({"type": "resume", "positions": {stream: 0}}))
    from services.events import last_pos

    assert frames[1] == {"type": "refetch", "stream": stream, "pos": last_pos(stream)}


def test_rolled_back_change_is_never_published(setup, app):
    from extensions import db
    from services.events import emit

    seen = []
    app.extensions["broker"].subscribe("user:999", lambda frame: seen.append(frame))
    emit("message.created", {"x": 1}, ["user:999"], setup["workspace"].id)
    db.session.rollback()
    emit("message.created", {"x": 2}, ["user:999"], setup["workspace"].id)
    db.session.commit()
    import time

    for _ in range(50):
        if seen:
            break
        time.sleep(0.05)
    assert [f["data"] for f in seen] == [{"x": 2}]
    assert seen[0]["pos"] == 1  # the rolled-back position was not used


def test_a_failed_savepoint_drops_only_what_it_queued(setup, app):
    """A lost race caught with begin_nested rolls back its own events; the transaction's others still go out,
    written once at its commit (a released savepoint writes nothing by itself)."""
    import time

    from extensions import db
    from models import Event
    from services.events import emit

    workspace_id = setup["workspace"].id
    seen = []
    app.extensions["broker"].subscribe("user:998", lambda frame: seen.append(frame))
    emit("message.created", {"x": "before"}, ["user:998"], workspace_id)
    with db.session.begin_nested():
        emit("message.created", {"x": "released"}, ["user:998"], workspace_id)
    assert db.session.query(Event).filter_by(stream="user:998").count() == 0  # not yet: at the commit
    try:
        with db.session.begin_nested():
            emit("message.created", {"x": "lost race"}, ["user:998"], workspace_id)
            with db.session.begin_nested():
                emit("message.created", {"x": "inside the lost race"}, ["user:998"], workspace_id)
            raise RuntimeError("the race was lost")
    except RuntimeError:
        pass
    emit("message.created", {"x": "after"}, ["user:998"], workspace_id)
    db.session.commit()
    for _ in range(50):
        if len(seen) >= 3:
            break
        time.sleep(0.05)
    time.sleep(0.1)  # nothing more may come
    assert [(f["pos"], f["data"]["x"]) for f in seen] == [(1, "before"), (2, "released"), (3, "after")]
    stored = db.session.query(Event).filter_by(stream="user:998").order_by(Event.pos).all()
    assert [(e.pos, e.payload["x"]) for e in stored] == [(1, "before"), (2, "released"), (3, "after")]


class _DatabaseFault(Exception):
    """Stands for the driver's exception; sqlstate as psycopg gives it."""

    def __init__(self, sqlstate, text="fault"):
        super().__init__(text)
        self.sqlstate = sqlstate


def _send_frame(session, client_id):
    import json

    return session.handle_text(json.dumps({"type": "message.send", "ref": client_id, "text": "hi",
                                           "client_id": client_id, "conversation_id": session.conversation_id}))


def _failing(real, faults):
    """send_message_as that raises the queued faults first, then does the real work."""
    def send(*args, **kwargs):
        if faults:
            raise faults.pop(0)
        return real(*args, **kwargs)

    return send


def _stored(conversation_id, client_id):
    from extensions import db
    from models import Message

    return db.session.query(Message).filter_by(conversation_id=conversation_id, client_id=client_id).count()


def test_a_deadlock_victim_command_runs_again_and_is_stored_once(setup, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import services.chat as chat

    widget = setup["widget"]
    session, _ = _session(_visitor(widget))
    session.conversation_id = widget.conversation_id
    faults = [OperationalError("UPDATE conversations", {}, _DatabaseFault("40P01", "deadlock detected"))]
    monkeypatch.setattr(chat, "send_message_as", _failing(chat.send_message_as, faults))
    frames = _send_frame(session, "d1")
    assert frames[0]["type"] == "ack" and frames[0]["data"]["created"] is True, frames
    assert not faults and _stored(widget.conversation_id, "d1") == 1


def test_a_database_outage_answers_the_frame_and_keeps_the_socket(setup, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import services.chat as chat

    widget = setup["widget"]
    session, _ = _session(_visitor(widget))
    session.conversation_id = widget.conversation_id
    down = OperationalError("SELECT", {}, _DatabaseFault("08006", "connection refused"))
    faults = [down, down]  # a deadlock is retried; an outage is not: the second fault stays queued
    monkeypatch.setattr(chat, "send_message_as", _failing(chat.send_message_as, faults))
    frames = _send_frame(session, "o1")
    assert frames == [{"type": "error", "code": "unavailable", "status": 503,
                       "message": "Database temporarily unavailable, try again", "ref": "o1"}]
    assert len(faults) == 1 and _stored(widget.conversation_id, "o1") == 0
    faults.clear()  # the database is back: the client's retry of the same frame lands once
    assert _send_frame(session, "o1")[0]["data"]["created"] is True
    assert _stored(widget.conversation_id, "o1") == 1


def test_a_bug_in_a_command_answers_500_and_the_socket_keeps_serving(setup, monkeypatch):
    import services.chat as chat

    widget = setup["widget"]
    session, _ = _session(_visitor(widget))
    session.conversation_id = widget.conversation_id
    monkeypatch.setattr(chat, "send_message_as", _failing(chat.send_message_as, [RuntimeError("boom")]))
    assert _send_frame(session, "b1")[0] == {"type": "error", "code": "internal_error", "status": 500,
                                             "message": "Internal server error", "ref": "b1"}
    assert _send_frame(session, "b1")[0]["type"] == "ack"


def test_a_published_event_is_the_frame_its_replay_gives(setup):
    import time

    from extensions import db

    widget = setup["widget"]
    stream = f"conversation:{widget.conversation_id}"
    heard = []
    events_module.broker().subscribe(stream, heard.append)
    try:
        assert widget.send("same either way", "r1").status_code == 201
        deadline = time.monotonic() + 5
        while not heard and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        events_module.broker().unsubscribe(stream, heard.append)
    live = next(f for f in heard if f["type"] == "message.created")
    replayed = events_module.replay(stream, live["pos"] - 1)
    db.session.remove()
    assert replayed[0] == live


def test_call_signalling_that_lost_a_deadlock_is_answered_not_relayed_twice(setup, monkeypatch):
    import json

    from sqlalchemy.exc import OperationalError

    import services.signalling as signalling
    from tests.call_helpers import CANDIDATE

    widget = setup["widget"]
    session, _ = _session(_visitor(widget))
    attempts = []

    def deadlocked(*args):
        attempts.append(args)
        raise OperationalError("SELECT calls", {}, _DatabaseFault("40P01", "deadlock detected"))

    monkeypatch.setattr(signalling, "do_signal", deadlocked)
    frames = session.handle_text(json.dumps({"type": "call.candidate", "ref": "s1", "call_id": 1,
                                             "candidate": CANDIDATE}))
    assert len(attempts) == 1, frames
    assert frames[0]["code"] == "unavailable" and frames[0]["ref"] == "s1"
