"""The pieces every service stands on: the unit of work, row locks, reach, capacity, shared errors.

Imports nothing from services/: everything else in the domain may import it.

- `transaction`: a do_* function commits when it returns and rolls back when it
  raises, so no code path rolls back by hand before raising. Edges that are
  not an HTTP request (a socket lives for minutes) end each thing they do with
  `run_command` or `unit_of_work`, which also give the connection back to the
  pool; they never touch `db.session` themselves.
- `lock_row`: the one way a row is locked for the rest of a transaction (an
  UPDATE of it: a row lock on PostgreSQL, the write lock on SQLite), optionally
  only while a condition on it holds. Locks are taken in one order everywhere:
  the request row, then the conversation row, then the call row, then agent
  rows by id, then the event streams. (The relay of call signalling holds a
  call row with a shared lock instead: services/signalling.py.)
- `access_*`: fetch an object and check the principal may reach it; 404
  otherwise, never revealing that it exists.
- capacity: a chat weighs 1, a video chat the interface's video weight, and it
  fits when the agent's load plus its weight stays within their max chats. One
  rule for every question about room (who is offered a request, who may accept
  it, who is auto-assigned, who may take a transfer).
"""
import functools
import logging
import weakref
from contextlib import contextmanager

from sqlalchemy import exists, func, select, true
from sqlalchemy.dialects import postgresql, sqlite

from errors import (DATABASE_ERRORS, Conflict, NotFound, Unavailable, ValidationFailed, database_cause,
                    is_database_outage)
from extensions import db
from models import Conversation, ConversationStatus, RequestKind, Role, User, interface_agents
from models.base import ID_MAX

log = logging.getLogger(__name__)

# How long a user's or a visitor's sockets may all be gone before they count as gone (seconds).
PRESENCE_GRACE_S = 60
VISITOR_PRESENCE_GRACE_S = 60


# -- errors shared by several services ----------------------------------------


class CapacityFull(Conflict):
    code, message = "capacity_full", "You are at your max chats"


class NotAssigned(Conflict):
    code, message = "not_assigned", "You are not the agent of this conversation"


class NotActive(Conflict):
    code, message = "conversation_not_active", "This conversation is not with an agent"


class NotInBotPhase(Conflict):
    code, message = "not_in_bot_phase", "The bot is not leading this conversation now"


# -- the unit of work ---------------------------------------------------------


def transaction(function):
    """Run a do_* function as one transaction: commit when it returns, roll back when it raises.

    Nested calls join the outer transaction, which commits once at the end.
    The commit keeps what the transaction loaded and wrote (commit_keeping):
    the answer is dumped from it without reading the rows again.
    """
    @functools.wraps(function)
    def run(*args, **kwargs):
        info = db.session.info
        depth = info.get("transaction_depth", 0)
        if depth == 0 and _KEPT in info:
            _expire_kept(db.session(), info.pop(_KEPT))  # a new unit of work reads what others changed since
        info["transaction_depth"] = depth + 1
        try:
            result = function(*args, **kwargs)
            if depth == 0:
                commit_keeping(db.session())
            return result
        except BaseException:
            if depth == 0:
                db.session.rollback()
            raise
        finally:
            info["transaction_depth"] = depth

    return run


_KEPT = "kept_after_commit"


def commit_keeping(session):
    """Commit, keeping the loaded values of the session's objects instead of expiring them.

    What they hold was written by the transaction just committed or read in
    it (or earlier in the same request), so answering with them costs no read:
    expire_on_commit would read each row again, a round trip apiece. The next
    unit of work (`transaction`) expires them first, and a request's or socket
    command's session goes when it ends.
    """
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
    # What the commit kept, rows it inserted included (weakly: an object nobody holds is gone anyway).
    session.info[_KEPT] = [weakref.ref(instance) for instance in session.identity_map.values()]


def _expire_kept(session, held):
    """Expire what a commit kept (objects loaded after it are as fresh as a new read)."""
    for ref in held:
        instance = ref()
        if instance is not None and instance in session:
            session.expire(instance)


# A command that lost a deadlock or a serialisation conflict runs once more before it is answered with 503.
TRANSIENT_RETRIES = 1
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure


class DatabaseFailed(Exception):
    """A database error met inside a unit of work, after its rollback; `cause` names the driver's error."""

    def __init__(self, error):
        super().__init__(str(error))
        self.error = error
        self.cause = database_cause(error)


def is_transient(error):
    """A database error that a second try of the same transaction may not meet."""
    if getattr(getattr(error, "orig", None), "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(getattr(error, "orig", ""))  # SQLite's busy writer


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
    except DATABASE_ERRORS as error:
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
        except DATABASE_ERRORS as error:
            discard()
            if retry and attempt < TRANSIENT_RETRIES and is_transient(error):
                log.info("socket command %s retried after %s", name, database_cause(error))
                continue
            if is_database_outage(error):
                log.warning("socket command %s: database unavailable (%s)", name, database_cause(error))
                raise Unavailable("Database temporarily unavailable, try again") from error
            raise
        except BaseException:
            discard()
            raise
        finally:
            finish()
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def insert_on_conflict(table):
    """An INSERT of the session's dialect, which has on_conflict_do_nothing/do_update (both dialects we run)."""
    return _INSERTS[db.session.get_bind().dialect.name](table)


def lock_row(model, row_id, *conditions, values=None):
    """Lock the row of model with this id for the rest of the transaction, if conditions hold; True when locked.

    A no-op write (a column set to itself, so no onupdate fires): on PostgreSQL
    a row lock that does not block rows referring to this one, on SQLite the
    write lock, which SELECT ... FOR UPDATE would not take. `values`: columns
    the same statement writes instead (the lock and a write in one round trip;
    the caller tells the loaded object).
    """
    table = model.__table__
    column = table.c.updated_at if "updated_at" in table.c else next(c for c in table.c if not c.primary_key)
    statement = table.update().where(table.c.id == row_id, *conditions).values(values or {column.key: column})
    return db.session.execute(statement).rowcount == 1


def lock_agent(agent_id):
    """Lock an active agent's row; False when the agent is gone."""
    return lock_row(User, agent_id, User.is_active)


# -- reach ----------------------------------------------------------------------


def valid_id(value):
    """Whether value is an id the database can hold."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ID_MAX


def active_admins(workspace_id):
    """(id, email) rows of the workspace's active admins, oldest first: who hears about the workspace's troubles."""
    return db.session.execute(select(User.id, User.email).where(
        User.workspace_id == workspace_id, User.role == Role.ADMIN, User.is_active).order_by(User.id)).all()


def get_in_workspace(model, object_id, workspace_id):
    """The row of model with this id in the workspace, or None."""
    if not valid_id(object_id):
        return None
    row = db.session.get(model, object_id)
    if row is None or row.workspace_id != workspace_id:
        return None
    return row


def check_in_workspace(model, actor, ids, field, noun, message=None):
    """The rows of model with these ids in the actor's workspace, in the order asked; an unknown id is a field error."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    found = db.session.scalars(select(model).where(model.id.in_(ids), model.workspace_id == actor.workspace_id)).all()
    missing = sorted(set(ids) - {row.id for row in found})
    if missing:
        raise ValidationFailed(message or f"Unknown {noun}", errors={"json": {field: [f"Unknown {noun} ids: {missing}"]}})
    by_id = {row.id: row for row in found}
    return [by_id[i] for i in ids]


def member_clause(user_id, interface_id):
    """SQL truth of "the user is assigned to the interface" (columns or values), for use inside a query."""
    return exists().where(interface_agents.c.user_id == user_id, interface_agents.c.interface_id == interface_id)


def is_member(user_id, interface_id):
    """Whether the user is assigned to the interface: one indexed lookup, not the interface's agent list."""
    return bool(db.session.scalar(select(member_clause(user_id, interface_id))))


def serves(user, interface_id):
    """Whether the user works the interface: admins serve every interface of their workspace."""
    return user.role == Role.ADMIN or is_member(user.id, interface_id)


def serves_clause(user, interface_id):
    """SQL truth of serves(user, interface_id), for use inside a query (interface_id may be a column)."""
    return true() if user.role == Role.ADMIN else member_clause(user.id, interface_id)


def may_see(principal, conversation):
    """Whether the principal reaches the conversation: its visitor, or a user serving its interface."""
    if not isinstance(principal, User):
        return conversation.visitor_id == principal.id
    return conversation.workspace_id == principal.workspace_id and serves(principal, conversation.interface_id)


def access_conversation(principal, conversation_id):
    """A conversation the principal (user or visitor) may see; 404 otherwise."""
    conversation = db.session.get(Conversation, conversation_id) if valid_id(conversation_id) else None
    if conversation is None or not may_see(principal, conversation):
        raise NotFound("Conversation not found")
    return conversation


def access_active_chat(user, conversation_id, admins_too=True):
    """A conversation with an agent that is the user's (or any, for an admin when admins_too); 409 otherwise."""
    conversation = access_conversation(user, conversation_id)
    if conversation.status != ConversationStatus.ACTIVE:
        raise NotActive()
    if conversation.agent_id != user.id and not (admins_too and user.role == Role.ADMIN):
        raise NotAssigned()
    return conversation


# -- capacity -------------------------------------------------------------------


def agent_loads(user_ids):
    """How much of their max chats each user uses now (a video chat may weigh more than one)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(Conversation.agent_id, func.sum(Conversation.weight)).where(
            Conversation.agent_id.in_(user_ids), Conversation.status == ConversationStatus.ACTIVE)
        .group_by(Conversation.agent_id)
    ).all()
    loads = dict.fromkeys(user_ids, 0)
    loads.update({agent_id: int(load or 0) for agent_id, load in rows})
    return loads


def load_of(agent_id):
    return agent_loads([agent_id])[agent_id]


def weight_of(interface, kind):
    """What a chat of this kind counts against max chats on this interface."""
    return interface.video_weight if RequestKind(kind) == RequestKind.VIDEO else 1


def fits(agent, load, weight=1):
    """True when a chat of this weight fits in the agent's max chats on top of their load."""
    return load + weight <= agent.max_chats


def has_room(agent, weight=1):
    """Whether a chat of this weight fits the agent now."""
    return fits(agent, load_of(agent.id), weight)


def with_room(agents, weight=1, loads=None):
    """The agents a chat of this weight fits (loads: theirs, read now when not given)."""
    if loads is None:
        loads = agent_loads([agent.id for agent in agents])
    return [agent for agent in agents if fits(agent, loads.get(agent.id, 0), weight)]
