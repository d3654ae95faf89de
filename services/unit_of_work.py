"""Units of work for edges that are not an HTTP request: a socket's commands, deliveries and beats.

A request's session ends with its app context; a socket lives for minutes, so
each thing it does ends its own unit of work here: a failure rolls the
transaction back, and the session is removed so its connection goes back to
the pool between frames. The edges never touch `db.session` themselves.
"""
import logging
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError

from errors import Unavailable, is_database_outage
from extensions import db

log = logging.getLogger(__name__)

# A command that lost a deadlock or a serialisation conflict runs once more before it is answered with 503.
TRANSIENT_RETRIES = 1
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure


class DatabaseFailed(Exception):
    """A database error met inside a unit of work, after its rollback; `cause` names the driver's error."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error
        self.cause = error.orig.__class__.__name__


def is_transient(error):
    """A database error that a second try of the same transaction may not meet."""
    if getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)  # SQLite's busy writer


def discard():
    """Roll back whatever the current unit of work did (nothing of it is announced: events go out after commit)."""
    db.session.rollback()


def finish():
    """End the unit of work: the session goes, and its connection back to the pool."""
    db.session.remove()


@contextmanager
def unit_of_work():
    """One unit of work that must not outlive its block.

    Any exception rolls back; a database error comes out as DatabaseFailed
    (the original chained), so the caller can degrade without knowing the
    driver. The session is removed in every case.
    """
    try:
        yield
    except DBAPIError as error:
        discard()
        raise DatabaseFailed(error) from error
    except BaseException:
        discard()
        raise
    finally:
        finish()


def run_command(name, work, retry=True):
    """Run `work()` as one unit of work for a socket command and return what it returns.

    The transaction is gone as a whole when it fails (nothing was announced:
    events go out after commit), so a deadlock victim runs again when `retry`
    (call signalling is not retried: its relay is published before the
    commit). A database outage is raised as Unavailable (503) and the socket
    stays open; any other error is raised after the rollback.
    """
    for attempt in range(1 + TRANSIENT_RETRIES):
        try:
            return work()
        except DBAPIError as error:
            discard()
            if retry and attempt < TRANSIENT_RETRIES and is_transient(error):
                log.info("socket command %s retried after %s", name, error.orig.__class__.__name__)
                continue
            if is_database_outage(error):
                log.warning("socket command %s: database unavailable (%s)", name, error.orig.__class__.__name__)
                raise Unavailable("Database temporarily unavailable, try again") from error
            raise
        except BaseException:
            discard()
            raise
        finally:
            finish()
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
