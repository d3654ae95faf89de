"""The admins' reports on a year of chats in PostgreSQL: latencies of the report routes' own functions.

    python -m bench.reports --database-url postgresql://postgres@127.0.0.1:5432/livechat [--conversations 100000]
        [--runs 5] [--keep | --reuse]

Everything happens in a schema of its own (`bench_reports`) of the given database, created at the start and
dropped at the end (`--keep` leaves it; `--reuse` measures a kept one again without seeding). Seeding is
set-based SQL (generate_series): one workspace in Europe/Berlin, five interfaces, 40 agents, and for each of
the conversations (spread over the last 365 days) a visitor and one live request: 70 % accepted (5 s to
5 min to accept, the chat 1 min to 1 h long, then closed), 15 % expired, 8 % offline, 7 % outside business
hours; two in five accepted chats rated (1 to 5), half of the missed requests followed by an offline form.
Then ANALYZE.

Each measurement is one call of `services.reports.interfaces_report` or `agents_report` (what GET
/api/reports/interfaces and /api/reports/agents run), for the last 30 and the last 365 days, the whole
workspace; it prints p50 and max in ms over the runs (after one warm-up call each). The exit status is 1
when a p50 is 500 ms or more.
"""
import argparse
import statistics
import sys
import time
from urllib.parse import urlsplit

from bench.own_schema import own_schema, schema_app, step

SCHEMA = "bench_reports"
INTERFACES = 5
AGENTS = 40
TARGET_MS = 500


def seed(conversations):
    """The rows, with set-based statements; returns the admin's id."""
    from sqlalchemy import text

    from extensions import db
    from models import Interface, Role, User
    from services.workspaces import do_create_workspace

    workspace, admin, _ = do_create_workspace("Bench", "admin@bench.example", "Admin")
    workspace.timezone = "Europe/Berlin"
    interfaces = [Interface(workspace_id=workspace.id, name=f"Widget {n}", allowed_origins=[])
                  for n in range(INTERFACES)]
    db.session.add_all(interfaces)
    agents = [User(workspace_id=workspace.id, name=f"Agent {n}", email=f"agent{n}@bench.example", role=Role.AGENT,
                   max_chats=4, token_version=1, is_active=True) for n in range(AGENTS)]
    db.session.add_all(agents)
    db.session.commit()
    params = {"ws": workspace.id, "conversations": conversations,
              "interfaces": [i.id for i in interfaces], "agents": [a.id for a in agents]}
    # A row's numbers come from n through fixed multipliers: the same data on every run.
    with step(f"visitors, conversations and requests ({conversations:,} each)"):
        db.session.execute(text("""
            CREATE TEMPORARY TABLE facts AS
            SELECT n,
                   (CAST(:interfaces AS int[]))[1 + n % cardinality(CAST(:interfaces AS int[]))] AS interface_id,
                   (CAST(:agents AS int[]))[1 + (n * 7) % cardinality(CAST(:agents AS int[]))] AS agent_id,
                   now() - ((n * 7919) % (365 * 86400)) * interval '1 second' AS created_at,
                   CASE WHEN n % 100 < 70 THEN 'accepted' WHEN n % 100 < 85 THEN 'expired'
                        WHEN n % 100 < 93 THEN 'offline' ELSE 'outside_hours' END AS status,
                   5 + (n * 31) % 295 AS accept_s, 60 + (n * 53) % 3540 AS length_s
            FROM generate_series(1, :conversations) AS n"""), params)
        db.session.execute(text("""
            INSERT INTO visitors (id, workspace_id, interface_id, created_at, last_seen_at, token_key)
            SELECT n, :ws, interface_id, created_at, created_at, md5(n::text) FROM facts"""), params)
        db.session.execute(text("""
            INSERT INTO conversations (id, workspace_id, interface_id, visitor_id, status, agent_id, channel, weight,
                                       last_seq, visitor_read_seq, agent_read_seq, created_at, updated_at, closed_at)
            SELECT n, :ws, interface_id, n, 'closed', CASE WHEN status = 'accepted' THEN agent_id END, 'text', 1,
                   0, 0, 0, created_at, created_at,
                   created_at + (accept_s + CASE WHEN status = 'accepted' THEN length_s ELSE 0 END)
                                * interval '1 second'
            FROM facts"""), params)
        db.session.execute(text("""
            INSERT INTO live_requests (id, workspace_id, interface_id, conversation_id, kind, status, deadline_at,
                                       agent_id, created_at, resolved_at)
            SELECT n, :ws, interface_id, n, 'text', status, created_at + interval '1 minute',
                   CASE WHEN status = 'accepted' THEN agent_id END, created_at,
                   created_at + CASE WHEN status = 'accepted' THEN accept_s ELSE 60 END * interval '1 second'
            FROM facts"""), params)
    with step("ratings and offline forms"):
        db.session.execute(text("""
            INSERT INTO ratings (id, workspace_id, interface_id, conversation_id, visitor_id, agent_id, score,
                                 comment, created_at)
            SELECT n, :ws, interface_id, n, n, agent_id, 1 + (n * 13) % 5, NULL,
                   created_at + (accept_s + length_s + 120) * interval '1 second'
            FROM facts WHERE status = 'accepted' AND n % 5 < 2"""), params)
        db.session.execute(text("""
            INSERT INTO offline_submissions (id, workspace_id, interface_id, conversation_id, request_id, data,
                                             recipients, created_at)
            SELECT n, :ws, interface_id, n, n, '{}', '[]', created_at + interval '90 seconds'
            FROM facts WHERE status <> 'accepted' AND n % 2 = 0"""), params)
    for table in ("visitors", "conversations", "live_requests", "ratings", "offline_submissions"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT coalesce(max(id), 1) FROM {table}))"))
    db.session.execute(text("DROP TABLE facts"))
    db.session.commit()
    with step("ANALYZE"):
        db.session.execute(text("ANALYZE visitors, conversations, live_requests, ratings, offline_submissions, "
                                "audit_entries"))
        db.session.commit()
    return admin.id


def measure(admin_id, runs):
    """{(report, days): [ms]} over runs calls each, after a warm-up call."""
    from datetime import timedelta

    from extensions import db
    from models import User
    from services.reports import agents_report, interfaces_report

    admin = db.session.get(User, admin_id)
    last = db.session.execute(db.text("SELECT (now() AT TIME ZONE 'Europe/Berlin')::date")).scalar()
    timings = {}
    for report in (interfaces_report, agents_report):
        for days in (30, 365):
            first = last - timedelta(days=days - 1)
            samples = []
            for n in range(runs + 1):
                started = time.perf_counter()
                result = report(admin, first, last)
                elapsed = (time.perf_counter() - started) * 1000
                db.session.rollback()  # as a request ends
                if n:
                    samples.append(elapsed)
            timings[(report.__name__, days)] = samples
            if report is interfaces_report:
                total = result["total"]
                print(f"  {days} days: {total['chats']:,} chats, {total['missed']:,} missed, "
                      f"median accept {total['time_to_accept_median_s']:.0f} s, {total['ratings']:,} ratings")
    return timings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database (a schema of its own is used)")
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the schema for a later --reuse")
    parser.add_argument("--reuse", action="store_true", help="measure a schema a --keep run left, without seeding")
    args = parser.parse_args(argv)
    if not 1 <= args.conversations <= 10_000_000 or not 1 <= args.runs <= 1000:
        parser.error("conversations from 1 to 10,000,000, runs from 1 to 1,000")
    if not urlsplit(args.database_url).scheme.startswith("postgres"):
        parser.error("a PostgreSQL URL: the target is PostgreSQL's")
    from config import _normalise_db_url
    from extensions import db
    from models import Role, User

    app = schema_app(_normalise_db_url(args.database_url), SCHEMA, "reports")
    worst = 0.0
    with app.app_context(), own_schema(SCHEMA, args.reuse, args.keep):
        if not args.reuse:
            admin_id = seed(args.conversations)
        else:
            admin_id = db.session.scalar(db.select(User.id).where(User.role == Role.ADMIN))
        timings = measure(admin_id, args.runs)
        print(f"\n{args.runs} runs each (ms)")
        print(f"{'':24} {'days':>5} {'p50':>8} {'max':>8}")
        for (name, days), samples in timings.items():
            p50 = statistics.median(samples)
            worst = max(worst, p50)
            print(f"{name:24} {days:>5} {p50:>8.1f} {max(samples):>8.1f}")
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
