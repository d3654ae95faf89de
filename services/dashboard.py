"""What an agent's dashboard reads: conversations and requests of the interfaces they serve."""
from sqlalchemy import column, exists, func, or_, select, table
from sqlalchemy.orm import with_expression

from extensions import db
from models import (
    Conversation, ConversationStatus, Interface, LiveRequest, Message, RequestStatus, Role, SenderType, User, Visitor,
)
from models.search import FTS_TABLE, TS_CONFIG
from services.core import access_conversation
from services.queue import request_view
from services.pagination import paginate

# Visitor messages past the agent's read position: a range of the (conversation_id, seq) unique index.
UNREAD_COUNT = (
    select(func.count()).where(Message.conversation_id == Conversation.id, Message.seq > Conversation.agent_read_seq,
                               Message.sender_type == SenderType.VISITOR)
    .correlate(Conversation).scalar_subquery()
)
# The FTS5 table: its rowid is the message id; a MATCH on the column named after it searches every column.
_FTS = table(FTS_TABLE, column("rowid"), column(FTS_TABLE))


def _interfaces_of(user):
    stmt = select(Interface.id).where(Interface.workspace_id == user.workspace_id)
    if user.role != Role.ADMIN:
        stmt = stmt.where(Interface.agents.any(User.id == user.id))
    return stmt


def _like_pattern(text):
    """A LIKE pattern matching text anywhere, its own % and _ (and the escape) taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def fts5_query(text):
    """An FTS5 query that finds every word of text, whatever characters it holds: each whitespace-separated
    token becomes an FTS5 string (its double quotes doubled), so no token is ever read as query syntax
    (NEAR, AND, OR, NOT, -, *, ^, column filters, parentheses)."""
    return " ".join('"' + token.replace('"', '""') + '"' for token in text.split())


def _matching_conversations(q):
    """Ids of the conversations with a message whose text holds every word of q (an index lookup)."""
    if db.session.get_bind().dialect.name == "postgresql":
        match = func.to_tsvector(TS_CONFIG, Message.text).op("@@")(func.plainto_tsquery(TS_CONFIG, q))
        return select(Message.conversation_id).where(match)
    rowids = select(_FTS.c.rowid).where(_FTS.c[FTS_TABLE].op("MATCH")(fts5_query(q)))
    return select(Message.conversation_id).where(Message.id.in_(rowids))


def search_conversations(user, scope, status=None, agent_id=None, interface_id=None, created_from=None,
                         created_to=None, visitor=None, q=None):
    """The dashboard's query: conversations of the user's interfaces (the workspace's for admins) that pass
    every filter given, newest first."""
    stmt = select(Conversation).where(Conversation.interface_id.in_(_interfaces_of(user)))
    if interface_id is not None:
        stmt = stmt.where(Conversation.interface_id == interface_id)
    if scope == "mine":
        stmt = stmt.where(Conversation.agent_id == user.id, Conversation.status == ConversationStatus.ACTIVE)
    elif scope != "all":
        stmt = stmt.where(Conversation.status == ConversationStatus(scope))
    if status is not None:
        stmt = stmt.where(Conversation.status == ConversationStatus(status))
    if agent_id is not None:
        stmt = stmt.where(Conversation.agent_id == agent_id)
    if created_from is not None:
        stmt = stmt.where(Conversation.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(Conversation.created_at < created_to)
    if visitor is not None:
        pattern = _like_pattern(visitor)
        stmt = stmt.where(exists().where(
            Visitor.id == Conversation.visitor_id,
            or_(Visitor.email.ilike(pattern, escape="\\"), Visitor.name.ilike(pattern, escape="\\"))))
    if q is not None:
        stmt = stmt.where(Conversation.id.in_(_matching_conversations(q)))
    return stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc())


def list_conversations(user, scope, page, page_size, **filters):
    """Conversations by scope (mine: open with me; waiting, bot, active, closed or all) and filters, newest
    first, page-numbered."""
    stmt = search_conversations(user, scope, **filters)
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    items = db.session.scalars(_with_unread_count(stmt).limit(page_size).offset((page - 1) * page_size)).all()
    return {"items": items, "page": page, "page_size": page_size, "total": total}


def get_conversation(user, conversation_id):
    """A conversation the user may reach, with its unread count."""
    conversation = access_conversation(user, conversation_id)
    return db.session.scalars(_with_unread_count(select(Conversation).where(Conversation.id == conversation.id))).one()


def _with_unread_count(stmt):
    # populate_existing: a conversation already in the session (access_conversation) gets the count too.
    return stmt.options(with_expression(Conversation.unread_count, UNREAD_COUNT)).execution_options(
        populate_existing=True)


def list_pending_requests(user, page, page_size):
    """Requests waiting for an agent on the user's interfaces, oldest first (queue order)."""
    stmt = select(LiveRequest).where(LiveRequest.interface_id.in_(_interfaces_of(user)),
                                     LiveRequest.status == RequestStatus.PENDING).order_by(LiveRequest.id)
    result = paginate(stmt, page, page_size)
    result["items"] = [{**request_view(r), "conversation_id": r.conversation_id, "interface_id": r.interface_id,
                        "created_at": r.created_at} for r in result["items"]]
    return result
