"""Database leases: one process of the whole deployment runs a periodic job per round.

A lease is claimed with a conditional UPDATE (it is expired, or already ours)
and, when the row does not exist yet, an INSERT that does nothing on conflict.
Both are single statements decided by the database, the same on SQLite and
PostgreSQL: of any number of workers trying at once, exactly one gets it. The
holder keeps renewing it; if it dies, the lease expires and another worker
takes the job over.
"""
import os
import secrets
import socket
from datetime import timedelta

from sqlalchemy import delete, or_, update

from extensions import db
from models.base import utcnow
from models.lease import Lease
from services.core import insert_on_conflict

_holder = {}


def this_process():
    """A name for the calling process, unique across machines and restarts (a fork gets its own)."""
    pid = os.getpid()
    if pid not in _holder:
        _holder[pid] = f"{socket.gethostname()[:80]}:{pid}:{secrets.token_hex(4)}"
    return _holder[pid]


def do_claim(name, ttl_s, holder=None):
    """Take or renew the lease `name` for ttl_s seconds; True when the caller holds it now. Commits."""
    holder = holder or this_process()
    now = utcnow()
    until = now + timedelta(seconds=ttl_s)
    # RETURNING rather than rowcount: an ORM insert through psycopg reports no rowcount.
    taken = db.session.execute(
        update(Lease).where(Lease.name == name, or_(Lease.expires_at <= now, Lease.holder == holder))
        .values(holder=holder, expires_at=until).returning(Lease.name)
        .execution_options(synchronize_session=False)
    ).first() is not None
    if not taken:
        insert = insert_on_conflict(Lease)
        taken = db.session.execute(
            insert.values(name=name, holder=holder, expires_at=until).on_conflict_do_nothing(index_elements=["name"])
            .returning(Lease.name)
        ).first() is not None
    db.session.commit()
    return taken


def do_release(name, holder=None):
    """Give the lease up (a process stopping): the next worker need not wait for it to expire. Commits."""
    db.session.execute(delete(Lease).where(Lease.name == name, Lease.holder == (holder or this_process())))
    db.session.commit()


def lease_ttl(interval_s):
    """How long a round's lease lasts: past the holder's next round, so it keeps the job while alive."""
    return interval_s * 2 + 5
