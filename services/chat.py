"""What the two sides of a chat say: messages, read positions, the visitor's buttons.

Shared by REST and the socket. A visitor's text or button press while the bot
leads goes to the flow (services/flow_runtime.py), and a press of Live chat or
Video chat asks for an agent (services/live_requests.py).
"""
from sqlalchemy import bindparam, select, update

from errors import Conflict, ValidationFailed
from extensions import db
from models import Component, ComponentType, Role, User
from models.conversation import Conversation, ConversationStatus, SenderType, Visitor
from schemas.events import EphemeralType, EventType
from services.conversations import add_message, do_send_message, emit_conversation_updated
from services.core import NotAssigned, access_conversation, member_clause, transaction
from services.events import conversation_stream, emit, publish_ephemeral
from services.flow_engine import InvalidInput, advance
from services.flow_runtime import (
    apply, load_flow, lock_visitors_bot_phase, mark_initiated, on_visitor_text, renderer,
)
from services.live_requests import request_live
from services.notifications import Team
from services.visitor_identity import check_prechat
from services.typing_throttle import typing_throttle


class InputNotExpected(Conflict):
    code = "input_not_expected"


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
    way" (principal, then access_conversation), which tells a revoked
    session from an unknown conversation.
    """
    params = {"principal_id": principal_id, "conversation_id": conversation_id}
    row = db.session.execute(_USER_SENDER if kind == "user" else _VISITOR_SENDER, params).first()
    if row is None or (kind == "user" and row[0].role != Role.ADMIN and not row[2]):
        return None
    return row[0], row[1]


def _after_visitor_text(conversation, message):
    if conversation.status == ConversationStatus.BOT:
        on_visitor_text(conversation, message)


def send_message_as(principal, conversation_id, text, client_id, conversation=None, attachment_ids=None):
    """Send a chat message as the visitor of the conversation or as its agent.

    `conversation`, when given, was already checked against the principal (load_sender);
    `attachment_ids`: the sender's uploads in the conversation that the message carries.
    """
    if conversation is None:
        conversation = access_conversation(principal, conversation_id)
    if isinstance(principal, User):
        if conversation.agent_id != principal.id or conversation.status != ConversationStatus.ACTIVE:
            raise NotAssigned()
        return do_send_message(conversation, SenderType.AGENT, text, client_id, sender=principal,
                               attachment_ids=attachment_ids)
    return do_send_message(conversation, SenderType.VISITOR, text, client_id, after_add=_after_visitor_text,
                           attachment_ids=attachment_ids)


@transaction
def do_mark_read(principal, conversation_id, seq):
    """Move the reader's read position forward (never back) and tell the other side."""
    conversation = access_conversation(principal, conversation_id)
    reader = "agent" if isinstance(principal, User) else "visitor"
    column = Conversation.agent_read_seq if reader == "agent" else Conversation.visitor_read_seq
    seq = min(seq, conversation.last_seq)
    moved = db.session.execute(update(Conversation).where(Conversation.id == conversation.id, column < seq)
                               .values({column: seq})).rowcount
    if moved:
        emit(EventType.CONVERSATION_READ, {"conversation_id": conversation.id, "reader": reader, "seq": seq},
             [conversation_stream(conversation.id)], conversation.workspace_id)
    return {"conversation_id": conversation.id, "reader": reader, "seq": max(seq, getattr(conversation, column.key))}


def _button_label(flow, component_id, button_id, render):
    for component in flow:
        if component["id"] == component_id:
            for button in render(component)["buttons"]:
                if button["id"] == button_id:
                    return button["label"]
    return None


def do_typing(principal, conversation_id, typing):
    """Tell the conversation's live sockets that the principal started or stopped typing.

    An ephemeral frame, published at once: never stored, never replayed; a lost
    one is corrected by the next, or by the message that follows. A repeated
    `typing: true` within TYPING_THROTTLE_S is acknowledged and dropped.
    """
    conversation = access_conversation(principal, conversation_id)
    kind = "user" if isinstance(principal, User) else "visitor"
    if not typing_throttle().allow((kind, principal.id, conversation.id), typing):
        return {}
    stream = conversation_stream(conversation.id)
    publish_ephemeral(stream, {
        "type": EphemeralType.TYPING.value, "stream": stream,
        "data": {"conversation_id": conversation.id,
                 "sender_type": "agent" if isinstance(principal, User) else "visitor",
                 "sender_name": getattr(principal, "name", None), "typing": typing},
    })
    return {}


@transaction
def do_visitor_action(visitor, conversation_id, user_input):
    """Apply a button press, Skip or Back; returns the conversation and the new messages."""
    conversation = lock_visitors_bot_phase(visitor, conversation_id)
    flow = load_flow(conversation.interface_id)
    render = renderer(conversation)
    messages = []
    label = {"skip": "Skip", "back": "Back"}.get(user_input["type"])
    if user_input["type"] == "button":
        label = _button_label(flow, conversation.component_id, user_input.get("button_id"), render)
    try:
        step = advance(flow, conversation.component_id, user_input, render)
    except InvalidInput as error:
        raise InputNotExpected(str(error)) from None
    if step.effect and step.effect["type"] == "request":
        check_prechat(conversation)  # before anything changes: the press can be retried once the form is filled
    if label:
        messages.append(add_message(conversation, SenderType.VISITOR, label,
                                    data={"action": user_input["type"], "button_id": user_input.get("button_id")}))
    team = Team(conversation.interface_id)  # read once if both the new chat and a request need it
    mark_initiated(conversation, team)
    messages += apply(conversation, step)
    if step.effect and step.effect["type"] == "request":
        component = db.session.get(Component, step.component_id)
        if component is None or component.type != ComponentType.LIVE_CHAT:
            raise ValidationFailed("This component cannot start a live chat")
        messages += request_live(conversation, step.effect["kind"], component, team)
    emit_conversation_updated(conversation)
    return {"conversation": conversation, "messages": messages}
