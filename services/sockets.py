"""Socket tickets (short-lived, single-use, obtained over authenticated HTTP) and an open socket's presence."""
import logging
import secrets
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from errors import DATABASE_ERRORS, DomainError, database_cause
from extensions import db
from models import User
from models.base import utcnow
from models.conversation import Visitor
from models.ticket import SocketTicket
from services.auth import keys_match, token_hash
from services.core import discard, finish
from services.presence import do_write_heartbeats, heartbeat_batch

log = logging.getLogger(__name__)

TICKET_TTL_S = 30


class TicketInvalid(DomainError):
    status, code, message = 401, "invalid_ticket", "The socket ticket is invalid, used or expired"


def do_issue_ticket(principal):
    """A ticket for the caller (user or visitor) that opens one socket within seconds."""
    token = secrets.token_urlsafe(32)
    kind = "user" if isinstance(principal, User) else "visitor"
    ttl = current_app.config.get("SOCKET_TICKET_TTL_S", TICKET_TTL_S)
    db.session.add(SocketTicket(
        workspace_id=principal.workspace_id, token_hash=token_hash(token), kind=kind, subject_id=principal.id,
        subject_key=principal.token_key, token_version=getattr(principal, "token_version", None),
        expires_at=utcnow() + timedelta(seconds=ttl),
    ))
    # Old tickets are only worth keeping until they expire.
    db.session.execute(delete(SocketTicket).where(SocketTicket.expires_at < utcnow() - timedelta(minutes=5)))
    db.session.commit()
    return {"ticket": token, "expires_in": ttl}


def do_consume_ticket(token):
    """Use a ticket once; return the user or visitor it was issued to."""
    now = utcnow()
    row = db.session.scalar(select(SocketTicket).where(SocketTicket.token_hash == token_hash(token or "")))
    if row is None or row.used_at is not None or row.expires_at < now:
        raise TicketInvalid()
    used = db.session.execute(
        update(SocketTicket).where(SocketTicket.id == row.id, SocketTicket.used_at.is_(None)).values(used_at=now)
    ).rowcount
    db.session.commit()
    if used != 1:
        raise TicketInvalid()
    if row.kind == "user":
        principal = db.session.get(User, row.subject_id)
        if principal is None or not principal.is_active or principal.token_version != row.token_version:
            raise TicketInvalid()
    else:
        principal = db.session.get(Visitor, row.subject_id)
        if principal is None:
            raise TicketInvalid()
    # The id alone could name a later user or visitor; the key cannot.
    if not keys_match(principal.token_key, row.subject_key):
        raise TicketInvalid()
    return principal


def keep_present(kind, principal_id, batched=True):
    """Keep the user's presence (a visitor's: in their live call) fresh while their socket is open.

    The periodic beats of a process's sockets are written together; the
    first one, when the socket opens, is written at once. A database failure
    is logged and the socket stays open: the next beat tries again.
    """
    try:
        if batched:
            heartbeat_batch().beat(kind, principal_id)
        elif kind == "user":
            do_write_heartbeats(user_ids=[principal_id])
        else:
            do_write_heartbeats(visitor_ids=[principal_id])
    except DATABASE_ERRORS as error:
        discard()
        finish()
        log.warning("socket heartbeat: database unavailable (%s)", database_cause(error))
