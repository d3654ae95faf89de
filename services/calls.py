"""Video calls: lifecycle, history, and sides gone past the grace period.

A call belongs to a conversation and has two participants: the conversation's
agent and its visitor. It rings when an agent accepts a video request (the
visitor asked) or offers video in a text chat (then the visitor must accept),
becomes active when the SDP answer goes through (services/signalling.py), and
ends on a hang-up, a decline, a fall back to text, a side gone past the grace
period, or when the chat itself ends, moves or is requeued. A call weighs the
interface's video weight against its agent's max chats; once it ends the chat
weighs 1 again.

Locks are taken in the order of services/assignments.py: the conversation row,
then the call row, then agent rows. Every change of a call's status holds the
conversation row first, so they happen one after the other.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from errors import Conflict, Forbidden, NotFound
from extensions import db
from models import Call, CallEndReason, CallSide, CallStatus, Conversation, ConversationStatus, SenderType, User
from models.base import utcnow
from schemas.calls import CallSchema
from schemas.events import EventType
from services.assignments import CapacityFull, NotActive, NotYourChat, access_conversation, lock_agent
from services.capacity import fits, load_of
from services.chat import access_conversation_as
from services.conversations import add_message, emit_conversation_updated
from services.events import conversation_stream, emit, user_stream
from services.presence import PRESENCE_GRACE_S

RING_TIMEOUT_S = 120
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
        access_conversation_as(principal, call.conversation_id)
    except NotFound:
        raise NotFound("Call not found") from None
    return _check_participant(principal, call)


def live_call_of(conversation_id):
    """The conversation's call that has not ended, if any."""
    return db.session.scalar(select(Call).where(Call.conversation_id == conversation_id,
                                                Call.status != CallStatus.ENDED))


def access_live_call(principal, conversation_id):
    """The live call of a conversation the principal may see, if they take part in it."""
    conversation = access_conversation_as(principal, conversation_id)
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


def _lock_conversation(conversation_id):
    db.session.execute(update(Conversation).where(Conversation.id == conversation_id)
                       .values(updated_at=utcnow()))


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
    return call


def start_call(conversation, agent):
    """The visitor's video request was accepted: the call rings (the caller holds the conversation and commits)."""
    call = _insert_call(conversation, agent, CallSide.VISITOR, accepted=True)
    emit_call_updated(call)
    return call


def do_offer_video(agent, conversation_id):
    """Offer video in your text chat: the video weight must fit your max chats (409 capacity_full)."""
    conversation = access_conversation(agent, conversation_id)
    if conversation.status != ConversationStatus.ACTIVE:
        raise NotActive()
    if conversation.agent_id != agent.id:
        raise NotYourChat()
    if live_call_of(conversation.id) is not None:
        raise CallInProgress()
    # Reserve the video weight now; a decline or the end of the call gives it back.
    reserved = db.session.execute(update(Conversation).where(
        Conversation.id == conversation.id, Conversation.status == ConversationStatus.ACTIVE,
        Conversation.agent_id == agent.id).values(weight=conversation.interface.video_weight)).rowcount
    if reserved != 1:
        db.session.rollback()
        raise NotActive()
    call = _insert_call(conversation, agent, CallSide.AGENT, accepted=False)
    if not lock_agent(agent.id) or not fits(agent, load_of(agent.id), 0):  # the load counts the video weight now
        db.session.rollback()
        raise CapacityFull()
    add_message(conversation, SenderType.SYSTEM, f"{agent.name} invites you to a video call.",
                data={"event": "call_offered", "call_id": call.id})
    emit_call_updated(call)
    db.session.commit()
    return call


def _hold(call, *statuses):
    """Lock the conversation then the call; the call re-read, or None once it is no longer in statuses."""
    _lock_conversation(call.conversation_id)
    db.session.refresh(call)
    return call if call.status in statuses else None


def do_accept_video(visitor, call):
    """Accept the video call the agent offered; the browsers may now negotiate."""
    if side_of(visitor) != CallSide.VISITOR:
        raise Forbidden("Only the visitor can accept a video call")
    if _hold(call, CallStatus.RINGING) is None:
        db.session.rollback()
        raise CallEnded()
    if call.accepted_at is not None:
        db.session.rollback()
        raise NotOffered()
    call.accepted_at = utcnow()
    conversation = db.session.get(Conversation, call.conversation_id)
    conversation.channel = "video"
    add_message(conversation, SenderType.SYSTEM, "The visitor accepted the video call.",
                data={"event": "call_accepted", "call_id": call.id})
    db.session.flush()
    emit_call_updated(call)
    emit_conversation_updated(conversation, [user_stream(call.agent_id)] if call.agent_id else [])
    db.session.commit()
    return call


def do_decline_video(visitor, call):
    """Decline the video call the agent offered; the chat goes on in text."""
    if side_of(visitor) != CallSide.VISITOR:
        raise Forbidden("Only the visitor can decline a video call")
    if call.status == CallStatus.ENDED:
        raise CallEnded()
    if call.initiated_by != CallSide.AGENT or call.accepted_at is not None:
        raise NotOffered()
    return end_call(call, CallSide.VISITOR, CallEndReason.DECLINED, statuses=(CallStatus.RINGING,), pending_only=True)


def do_hangup(principal, call):
    """Hang up: the call ends, the chat goes on in text."""
    return end_call(call, side_of(principal), CallEndReason.HANGUP)


def do_fallback_to_text(principal, call):
    """Leave the video call and go on chatting in text."""
    return end_call(call, side_of(principal), CallEndReason.FALLBACK_TO_TEXT)


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


def _close(call, by, reason, conversation_active):
    """End a held call: times, message, events (the caller holds the conversation and commits)."""
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
    if changed:
        from services.live_requests import offer_waiting

        emit_conversation_updated(conversation, [user_stream(call.agent_id)] if call.agent_id else [])
        if call.agent_id:
            offer_waiting(call.agent_id)  # the chat weighs 1 again: what waits may fit now


def end_call(call, by, reason, statuses=(CallStatus.RINGING, CallStatus.ACTIVE), pending_only=False):
    """End a live call for one side; 409 call_ended when it has ended already."""
    if _hold(call, *statuses) is None or (pending_only and call.accepted_at is not None):
        db.session.rollback()
        raise CallEnded() if call.status == CallStatus.ENDED else NotOffered()
    conversation = db.session.get(Conversation, call.conversation_id)
    active = conversation.status == ConversationStatus.ACTIVE and conversation.agent_id == call.agent_id
    _close(call, by, reason, active)
    db.session.commit()
    return call


def activate(call):
    """The SDP answer goes through: the call is active from now (the caller commits)."""
    if _hold(call, CallStatus.RINGING) is None:
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

    Runs in the caller's transaction, which holds the conversation row.
    """
    call = db.session.scalar(select(Call).where(Call.conversation_id == conversation.id,
                                                Call.status != CallStatus.ENDED))
    if call is None:
        return None
    reason = _RELEASE_REASONS.get(new_status, CallEndReason.TRANSFERRED)
    # A transferred chat stays active, with another agent: it goes on in text.
    _close(call, CallSide.SYSTEM, reason, conversation_active=new_status is None)
    return call


# -- presence -----------------------------------------------------------------


def touch_visitors(visitor_ids):
    """Record that a socket of each visitor is alive, for their live calls (the caller commits)."""
    db.session.execute(update(Call).where(Call.visitor_id.in_(visitor_ids), Call.status != CallStatus.ENDED)
                       .values(visitor_seen_at=utcnow()))


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
    ended = []
    for call_id in due:
        call = db.session.get(Call, call_id)
        if call is None or _hold(call, CallStatus.RINGING, CallStatus.ACTIVE) is None:
            db.session.rollback()
            continue
        agent_seen = db.session.scalar(select(User.presence_seen_at).where(User.id == call.agent_id))
        over = _why_over(call, agent_seen, threshold, ring_threshold)
        if over is None:  # a socket came back, or the answer came, meanwhile
            db.session.rollback()
            continue
        conversation = db.session.get(Conversation, call.conversation_id)
        _close(call, *over, conversation.status == ConversationStatus.ACTIVE and conversation.agent_id == call.agent_id)
        db.session.commit()
        ended.append(call_id)
    return ended
