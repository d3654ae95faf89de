"""Sending messages as a visitor or an agent, shared by REST and the socket."""
from errors import Conflict, NotFound
from extensions import db
from models import Role, User
from models.conversation import Conversation, ConversationStatus, SenderType
from services.conversations import do_send_message
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
    if principal.role != Role.ADMIN and principal not in conversation.interface.agents:
        raise NotFound("Conversation not found")
    return conversation


def _after_visitor_text(conversation, message):
    from services.flow_runtime import on_visitor_text

    if conversation.status == ConversationStatus.BOT:
        on_visitor_text(conversation, message)


def send_message_as(principal, conversation_id, text, client_id):
    """Send a chat message as the visitor of the conversation or as its agent."""
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
