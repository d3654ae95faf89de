"""Conversations and messages: sequence numbers, idempotent sends, cursor reads."""
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from errors import Conflict
from extensions import db
from models.base import utcnow
from models.conversation import Conversation, ConversationStatus, Message, SenderType
from schemas.conversations import ConversationSchema, MessageSchema
from schemas.events import EventType
from services.attachments import link_to_message, message_views
from services.core import commit_keeping
from services.events import PositionBefore, conversation_stream, emit
from services.webhooks import message_created

_message_schema = MessageSchema()
_conversation_schema = ConversationSchema()


class ConversationClosed(Conflict):
    code, message = "conversation_closed", "This conversation is closed"


_NEXT_SEQ = (update(Conversation).where(Conversation.id == bindparam("conversation_id"))
             .values(last_seq=Conversation.last_seq + 1).returning(Conversation.last_seq))


_INSERT_MESSAGE = insert(Message.__table__).returning(Message.__table__.c.id)


def _numbered_insert():
    """PostgreSQL: the number and the row of a message in one statement (the number's UPDATE as a CTE the
    insert reads), where _NEXT_SEQ then _INSERT_MESSAGE were two round trips. Returns (id, seq).

    Parameters are prefixed m_: SQLAlchemy takes a parameter named like a column of the UPDATE's table as one
    more SET value, even inside a CTE. updated_at is set here because a Python onupdate does not run in a WITH.
    """
    conversations, messages = Conversation.__table__, Message.__table__
    numbered = (update(conversations).where(conversations.c.id == bindparam("m_conversation"))
                .values(last_seq=conversations.c.last_seq + 1,
                        updated_at=bindparam("m_now", type_=conversations.c.updated_at.type))
                .returning(conversations.c.last_seq.label("seq")).cte("numbered"))
    columns = ["workspace_id", "conversation_id", "seq", "sender_type", "sender_id", "sender_name", "client_id", "text",
               "data", "created_at"]
    values = [bindparam("m_workspace", type_=messages.c.workspace_id.type),
              bindparam("m_conversation", type_=messages.c.conversation_id.type), numbered.c.seq,
              *(bindparam(f"m_{name}", type_=messages.c[name].type) for name in columns[3:9]),
              bindparam("m_now", type_=messages.c.created_at.type)]
    return insert(messages).from_select(columns, select(*values)).returning(messages.c.id, messages.c.seq)


_ADD_MESSAGE_PG = _numbered_insert()


def _next_seq(conversation_id):
    """Take the next message number; the row lock orders concurrent senders."""
    return db.session.execute(_NEXT_SEQ, {"conversation_id": conversation_id}).scalar_one()


def add_message(conversation, sender_type, text, *, sender=None, client_id=None, data=None, attachment_ids=None):
    """Append a message and its event to the current transaction (the caller commits).

    attachment_ids: uploads of the sender in this conversation that the message carries (none: no extra work).
    """
    values = {"workspace_id": conversation.workspace_id, "conversation_id": conversation.id,
              "sender_type": SenderType(sender_type), "sender_id": getattr(sender, "id", None),
              "sender_name": getattr(sender, "name", None), "client_id": client_id, "text": text, "data": data,
              "created_at": utcnow()}
    # Core statements, then the object joins the session as the persistent row it is: sending a message is
    # the busiest path of the product, and the ORM's unit of work would add a flush for every message.
    postgresql = db.session.get_bind().dialect.name == "postgresql"
    if postgresql:
        message_id, seq = db.session.execute(_ADD_MESSAGE_PG, {
            "m_workspace": values["workspace_id"], "m_conversation": conversation.id, "m_now": values["created_at"],
            **{f"m_{name}": values[name] for name in ("sender_type", "sender_id", "sender_name", "client_id",
                                                       "text", "data")}}).one()
    else:
        seq = _next_seq(conversation.id)
        message_id = db.session.execute(_INSERT_MESSAGE, {**values, "seq": seq}).scalar_one()
    # The number was taken by a statement the ORM does not watch: the loaded conversation learns it here,
    # so whatever is dumped of it later in this transaction (conversation.updated) is not a number behind.
    set_committed_value(conversation, "last_seq", seq)
    if postgresql:
        set_committed_value(conversation, "updated_at", values["created_at"])  # what the statement wrote
    message = Message(id=message_id, seq=seq, **values)
    make_transient_to_detached(message)
    db.session.add(message)
    if attachment_ids:
        sender_id = sender.id if sender is not None else conversation.visitor_id
        message.attachments = link_to_message(message, conversation, sender_type, sender_id, attachment_ids)
    emit(EventType.MESSAGE_CREATED, {"message": _message_schema.dump(message)},
         [conversation_stream(conversation.id)], conversation.workspace_id)
    message_created(conversation, message)
    return message


def find_by_client_id(conversation_id, sender_type, client_id):
    return db.session.scalar(select(Message).where(
        Message.conversation_id == conversation_id, Message.sender_type == SenderType(sender_type),
        Message.client_id == client_id))


def do_send_message(conversation, sender_type, text, client_id, sender=None, after_add=None, attachment_ids=None):
    """Store a message once per client id; a retry returns the first one. Returns (message, created).

    The unique (conversation, sender type, client id) constraint tells a retry
    from a new message, so a new one costs no lookup first. The commit keeps
    the loaded values (all written by this transaction): answering with the
    message costs no new read.
    """
    if conversation.status == ConversationStatus.CLOSED:
        existing = find_by_client_id(conversation.id, sender_type, client_id)
        if existing is not None:
            return _with_attachments(existing, attachment_ids), False
        raise ConversationClosed()
    session = db.session()
    try:
        message = add_message(conversation, sender_type, text, sender=sender, client_id=client_id,
                              attachment_ids=attachment_ids)
        if after_add is not None:
            after_add(conversation, message)
        commit_keeping(session)
    except IntegrityError:
        # A retry (or a concurrent one) with the same client id: answer with the first message.
        session.rollback()
        existing = find_by_client_id(conversation.id, sender_type, client_id)
        if existing is None:
            raise
        return _with_attachments(existing, attachment_ids), False
    return message, True


def _with_attachments(message, attachment_ids):
    """A retried send answers with the first message; with what it carries when the retry sent files."""
    if attachment_ids:
        message_views([message])
    return message


def list_messages(conversation, after=0, before=None, limit=50):
    """A page of history by sequence number: after a cursor, or the newest before one."""
    stmt = select(Message).where(Message.conversation_id == conversation.id)
    if before is not None:
        rows = db.session.scalars(
            stmt.where(Message.seq < before, Message.seq > after).order_by(Message.seq.desc()).limit(limit)
        ).all()[::-1]
        older = rows[0].seq if rows and rows[0].seq > after + 1 else None
        message_views(rows)
        return {"items": rows, "next_before": older, "next_after": None}
    rows = db.session.scalars(stmt.where(Message.seq > after).order_by(Message.seq).limit(limit)).all()
    newer = rows[-1].seq if len(rows) == limit else None
    message_views(rows)
    return {"items": rows, "next_after": newer, "next_before": None}


def dump_conversation(conversation):
    return _conversation_schema.dump(conversation)


def emit_conversation_updated(conversation, extra_streams=()):
    """Tell everyone following the conversation (and extra streams: its agents' user streams) its new state.

    On a user stream the event also says where the conversation's stream stood
    before this change: a socket of the agent who holds the chat now follows it
    from there (blueprints/socket_protocol.py), so it misses nothing the change brought.
    """
    stream = conversation_stream(conversation.id)
    data = {"conversation": dump_conversation(conversation)}
    emit(EventType.CONVERSATION_UPDATED, data, [stream], conversation.workspace_id)
    extra = [s for s in extra_streams if s != stream]
    if extra:
        emit(EventType.CONVERSATION_UPDATED, {**data, "conversation_pos": PositionBefore(stream)}, extra,
             conversation.workspace_id)
