"""What one chat message costs the database on the socket: the figure the benchmark's throughput rests on."""
import json

import pytest
from sqlalchemy import event, func, select

from extensions import db
from models import Conversation, Message, Notification, User
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
    if db.engine.dialect.name == "postgresql":
        # all of it in one statement, outside a transaction (no BEGIN, no COMMIT): services/group_commit.py
        assert seen.statements == ["WITH"], seen.statements
        return
    # the update that checks the sender and numbers the message (SQLite's RETURNING cannot name the agent's
    # row: it is read first), the message, the stream's position, the event
    assert len(seen.statements) <= (5 if side == "agent" else 4), seen.statements


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


def _team_and_visitor(client, agents):
    """An interface with a live chat component, `agents` agents online, and a visitor who opened its widget."""
    from tests.factories import make_component

    workspace, _ = make_workspace()
    team = [make_user(workspace, max_chats=4) for _ in range(agents)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=team)
    make_component(interface, "live_chat")
    go_online(*team)
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    return team, widget


def _press_live_chat(client, widget):
    return client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                       headers=widget.headers())


def test_a_live_request_to_a_team_writes_its_notifications_and_events_once(app, client):
    """Live chat pressed with five agents online: one insert of their notifications per kind, and the
    transaction's events (new chat and request, to every agent, and the conversation's) in one write."""
    from models import Event, LiveRequest, Notification

    agents, widget = _team_and_visitor(client, 5)
    with Statements(db.engine) as seen:
        pressed = _press_live_chat(client, widget)
    assert pressed.status_code == 200, pressed.get_json()
    inserts = [s for s in seen.texts if s.lstrip().upper().startswith("INSERT INTO")]
    assert sum(s.split()[2] == "notifications" for s in inserts) == 2, inserts  # new chat, live chat request
    # The press's two messages (the visitor's button, the welcome): each numbered and written in one statement
    # on PostgreSQL (the conversation's UPDATE as a CTE), in two elsewhere.
    messages = [s for s in seen.texts if "INSERT INTO messages" in s]
    numbered = [s for s in seen.texts if "UPDATE conversations SET last_seq" in " ".join(s.split())]
    assert len(messages) == 2, seen.texts
    if db.engine.dialect.name == "postgresql":
        assert numbered == messages, seen.texts
    else:
        assert len(numbered) == 2 and not set(numbered) & set(messages), seen.texts
    # The stream positions and the event rows: one statement each, or on PostgreSQL one for both.
    positions = [s for s in seen.texts if "INSERT INTO streams" in s]
    rows = [s for s in seen.texts if "INSERT INTO events" in s]
    assert len(positions) == 1 and len(rows) == 1, seen.texts
    assert (positions == rows) == (db.engine.dialect.name == "postgresql"), seen.texts
    # The team is read once for both.
    assert sum("JOIN interface_agents" in s for s in seen.texts) == 1, seen.texts
    # The visitor's access to the conversation and its lock while the bot leads it are one UPDATE ... RETURNING.
    assert not [s for s in seen.texts if " ".join(s.split()).startswith("SELECT conversations.id")], seen.texts
    texts = [" ".join(s.split()) for s in seen.texts]
    locks = [s for s in texts if "SET updated_at=conversations.updated_at" in s]
    assert len(locks) == 1 and "conversations.visitor_id =" in locks[0], seen.texts
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


class Transactions(Statements):
    """Statements with their parameters, split at each commit."""

    def __init__(self, engine):
        super().__init__(engine)
        self.transactions = [[]]

    def _statement(self, conn, cursor, statement, parameters, *args):
        super()._statement(conn, cursor, statement)
        self.transactions[-1].append((" ".join(statement.split()), repr(parameters)))

    def _commit(self, conn):
        self.transactions.append([])

    def __enter__(self):
        event.listen(self.engine, "commit", self._commit)
        return super().__enter__()

    def __exit__(self, *exc):
        event.remove(self.engine, "commit", self._commit)
        return super().__exit__(*exc)


def _repeated_reads(transactions):
    """The SELECTs a transaction ran twice with the same parameters.

    An agent's load is left out: it is read once without locks and again under the agent's lock, on purpose.
    """
    repeated = []
    for statements in transactions:
        reads = [s for s in statements if s[0].upper().startswith("SELECT") and "sum(conversations.weight)" not in s[0]]
        repeated += [s for i, s in enumerate(reads) if s in reads[:i]]
    return repeated


def test_accepting_a_request_reads_no_row_twice(app, client):
    """The accept's transaction reads its request, conversation and interface once each (a row no local
    variable held any more used to be read again), and a user token costs one statement."""
    from models import LiveRequest
    from tests.factories import Auth

    agents, widget = _team_and_visitor(client, 3)
    agent_ids = [agent.id for agent in agents]
    assert _press_live_chat(client, widget).status_code == 200
    request_id = db.session.scalar(select(LiveRequest.id).where(LiveRequest.conversation_id == widget.conversation_id))
    headers = Auth(client).headers(agents[0])
    db.session.remove()
    with Transactions(db.engine) as seen:
        accepted = client.post(f"/api/requests/{request_id}/accept", headers=headers)
    assert accepted.status_code == 200, accepted.get_json()
    assert accepted.get_json()["agent_id"] == agents[0].id
    assert _repeated_reads(seen.transactions) == []
    # The request, its conversation and interface, and whether the agent serves it: one read. The answer is
    # dumped from what the transaction held: nothing is read after its commit.
    reads = [" ".join(s.split()) for s in seen.texts if s.lstrip().upper().startswith("SELECT")]
    assert not [s for s in reads if s.startswith(("SELECT conversations.id", "SELECT interfaces.id"))
                or ("interface_agents" in s and "live_requests" not in s)], reads
    assert len(seen.transactions) == 2 and seen.transactions[1] == [], seen.transactions[1:]
    # Its visitor and component came with that read and stayed through the flushes that followed.
    assert not [s for s in reads if s.startswith(("SELECT visitors.id", "SELECT components.id"))], reads
    token_reads = [s for s in seen.texts if "revoked_tokens" in s]
    assert len(token_reads) == 1 and "FROM users" in token_reads[0], token_reads
    # The agent's row is locked by the write of last_assigned_at, and their load is read once, under that lock.
    user_writes = [s for s in seen.texts if s.lstrip().upper().startswith("UPDATE USERS")]
    assert len(user_writes) == 1 and "last_assigned_at" in user_writes[0], user_writes
    assert sum("sum(conversations.weight)" in s for s in seen.texts) == 1, seen.texts
    db.session.expire_all()
    assert db.session.get(User, agents[0].id).last_assigned_at is not None
    # The request's notifications and the chat's new-chat notices go in one UPDATE: the accepter's request
    # notice is claimed, their new-chat notice and everyone else's withdrawn, all with the reason claimed.
    notice_writes = [s for s in seen.texts if s.lstrip().upper().startswith("UPDATE NOTIFICATIONS")]
    assert len(notice_writes) == 1, notice_writes
    outcomes = db.session.execute(select(Notification.user_id, Notification.type, Notification.status,
                                         Notification.reason)
                                  .where(Notification.conversation_id == widget.conversation_id)).all()
    assert sorted((user_id, kind.value, status.value, reason) for user_id, kind, status, reason in outcomes) == sorted(
        [(agent_id, "new_chat_initiated", "withdrawn", "claimed") for agent_id in agent_ids]
        + [(agent_id, "live_chat_request", "claimed" if agent_id == agent_ids[0] else "withdrawn", "claimed")
           for agent_id in agent_ids])


def test_a_transaction_keeps_what_it_loaded_and_lets_go_at_commit(app):
    """Within a transaction a row is read once even when nothing holds it; across commits nothing piles up."""
    import gc

    workspace, _ = make_workspace()
    user_id, other_id = make_user(workspace).id, make_user(workspace).id
    db.session.commit()
    db.session.expunge_all()
    with Statements(db.engine) as seen:
        for n in range(3):
            assert db.session.get(User, user_id).id == user_id
            gc.collect()
            # a flush ends an inner transaction of its own: what was loaded stays held
            db.session.get(User, other_id).name = f"Flushed {n}"
            db.session.flush()
    assert [s for s in seen.statements if s == "SELECT"] == ["SELECT", "SELECT"], seen.texts
    db.session.commit()
    assert not db.session.info.get("held_objects")
    with Statements(db.engine) as seen:
        db.session.get(User, user_id)
    assert seen.statements == ["SELECT"]  # a new transaction reads it again
    db.session.rollback()
    assert not db.session.info.get("held_objects")


def test_a_unit_of_work_answers_from_what_it_wrote_and_the_next_reads_again(app):
    """After a transaction's commit its objects keep their values (no read to answer with them); the next
    transaction expires them first, so it sees what another connection changed meanwhile."""
    from services.core import transaction

    workspace, _ = make_workspace()
    user_id = make_user(workspace, name="Ann").id
    db.session.commit()

    @transaction
    def rename(name):
        user = db.session.get(User, user_id)
        user.name = name
        return user

    user = rename("Bea")
    with Statements(db.engine) as seen:
        assert user.name == "Bea" and user.max_chats is not None
    assert seen.statements == []
    with db.engine.begin() as other:
        other.execute(User.__table__.update().where(User.__table__.c.id == user_id).values(name="Cid"))
    read = transaction(lambda: db.session.get(User, user_id).name)
    assert read() == "Cid"


def test_a_widget_request_reads_its_token_and_interface_once(app, client):
    """The visitor token's revocation and visitor in one statement; the CORS answer uses the interface
    the request read, not a read of its own after the commit."""
    _, widget = _team_and_visitor(client, 1)
    with Statements(db.engine) as seen:
        pressed = _press_live_chat(client, widget)
    assert pressed.status_code == 200, pressed.get_json()
    assert pressed.headers["Access-Control-Allow-Origin"] == ORIGIN
    token_reads = [s for s in seen.texts if "revoked_tokens" in s]
    assert len(token_reads) == 1 and "FROM visitors" in token_reads[0], token_reads
    assert sum(" ".join(s.split()).startswith("SELECT interfaces.id") for s in seen.texts) == 1, seen.texts
    # A page whose origin the interface does not list is still refused, with no CORS header.
    refused = client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                          headers={**widget.headers(), "Origin": "https://elsewhere.example"})
    assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers


def test_a_new_visitor_opens_the_widget_without_reading_back_what_it_creates(app, client):
    """A new visitor cannot have a conversation yet, nor files: their open neither looks for one nor reads the
    flow's first messages back, and the answer still carries them."""
    from types import SimpleNamespace

    _, first = _team_and_visitor(client, 1)
    widget = Widget(client, SimpleNamespace(public_key=first.key), origin=ORIGIN)
    db.session.remove()
    with Statements(db.engine) as seen:
        opened = widget.open()
    reads = [" ".join(s.split()) for s in seen.texts if s.lstrip().upper().startswith(("SELECT", "SAVEPOINT"))]
    assert [s.split(",")[0] for s in reads] == ["SELECT interfaces.id", "SELECT components.id"], reads
    assert not [s for s in seen.texts if s.lstrip().upper().startswith("UPDATE VISITORS")], seen.texts
    assert opened["messages"] and [m["seq"] for m in opened["messages"]] == list(range(1, len(opened["messages"]) + 1))
    assert all(m["attachments"] == [] for m in opened["messages"])
    # Back with their token, the same visitor gets the same conversation and its messages read from the database.
    again = widget.open()
    assert again["conversation"]["id"] == opened["conversation"]["id"] and again["messages"] == opened["messages"]


def test_a_press_opens_its_request_without_a_savepoint_and_a_second_pending_one_is_refused(app, client):
    """The request's insert is one statement (ON CONFLICT DO NOTHING on the pending-request index): no SAVEPOINT
    and RELEASE around it. A second pending request of the conversation is refused and leaves the transaction
    usable; a request that is not pending does not meet the index."""
    from datetime import timedelta

    from models import LiveRequest, RequestKind, RequestStatus
    from models.base import utcnow
    from services.live_requests import AlreadyWaiting, _insert_request

    _, widget = _team_and_visitor(client, 2)
    with Statements(db.engine) as seen:
        assert _press_live_chat(client, widget).status_code == 200
    assert not [s for s in seen.texts if "SAVEPOINT" in s.upper()], seen.texts
    first = db.session.scalars(select(LiveRequest).where(LiveRequest.conversation_id == widget.conversation_id)).one()
    assert first.status == RequestStatus.PENDING
    conversation = db.session.get(Conversation, widget.conversation_id)
    now = utcnow()
    values = dict(workspace_id=conversation.workspace_id, interface_id=conversation.interface_id,
                  conversation_id=conversation.id, component_id=None, kind=RequestKind.TEXT, deadline_at=now,
                  agent_id=None, created_at=now)
    with pytest.raises(AlreadyWaiting):
        _insert_request(status=RequestStatus.PENDING, resolved_at=None, **values)
    offline = _insert_request(status=RequestStatus.OFFLINE, resolved_at=now + timedelta(seconds=1), **values)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(LiveRequest, offline.id)
    assert (stored.status, stored.kind, stored.resolved_at) == (RequestStatus.OFFLINE, RequestKind.TEXT,
                                                               now + timedelta(seconds=1))
    assert db.session.scalar(select(func.count()).select_from(LiveRequest).where(
        LiveRequest.conversation_id == conversation.id)) == 2


def test_a_press_on_a_conversation_not_theirs_is_404_and_once_an_agent_has_it_409(app, client):
    """The access check folded into the bot phase's lock still tells the two refusals apart."""
    agents, widget = _team_and_visitor(client, 1)
    other = Widget.__new__(Widget)
    other.__dict__.update(widget.__dict__, token=None)
    other.open()  # a second visitor of the same interface
    assert other.conversation_id != widget.conversation_id
    # Another visitor's conversation, even one the bot leads, is not found.
    other.conversation_id = widget.conversation_id
    foreign = _press_live_chat(client, other)
    assert foreign.status_code == 404 and foreign.get_json()["code"] == "not_found", foreign.get_json()
    do_takeover(agents[0], widget.conversation_id)
    taken = _press_live_chat(client, widget)
    assert taken.status_code == 409 and taken.get_json()["code"] == "not_in_bot_phase", taken.get_json()
    assert db.session.get(Conversation, widget.conversation_id).status.value == "active"
