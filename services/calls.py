"""Video calls: lifecycle, history, and sides gone past the grace period.

A call belongs to a conversation and has two participants: the conversation's
agent and its visitor. It rings when an agent accepts a video request (the
visitor asked) or offers video in a text chat (then the visitor must accept),
becomes active when the SDP answer goes through (services/signalling.py), and
ends on a hang-up, a decline, a fall back to text, a side gone past the grace
period, or when the chat itself ends, moves or is requeued. A call weighs the
interface's video weight against its agent's max chats; once it ends the chat
weighs 1 again.

Locks are taken in the order of services/core.py: the conversation row, then
the call row, then agent rows. Every change of a call's status holds the
conversation row first, so they happen one after the other. Ending a call
frees room, so the endings that are asked for (hang up, decline, fall back to
text, a side gone) live with the other releases in services/releases.py.
"""
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from errors import Conflict, Forbidden, NotFound
from extensions import db
from models import Call, CallEndReason, CallSide, CallStatus, Conversation, ConversationStatus, SenderType, User
from models.base import utcnow
from schemas.calls import CallSchema
from schemas.events import EventType
from services.conversations import add_message, emit_conversation_updated
from services.core import (
    CapacityFull, NotActive, access_active_chat, access_conversation, has_room, lock_agent, lock_row, transaction,
)
from services.events import conversation_stream, emit, user_stream
from services.webhooks import call_ended, call_started

_call_schema = CallSchema()


class NoLiveCall(Conflict):
    code, message = "no_live_call", "This conversation has no call going on"


class CallEnded(Conflict):
    code, message = "call_ended", "This call has ended"


class CallInProgress(Conflict):
    code, message = "call_in_progress", "This conversation already has a call"


class NotInCall(Conflict):
    code, message = "not_in_call", "You are not a participant of this call"


class CallNotAccepted(Conflict):
    code, message = "call_not_accepted", "The visitor has not accepted this call yet"


class NotOffered(Conflict):
    code, message = "not_offered", "This call is not waiting for the visitor's answer"


def side_of(principal):
    """Which side of a call the principal is on."""
    return CallSide.AGENT if isinstance(principal, User) else CallSide.VISITOR


def dump_call(call):
    """The call as REST and the socket show it."""
    return _call_schema.dump(call)


def emit_call_updated(call):
    """Tell the conversation's followers and the call's agent (the caller commits)."""
    streams = [conversation_stream(call.conversation_id)]
    if call.agent_id is not None:
        streams.append(user_stream(call.agent_id))
    emit(EventType.CALL_UPDATED, {"call": dump_call(call)}, streams, call.workspace_id)


# -- access -------------------------------------------------------------------


def _check_participant(principal, call):
    side = side_of(principal)
    if (side == CallSide.AGENT and call.agent_id != principal.id) or \
            (side == CallSide.VISITOR and call.visitor_id != principal.id):
        raise NotInCall()
    return call


def access_call(principal, call_id):
    """A call the principal takes part in; 404 when its conversation is out of reach, else 409 not_in_call."""
    call = db.session.get(Call, call_id)
    if call is None or call.workspace_id != principal.workspace_id:
        raise NotFound("Call not found")
    try:
        access_conversation(principal, call.conversation_id)
    except NotFound:
        raise NotFound("Call not found") from None
    return _check_participant(principal, call)


def live_call_of(conversation_id):
    """The conversation's call that has not ended, if any."""
    return db.session.scalar(select(Call).where(Call.conversation_id == conversation_id,
                                                Call.status != CallStatus.ENDED))


def access_live_call(principal, conversation_id):
    """The live call of a conversation the principal may see, if they take part in it."""
    conversation = access_conversation(principal, conversation_id)
    call = live_call_of(conversation.id)
    if call is None:
        raise NoLiveCall()
    return _check_participant(principal, call)


def list_calls(conversation, before=None, limit=20):
    """The conversation's calls, newest first, by id cursor."""
    stmt = select(Call).where(Call.conversation_id == conversation.id)
    if before is not None:
        stmt = stmt.where(Call.id < before)
    rows = db.session.scalars(stmt.order_by(Call.id.desc()).limit(limit + 1)).all()
    return {"items": rows[:limit], "next_before": rows[limit - 1].id if len(rows) > limit else None}


# -- lifecycle ----------------------------------------------------------------


def _insert_call(conversation, agent, initiated_by, accepted):
    now = utcnow()
    call = Call(workspace_id=conversation.workspace_id, conversation_id=conversation.id, agent_id=agent.id,
                visitor_id=conversation.visitor_id, status=CallStatus.RINGING, initiated_by=initiated_by,
                created_at=now, accepted_at=now if accepted else None, visitor_seen_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(call)
    except IntegrityError:
        raise CallInProgress() from None
    call_started(call)
    return call


def start_call(conversation, agent):
    """The visitor's video request was accepted: the call rings (the caller holds the conversation and commits)."""
    call = _insert_call(conversation, agent, CallSide.VISITOR, accepted=True)
    emit_call_updated(call)
    return call


@transaction
def do_offer_video(agent, conversation_id):
    """Offer video in your text chat: the video weight must fit your max chats (409 capacity_full)."""
    conversation = access_active_chat(agent, conversation_id, admins_too=False)
    if live_call_of(conversation.id) is not None:
        raise CallInProgress()
    # Reserve the video weight now; a decline or the end of the call gives it back.
    reserved = db.session.execute(update(Conversation).where(
        Conversation.id == conversation.id, Conversation.status == ConversationStatus.ACTIVE,
        Conversation.agent_id == agent.id).values(weight=conversation.interface.video_weight)).rowcount
    if reserved != 1:
        raise NotActive()
    call = _insert_call(conversation, agent, CallSide.AGENT, accepted=False)
    if not lock_agent(agent.id) or not has_room(agent, 0):  # the load counts the video weight now
        raise CapacityFull()
    add_message(conversation, SenderType.SYSTEM, f"{agent.name} invites you to a video call.",
                data={"event": "call_offered", "call_id": call.id})
    emit_call_updated(call)
    return call


def hold_call(call, *statuses):
    """Lock the conversation then the call; the call re-read, or None once it is no longer in statuses."""
    lock_row(Conversation, call.conversation_id)
    db.session.refresh(call)
    return call if call.status in statuses else None


@transaction
def do_accept_video(visitor, call):
    """Accept the video call the agent offered; the browsers may now negotiate."""
    if side_of(visitor) != CallSide.VISITOR:
        raise Forbidden("Only the visitor can accept a video call")
    if hold_call(call, CallStatus.RINGING) is None:
        raise CallEnded()
    if call.accepted_at is not None:
        raise NotOffered()
    call.accepted_at = utcnow()
    conversation = db.session.get(Conversation, call.conversation_id)
    conversation.channel = "video"
    add_message(conversation, SenderType.SYSTEM, "The visitor accepted the video call.",
                data={"event": "call_accepted", "call_id": call.id})
    db.session.flush()
    emit_call_updated(call)
    emit_conversation_updated(conversation, [user_stream(call.agent_id)] if call.agent_id else [])
    return call


def _duration(call, now):
    return max(0, int((now - call.answered_at).total_seconds())) if call.answered_at else 0


def _format_duration(seconds):
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def _ended_text(call):
    if call.end_reason == CallEndReason.DECLINED:
        return "The visitor declined the video call."
    if call.end_reason == CallEndReason.FALLBACK_TO_TEXT:
        return "The video call ended; the chat goes on in text."
    if call.end_reason == CallEndReason.NO_ANSWER:
        return "The video call was not answered."
    if call.duration_s:
        return f"The video call ended after {_format_duration(call.duration_s)}."
    return "The video call ended."


def close_call(call, by, reason, conversation_active):
    """End a held call: times, message, events (the caller holds the conversation and commits).

    Returns the agent whose chat weighs 1 again, whose freed room the caller offers (None when none was freed).
    """
    now = utcnow()
    call.status, call.ended_at, call.ended_by, call.end_reason = CallStatus.ENDED, now, by, str(reason)
    call.duration_s = _duration(call, now)
    conversation = db.session.get(Conversation, call.conversation_id)
    db.session.refresh(conversation)
    changed = conversation_active and conversation.channel != "text"
    if conversation_active:
        # Back to a text chat with its agent: it weighs 1 again against their max chats.
        conversation.channel, conversation.weight = "text", 1
    add_message(conversation, SenderType.SYSTEM, _ended_text(call),
                data={"event": "call_ended", "call_id": call.id, "duration_s": call.duration_s,
                      "ended_by": str(by), "end_reason": str(reason)})
    db.session.flush()
    emit_call_updated(call)
    call_ended(call)
    if not changed:
        return None
    emit_conversation_updated(conversation, [user_stream(call.agent_id)] if call.agent_id else [])
    return call.agent_id


def activate(call):
    """The SDP answer goes through: the call is active from now (the caller commits)."""
    if hold_call(call, CallStatus.RINGING) is None:
        return
    call.status, call.answered_at = CallStatus.ACTIVE, utcnow()
    conversation = db.session.get(Conversation, call.conversation_id)
    add_message(conversation, SenderType.SYSTEM, "The video call has started.",
                data={"event": "call_started", "call_id": call.id})
    db.session.flush()
    emit_call_updated(call)


_RELEASE_REASONS = {ConversationStatus.CLOSED: CallEndReason.CONVERSATION_ENDED,
                    ConversationStatus.BOT: CallEndReason.HANDED_BACK,
                    ConversationStatus.WAITING: CallEndReason.REQUEUED}


def end_on_release(conversation, new_status=None):
    """The chat left its agent (ended, handed back, requeued, transferred): its call ends too.

    Runs in the caller's transaction, which holds the conversation row; returns
    the agent whose room the end freed, as close_call does.
    """
    call = live_call_of(conversation.id)
    if call is None:
        return None
    reason = _RELEASE_REASONS.get(new_status, CallEndReason.TRANSFERRED)
    # A transferred chat stays active, with another agent: it goes on in text.
    return close_call(call, CallSide.SYSTEM, reason, conversation_active=new_status is None)


# -- presence -----------------------------------------------------------------


def touch_visitors(visitor_ids):
    """Record that a socket of each visitor is alive, for their live calls (the caller commits)."""
    db.session.execute(update(Call).where(Call.visitor_id.in_(visitor_ids), Call.status != CallStatus.ENDED)
                       .values(visitor_seen_at=utcnow()))


