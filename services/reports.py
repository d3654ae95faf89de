"""Reports for admins: a workspace's chats by day in its own time zone, and by agent.

Days are the workspace's (Workspace.timezone, IANA); a day of a DST change is 23 or 25 hours long. Every
figure is one GROUP BY in the database. PostgreSQL takes each row's local day from AT TIME ZONE and the
whole range's figures from GROUPING SETS in the same pass; SQLite converts no zone, so each local day's
UTC [start, end) is computed here (zoneinfo) and the rows are joined to that small VALUES table, which
holds the whole range as one more row (_Days). Medians and the 90th percentile are percentile_cont on
PostgreSQL; SQLite has none, so the same continuous percentile (linear between the two nearest ranks) is
taken from a window query (row_number and count per group).
"""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, text

from errors import NotFound, ValidationFailed
from extensions import db
from models import AuditAction, Interface, RequestStatus, Workspace
from models.base import UTCDateTime
from services.core import get_in_workspace

RANGE_DAYS_MAX = 366
TOTAL = -1  # the bucket of the whole range
MISSED = (RequestStatus.EXPIRED.value, RequestStatus.OFFLINE.value, RequestStatus.OUTSIDE_HOURS.value)


def _invalid(field, message):
    return ValidationFailed("Invalid input: see errors", errors={"query": {field: [message]}})


def day_ranges(first, last, tz):
    """[(day index, UTC start, UTC end)] of the local days first..last, and the whole range as TOTAL."""
    days = []
    for index in range((last - first).days + 1):
        local = first + timedelta(days=index)
        start = datetime.combine(local, time(0), tzinfo=tz).astimezone(timezone.utc)
        end = datetime.combine(local + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)
        days.append((index, start, end))
    return days + [(TOTAL, days[0][1], days[-1][2])]


def _buckets(ranges):
    """The buckets CTE's SQL and its parameters (typed: UTC datetimes as each database stores them)."""
    rows, params = [], []
    for index, start, end in ranges:
        rows.append(f"(:d{len(rows)}, :s{len(rows)}, :e{len(rows)})")
        n = len(rows) - 1
        params += [bindparam(f"d{n}", index), bindparam(f"s{n}", start, type_=UTCDateTime()),
                   bindparam(f"e{n}", end, type_=UTCDateTime())]
    return "buckets(day, start_at, end_at) AS (VALUES " + ", ".join(rows) + ")", params


def _seconds(since, until):
    if db.session.get_bind().dialect.name == "postgresql":
        return f"EXTRACT(EPOCH FROM ({until} - {since}))"
    return f"((julianday({until}) - julianday({since})) * 86400.0)"


def _run(sql, params, values):
    return db.session.execute(text(sql).bindparams(*params), values).all()


def _percentiles(with_sql, params, values, rows_sql, totals=False):
    """{key: (median, p90)} of rows_sql's (key, v) rows, per key (and with totals, all rows' as key None)."""
    prefix = f"WITH {with_sql} " if with_sql else ""
    if db.session.get_bind().dialect.name == "postgresql":
        group = "GROUPING SETS ((key), ())" if totals else "key"
        sql = (f"{prefix}SELECT key, percentile_cont(0.5) WITHIN GROUP (ORDER BY v), "
               f"percentile_cont(0.9) WITHIN GROUP (ORDER BY v) FROM ({rows_sql}) AS vals GROUP BY {group}")
    else:
        def pick(p):
            pos, lo = f"((n - 1) * {p})", f"CAST((n - 1) * {p} AS INTEGER)"
            return (f"SUM(CASE WHEN rn = {lo} THEN v * (1 - ({pos} - {lo})) "
                    f"WHEN rn = {lo} + 1 THEN v * ({pos} - {lo}) ELSE 0 END)")
        sql = (f"{prefix}SELECT key, {pick(0.5)}, {pick(0.9)} FROM (SELECT key, v, "
               "ROW_NUMBER() OVER (PARTITION BY key ORDER BY v) - 1 AS rn, COUNT(*) OVER (PARTITION BY key) AS n "
               f"FROM ({rows_sql}) AS vals) AS ranked GROUP BY key")
    # PostgreSQL's whole-range row comes even when no row does (NULL percentiles): as good as absent.
    return {row[0]: (float(row[1]), float(row[2])) for row in _run(sql, params, values) if row[1] is not None}


class _Days:
    """How a table's rows fall into the report's days (the SQL pieces), the same days on both databases.

    PostgreSQL converts each row's time to the zone itself (AT TIME ZONE, DST-correct from its own zone
    database) and counts the whole range with GROUPING SETS, in one pass over the range's rows. SQLite
    converts no zone: rows are joined to the VALUES table of each local day's UTC [start, end) (day_ranges,
    from zoneinfo), which holds the whole range as one more row.
    """

    def __init__(self, ranges, first, tz_name):
        self.postgres = db.session.get_bind().dialect.name == "postgresql"
        start, end = ranges[-1][1], ranges[-1][2]
        if self.postgres:
            self.with_sql = None
            self.params = [bindparam("range_start", start, type_=UTCDateTime()),
                           bindparam("range_end", end, type_=UTCDateTime())]
            self.values = {"tz": tz_name, "first": first}
        else:
            self.with_sql, self.params = _buckets(ranges)
            self.values = {}

    def rows(self, table, alias):
        """(FROM clause, the row's day as key, the condition the range sets)."""
        if self.postgres:
            key = f"CAST(({alias}.created_at AT TIME ZONE 'UTC') AT TIME ZONE :tz AS date) - CAST(:first AS date)"
            return (f"{table} {alias}", key,
                    f"{alias}.created_at >= :range_start AND {alias}.created_at < :range_end")
        return (f"buckets b JOIN {table} {alias} ON {alias}.created_at >= b.start_at "
                f"AND {alias}.created_at < b.end_at", "b.day", "1 = 1")

    def aggregate(self, rows_sql, columns):
        """columns (aggregates over rows_sql's rows) per key, and for the whole range (key TOTAL)."""
        prefix = f"WITH {self.with_sql} " if self.with_sql else ""
        group = "GROUPING SETS ((key), ())" if self.postgres else "key"
        return f"{prefix}SELECT key, {columns} FROM ({rows_sql}) AS x GROUP BY {group}"

    def keyed(self, result):
        """A result's rows by day, the whole range's (NULL key on PostgreSQL) as TOTAL."""
        return {TOTAL if row[0] is None else int(row[0]): tuple(row[1:]) for row in result}


def _scoped_range(admin, first, last, interface_id):
    """(the admin's workspace, its local days from first to last as UTC ranges), the interface checked."""
    workspace = db.session.get(Workspace, admin.workspace_id)
    if interface_id is not None and get_in_workspace(Interface, interface_id, admin.workspace_id) is None:
        raise NotFound("Interface not found")
    return workspace, _check_range(workspace, first, last)


def _check_range(workspace, first, last):
    if last < first:
        raise _invalid("to", "Must not be before from.")
    if (last - first).days + 1 > RANGE_DAYS_MAX:
        raise _invalid("to", f"At most {RANGE_DAYS_MAX} days from from.")
    return day_ranges(first, last, ZoneInfo(workspace.timezone))


def _scope(interface_id, alias):
    return f" AND {alias}.interface_id = :interface_id" if interface_id is not None else ""


def _rating(count, total, good):
    return {"ratings": count, "rating_average": round(total / count, 3) if count else None,
            "rating_good_share": round(good / count, 4) if count else None}


def interfaces_report(admin, from_, to, interface_id=None):
    """The workspace's (or one interface's) chats by local day from from_ to to (dates), and in total."""
    first, last = from_, to
    workspace, ranges = _scoped_range(admin, first, last, interface_id)
    days_of = _Days(ranges, first, workspace.timezone)
    params = days_of.params
    values = {"workspace_id": admin.workspace_id, "interface_id": interface_id, "accepted": "accepted",
              "outside": RequestStatus.OUTSIDE_HOURS.value, "took_over": AuditAction.TOOK_OVER.value,
              **{f"m{i}": status for i, status in enumerate(MISSED)}, **days_of.values}

    def rows(table, alias, columns, where, join=""):
        source, key, in_range = days_of.rows(table, alias)
        return f"SELECT {key} AS key, {columns} FROM {source} {join} WHERE {in_range} AND {where}"

    def grouped(rows_sql, columns):
        return days_of.keyed(_run(days_of.aggregate(rows_sql, columns), params, values))

    mine = f"r.workspace_id = :workspace_id{_scope(interface_id, 'r')}"
    by_request = grouped(rows("live_requests", "r", "r.status", mine),
                         "SUM(CASE WHEN status = :accepted THEN 1 ELSE 0 END), "
                         "SUM(CASE WHEN status IN (:m0, :m1, :m2) THEN 1 ELSE 0 END), "
                         "SUM(CASE WHEN status = :outside THEN 1 ELSE 0 END)")
    by_takeover = grouped(rows("audit_entries", "a", "a.id", "a.workspace_id = :workspace_id AND a.action = "
                               f":took_over{_scope(interface_id, 'c')}",
                               join="JOIN conversations c ON c.id = a.conversation_id"), "COUNT(*)")
    by_rating = grouped(rows("ratings", "g", "g.score", f"g.workspace_id = :workspace_id{_scope(interface_id, 'g')}"),
                        "COUNT(*), SUM(score), SUM(CASE WHEN score >= 4 THEN 1 ELSE 0 END)")
    by_form = grouped(rows("offline_submissions", "o", "o.id",
                           f"o.workspace_id = :workspace_id{_scope(interface_id, 'o')}"), "COUNT(*)")
    accepted = f"{mine} AND r.status = :accepted"
    to_accept = days_of.keyed((key, *figures) for key, figures in _percentiles(
        days_of.with_sql, params, values,
        rows("live_requests", "r", f"{_seconds('r.created_at', 'r.resolved_at')} AS v", accepted),
        totals=True).items())
    durations = days_of.keyed((key, *figures) for key, figures in _percentiles(
        days_of.with_sql, params, values,
        rows("live_requests", "r", f"{_seconds('r.resolved_at', 'c.closed_at')} AS v",
             f"{accepted} AND c.closed_at IS NOT NULL", join="JOIN conversations c ON c.id = r.conversation_id"),
        totals=True).items())

    def figures(day):
        accepted_n, missed, outside = (int(v or 0) for v in by_request.get(day, (0, 0, 0)))
        count, total, good = (int(v or 0) for v in by_rating.get(day, (0, 0, 0)))
        accept, duration = to_accept.get(day, (None, None)), durations.get(day, (None, None))
        return {"chats": accepted_n + int(by_takeover.get(day, (0,))[0]), "missed": missed,
                "outside_hours": outside, "time_to_accept_median_s": accept[0], "time_to_accept_p90_s": accept[1],
                "chat_duration_median_s": duration[0], **_rating(count, total, good),
                "offline_forms": int(by_form.get(day, (0,))[0])}

    days = [{"date": first + timedelta(days=index), "start_at": start, "end_at": end, **figures(index)}
            for index, start, end in ranges if index != TOTAL]
    return {"timezone": workspace.timezone, "from_": first, "to": last, "interface_id": interface_id,
            "days": days, "total": figures(TOTAL)}


def agents_report(admin, from_, to, interface_id=None):
    """Each agent's chats from from_ to to (local dates): accepted, taken over, how fast, how long, rated."""
    first, last = from_, to
    workspace, ranges = _scoped_range(admin, first, last, interface_id)
    (_, start, end), = ranges[-1:]
    with_sql, params = _buckets([(TOTAL, start, end)])
    values = {"workspace_id": admin.workspace_id, "interface_id": interface_id, "accepted": "accepted",
              "took_over": AuditAction.TOOK_OVER.value}
    in_range = "{t}.created_at >= b.start_at AND {t}.created_at < b.end_at"
    accepted = (f"FROM buckets b JOIN live_requests r ON {in_range.format(t='r')} WHERE r.workspace_id = "
                f":workspace_id AND r.status = :accepted AND r.agent_id IS NOT NULL{_scope(interface_id, 'r')}")
    counts = dict(_run(f"WITH {with_sql} SELECT r.agent_id, COUNT(*) {accepted} GROUP BY r.agent_id",
                       params, values))
    takeovers = dict(_run(
        f"WITH {with_sql} SELECT a.actor_id, COUNT(*) FROM buckets b JOIN audit_entries a ON "
        f"{in_range.format(t='a')} JOIN conversations c ON c.id = a.conversation_id WHERE a.workspace_id = "
        f":workspace_id AND a.action = :took_over AND a.actor_id IS NOT NULL{_scope(interface_id, 'c')} "
        "GROUP BY a.actor_id", params, values))
    ratings = {row[0]: row[1:] for row in _run(
        f"WITH {with_sql} SELECT g.agent_id, COUNT(*), SUM(g.score), SUM(CASE WHEN g.score >= 4 THEN 1 ELSE 0 END) "
        f"FROM buckets b JOIN ratings g ON {in_range.format(t='g')} WHERE g.workspace_id = :workspace_id "
        f"AND g.agent_id IS NOT NULL{_scope(interface_id, 'g')} GROUP BY g.agent_id", params, values)}
    to_accept = _percentiles(with_sql, params, values,
                             f"SELECT r.agent_id AS key, {_seconds('r.created_at', 'r.resolved_at')} AS v {accepted}")
    durations = _percentiles(with_sql, params, values, (
        f"SELECT r.agent_id AS key, {_seconds('r.resolved_at', 'c.closed_at')} AS v "
        + accepted.replace("WHERE", "JOIN conversations c ON c.id = r.conversation_id WHERE c.closed_at IS NOT NULL "
                                    "AND", 1)))
    agent_ids = sorted(set(counts) | set(takeovers) | set(ratings))
    names = dict(db.session.execute(
        text("SELECT id, name FROM users WHERE workspace_id = :workspace_id AND id IN :ids")
        .bindparams(bindparam("ids", expanding=True)), {"workspace_id": admin.workspace_id, "ids": agent_ids}).all()
    ) if agent_ids else {}
    agents = []
    for agent_id in agent_ids:
        count, total, good = (int(v or 0) for v in ratings.get(agent_id, (0, 0, 0)))
        accept, duration = to_accept.get(agent_id, (None, None)), durations.get(agent_id, (None, None))
        agents.append({"agent_id": agent_id, "name": names.get(agent_id),
                       "chats": int(counts.get(agent_id, 0)) + int(takeovers.get(agent_id, 0)),
                       "accepted": int(counts.get(agent_id, 0)), "taken_over": int(takeovers.get(agent_id, 0)),
                       "time_to_accept_median_s": accept[0], "time_to_accept_p90_s": accept[1],
                       "chat_duration_median_s": duration[0], **_rating(count, total, good)})
    return {"timezone": workspace.timezone, "from_": first, "to": last, "interface_id": interface_id,
            "agents": agents}
