"""Events: written with the change they announce, published after commit.

`emit` is the one way durable events leave. It takes the next position of
each stream (a row lock that orders concurrent writers), adds the event rows
to the caller's transaction and publishes them once that transaction commits.
A rolled-back change is never announced.

Ephemeral frames (no position, not kept, not replayed) leave through two
functions here and nowhere else:

- `announce`: after the current transaction commits, e.g. queue.position
  (services/queue.py);
- `publish_ephemeral`: at once, e.g. typing (services/chat.py, `do_typing`)
  and call signalling (services/signalling.py, `do_signal`).
"""
import functools
import logging

from flask import current_app
from sqlalchemy import event as sa_event
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.orm import Session

from extensions import db
from models.base import UTCDateTime, utcnow
from models.event import Event, Stream, event_frame
from services import wire

log = logging.getLogger(__name__)

REPLAY_LIMIT = 1000  # a client further behind than this refetches over REST


def conversation_stream(conversation_id):
    return f"conversation:{conversation_id}"


def user_stream(user_id):
    return f"user:{user_id}"


def visitor_stream(visitor_id):
    """The visitor's own stream: what only they may hear (a call's signalling)."""
    return f"visitor:{visitor_id}"


def notes_stream(conversation_id):
    """A conversation's private notes: for the users who may see it, never for its visitor."""
    return f"notes:{conversation_id}"


@functools.lru_cache(maxsize=64)
def _upsert_positions_sql(rows):
    """The upsert of `rows` streams' positions, written out once per row count.

    Plain SQL (the same on PostgreSQL and SQLite): SQLAlchemy cannot cache the
    compiled form of a many-row ON CONFLICT insert, and this runs with every event.
    """
    values = ", ".join(f"(:key{i}, :count{i})" for i in range(rows))
    return text(f"INSERT INTO streams (key, last_pos) VALUES {values} "
                "ON CONFLICT (key) DO UPDATE SET last_pos = streams.last_pos + excluded.last_pos "
                "RETURNING key, last_pos")


# PostgreSQL takes the positions as two arrays: one statement text whatever the number of streams, so the
# driver converts it once and prepares it, where a VALUES list of n rows is new text (and 2n parameters) for every n.
_UPSERT_POSITIONS_PG = text(
    "INSERT INTO streams (key, last_pos) "
    "SELECT key, n FROM unnest(CAST(:keys AS varchar[]), CAST(:counts AS bigint[])) WITH ORDINALITY AS r(key, n, i) "
    "ORDER BY i ON CONFLICT (key) DO UPDATE SET last_pos = streams.last_pos + excluded.last_pos "
    "RETURNING key, last_pos")


def _take_positions(session, counts):
    """Reserve positions on several streams in one statement; {stream: last position taken}.

    The rows are written in sorted key order, so two transactions lock shared
    streams in the same order, and stay locked until commit.
    """
    keys = sorted(counts)
    if session.get_bind().dialect.name == "postgresql":
        return dict(session.execute(_UPSERT_POSITIONS_PG, {"keys": keys, "counts": [counts[k] for k in keys]}).all())
    params = {}
    for i, key in enumerate(keys):
        params[f"key{i}"], params[f"count{i}"] = key, counts[key]
    return dict(session.execute(_upsert_positions_sql(len(counts)), params).all())


class PositionBefore:
    """A value of an event's data filled in at commit: `stream`'s position before this transaction's events.

    Whoever starts following `stream` from there misses nothing of the change
    the event announces (positions are only known when the rows are written).
    """

    __slots__ = ("stream",)

    def __init__(self, stream):
        self.stream = stream


def emit(event_type, data, streams, workspace_id):
    """Record an event on each stream with the current transaction; publish it after commit.

    The rows are written when the transaction commits: positions are taken then,
    for every stream in one statement and in sorted order, so stream locks are
    held for the shortest time and two transactions never wait on each other's
    streams in a cycle.
    """
    queue = db.session.info.setdefault("unwritten_events", [])
    for stream in dict.fromkeys(streams):
        queue.append((stream, str(event_type), data, workspace_id))


_INSERT_EVENTS = insert(Event.__table__)
# PostgreSQL takes the rows as one JSON array: a live request's hundred event rows are one short prepared
# statement with one parameter. psycopg's executemany sends a statement per row, a VALUES list is new text each
# time (the driver parses it again), and text arrays of JSON are escaped character by character in Python.
_ROWS_PG = "json_to_recordset(CAST(:rows AS json)) " \
           "AS r(workspace_id integer, stream varchar, pos bigint, type varchar, payload json)"
_INSERT_EVENTS_PG = text(
    "INSERT INTO events (workspace_id, stream, pos, type, payload, created_at) "
    f"SELECT r.workspace_id, r.stream, r.pos, r.type, r.payload, :created_at FROM {_ROWS_PG}"
).bindparams(bindparam("created_at", type_=UTCDateTime()))
# When no payload waits for a position (PositionBefore), the positions are taken and the rows written in one
# statement: the upsert above as a CTE, and each row's position its stream's new last one less its stream's count
# plus the row's `pos`, here its place among its stream's rows, from 1. A data-modifying CTE runs to completion.
_WRITE_EVENTS_PG = text(
    "WITH counts AS (SELECT key, n, i FROM unnest(CAST(:keys AS varchar[]), CAST(:counts AS bigint[])) "
    "WITH ORDINALITY AS c(key, n, i)), "
    "taken AS (INSERT INTO streams (key, last_pos) SELECT key, n FROM counts ORDER BY i "
    "ON CONFLICT (key) DO UPDATE SET last_pos = streams.last_pos + excluded.last_pos RETURNING key, last_pos), "
    "written AS (INSERT INTO events (workspace_id, stream, pos, type, payload, created_at) "
    "SELECT r.workspace_id, r.stream, taken.last_pos - counts.n + r.pos, r.type, r.payload, :created_at "
    f"FROM {_ROWS_PG} JOIN taken ON taken.key = r.stream JOIN counts ON counts.key = r.stream) "
    "SELECT key, last_pos FROM taken"
).bindparams(bindparam("created_at", type_=UTCDateTime()))


@sa_event.listens_for(Session, "before_commit")
def _write_events(session):
    if session.in_nested_transaction():
        # A savepoint's release: the rows are written once, when the whole transaction commits.
        session.info.get("savepoint_marks", {}).pop(session.get_nested_transaction(), None)
        return
    session.info.pop("savepoint_marks", None)
    queue = session.info.pop("unwritten_events", None)
    if not queue:
        return
    by_stream = {}
    for item in queue:
        by_stream.setdefault(item[0], []).append(item)
    now = utcnow()
    counts = {stream: len(items) for stream, items in by_stream.items()}
    marked = {value.stream for item in queue if isinstance(item[2], dict)
              for value in item[2].values() if isinstance(value, PositionBefore)}
    postgresql = session.get_bind().dialect.name == "postgresql"
    if postgresql and not marked:
        keys = sorted(counts)
        rows = [{"workspace_id": workspace_id, "stream": stream, "pos": place, "type": event_type, "payload": data}
                for stream in keys for place, (_, event_type, data, workspace_id) in enumerate(by_stream[stream], 1)]
        last = dict(session.execute(_WRITE_EVENTS_PG, {
            "keys": keys, "counts": [counts[key] for key in keys], "rows": wire.dumps(rows), "created_at": now}).all())
        _queue_frames(session, by_stream, last, now)
        return
    for stream in marked:
        counts.setdefault(stream, 0)  # a stream this transaction does not write is read (and locked) as it stands
    last = _take_positions(session, counts)
    if marked:
        before = {stream: last[stream] - counts[stream] for stream in marked}
        by_stream = {stream: [(stream, event_type, _fill_positions(data, before), workspace_id)
                              for _, event_type, data, workspace_id in items]
                     for stream, items in by_stream.items()}
    rows = [{"workspace_id": workspace_id, "stream": stream, "pos": last[stream] - len(items) + place,
             "type": event_type, "payload": data}
            for stream, items in sorted(by_stream.items())
            for place, (_, event_type, data, workspace_id) in enumerate(items, 1)]
    # One statement for all the rows, not read back in this transaction.
    if postgresql:
        session.execute(_INSERT_EVENTS_PG, {"rows": wire.dumps(rows), "created_at": now})
    else:
        session.execute(_INSERT_EVENTS, [{**row, "created_at": now} for row in rows])
    _queue_frames(session, by_stream, last, now)


def _fill_positions(data, before):
    """data with each PositionBefore replaced by its stream's position before this transaction's events."""
    if not isinstance(data, dict):
        return data
    return {key: before[value.stream] if isinstance(value, PositionBefore) else value for key, value in data.items()}


def _queue_frames(session, by_stream, last, now):
    """The frames of the rows just written, in stream order, to publish once the transaction commits."""
    at = now.isoformat()
    frames = []
    for stream in sorted(by_stream):
        items = by_stream[stream]
        first = last[stream] - len(items) + 1
        frames.extend((stream, event_frame(event_type, stream, first + offset, data, at))
                      for offset, (_, event_type, data, _) in enumerate(items))
    session.info.setdefault("pending_events", []).extend(frames)


def announce(event_type, data, streams):
    """Publish a frame without a position after the current transaction commits (not kept, not replayed).

    For news that is cheap to lose because it can be read again over REST
    (queue positions): it costs no row and no stream lock.
    """
    pending = db.session.info.setdefault("pending_events", [])
    pending.extend((stream, {"type": str(event_type), "stream": stream, "data": data}) for stream in streams)


def publish_ephemeral(stream, frame):
    """Send a frame that is not worth keeping (typing) to the stream's live sockets."""
    broker().publish(stream, frame)


def broker():
    return current_app.extensions["broker"]


def replay(stream, after, limit=REPLAY_LIMIT):
    """Events of stream after position `after`, in order; None when too far behind.

    Retention may have deleted any event, the newest of a stream included: a
    client is behind by a pruned event when the first one after its position
    is missing, or when none is left but the stream went further.
    """
    query = select(Event).where(Event.stream == stream, Event.pos > after).order_by(Event.pos).limit(limit + 1)
    rows = db.session.scalars(query).all()
    if not rows and last_pos(stream) > after:
        # Pruned, unless an event committed between the two reads: then it is there now.
        rows = db.session.scalars(query).all()
        if not rows:
            return None
    if not rows:
        return []
    if len(rows) > limit or rows[0].pos != after + 1:
        return None  # more than we replay, or the oldest were pruned
    return [row.to_frame() for row in rows]


def last_pos(stream):
    return db.session.scalar(select(Stream.last_pos).where(Stream.key == stream)) or 0


def last_positions(streams, chunk=500):
    """{stream: last position} of the given streams; a stream without events is left out."""
    streams = list(streams)
    positions = {}
    for start in range(0, len(streams), chunk):
        positions.update(db.session.execute(
            select(Stream.key, Stream.last_pos).where(Stream.key.in_(streams[start:start + chunk]))).all())
    return positions


def stream_positions_reader(app):
    """last_positions for the broker's own thread, which has no app context of its own."""

    def read(streams):
        with app.app_context():
            try:
                return last_positions(streams)
            finally:
                db.session.remove()

    return read


@sa_event.listens_for(Session, "after_commit")
def _publish_after_commit(session):
    pending = session.info.pop("pending_events", None)
    if not pending:
        return
    try:
        target = broker()
    except RuntimeError:  # no app context: nobody to tell
        return
    target.publish_many(pending)


_QUEUES = ("unwritten_events", "pending_events")


@sa_event.listens_for(Session, "after_transaction_create")
def _mark_savepoint(session, transaction):
    """Remember how long the queues were when a savepoint began: its rollback forgets only what came after."""
    if transaction.nested:
        session.info.setdefault("savepoint_marks", {})[transaction] = \
            tuple(len(session.info.get(name, ())) for name in _QUEUES)


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session, previous_transaction):
    """A rolled-back change is never announced; what the transaction did before a failed savepoint still is.

    A savepoint's rollback (a lost race caught with begin_nested) drops the
    events queued since the savepoint began; the whole transaction's rollback
    drops them all.
    """
    marks = session.info.get("savepoint_marks", {})
    if previous_transaction.nested:
        lengths = marks.pop(previous_transaction, None)
        for name, length in zip(_QUEUES, lengths or (0, 0)):
            if name in session.info:
                del session.info[name][length:]
        return
    marks.clear()
    for name in _QUEUES:
        session.info.pop(name, None)
