"""What one chat message costs the database on the socket: the figure the benchmark's throughput rests on."""
import json

import pytest
from sqlalchemy import event, select

from extensions import db
from models import Conversation, Message
from models.conversation import Visitor
from services.assignments import do_takeover
from blueprints.socket_protocol import SocketSession
from tests.factories import go_online, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


@pytest.fixture
def chat(app, client):
    workspace, _ = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    go_online(agent)
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    do_takeover(agent, widget.conversation_id)
    conversation = db.session.get(Conversation, widget.conversation_id)
    return {"agent": agent, "visitor": db.session.get(Visitor, conversation.visitor_id),
            "conversation_id": conversation.id}


class Statements:
    """Counts what reaches the database: statements, and connections taken from the pool."""

    def __init__(self, engine):
        self.engine = engine
        self.statements = []
        self.texts = []
        self.checkouts = 0

    def _statement(self, conn, cursor, statement, *args):
        self.statements.append(statement.split()[0].upper())
        self.texts.append(statement)

    def _checkout(self, *args):
        self.checkouts += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine.pool, "checkout", self._checkout)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine.pool, "checkout", self._checkout)


def _send(session, conversation_id, client_id, text="hello"):
    frames = session.handle_text(json.dumps({"type": "message.send", "ref": client_id, "conversation_id": conversation_id,
                                             "text": text, "client_id": client_id}))
    assert frames[0]["type"] == "ack", frames
    return frames[0]["data"]


@pytest.mark.parametrize("side", ["agent", "visitor"])
def test_a_message_costs_one_connection_and_few_statements(app, chat, side):
    session = SocketSession(chat[side], push=lambda *a: None)
    session.hello()
    _send(session, chat["conversation_id"], "warm-up")
    with Statements(db.engine) as seen:
        ack = _send(session, chat["conversation_id"], "m-1")
    assert ack["created"] is True and ack["seq"] > 0
    assert seen.checkouts == 1, (seen.checkouts, seen.statements)
    assert len(seen.statements) <= 5, seen.statements


@pytest.mark.parametrize("side", ["agent", "visitor"])
def test_a_retried_message_is_answered_with_the_first_and_stored_once(app, chat, side):
    session = SocketSession(chat[side], push=lambda *a: None)
    session.hello()
    first = _send(session, chat["conversation_id"], "again", text="first")
    second = _send(session, chat["conversation_id"], "again", text="second")
    assert first["created"] is True and second["created"] is False
    assert second["message_id"] == first["message_id"] and second["seq"] == first["seq"]
    stored = db.session.query(Message).filter_by(conversation_id=chat["conversation_id"], client_id="again").all()
    assert [m.text for m in stored] == ["first"]


def test_a_live_request_to_a_team_writes_its_notifications_and_events_once(app, client):
    """Live chat pressed with five agents online: one insert of their notifications per kind, and the
    transaction's events (new chat and request, to every agent, and the conversation's) in one write."""
    from models import Event, LiveRequest, Notification
    from tests.factories import make_component

    workspace, _ = make_workspace()
    agents = [make_user(workspace, max_chats=4) for _ in range(5)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    make_component(interface, "live_chat")
    go_online(*agents)
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    with Statements(db.engine) as seen:
        pressed = client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                              headers=widget.headers())
    assert pressed.status_code == 200, pressed.get_json()
    inserts = [s for s in seen.texts if s.lstrip().upper().startswith("INSERT INTO")]
    assert sum(s.split()[2] == "notifications" for s in inserts) == 2, inserts  # new chat, live chat request
    assert sum(s.split()[2] == "streams" for s in inserts) == 1, inserts
    assert sum(s.split()[2] == "events" for s in inserts) == 1, inserts
    # Each agent's stream names the notification stored for that agent, whatever order the insert returned.
    request_id = db.session.scalar(select(LiveRequest.id).where(LiveRequest.conversation_id == widget.conversation_id))
    for agent in agents:
        frames = db.session.scalars(select(Event.payload).where(Event.stream == f"user:{agent.id}")).all()
        kinds = {}
        for data in frames:
            notification = db.session.get(Notification, data["notification_id"])
            assert notification.user_id == agent.id and notification.conversation_id == widget.conversation_id
            kinds[data["notification_type"]] = notification
        assert set(kinds) == {"new_chat_initiated", "live_chat_request"}
        assert kinds["live_chat_request"].request_id == request_id
