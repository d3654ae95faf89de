"""Rows loaded in a transaction stay in the session's identity map until it ends.

SQLAlchemy's identity map holds objects weakly: a row that no local variable
holds any more is forgotten, and the next `session.get` or many-to-one access
reads it again. An accept read its conversation and its interface several
times that way, one SELECT and one object construction each.

The session keeps a strong reference to every object it loads or stores until
its transaction ends (commit, rollback or close), or the request does. Across
transactions nothing changes: a long-lived session does not grow, and an
object is read again after commit as before (expire_on_commit).
"""
from sqlalchemy import event
from sqlalchemy.orm import Session

_KEY = "held_objects"


@event.listens_for(Session, "loaded_as_persistent")
@event.listens_for(Session, "pending_to_persistent")
def _hold(session, instance):
    session.info.setdefault(_KEY, []).append(instance)


@event.listens_for(Session, "after_transaction_end")
def _release_at_end(session, transaction):
    # Only the outermost: a savepoint and each flush's own inner transaction end here too.
    if transaction.parent is None:
        release(session)


def release(session):
    """Let go of what the session holds (its identity map keeps what others still reference)."""
    session.info.pop(_KEY, None)


def release_after_request(db):
    """A Flask teardown that lets go at the end of each request, even of a session that outlives it."""

    def teardown(error=None):
        if db.session.registry.has():
            release(db.session())

    return teardown
