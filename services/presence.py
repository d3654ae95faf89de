"""Agent availability and presence.

A dashboard socket refreshes its user's presence_seen_at while it is open. An
online agent whose sockets have all been gone for longer than the grace period
is set offline by the sweeper, and their chats and requests go back to the
queue; a page reload or a short network drop stays within the grace period.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from extensions import db
from models import Availability, User
from models.base import utcnow

PRESENCE_GRACE_S = 60


def touch_presence(user_id):
    """Record that a socket of the user is alive (the caller commits)."""
    db.session.execute(update(User).where(User.id == user_id).values(presence_seen_at=utcnow()))


def do_set_availability(user, availability):
    """Set the user's availability; going offline hands their chats back to the queue."""
    from services.assignments import requeue_agent

    availability = Availability(availability)
    if availability == Availability.OFFLINE and user.availability != Availability.OFFLINE:
        requeue_agent(user, "agent_offline")
    user.availability = availability
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
        requeue_agent(user, "agent_offline")
        db.session.commit()
        gone.append(user_id)
    return gone
