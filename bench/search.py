"""The dashboard's conversation search on a large PostgreSQL database: latencies of the route's own query.

    python -m bench.search --database-url postgresql://postgres@127.0.0.1:5432/livechat [--messages 1000000]
        [--conversations 50000] [--searches 400] [--keep]

Everything happens in a schema of its own (`bench_search`) of the given database, created at the start and
dropped at the end (`--keep` leaves it, and a later run with `--reuse` searches it again without seeding):
the database's own tables are not touched. Seeding is set-based SQL (generate_series): one workspace, five
interfaces, 40 agents each serving two of them, one admin, a visitor (with a name and an e-mail) and a
conversation per conversation, and the messages spread evenly over the conversations. A message is 4 to 12
words drawn from a vocabulary of 20,000 made-up words with a Zipf distribution (the word of rank k with a
probability proportional to 1/k: the commonest one is in about half the messages, the rarest in one in
30,000). The search index is built after the rows are in (as a migration on a full table would), then the
tables are ANALYZEd.

Each search is `services.dashboard.list_conversations`, exactly what GET /api/conversations runs (the page
and its total), as an agent and as the admin, for words of every frequency (the commonest, common, rare,
absent), alone and with another filter (status, interface, a creation range, the visitor); the first page
of 20, scope all. It prints p50, p95, p99 and max in ms, overall and per kind of word.
"""
import argparse
import random
import statistics
import sys
import time
from urllib.parse import urlsplit

from bench.own_schema import own_schema, schema_app, step

SCHEMA = "bench_search"
INTERFACES = 5
AGENTS = 40
VOCABULARY = 20_000
SYLLABLES = ["ka", "lo", "mi", "re", "su", "to", "na", "pe", "di", "vo", "ra", "ne", "bu", "shi", "ta", "mo",
             "ge", "fa", "li", "zu"]


def words(count, seed=7):
    """count distinct made-up words, two to four syllables each, the same on every run."""
    rng = random.Random(seed)
    seen, out = set(), []
    while len(out) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4)))
        if word not in seen:
            seen.add(word)
            out.append(word)
    return out


def seed(conversations, messages, vocabulary):
    """The rows, with set-based statements; returns (admin id, agent ids)."""
    from sqlalchemy import text

    from extensions import db
    from models import Interface, Role, User
    from models.search import PG_CREATE, PG_DROP
    from services.workspaces import do_create_workspace

    workspace, admin, _ = do_create_workspace("Bench", "admin@bench.example", "Admin")
    interfaces = [Interface(workspace_id=workspace.id, name=f"Widget {n}", allowed_origins=[])
                  for n in range(INTERFACES)]
    db.session.add_all(interfaces)
    agents = [User(workspace_id=workspace.id, name=f"Agent {n}", email=f"agent{n}@bench.example", role=Role.AGENT,
                   max_chats=4, token_version=1, is_active=True,
                   interfaces=[interfaces[n % INTERFACES], interfaces[(n + 1) % INTERFACES]])
              for n in range(AGENTS)]
    db.session.add_all(agents)
    db.session.commit()
    params = {"ws": workspace.id, "conversations": conversations, "per": max(1, messages // conversations),
              "interfaces": [i.id for i in interfaces], "agents": [a.id for a in agents], "vocab": vocabulary}
    for statement in PG_DROP:  # built once the rows are in, as on a table that already holds them
        db.session.execute(text(statement))
    with step(f"visitors and conversations ({conversations:,})"):
        db.session.execute(text("""
            INSERT INTO visitors (id, workspace_id, interface_id, name, email, created_at, last_seen_at, token_key)
            SELECT n, :ws, (CAST(:interfaces AS int[]))[1 + n % cardinality(CAST(:interfaces AS int[]))],
                   'Visitor ' || n, 'visitor' || n || '@mail' || (n % 97) || '.example',
                   now() - (n % 365) * interval '1 day', now(), md5(n::text)
            FROM generate_series(1, :conversations) AS n"""), params)
        # Half closed, the rest active, with the bot or waiting; an agent on the closed and active ones.
        db.session.execute(text("""
            INSERT INTO conversations (id, workspace_id, interface_id, visitor_id, status, agent_id, channel, weight,
                                       last_seq, visitor_read_seq, agent_read_seq, created_at, updated_at)
            SELECT n, :ws, (CAST(:interfaces AS int[]))[1 + n % cardinality(CAST(:interfaces AS int[]))], n,
                   (ARRAY['closed', 'closed', 'closed', 'active', 'bot', 'waiting'])[1 + n % 6],
                   CASE WHEN n % 6 < 4 THEN (CAST(:agents AS int[]))[1 + n % cardinality(CAST(:agents AS int[]))] END,
                   'text', 1,
                   :per, :per, :per - n % 4, now() - (n % 365) * interval '1 day',
                   now() - (n % 365) * interval '1 day' + (n % 1000) * interval '1 second'
            FROM generate_series(1, :conversations) AS n"""), params)
    with step(f"messages ({params['per'] * conversations:,})"):
        db.session.execute(text("SET LOCAL work_mem = '256MB'"))
        # Per message: 4 to 12 words, the word of rank k with probability ~ 1/k (exp of a uniform log); the
        # 0 * w keeps the aggregate in the subquery (over outer columns only it would be the outer query's).
        db.session.execute(text("""
            INSERT INTO messages (id, workspace_id, conversation_id, seq, sender_type, sender_name, text,
                                  created_at)
            WITH v AS (SELECT CAST(:vocab AS text[]) AS words, cardinality(CAST(:vocab AS text[])) AS size)
            SELECT (c - 1) * :per + s, :ws, c, s, CASE WHEN s % 2 = 1 THEN 'visitor' ELSE 'agent' END, NULL,
                   (SELECT string_agg(v.words[least(v.size, floor(exp(random() * ln(v.size + 1)))::int + 0 * w)], ' ')
                    FROM generate_series(1, 4 + (c * 7 + s) % 9) AS w WHERE c > 0),
                   now() - (c % 365) * interval '1 day' + s * interval '1 minute'
            FROM v, generate_series(1, :conversations) AS c, generate_series(1, :per) AS s"""), params)
    for table in ("visitors", "conversations", "messages"):
        db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT max(id) FROM {table}))"))
    db.session.commit()
    with step("search index"):
        db.session.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for statement in PG_CREATE:
            db.session.execute(text(statement))
        db.session.commit()
    with step("ANALYZE"):
        db.session.execute(text("ANALYZE visitors, conversations, messages, interface_agents, interfaces"))
        db.session.commit()
    return admin.id, [a.id for a in agents]


def searches(count, vocabulary, interfaces, rng):
    """(kind of word, filters) pairs: words of every frequency, alone and with another filter."""
    kinds = {
        "commonest": lambda: vocabulary[rng.randrange(3)],
        "common": lambda: vocabulary[rng.randrange(10, 200)],
        "rare": lambda: vocabulary[rng.randrange(5_000, len(vocabulary))],
        "two words": lambda: f"{vocabulary[rng.randrange(20, 500)]} {vocabulary[rng.randrange(20, 500)]}",
        "absent": lambda: "zzqx" + str(rng.randrange(1000)),
    }
    others = [
        lambda: {},
        lambda: {"status": "closed"},
        lambda: {"interface_id": rng.choice(interfaces)},
        lambda: {"created_from": _days_ago(30)},
        lambda: {"visitor": f"visitor{rng.randrange(1, 500)}"},
        lambda: {"status": "active", "created_from": _days_ago(90), "created_to": _days_ago(10)},
    ]
    out = []
    for n in range(count):
        kind = list(kinds)[n % len(kinds)]
        out.append((kind, {"q": kinds[kind](), **others[(n // len(kinds)) % len(others)]()}))
    return out


def _days_ago(days):
    from datetime import timedelta

    from models.base import utcnow

    return utcnow() - timedelta(days=days)


def percentiles(samples):
    ordered = sorted(samples)

    def at(p):
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {"n": len(ordered), "p50": at(50), "p95": at(95), "p99": at(99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


def run(admin_id, agent_ids, vocabulary, count, seed_value=1):
    """Run count searches, alternating the admin and agents; {kind: [ms]} and the slowest few."""
    from extensions import db
    from models import Interface, User
    from services.dashboard import list_conversations

    rng = random.Random(seed_value)
    interfaces = list(db.session.scalars(db.select(Interface.id)))
    admin = db.session.get(User, admin_id)
    agents = [db.session.get(User, agent_id) for agent_id in agent_ids]
    timings, slowest = {}, []
    for n, (kind, filters) in enumerate(searches(count, vocabulary, interfaces, rng)):
        user = admin if n % 2 else agents[n % len(agents)]
        started = time.perf_counter()
        page = list_conversations(user, "all", 1, 20, **filters)
        elapsed = (time.perf_counter() - started) * 1000
        db.session.rollback()  # as a request ends: nothing cached in the session for the next one
        role = "admin" if n % 2 else "agent"
        timings.setdefault(kind, []).append(elapsed)
        timings.setdefault(role, []).append(elapsed)
        timings.setdefault("all", []).append(elapsed)
        slowest.append((elapsed, role, kind, filters, page["total"]))
    return timings, sorted(slowest, key=lambda row: row[0], reverse=True)[:12]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a PostgreSQL database (a schema of its own is used)")
    parser.add_argument("--conversations", type=int, default=50_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--searches", type=int, default=400)
    parser.add_argument("--keep", action="store_true", help="leave the schema for a later --reuse")
    parser.add_argument("--reuse", action="store_true", help="search a schema a --keep run left, without seeding")
    args = parser.parse_args(argv)
    if not 1 <= args.conversations <= 1_000_000 or not 1 <= args.messages <= 10_000_000 \
            or not 1 <= args.searches <= 100_000:
        parser.error("conversations from 1 to 1,000,000, messages to 10,000,000, searches to 100,000")
    if not urlsplit(args.database_url).scheme.startswith("postgres"):
        parser.error("a PostgreSQL URL: the search on SQLite is the FTS5 table, not what this measures")
    from config import _normalise_db_url
    from extensions import db
    from models import Role, User

    app = schema_app(_normalise_db_url(args.database_url), SCHEMA, "search")
    vocabulary = words(VOCABULARY)
    with app.app_context(), own_schema(SCHEMA, args.reuse, args.keep):
        if not args.reuse:
            admin_id, agent_ids = seed(args.conversations, args.messages, vocabulary)
        else:
            admin_id = db.session.scalar(db.select(User.id).where(User.role == Role.ADMIN))
            agent_ids = list(db.session.scalars(db.select(User.id).where(User.role == Role.AGENT).order_by(User.id)))
        run(admin_id, agent_ids, vocabulary, min(20, args.searches), seed_value=0)  # warm the caches
        timings, slowest = run(admin_id, agent_ids, vocabulary, args.searches)
        print(f"\n{args.searches} searches through services.dashboard.list_conversations (ms)")
        print(f"{'':12} {'n':>5} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
        for kind, samples in timings.items():
            figures = percentiles(samples)
            print(f"{kind:12} {figures['n']:>5} {figures['p50']:>8.1f} {figures['p95']:>8.1f} "
                  f"{figures['p99']:>8.1f} {figures['max']:>8.1f}")
        print("slowest:")
        for elapsed, role, kind, filters, total in slowest:
            shown = {k: (v.date().isoformat() if hasattr(v, "date") else v) for k, v in filters.items()}
            print(f"  {elapsed:8.1f} ms  {role:5} {kind:10} total={total:<6} {shown}")
        overall = percentiles(timings["all"])
    return 0 if overall["p99"] < 100 else 1


if __name__ == "__main__":
    sys.exit(main())
