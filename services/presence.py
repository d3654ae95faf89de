"""Agent availability, agent and visitor presence.

A dashboard socket refreshes its user's presence_seen_at while it is open. An
online agent whose sockets have all been gone for longer than the grace period
is set offline by the sweeper, and their chats and requests go back to the
queue; a page reload or a short network drop stays within the grace period.

A widget socket does the same for its visitor. A visitor gone past
VISITOR_PRESENCE_GRACE_S has left: a request still waiting is abandoned (no
agent is offered it any more), and the agent of a chat hears that the visitor
is away; the chat closes once the visitor has been gone VISITOR_IDLE_TIMEOUT_S.
Coming back within the grace changes nothing, not even the place in the queue.
"""
import logging
import threading
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from extensions import db
from models import Availability, Conversation, ConversationStatus, User, Visitor, WithdrawReason
from models.base import utcnow
from schemas.events import EventType
from services.calls import touch_visitors
from services.core import PRESENCE_GRACE_S, VISITOR_PRESENCE_GRACE_S, transaction
from services.events import conversation_stream, emit, user_stream
from services.live_requests import abandon_pending, offer_waiting
from services.releases import end_for_idle_visitor, requeue_agent

log = logging.getLogger(__name__)

VISITOR_IDLE_TIMEOUT_S = 600
HEARTBEAT_FLUSH_S = 1.0  # a process writes its sockets' heartbeats at most this often


def do_write_heartbeats(user_ids=(), visitor_ids=()):
    """Mark these users (presence) and visitors (their live calls) as seen now, and commit."""
    try:
        if user_ids:
            touch_presence(sorted(user_ids))  # by primary key: the rows are locked in id order either way
        if visitor_ids:
            touch_visitors(sorted(visitor_ids))
            touch_visitor_presence(sorted(visitor_ids))
        db.session.commit()
    finally:
        db.session.remove()


class HeartbeatBatch:
    """One process's socket heartbeats, written together.

    A beat is a set insertion; whichever beat finds the batch older than
    flush_s writes it in one transaction, so many open sockets cost one write
    per flush period rather than one per socket. A beat waits at most until the
    next beat of any socket of the process (at worst its own, a refresh period
    later, well inside the grace period).
    """

    def __init__(self, flush_s=HEARTBEAT_FLUSH_S, clock=time.monotonic):
        self.flush_s, self.clock = flush_s, clock
        self.lock = threading.Lock()
        self.users, self.visitors = set(), set()
        self.flushed_at = clock()

    def beat(self, kind, principal_id):
        """Add a socket's beat; write the batch when it is due. True when this beat wrote it."""
        with self.lock:
            (self.users if kind == "user" else self.visitors).add(principal_id)
            if self.clock() - self.flushed_at < self.flush_s:
                return False
        self.flush()
        return True

    def flush(self):
        """Write what the batch holds now."""
        with self.lock:
            users, visitors = self.users, self.visitors
            self.users, self.visitors, self.flushed_at = set(), set(), self.clock()
        if not users and not visitors:
            return
        try:
            do_write_heartbeats(users, visitors)
        except Exception:
            with self.lock:  # the next flush tries them again
                self.users |= users
                self.visitors |= visitors
            raise


def heartbeat_batch():
    return current_app.extensions.setdefault("heartbeats", HeartbeatBatch())


def touch_presence(user_ids):
    """Record that a socket of each user is alive (the caller commits)."""
    db.session.execute(update(User).where(User.id.in_(user_ids)).values(presence_seen_at=utcnow()))


def touch_visitor_presence(visitor_ids):
    """Record that a socket of each visitor is alive; tell the agents of those who were away (caller commits)."""
    now = utcnow()
    back = db.session.scalars(update(Visitor).where(Visitor.id.in_(visitor_ids), Visitor.absent_at.is_not(None))
                              .values(absent_at=None, presence_seen_at=now, last_seen_at=now)
                              .returning(Visitor.id)).all()
    db.session.execute(update(Visitor).where(Visitor.id.in_(visitor_ids))
                       .values(presence_seen_at=now, last_seen_at=now))
    for visitor_id in sorted(back):
        _tell_agent(visitor_id, online=True, seen=now)


def _tell_agent(visitor_id, online, seen):
    """visitor.presence on the visitor's chat with an agent, if they have one."""
    conversation = db.session.scalar(select(Conversation).where(
        Conversation.visitor_id == visitor_id, Conversation.status == ConversationStatus.ACTIVE))
    if conversation is None:
        return
    streams = [conversation_stream(conversation.id)]
    if conversation.agent_id is not None:
        streams.append(user_stream(conversation.agent_id))
    emit(EventType.VISITOR_PRESENCE, {"conversation_id": conversation.id, "visitor_id": visitor_id,
                                      "online": online, "last_seen_at": seen.isoformat() if seen else None},
         streams, conversation.workspace_id)


def sweep_absent_visitors(now=None):
    """Find visitors of waiting or assigned chats gone past the grace period; returns their ids.

    A waiting request of theirs is abandoned; an agent with them is told.
    """
    now = now or utcnow()
    grace = current_app.config.get("VISITOR_PRESENCE_GRACE_S", VISITOR_PRESENCE_GRACE_S)
    threshold = now - timedelta(seconds=grace)
    absent = db.session.scalars(select(Visitor.id).join(Conversation, Conversation.visitor_id == Visitor.id).where(
        Conversation.status.in_((ConversationStatus.WAITING, ConversationStatus.ACTIVE)),
        Visitor.absent_at.is_(None), Visitor.presence_seen_at.is_not(None), Visitor.presence_seen_at < threshold)
        .order_by(Visitor.id)).all()
    db.session.rollback()
    return [visitor_id for visitor_id in absent if _do_mark_absent(visitor_id, now, threshold)]


def _do_mark_absent(visitor_id, now, threshold):
    """Mark one visitor gone if they still are (their own transaction); True when this call did it."""
    changed = db.session.execute(update(Visitor).where(
        Visitor.id == visitor_id, Visitor.absent_at.is_(None), Visitor.presence_seen_at < threshold)
        .values(absent_at=now)).rowcount
    if changed != 1:  # a socket came back, or another sweeper did it
        db.session.rollback()
        return False
    seen = db.session.scalar(select(Visitor.presence_seen_at).where(Visitor.id == visitor_id))
    abandon_pending(visitor_id, now)
    _tell_agent(visitor_id, online=False, seen=seen)
    db.session.commit()
    return True


def sweep_idle_chats(now=None):
    """Close the chats with an agent whose visitor has been gone past the idle timeout; returns their ids."""
    now = now or utcnow()
    idle = current_app.config.get("VISITOR_IDLE_TIMEOUT_S", VISITOR_IDLE_TIMEOUT_S)
    threshold = now - timedelta(seconds=idle)
    due = db.session.scalars(select(Conversation.id).join(Visitor, Visitor.id == Conversation.visitor_id).where(
        Conversation.status == ConversationStatus.ACTIVE, Visitor.absent_at.is_not(None),
        Visitor.presence_seen_at < threshold).order_by(Conversation.id)).all()
    db.session.rollback()
    return [conversation_id for conversation_id in due if end_for_idle_visitor(conversation_id, threshold)]


@transaction
def do_set_availability(user, availability):
    """Set the user's availability; going offline hands their chats back to the queue."""
    availability = Availability(availability)
    if availability == Availability.OFFLINE and user.availability != Availability.OFFLINE:
        requeue_agent(user, WithdrawReason.AGENT_OFFLINE)
    coming_online = availability == Availability.ONLINE and user.availability != Availability.ONLINE
    user.availability = availability
    if coming_online:
        db.session.flush()
        offer_waiting(user.id)
    return user


def sweep_absent(now=None):
    """Set offline the online agents whose sockets are gone past the grace period; returns them."""
    now = now or utcnow()
    grace = current_app.config.get("PRESENCE_GRACE_S", PRESENCE_GRACE_S)
    threshold = now - timedelta(seconds=grace)
    absent = db.session.scalars(select(User.id).where(
        User.availability == Availability.ONLINE, User.presence_seen_at.is_not(None),
        User.presence_seen_at < threshold)).all()
    db.session.rollback()
    return [user_id for user_id in absent if _do_set_offline(user_id, threshold)]


def _do_set_offline(user_id, threshold):
    """Set one agent offline if their sockets are still gone (their own transaction); True when this call did it."""
    changed = db.session.execute(update(User).where(
        User.id == user_id, User.availability == Availability.ONLINE, User.presence_seen_at < threshold)
        .values(availability=Availability.OFFLINE)).rowcount
    if changed != 1:  # a socket came back, or another sweeper did it
        db.session.rollback()
        return False
    requeue_agent(db.session.get(User, user_id), WithdrawReason.AGENT_OFFLINE)
    db.session.commit()
    return True
