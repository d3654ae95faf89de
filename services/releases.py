"""A chat or a call lets go of its agent, and the room it frees goes to what waits.

Ending, transferring or handing back a chat, an agent gone (offline past the
grace period, deactivated, deleted), a visitor gone too long, and the end of a
video call all lower an agent's load: each one then offers that agent what
waits on their interfaces (services/live_requests.offer_waiting), in the same
transaction. Every release is a conditional UPDATE that holds only while the
chat still has the agent it had, so two releases of one chat end in one.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update

from errors import Conflict, Forbidden, ValidationFailed
from extensions import db
from models import (
    AuditAction, Availability, Call, CallEndReason, CallSide, CallStatus, ComponentType, Conversation,
    ConversationStatus, Notification, NotificationStatus, RequestKind, RequestStatus, SenderType, User, Visitor,
    WithdrawReason,
)
from models.base import utcnow
from models.flow import Stage
from services.audit import audit
from services.calls import CallEnded, NotOffered, close_call, end_on_release, hold_call, side_of
from services.conversations import add_message, emit_conversation_updated
from services.core import (
    PRESENCE_GRACE_S, NotActive, access_active_chat, has_room, is_member, lock_agent, transaction,
)
from services.events import user_stream
from services.flow_engine import enter
from services.flow_runtime import apply, context_of, load_flow, renderer
from services.live_requests import offer_waiting, reopen_request
from services.notifications import withdraw
from services.queue import latest_request, live_chat_component, queue_position
from services.render import render_component
from services.webhooks import conversation_assigned, conversation_ended
from services.transcripts import send_on_close


RING_TIMEOUT_S = 120  # a call nobody answers ends after this long (CALL_RING_TIMEOUT_S)


class TargetFull(Conflict):
    code, message = "target_full", "That agent is at their max chats"


class TargetOffline(Conflict):
    code, message = "target_offline", "That agent is not online"


def _release(conversation, **values):
    """Move the conversation off its agent if it still has that agent (conditional); its call ends.

    Returns whether it moved.
    """
    released = db.session.execute(update(Conversation).where(
        Conversation.id == conversation.id, Conversation.status == ConversationStatus.ACTIVE,
        Conversation.agent_id == conversation.agent_id).values(**values)).rowcount == 1
    if released:
        end_on_release(conversation, values.get("status"))
    return released


# -- chats ----------------------------------------------------------------------


@transaction
def do_transfer(user, conversation_id, target_id, note=None):
    """Hand an open chat to another agent of the interface who is online and has room."""
    conversation = access_active_chat(user, conversation_id)
    target = db.session.get(User, target_id)
    if target is None or target.workspace_id != user.workspace_id or not target.is_active \
            or not is_member(target.id, conversation.interface_id):
        raise ValidationFailed("Unknown agent", errors={"json": {"agent_id": ["Not an agent of this interface."]}})
    if target.id == conversation.agent_id:
        raise ValidationFailed("Already theirs", errors={"json": {"agent_id": ["This chat is theirs already."]}})
    if target.availability != Availability.ONLINE:
        raise TargetOffline()
    previous_id = conversation.agent_id
    if not _release(conversation, agent_id=target.id):
        raise NotActive()
    if not lock_agent(target.id) or not has_room(target, 0):  # counts the chat already
        raise TargetFull()
    db.session.refresh(conversation)
    target.last_assigned_at = utcnow()
    add_message(conversation, SenderType.SYSTEM, f"{target.name} has joined the chat.",
                data={"event": "transferred", "from_agent_id": previous_id, "to_agent_id": target.id})
    emit_conversation_updated(conversation, [user_stream(previous_id), user_stream(target.id)])
    offer_waiting(previous_id)
    audit(AuditAction.TRANSFERRED, conversation.workspace_id, user, conversation.id, from_agent_id=previous_id,
          to_agent_id=target.id, note=note)
    conversation_assigned(conversation)
    return conversation


@transaction
def do_hand_back(user, conversation_id, component_id=None):
    """Give the chat back to the bot, at the next component or a chosen one."""
    conversation = access_active_chat(user, conversation_id)
    flow = load_flow(conversation.interface_id)
    ids = [c["id"] for c in flow]
    if component_id is not None:
        if component_id not in ids:
            raise ValidationFailed("Unknown component", errors={"json": {"component_id": ["Not in this flow."]}})
        index = ids.index(component_id)
    else:
        index = ids.index(conversation.component_id) + 1 if conversation.component_id in ids else len(ids)
    previous_id = conversation.agent_id
    if not _release(conversation, status=ConversationStatus.BOT, agent_id=None, weight=0):
        raise NotActive()
    db.session.refresh(conversation)
    add_message(conversation, SenderType.SYSTEM, "The bot has taken the conversation back.",
                data={"event": "handed_back", "agent_id": previous_id})
    apply(conversation, enter(flow, index, renderer(conversation)))
    emit_conversation_updated(conversation, [user_stream(previous_id)])
    offer_waiting(previous_id)
    audit(AuditAction.HANDED_BACK, conversation.workspace_id, user, conversation.id,
          component_id=conversation.component_id)
    return conversation


def _close_chat(conversation, text, data, actor, reason):
    """Close a released chat: the message, the notifications withdrawn, the agent's freed room offered."""
    previous_id = conversation.agent_id
    db.session.refresh(conversation)
    add_message(conversation, SenderType.SYSTEM, text, data=data)
    send_on_close(conversation)
    withdraw([Notification.conversation_id == conversation.id], WithdrawReason.ENDED)
    emit_conversation_updated(conversation, [user_stream(previous_id)] if previous_id else [])
    if previous_id is not None:
        offer_waiting(previous_id)
    audit(AuditAction.ENDED, conversation.workspace_id, actor, conversation.id, reason=reason)
    conversation_ended(conversation)


@transaction
def do_end(user, conversation_id, reason=None):
    """End a chat: the conversation closes for good."""
    conversation = access_active_chat(user, conversation_id)
    if not _release(conversation, status=ConversationStatus.CLOSED, closed_at=utcnow()):
        raise NotActive()
    _close_chat(conversation, "The chat has ended.", {"event": "ended"}, user, reason)
    return conversation


class _StillHere(Exception):
    """The visitor came back (or the chat moved) before an idle close could commit."""


@transaction
def _do_end_for_idle_visitor(conversation_id, threshold):
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or conversation.status != ConversationStatus.ACTIVE:
        raise _StillHere()
    if not _release(conversation, status=ConversationStatus.CLOSED, closed_at=utcnow()):
        raise _StillHere()
    # Conditional, and it holds the visitor's row to the commit: a socket coming back either wins
    # before this (nothing closes) or waits for it and finds the chat closed.
    still_gone = db.session.execute(update(Visitor).where(
        Visitor.id == conversation.visitor_id, Visitor.absent_at.is_not(None), Visitor.presence_seen_at < threshold)
        .values(absent_at=Visitor.absent_at)).rowcount == 1
    if not still_gone:
        raise _StillHere()
    _close_chat(conversation, "The chat has ended: the visitor left.", {"event": "ended", "reason": "visitor_idle"},
                None, "visitor_idle")


def end_for_idle_visitor(conversation_id, threshold):
    """Close a chat whose visitor has been gone since before threshold, if that still holds; True when closed."""
    try:
        _do_end_for_idle_visitor(conversation_id, threshold)
    except _StillHere:
        return False
    return True


def _tell_requeued(conversation, agent):
    """Tell the visitor (and the history) that their agent left and where they wait now.

    Said only while the reopened request waits: when it went to another agent
    at once, or nobody is online, the assigned or offline message says it.
    """
    request = latest_request(conversation)
    if request is None or request.status != RequestStatus.PENDING:
        return
    position = queue_position(request)
    component = live_chat_component(conversation.interface_id, request.component_id)
    config = component.config if component is not None else {"messages": {}}
    context = context_of(conversation, Stage.REQUEUED, agent=agent, position=position)
    text = render_component(ComponentType.LIVE_CHAT, config, context)["texts"][0]
    add_message(conversation, SenderType.SYSTEM, text, data={
        "event": "requeued", "agent_id": agent.id, "request_id": request.id, "queue_position": position,
        "component_id": component.id if component is not None else None})


def requeue_agent(agent, reason):
    """The agent is gone (offline past the grace period, deleted): offer their chats again.

    Runs in the caller's transaction; the caller commits.
    """
    withdraw([Notification.user_id == agent.id, Notification.status == NotificationStatus.PENDING], reason)
    chats = db.session.scalars(select(Conversation).where(
        Conversation.agent_id == agent.id, Conversation.status == ConversationStatus.ACTIVE)
        .order_by(Conversation.id)).all()
    for conversation in chats:
        released = _release(conversation, status=ConversationStatus.WAITING, agent_id=None, weight=0)
        if not released:
            continue
        db.session.refresh(conversation)
        reopen_request(conversation, RequestKind(conversation.channel), exclude={agent.id})
        _tell_requeued(conversation, agent)
        emit_conversation_updated(conversation, [user_stream(agent.id)])
        audit(AuditAction.REQUEUED, conversation.workspace_id, None, conversation.id, agent_id=agent.id,
              reason=reason)
    return chats


# -- calls ------------------------------------------------------------------------


def _close_and_offer(call, by, reason, conversation):
    active = conversation.status == ConversationStatus.ACTIVE and conversation.agent_id == call.agent_id
    freed = close_call(call, by, reason, active)
    if freed is not None:
        offer_waiting(freed)  # the chat weighs 1 again: what waits may fit now


@transaction
def do_end_call(call, by, reason, statuses=(CallStatus.RINGING, CallStatus.ACTIVE), pending_only=False):
    """End a live call for one side; 409 call_ended when it has ended already."""
    if hold_call(call, *statuses) is None or (pending_only and call.accepted_at is not None):
        raise CallEnded() if call.status == CallStatus.ENDED else NotOffered()
    _close_and_offer(call, by, reason, db.session.get(Conversation, call.conversation_id))
    return call


def do_decline_video(visitor, call):
    """Decline the video call the agent offered; the chat goes on in text."""
    if side_of(visitor) != CallSide.VISITOR:
        raise Forbidden("Only the visitor can decline a video call")
    if call.status == CallStatus.ENDED:
        raise CallEnded()
    if call.initiated_by != CallSide.AGENT or call.accepted_at is not None:
        raise NotOffered()
    return do_end_call(call, CallSide.VISITOR, CallEndReason.DECLINED, statuses=(CallStatus.RINGING,), pending_only=True)


def do_hangup(principal, call):
    """Hang up: the call ends, the chat goes on in text."""
    return do_end_call(call, side_of(principal), CallEndReason.HANGUP)


def do_fallback_to_text(principal, call):
    """Leave the video call and go on chatting in text."""
    return do_end_call(call, side_of(principal), CallEndReason.FALLBACK_TO_TEXT)


def _why_over(call, agent_seen, threshold, ring_threshold):
    """(who, why) a live call is over: a side without a socket past the grace period, or ringing too long."""
    if call.created_at < threshold:
        if call.visitor_seen_at < threshold:
            return CallSide.VISITOR, CallEndReason.CONNECTION_LOST
        if agent_seen is None or agent_seen < threshold:
            return CallSide.AGENT, CallEndReason.CONNECTION_LOST
    if call.status == CallStatus.RINGING and call.created_at < ring_threshold:
        return CallSide.SYSTEM, CallEndReason.NO_ANSWER
    return None


def _do_end_if_over(call_id, threshold, ring_threshold):
    """End one call if it is still over once held (its own transaction); True when it ended."""
    call = db.session.get(Call, call_id)
    if call is None or hold_call(call, CallStatus.RINGING, CallStatus.ACTIVE) is None:
        db.session.rollback()
        return False
    agent_seen = db.session.scalar(select(User.presence_seen_at).where(User.id == call.agent_id))
    over = _why_over(call, agent_seen, threshold, ring_threshold)
    if over is None:  # a socket came back, or the answer came, meanwhile
        db.session.rollback()
        return False
    _close_and_offer(call, *over, db.session.get(Conversation, call.conversation_id))
    db.session.commit()
    return True


def sweep_abandoned_calls(now=None, limit=200):
    """End live calls with a side gone past the grace period, or ringing too long; returns their ids."""
    now = now or utcnow()
    config = current_app.config
    threshold = now - timedelta(seconds=config.get("PRESENCE_GRACE_S", PRESENCE_GRACE_S))
    ring_threshold = now - timedelta(seconds=config.get("CALL_RING_TIMEOUT_S", RING_TIMEOUT_S))
    gone = or_(Call.visitor_seen_at < threshold, User.presence_seen_at.is_(None), User.presence_seen_at < threshold)
    due = db.session.scalars(select(Call.id).outerjoin(User, User.id == Call.agent_id).where(
        Call.status != CallStatus.ENDED,
        or_(and_(Call.created_at < threshold, gone),
            and_(Call.status == CallStatus.RINGING, Call.created_at < ring_threshold)))
        .order_by(Call.id).limit(limit)).all()
    db.session.rollback()
    return [call_id for call_id in due if _do_end_if_over(call_id, threshold, ring_threshold)]
