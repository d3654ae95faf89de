"""Group commit of the socket's message.send: what waits while a commit is in flight is written in one go.

One batch is in flight per process at a time. The first sender to find none becomes its leader and writes
whatever is queued then; whoever sends meanwhile queues, and when the batch is committed the first of them
leads the next one, with everything that queued in the meantime. There is no timed window: at low load a
batch is the one message, and it costs what a message always cost (one update that checks its sender and
numbers it, one insert, the events, the commit) without waiting for anyone. On PostgreSQL, when the sender's
workspace has no webhook endpoint, all of that is one statement outside a transaction (_one_statement):
one round trip instead of six.

What a batch writes, for the messages it can take whole (the sender is the conversation's agent or its
visitor, the conversation is live, no files, a client id not stored yet):

- with two or more: the senders, with their conversations, in one read per kind of sender (columns, no
  ORM objects);
- with two or more: the client ids already stored, in one read, and the conversations locked in id order
  (on PostgreSQL, so two processes' batches never wait on each other in a cycle) and checked again;
- each conversation's next numbers, in one update (alone: an update that also checks the sender);
- the messages, in one multi-row insert;
- at commit, the streams' positions in one upsert and the event rows in one insert (services/events.py);
- after commit, one pipelined publish.

Only then is each sender answered, so an ack still means "committed". Any other message of the batch (a
retry of a stored client id, the bot phase, files, a sender the read did not find) goes back to its own
socket, which sends it the usual way (services/chat.py) with its own errors; a batch that fails as a whole
(a client id stored by another process meanwhile, a deadlock, an outage) is rolled back and every message
in it is sent that way. Nobody is answered for a message that is not stored, and a retry finds the first.
"""
import logging
import threading
from collections import deque
from types import SimpleNamespace

from flask import current_app
from sqlalchemy import Integer, String, Text, bindparam, case, cast, func, insert, literal_column, or_, select, \
    true, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from extensions import db
from metrics import MESSAGE_BATCH
from models import Role, User
from models.base import utcnow
from models.conversation import Conversation, ConversationStatus, Message, SenderType, Visitor
from models.event import Event, Stream, event_frame
from schemas.events import EventType
from services.core import discard, member_clause
from services.events import broker, conversation_stream, emit
from services.webhooks import has_endpoints, message_created

log = logging.getLogger(__name__)

_conversations = Conversation.__table__
_messages = Message.__table__

# Who may write without the long path: the conversation's agent while it is active, its visitor while a
# person is asked for or talking (in the bot phase the flow reads the visitor's text).
_AGENT_STATUSES = (ConversationStatus.ACTIVE,)
_VISITOR_STATUSES = (ConversationStatus.WAITING, ConversationStatus.ACTIVE)

_AGENT_SENDERS = (
    select(User.id, Conversation.id, Conversation.workspace_id, User.name)
    .join(Conversation, Conversation.agent_id == User.id)
    .where(tuple_(User.id, Conversation.id).in_(bindparam("pairs", expanding=True)),
           User.is_active.is_(True), Conversation.workspace_id == User.workspace_id,
           Conversation.status.in_(_AGENT_STATUSES),
           or_(User.role == Role.ADMIN, member_clause(User.id, Conversation.interface_id)))
)
_VISITOR_SENDERS = (
    select(Visitor.id, Conversation.id, Conversation.workspace_id)
    .join(Conversation, Conversation.visitor_id == Visitor.id)
    .where(tuple_(Visitor.id, Conversation.id).in_(bindparam("pairs", expanding=True)),
           Conversation.status.in_(_VISITOR_STATUSES))
)
_STORED = (
    select(Message.conversation_id, Message.sender_type, Message.client_id, Message.id, Message.seq)
    .where(tuple_(Message.conversation_id, Message.sender_type, Message.client_id)
           .in_(bindparam("keys", expanding=True)))
)
_LOCK_IN_ORDER = (
    select(_conversations.c.id, _conversations.c.status, _conversations.c.agent_id)
    .where(_conversations.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(_conversations.c.id).with_for_update()
)
# A message alone: its number taken by an update that checks the sender as the reads above do and returns
# what the insert needs (sender id, conversation, workspace, the agent's name), one round trip for both.
# SQLite's RETURNING names only the updated table: there the agent is read first (_AGENT_SENDERS), and the
# update only numbers (_AGENT_NEXT_SEQ_SQLITE).
_AGENT_NUMBERING = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation"), _conversations.c.status.in_(_AGENT_STATUSES),
           _conversations.c.agent_id == bindparam("sender"))
    .values(last_seq=_conversations.c.last_seq + 1)
)
_AGENT_CHECKED = _AGENT_NUMBERING.where(
    User.id == _conversations.c.agent_id, User.is_active.is_(True), _conversations.c.workspace_id == User.workspace_id,
    or_(User.role == Role.ADMIN, member_clause(User.id, _conversations.c.interface_id)))
_AGENT_NEXT_SEQ = _AGENT_CHECKED.returning(User.id, _conversations.c.id, _conversations.c.workspace_id, User.name,
                                           _conversations.c.last_seq)
_AGENT_NEXT_SEQ_SQLITE = _AGENT_NUMBERING.returning(_conversations.c.last_seq)
_VISITOR_NUMBERING = (
    update(_conversations)
    .where(_conversations.c.id == bindparam("conversation"), _conversations.c.status.in_(_VISITOR_STATUSES),
           _conversations.c.visitor_id == bindparam("sender"))
    .values(last_seq=_conversations.c.last_seq + 1)
)
_VISITOR_NEXT_SEQ = _VISITOR_NUMBERING.returning(_conversations.c.visitor_id, _conversations.c.id,
                                                 _conversations.c.workspace_id, _conversations.c.last_seq)


def _one_statement(numbering, name):
    """PostgreSQL: a message alone, whole in one statement run outside a transaction (one round trip where
    BEGIN, four statements and COMMIT were six): `numbering` (the update above, checking the sender, returning
    `name` as the sender's name) numbers it, the message is inserted, its stream's position taken and its
    message.created event row written, with the payload message_data() gives; each part reads the one before,
    so a sender the update does not find writes nothing. A single statement is atomic: a duplicate client id
    undoes the update with it.
    Returns (message id, seq, workspace, the agent's name, event position)."""
    # updated_at's Python default is only applied to a statement run as itself, not to one inside a WITH.
    numbered = (
        numbering.values(updated_at=bindparam("m_now", type_=_conversations.c.updated_at.type))
        .returning(_conversations.c.id.label("conversation"), _conversations.c.workspace_id.label("workspace"),
                   name.label("name"), _conversations.c.last_seq.label("seq"))
        .cte("numbered")
    )
    message_columns = ["workspace_id", "conversation_id", "seq", "sender_type", "sender_id", "sender_name",
                       "client_id", "text", "created_at"]
    message = (
        insert(_messages)
        .from_select(message_columns, select(
            numbered.c.workspace, numbered.c.conversation, numbered.c.seq,
            bindparam("m_sender_type", type_=_messages.c.sender_type.type),
            bindparam("m_sender_id", type_=Integer), numbered.c.name, bindparam("m_client_id", type_=String),
            bindparam("m_text", type_=Text), bindparam("m_now", type_=_messages.c.created_at.type)))
        .returning(_messages.c.id, _messages.c.workspace_id, _messages.c.conversation_id, _messages.c.seq,
                   _messages.c.sender_name)
        .cte("message")
    )
    streams = Stream.__table__
    upsert = pg_insert(streams).from_select(
        ["key", "last_pos"], select(bindparam("m_stream", type_=String), literal_column("1")).select_from(message))
    position = (
        upsert.on_conflict_do_update(index_elements=[streams.c.key],
                                     set_={"last_pos": streams.c.last_pos + upsert.excluded.last_pos})
        .returning(streams.c.last_pos)
        .cte("position")
    )

    def text_param(name, type_=Text):
        return cast(bindparam(name, type_=type_), type_)

    # The keys in message_data()'s order; json keeps them as written.
    fields = {"id": message.c.id, "conversation_id": message.c.conversation_id, "seq": message.c.seq,
              "sender_type": cast(bindparam("m_sender_type", type_=_messages.c.sender_type.type), Text),
              "sender_id": text_param("m_sender_id", Integer),
              "sender_name": message.c.sender_name, "client_id": text_param("m_client_id", String),
              "text": text_param("m_text"), "data": literal_column("NULL::json"),
              "attachments": literal_column("'[]'::json"), "created_at": text_param("m_now_text")}
    payload = func.json_build_object(
        literal_column("'message'"),
        func.json_build_object(*(part for key, value in fields.items() for part in (literal_column(f"'{key}'"),
                                                                                      value))))
    events = Event.__table__
    event = (
        insert(events)
        .from_select(["workspace_id", "stream", "pos", "type", "payload", "created_at"], select(
            message.c.workspace_id, bindparam("m_stream", type_=String), position.c.last_pos,
            literal_column(f"'{EventType.MESSAGE_CREATED}'"), payload,
            bindparam("m_now", type_=events.c.created_at.type)).select_from(message).join(position, true()))
        .returning(events.c.pos)
        .cte("event")
    )
    return select(message.c.id, message.c.seq, message.c.workspace_id, message.c.sender_name, event.c.pos) \
        .select_from(message).join(event, true())


_AGENT_ALONE = _one_statement(_AGENT_CHECKED, User.name)
_VISITOR_ALONE = _one_statement(_VISITOR_NUMBERING, literal_column("NULL::varchar"))
# Rows come back in any order (an ordered RETURNING is a statement per row on SQLite): (conversation, seq)
# tells them apart.
_INSERT = insert(_messages).returning(_messages.c.conversation_id, _messages.c.seq, _messages.c.id)


class SendJob:
    """One message.send waiting for its batch: what to write, then (message id, seq, created) or None."""

    __slots__ = ("kind", "principal_id", "conversation_id", "text", "client_id", "workspace_id", "result", "promoted",
                 "done")

    def __init__(self, kind, principal_id, conversation_id, text, client_id, workspace_id=None):
        self.kind, self.principal_id, self.conversation_id = kind, principal_id, conversation_id
        self.text, self.client_id = text, client_id
        self.workspace_id = workspace_id  # the sender's; known, a message alone may go in one statement
        self.result = None  # None once done: not written by the batch, send it the usual way
        self.promoted = False  # woken to lead the next batch
        self.done = threading.Event()  # gevent's when the worker is patched

    @property
    def sender_type(self):
        return SenderType.AGENT if self.kind == "user" else SenderType.VISITOR


class GroupCommitter:
    """The process's queue of message.send jobs and the baton of the batch in flight."""

    def __init__(self, max_batch):
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._queue = deque()  # jobs not taken by a batch yet, oldest first
        self._leading = False  # a batch is being written (or its next leader woken); the queue waits for it

    def send(self, job):
        """(message id, seq, created) once the message is committed, or None: send it the usual way."""
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            try:
                job.done.wait()
            except BaseException:  # killed while waiting (the worker stops): the queue must not wait for it
                self._leave(job)
                raise
            if not job.promoted:
                return job.result
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
        try:
            do_write_batch(batch)
        finally:
            with self._lock:
                self._pass_on()
            for other in batch:
                if other is not job:
                    other.done.set()
        return job.result

    def _pass_on(self):
        """Wake the oldest queued job to lead the next batch, or end the run (under the lock)."""
        if self._queue:
            successor = self._queue[0]
            successor.promoted = True
            successor.done.set()
        else:
            self._leading = False

    def _leave(self, job):
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                if job.promoted:
                    self._pass_on()


def group_committer():
    """The app's committer, or None when MESSAGE_GROUP_COMMIT is off."""
    extensions = current_app.extensions
    if "group_committer" not in extensions:
        config = current_app.config
        extensions["group_committer"] = (GroupCommitter(config.get("MESSAGE_BATCH_MAX", 64))
                                         if config.get("MESSAGE_GROUP_COMMIT", True) else None)
    return extensions["group_committer"]


def do_write_batch(jobs):
    """Write the jobs it can take whole in one transaction and set their results; never raises for a job.

    On any failure the transaction is rolled back and every job's result stays None.
    """
    MESSAGE_BATCH.observe(len(jobs))
    try:
        results = _write(jobs)
        db.session.commit()
    except Exception as error:  # the whole batch goes the usual way, message by message
        log.info("message batch of %d rolled back (%s); sending one by one", len(jobs), error.__class__.__name__)
        discard()
        return
    for job, result in results.items():
        job.result = result


def _write(jobs):
    """The batch's statements; {job: (message id, seq, created)} for the jobs written or found stored."""
    if len(jobs) == 1:
        return _write_alone(jobs[0])
    senders = {}
    for kind, query in (("user", _AGENT_SENDERS), ("visitor", _VISITOR_SENDERS)):
        pairs = [(job.principal_id, job.conversation_id) for job in jobs if job.kind == kind]
        if pairs:
            senders.update({(kind, row[0], row[1]): row for row in db.session.execute(query, {"pairs": pairs})})
    writable, keys = [], set()
    for job in jobs:
        key = (job.conversation_id, job.sender_type, job.client_id)
        if (job.kind, job.principal_id, job.conversation_id) in senders and key not in keys:
            keys.add(key)  # the same client id twice in a batch: the second finds the first afterwards
            writable.append(job)
    if not writable:
        return {}
    if len(writable) == 1:
        return _write_alone(writable[0])
    results = {}
    stored = {(row[0], SenderType(row[1]), row[2]): row for row in
              db.session.execute(_STORED, {"keys": [(j.conversation_id, j.sender_type, j.client_id)
                                                    for j in writable]})}
    fresh = []
    for job in writable:
        row = stored.get((job.conversation_id, job.sender_type, job.client_id))
        if row is None:
            fresh.append(job)
        else:
            results[job] = (row[3], row[4], False)  # a retry: the first message answers
    if not fresh:
        return results
    # The conversations, locked in id order (on PostgreSQL; SQLite's one writer needs no row lock), are
    # read again under the lock: a chat ended or transferred since the senders' read goes the usual way.
    state = {row[0]: row[1:] for row in db.session.execute(
        _LOCK_IN_ORDER, {"ids": sorted({job.conversation_id for job in fresh})})}
    fresh = [job for job in fresh if _may_write(job, *state.get(job.conversation_id, (None, None)))]
    if not fresh:
        return results
    counts = {}
    for job in fresh:
        counts[job.conversation_id] = counts.get(job.conversation_id, 0) + 1
    last = dict(db.session.execute(
        update(_conversations).where(_conversations.c.id.in_(list(counts)))
        .values(last_seq=_conversations.c.last_seq + case(counts, value=_conversations.c.id))
        .returning(_conversations.c.id, _conversations.c.last_seq)).all())
    return _insert(fresh, senders, last, counts, results)


def _write_alone(job):
    """A message alone (the usual case below full load): no read of stored ids (a retry fails the insert and is
    answered the usual way) and no lock of its own (the update that numbers it locks and checks)."""
    numbers = {"conversation": job.conversation_id, "sender": job.principal_id}
    dialect = db.session.get_bind().dialect.name
    if dialect == "postgresql" and job.workspace_id is not None and not has_endpoints(job.workspace_id):
        return _write_in_one_statement(job, numbers)  # webhooks' deliveries would be rows of the same transaction
    if job.kind == "user" and dialect == "sqlite":
        sender = db.session.execute(_AGENT_SENDERS, {"pairs": [(job.principal_id, job.conversation_id)]}).first()
        seq = db.session.execute(_AGENT_NEXT_SEQ_SQLITE, numbers).scalar() if sender is not None else None
        row = (*sender, seq) if seq is not None else None
    else:
        row = db.session.execute(_AGENT_NEXT_SEQ if job.kind == "user" else _VISITOR_NEXT_SEQ, numbers).first()
    if row is None:
        return {}  # not its sender's to write now: the usual way says why
    senders = {(job.kind, job.principal_id, job.conversation_id): row[:-1]}
    return _insert([job], senders, {job.conversation_id: row[-1]}, {job.conversation_id: 1}, {})


def _write_in_one_statement(job, numbers):
    """_write_alone on PostgreSQL (see _one_statement): committed when it returns, published at once."""
    now = utcnow()
    stream = conversation_stream(job.conversation_id)
    sender_id = job.principal_id if job.kind == "user" else None
    # Names no column has: a parameter named like a column of the updated table would be set by the update.
    params = {**numbers, "m_sender_type": job.sender_type, "m_sender_id": sender_id, "m_client_id": job.client_id,
              "m_text": job.text, "m_now": now, "m_now_text": now.isoformat(), "m_stream": stream}
    with db.engine.connect() as connection:
        row = connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            _AGENT_ALONE if job.kind == "user" else _VISITOR_ALONE, params).first()
    if row is None:
        return {}  # not its sender's to write now: the usual way says why
    message_id, seq, workspace_id, sender_name, pos = row
    values = {"workspace_id": workspace_id, "conversation_id": job.conversation_id, "seq": seq,
              "sender_type": job.sender_type, "sender_id": sender_id, "sender_name": sender_name,
              "client_id": job.client_id, "text": job.text, "created_at": now}
    data = {"message": message_data(message_id, values)}  # what the statement wrote as the event's payload
    broker().publish_many([(stream, event_frame(EventType.MESSAGE_CREATED, stream, pos, data, now.isoformat()))])
    return {job: (message_id, seq, True)}


def _insert(fresh, senders, last, counts, results):
    """Number the messages (each conversation's `counts[id]` numbers up to `last[id]`), insert them, emit."""
    next_seq = {cid: last[cid] - counts[cid] + 1 for cid in counts}
    now = utcnow()
    rows = []
    for job in fresh:
        seq = next_seq[job.conversation_id]
        next_seq[job.conversation_id] = seq + 1
        sender = senders[(job.kind, job.principal_id, job.conversation_id)]
        rows.append({"workspace_id": sender[2], "conversation_id": job.conversation_id, "seq": seq,
                     "sender_type": job.sender_type, "sender_id": job.principal_id if job.kind == "user" else None,
                     "sender_name": sender[3] if job.kind == "user" else None, "client_id": job.client_id,
                     "text": job.text, "data": None, "created_at": now})
    ids = {(row[0], row[1]): row[2] for row in db.session.execute(_INSERT, rows)}
    for job, values in zip(fresh, rows, strict=True):
        message_id = ids[(values["conversation_id"], values["seq"])]
        data = message_data(message_id, values)
        emit(EventType.MESSAGE_CREATED, {"message": data}, [conversation_stream(job.conversation_id)],
             values["workspace_id"])
        message_created(SimpleNamespace(id=job.conversation_id, workspace_id=values["workspace_id"]),
                        SimpleNamespace(**values, id=message_id, attachments=[]))
        results[job] = (message_id, values["seq"], True)
    return results


def message_data(message_id, values):
    """What MessageSchema dumps of a text message without files, written out for the hot path
    (tests/test_group_commit.py holds the two equal)."""
    return {"id": message_id, "conversation_id": values["conversation_id"], "seq": values["seq"],
            "sender_type": values["sender_type"].value, "sender_id": values["sender_id"],
            "sender_name": values["sender_name"], "client_id": values["client_id"], "text": values["text"],
            "data": None, "attachments": [], "created_at": values["created_at"].isoformat()}


def _may_write(job, status, agent_id):
    if job.kind == "user":
        return status in _AGENT_STATUSES and agent_id == job.principal_id
    return status in _VISITOR_STATUSES
