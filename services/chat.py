"""Sending messages as a visitor or an agent, shared by REST and the socket."""
from sqlalchemy import bindparam, select

from errors import Conflict, NotFound
from extensions import db
from models import Role, User
from models.conversation import Conversation, ConversationStatus, SenderType, Visitor
from services.conversations import do_send_message
from services.interfaces import member_clause, serves
from services.visitors import access_visitor_conversation


class NotAssigned(Conflict):
    code, message = "not_assigned", "You are not the agent of this conversation"


def access_conversation_as(principal, conversation_id):
    """A conversation the principal may see; 404 otherwise."""
    if not isinstance(principal, User):
        return access_visitor_conversation(principal, conversation_id)
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or conversation.workspace_id != principal.workspace_id:
        raise NotFound("Conversation not found")
    if not serves(principal, conversation.interface_id):
        raise NotFound("Conversation not found")
    return conversation


# Built once: the socket's message.send runs them with every message.
_USER_SENDER = (
    select(User, Conversation, member_clause(User.id, Conversation.interface_id))
    .join(Conversation, Conversation.workspace_id == User.workspace_id)
    .where(User.id == bindparam("principal_id"), User.is_active.is_(True),
           Conversation.id == bindparam("conversation_id"))
)
_VISITOR_SENDER = (
    select(Visitor, Conversation).join(Conversation, Conversation.visitor_id == Visitor.id)
    .where(Visitor.id == bindparam("principal_id"), Conversation.id == bindparam("conversation_id"))
)


def load_sender(kind, principal_id, conversation_id):
    """The sender and the conversation in one statement, when the sender may see it; None otherwise.

    The hot path of a socket's message.send. None means "ask again the long
    way" (principal, then access_conversation_as), which tells a revoked
    session from an unknown conversation.
    """
    params = {"principal_id": principal_id, "conversation_id": conversation_id}
    row = db.session.execute(_USER_SENDER if kind == "user" else _VISITOR_SENDER, params).first()
    if row is None or (kind == "user" and row[0].role != Role.ADMIN and not row[2]):
        return None
    return row[0], row[1]


def _after_visitor_text(conversation, message):
    from services.flow_runtime import on_visitor_text

    if conversation.status == ConversationStatus.BOT:
        on_visitor_text(conversation, message)


def send_message_as(principal, conversation_id, text, client_id, conversation=None):
    """Send a chat message as the visitor of the conversation or as its agent.

    `conversation`, when given, was already checked against the principal (load_sender).
    """
    if conversation is None:
        conversation = access_conversation_as(principal, conversation_id)
    if isinstance(principal, User):
        if conversation.agent_id != principal.id or conversation.status != ConversationStatus.ACTIVE:
            raise NotAssigned()
        return do_send_message(conversation, SenderType.AGENT, text, client_id, sender=principal)
    return do_send_message(conversation, SenderType.VISITOR, text, client_id, after_add=_after_visitor_text)


def do_mark_read(principal, conversation_id, seq):
    """Move the reader's read position forward (never back) and tell the other side."""
    from sqlalchemy import update

    from models import Conversation as ConversationModel
    from schemas.events import EventType
    from services.events import conversation_stream, emit

    conversation = access_conversation_as(principal, conversation_id)
    reader = "agent" if isinstance(principal, User) else "visitor"
    column = ConversationModel.agent_read_seq if reader == "agent" else ConversationModel.visitor_read_seq
    seq = min(seq, conversation.last_seq)
    moved = db.session.execute(update(ConversationModel).where(ConversationModel.id == conversation.id, column < seq)
                               .values({column: seq})).rowcount
    if moved:
        emit(EventType.CONVERSATION_READ, {"conversation_id": conversation.id, "reader": reader, "seq": seq},
             [conversation_stream(conversation.id)], conversation.workspace_id)
    db.session.commit()
    return {"conversation_id": conversation.id, "reader": reader, "seq": max(seq, getattr(conversation, column.key))}
