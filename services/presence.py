"""Agent availability and presence.

A dashboard socket refreshes its user's presence_seen_at while it is open. An
online agent whose sockets have all been gone for longer than the grace period
is set offline by the sweeper, and their chats and requests go back to the
queue; a page reload or a short network drop stays within the grace period.
"""
import logging
import threading
import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from extensions import db
from models import Availability, User, WithdrawReason
from models.base import utcnow

log = logging.getLogger(__name__)

PRESENCE_GRACE_S = 60
HEARTBEAT_FLUSH_S = 1.0  # a process writes its sockets' heartbeats at most this often


def write_heartbeats(user_ids=(), visitor_ids=()):
    """Mark these users (presence) and visitors (their live calls) as seen now, and commit."""
    from services.calls import touch_visitors

    try:
        if user_ids:
            touch_presence(sorted(user_ids))  # by primary key: the rows are locked in id order either way
        if visitor_ids:
            touch_visitors(sorted(visitor_ids))
        db.session.commit()
    finally:
        db.session.remove()


class HeartbeatBatch:
    """One process's socket heartbeats, written together.

    A thousand open sockets beating every PRESENCE_REFRESH_S were as many
    small transactions; here a beat is a set insertion, and whichever beat
    finds the batch older than flush_s writes it in one transaction. A beat
    waits at most until the next beat of any socket of the process (at worst
    its own, a refresh period later, well inside the grace period).
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
            write_heartbeats(users, visitors)
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


def do_set_availability(user, availability):
    """Set the user's availability; going offline hands their chats back to the queue."""
    from services.assignments import requeue_agent

    from services.live_requests import offer_waiting

    availability = Availability(availability)
    if availability == Availability.OFFLINE and user.availability != Availability.OFFLINE:
        requeue_agent(user, WithdrawReason.AGENT_OFFLINE)
    coming_online = availability == Availability.ONLINE and user.availability != Availability.ONLINE
    user.availability = availability
    if coming_online:
        db.session.flush()
        offer_waiting(user.id)
    db.session.commit()
    return user


def sweep_absent(now=None):
    """Set offline the online agents whose sockets are gone past the grace period; returns them."""
    from services.assignments import requeue_agent

    now = now or utcnow()
    grace = current_app.config.get("PRESENCE_GRACE_S", PRESENCE_GRACE_S)
    threshold = now - timedelta(seconds=grace)
    absent = db.session.scalars(select(User.id).where(
        User.availability == Availability.ONLINE, User.presence_seen_at.is_not(None),
        User.presence_seen_at < threshold)).all()
    db.session.rollback()
    gone = []
    for user_id in absent:
        changed = db.session.execute(update(User).where(
            User.id == user_id, User.availability == Availability.ONLINE, User.presence_seen_at < threshold)
            .values(availability=Availability.OFFLINE)).rowcount
        if changed != 1:  # a socket came back, or another sweeper did it
            db.session.rollback()
            continue
        user = db.session.get(User, user_id)
        requeue_agent(user, WithdrawReason.AGENT_OFFLINE)
        db.session.commit()
        gone.append(user_id)
    return gone
