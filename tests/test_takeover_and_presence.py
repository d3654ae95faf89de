"""Takeover against a bot reply in flight, and agents whose dashboards go away."""
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text, update

import services.chat as chat
from extensions import db
from models import Availability, Conversation, LiveRequest, Message, Notification, User
from models.base import utcnow
from services.presence import sweep_absent
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"
WAIT_S = 10


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agents = [make_user(workspace), make_user(workspace)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "message", {"text": "Next step", "buttons": [{"label": "Ok"}]})
    make_component(interface, "live_chat")
    return {"agents": agents, "interface": interface, "headers": [auth.headers(a) for a in agents]}


def _flow_messages_after_takeover(conversation_id):
    messages = db.session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                  .order_by(Message.seq)).all()
    takeover = [m for m in messages if m.data and m.data.get("stage") == "takeover"]
    assert len(takeover) == 1
    return [m for m in messages if m.seq > takeover[0].seq and m.sender_type.value == "bot"]


def _in_threads(app, *calls):
    results = [None] * len(calls)

    def run(index, call):
        with app.app_context():
            results[index] = call(app.test_client())

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    return threads, results


def _wait_until_blocked(thread):
    """Bounded: on PostgreSQL, until a backend waits on a lock; elsewhere the UPDATE just sent is the signal.

    SQLite's writer lock is waited for inside the driver (busy timeout), where nothing outside can
    see it; there the statement having been handed to the driver is the last observable point.
    """
    if db.engine.dialect.name != "postgresql":
        return
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        waiting = db.session.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND query ILIKE 'UPDATE conversations%'"))
        db.session.rollback()
        if waiting:
            return
        assert thread.is_alive(), "the takeover finished without waiting for the bot's lock"
        time.sleep(0.01)
    raise AssertionError(f"the takeover's UPDATE was not seen waiting on a lock within {WAIT_S} s")


def test_bot_reply_in_flight_when_the_takeover_comes_lands_before_it(app, client, world, monkeypatch):
    """The bot holds the conversation while it answers: the takeover waits, then comes after."""
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    in_flight, release = threading.Event(), threading.Event()
    real_advance = chat.advance

    def slow_advance(*args, **kwargs):
        in_flight.set()
        assert release.wait(WAIT_S)
        return real_advance(*args, **kwargs)

    monkeypatch.setattr(chat, "advance", slow_advance)
    threads, results = _in_threads(
        app,
        lambda c: c.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"},
                         headers=widget.headers()).status_code,
        lambda c: (in_flight.wait(WAIT_S), c.post(f"/api/conversations/{widget.conversation_id}/takeover",
                                                  headers=world["headers"][0]).status_code)[1],
    )
    takeover_at_database = threading.Event()

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        # The takeover's conditional UPDATE of the conversation: it now waits on the bot's lock.
        if threading.current_thread() is threads[1] and statement.lstrip().upper().startswith("UPDATE CONVERSATIONS"):
            takeover_at_database.set()

    event.listen(db.engine, "before_cursor_execute", before_cursor_execute)
    try:
        for thread in threads:
            thread.start()
        assert in_flight.wait(WAIT_S)
        assert takeover_at_database.wait(WAIT_S), "the takeover never sent its UPDATE"
        _wait_until_blocked(threads[1])
        assert results[1] is None, "the takeover did not wait for the bot's reply in flight"
    finally:
        release.set()
        event.remove(db.engine, "before_cursor_execute", before_cursor_execute)
    for thread in threads:
        thread.join(WAIT_S * 2)
    assert results == [200, 200]
    db.session.expire_all()
    assert _flow_messages_after_takeover(widget.conversation_id) == []
    assert db.session.get(Conversation, widget.conversation_id).status.value == "active"


def test_takeover_committed_while_the_visitor_action_is_on_its_way_silences_the_bot(app, client, world,
                                                                                      monkeypatch):
    """The takeover wins the race to the row: the bot's turn finds an agent there and says nothing."""
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    arrived, go = threading.Event(), threading.Event()
    real_lock = chat.lock_visitors_bot_phase

    def late_lock(visitor, conversation_id):
        arrived.set()
        assert go.wait(WAIT_S)
        return real_lock(visitor, conversation_id)

    monkeypatch.setattr(chat, "lock_visitors_bot_phase", late_lock)
    threads, results = _in_threads(
        app,
        lambda c: c.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"},
                         headers=widget.headers()).status_code,
    )
    threads[0].start()
    assert arrived.wait(WAIT_S)
    taken = client.post(f"/api/conversations/{widget.conversation_id}/takeover", headers=world["headers"][0])
    assert taken.status_code == 200
    go.set()
    threads[0].join(WAIT_S * 2)
    assert results == [409]
    db.session.expire_all()
    assert _flow_messages_after_takeover(widget.conversation_id) == []
    # and free text from the visitor reaches the agent without a bot answer
    assert widget.send("are you there?", "v1").status_code == 201
    assert _flow_messages_after_takeover(widget.conversation_id) == []


def _active_chat(client, world, agent_index=0):
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    response = client.post(f"/api/conversations/{widget.conversation_id}/takeover",
                           headers=world["headers"][agent_index])
    assert response.status_code == 200
    return widget


def test_agent_gone_past_the_grace_period_goes_offline_and_their_chats_are_offered_again(client, world):
    gone, stays = world["agents"]
    go_online(gone, stays)
    widget = _active_chat(client, world)
    gone.presence_seen_at = utcnow() - timedelta(seconds=120)
    stays.presence_seen_at = utcnow()
    db.session.commit()
    assert sweep_absent() == [gone.id]
    db.session.expire_all()
    assert db.session.get(User, gone.id).availability == Availability.OFFLINE
    conversation = db.session.get(Conversation, widget.conversation_id)
    assert conversation.status.value == "waiting" and conversation.agent_id is None
    request = db.session.scalars(select(LiveRequest).where(LiveRequest.conversation_id == conversation.id)).one()
    offered = db.session.scalars(select(Notification).where(Notification.request_id == request.id)).all()
    assert [n.user_id for n in offered] == [stays.id]
    assert sweep_absent() == []  # idempotent


def test_agent_within_the_grace_period_keeps_their_chats(client, world):
    agent = world["agents"][0]
    go_online(agent)
    widget = _active_chat(client, world)
    agent.presence_seen_at = utcnow() - timedelta(seconds=20)
    db.session.commit()
    assert sweep_absent() == []
    db.session.expire_all()
    assert db.session.get(Conversation, widget.conversation_id).agent_id == agent.id


def test_agent_without_a_socket_is_left_alone(client, world):
    agent = world["agents"][0]
    go_online(agent)
    assert agent.presence_seen_at is None
    assert sweep_absent(now=utcnow() + timedelta(days=1)) == []


def test_going_offline_hands_chats_back_to_the_queue(client, world):
    go_online(*world["agents"])
    widget = _active_chat(client, world)
    response = client.put("/api/availability", json={"availability": "offline"}, headers=world["headers"][0])
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Conversation, widget.conversation_id).status.value == "waiting"
    away = client.put("/api/availability", json={"availability": "away"}, headers=world["headers"][1])
    assert away.status_code == 200 and away.get_json() == {"availability": "away"}
    assert client.put("/api/availability", json={"availability": "busy"}, headers=world["headers"][1]).status_code == 422


def test_an_open_dashboard_socket_keeps_presence_fresh(app, world):
    from blueprints.socket_protocol import SocketSession

    agent = world["agents"][0]
    agent_id = agent.id
    session = SocketSession(agent, push=lambda *a: None)
    session.hello()  # ends the request's session, as the socket loop does
    seen = db.session.get(User, agent_id).presence_seen_at
    assert seen is not None and utcnow() - seen < timedelta(seconds=5)


def test_socket_heartbeats_of_a_process_are_written_together_once_the_batch_is_due(app, world):
    from services.presence import HeartbeatBatch

    now = [100.0]
    batch = HeartbeatBatch(flush_s=1.0, clock=lambda: now[0])
    first, second = world["agents"]
    ids = [first.id, second.id]
    db.session.execute(update(User).where(User.id.in_(ids)).values(presence_seen_at=None))
    db.session.commit()

    def seen():
        db.session.expire_all()
        return [db.session.get(User, user_id).presence_seen_at for user_id in ids]

    assert batch.beat("user", ids[0]) is False and batch.beat("user", ids[1]) is False
    assert seen() == [None, None]  # not due yet: nothing written
    now[0] += 1.5
    assert batch.beat("visitor", 12345) is True  # the beat that finds the batch due writes all of it
    assert all(at is not None and utcnow() - at < timedelta(seconds=5) for at in seen())
    assert batch.users == set() and batch.visitors == set()
