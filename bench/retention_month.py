"""Table sizes after a simulated stretch of traffic, before and after retention prunes them.

    python -m bench.retention_month [--url URL] [--days 45] [--conversations-per-day 1000]

Without --url a scratch SQLite file in a temporary folder is used (and removed);
with a PostgreSQL URL its tables are created, filled and dropped again, so give
it a scratch database. Rows are written straight to the tables, spread evenly
over the simulated days, at a rate per conversation of a busy support desk:

- events: 30 on the conversation's stream, 15 on its agent's, 3 on the visitor's;
- notifications: 5 (a live request offered to five agents), resolved a minute later;
- audit entries: 4; outbox: 20 mails a day sent and 1 given up; 200 logouts a day
  (revoked refresh tokens, kept until they expire 30 days later); 5 used password links a day.

The first prune runs with the configured batch bounds (what one hourly round
removes); then rounds repeat until nothing is left to remove.
"""
import argparse
import itertools
import os
import sys
import tempfile
import time
from datetime import timedelta

CHUNK = 20_000
AGENTS = 50


def _app(url):
    from app import create_app
    from config import Config

    return create_app(Config, SQLALCHEMY_DATABASE_URI=url, REDIS_URL=None, PASSWORD_HASH_PROFILE="fast",
                      OUTBOX_SENDER_THREAD=False, SWEEPER_THREAD=False, RETENTION_THREAD=False,
                      JWT_SECRET_KEY="retention-bench-" + "x" * 32, TEST_SERVER=True, PUBLIC_URL="http://127.0.0.1",
                      LOG_FORMAT="text")


def _insert(table, rows):
    from extensions import db

    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == CHUNK:
            db.session.execute(table.insert(), batch)
            batch = []
    if batch:
        db.session.execute(table.insert(), batch)
    db.session.commit()


def fill(days, per_day, now):
    """Write `days` of traffic ending now; the fixtures the rows point at are made through the models."""
    from extensions import db
    from models import (AuditEntry, Conversation, Event, Interface, Notification, OutboxMail, PasswordToken,
                        RevokedToken, Role, Stream, User, Visitor)
    from services.workspaces import do_create_workspace

    workspace, _, _ = do_create_workspace("Bench", "admin@bench.example", "Admin")
    interface = Interface(workspace_id=workspace.id, name="Widget", allowed_origins=[])
    db.session.add(interface)
    agents = [User(workspace_id=workspace.id, name=f"Agent {n}", email=f"agent{n}@bench.example", role=Role.AGENT,
                   max_chats=4, token_version=1, is_active=True) for n in range(AGENTS)]
    db.session.add_all(agents)
    db.session.flush()
    visitor = Visitor(workspace_id=workspace.id, interface_id=interface.id)
    db.session.add(visitor)
    db.session.flush()
    conversation = Conversation(workspace_id=workspace.id, interface_id=interface.id, visitor_id=visitor.id)
    db.session.add(conversation)
    db.session.commit()
    ws = workspace.id
    total = days * per_day
    step = timedelta(days=days) / total
    start = now - timedelta(days=days)
    positions = {}

    def at(n):
        return start + step * n

    def events():
        for n in range(total):
            t = at(n)
            agent = n % AGENTS
            for stream, count in ((f"conversation:{n + 1000}", 30), (f"user:{agent + 1000}", 15),
                                  (f"visitor:{n + 1000}", 3)):
                first = positions.get(stream, 0)
                positions[stream] = first + count
                for pos in range(first + 1, first + count + 1):
                    yield {"workspace_id": ws, "stream": stream, "pos": pos, "type": "message.created",
                           "payload": {"conversation_id": n, "message": {"seq": pos, "text": "x" * 60}},
                           "created_at": t}

    _insert(Event.__table__, events())
    _insert(Stream.__table__, ({"key": key, "last_pos": pos} for key, pos in positions.items()))
    _insert(Notification.__table__, (
        {"workspace_id": ws, "user_id": agents[(n + k) % AGENTS].id, "type": "live_chat_request",
         "interface_id": interface.id, "conversation_id": conversation.id, "status": "withdrawn" if k else "claimed",
         "reason": "claimed", "created_at": at(n), "resolved_at": at(n) + timedelta(minutes=1)}
        for n in range(total) for k in range(5)))
    _insert(AuditEntry.__table__, ({"workspace_id": ws, "action": "routed", "details": {}, "conversation_id": n,
                                    "created_at": at(n)} for n in range(total) for _ in range(4)))
    mail_step = timedelta(days=1) / 21
    _insert(OutboxMail.__table__, (
        {"workspace_id": ws, "kind": "offline_form", "recipients": ["desk@bench.example"], "subject": "s",
         "body_text": "b" * 400, "status": "failed" if k == 20 else "sent", "attempts": 1,
         "next_attempt_at": start + timedelta(days=d) + mail_step * k,
         "created_at": start + timedelta(days=d) + mail_step * k,
         "sent_at": None if k == 20 else start + timedelta(days=d) + mail_step * k}
        for d in range(days) for k in range(21)))
    counter = itertools.count()
    _insert(RevokedToken.__table__, (
        {"jti": f"jti-{next(counter)}", "revoked_at": start + timedelta(days=d, seconds=k * 432),
         "expires_at": start + timedelta(days=d + 30, seconds=k * 432)}
        for d in range(days) for k in range(200)))
    _insert(PasswordToken.__table__, (
        {"user_id": agents[k].id, "token_hash": f"{d:05d}{k:059d}", "user_key": agents[k].token_key,
         "purpose": "invitation", "expires_at": start + timedelta(days=d + 3), "used_at": start + timedelta(days=d),
         "created_at": start + timedelta(days=d)}
        for d in range(days) for k in range(5)))


def counts():
    from sqlalchemy import func, select

    from extensions import db
    from models import (AuditEntry, Event, Notification, OutboxMail, PasswordToken, RevokedToken, Stream)

    tables = {"events": Event, "streams": Stream, "notifications": Notification, "audit entries": AuditEntry,
              "outbox mails": OutboxMail, "revoked tokens": RevokedToken, "password links": PasswordToken}
    return {label: db.session.scalar(select(func.count()).select_from(model)) for label, model in tables.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", help="a scratch database (default: a temporary SQLite file)")
    parser.add_argument("--days", type=int, default=45)
    parser.add_argument("--conversations-per-day", type=int, default=1000)
    args = parser.parse_args(argv)
    scratch = None
    url = args.url
    if not url:
        scratch = tempfile.mkdtemp(prefix="retention-bench-")
        url = f"sqlite:///{scratch}/bench.db"
    from config import _normalise_db_url
    from extensions import db
    from models.base import utcnow
    from services.retention import prune_once

    app = _app(_normalise_db_url(url))
    with app.app_context():
        db.drop_all()
        db.create_all()
        try:
            began = time.monotonic()
            fill(args.days, args.conversations_per_day, utcnow())
            print(f"{args.days} days at {args.conversations_per_day} conversations a day written in "
                  f"{time.monotonic() - began:.1f} s ({db.engine.dialect.name})")
            before = counts()
            began = time.monotonic()
            first = prune_once()
            first_s = time.monotonic() - began
            after_first = counts()
            rounds, began = int(any(first.values())), time.monotonic()
            while any(prune_once().values()):
                rounds += 1
            rest_s = time.monotonic() - began
            after = counts()
            print(f"first round (batches of {app.config['RETENTION_BATCH_SIZE']}, at most "
                  f"{app.config['RETENTION_MAX_BATCHES']} a table): {first_s:.1f} s; {rounds} rounds removed rows, "
                  f"the ones after the first {rest_s:.1f} s")
            print(f"{'table':<16}{'before':>12}{'after round 1':>15}{'after all':>12}")
            for label in before:
                print(f"{label:<16}{before[label]:>12,}{after_first[label]:>15,}{after[label]:>12,}")
            print("removed in round 1:", ", ".join(f"{k} {v:,}" for k, v in first.items()))
            if db.engine.dialect.name == "sqlite":
                size = os.path.getsize(url.split("///", 1)[1])
                print(f"SQLite file: {size / 2**20:.0f} MiB (deleted pages are reused, not returned, without VACUUM)")
        finally:
            db.session.remove()
            db.drop_all()
            db.engine.dispose()
    if scratch:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
