"""CPU time per chat message on the socket path, in one process, over a fixed number of messages.

    python -m bench.hot_path [--database-url URL] [--redis-url URL] [--messages 2000] [--rounds 3] [--profile]
                             [--concurrency N] [--no-group-commit]

What a worker does for each message, without the network or the WebSocket framing (the same for every
variant measured, so left out): the sender's frame through SocketSession.handle_text (parse, validate,
rate limit, load the sender, insert, events, commit, publish), the ack written as JSON, then on each
socket following the conversation (the visitor's and the agent's) the broker's notification through
SocketSession.deliver and the frame written as JSON. The process's CPU time (every thread: the Redis
listener's too) over the messages, divided by their number, is the figure; the wall clock moves with
whatever else the machine runs, CPU time much less. Visitors and agents send in turn, in batches of
--batch sends before their deliveries are taken. With --concurrency N the sends of a batch go out from N
threads at once, as a worker's sockets do under load, so the group commit (services/group_commit.py) can
write them together; --no-group-commit sends each in its own transaction, for the comparison.

It seeds a scratch database (`bench_hot_<run>` on PostgreSQL, dropped at the end; a temporary SQLite
file without --database-url) with bench/seed.py's workspace. With --profile one more round runs under
cProfile (counting the main thread's CPU time, not the wall clock) and its own time is split into the
report's parts (bench/profile_summary.py's names; the broker's listener thread is not in it).
"""
import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, deque

from bench.profile_summary import PARTS


def _part_of_file(filename):
    for name, prefixes in PARTS:
        if name == "our code":
            if any(f"/{prefix}" in filename or filename.startswith(prefix) for prefix in prefixes
                   if "site-packages" not in filename):
                return name
        elif any(prefix in filename for prefix in prefixes):
            return name
    return "other (stdlib, interpreter)"


class Harness:
    def __init__(self, app, seed, batch, concurrency=1):
        from blueprints.socket_protocol import SocketSession, TokenBucket
        from extensions import db
        from models import User
        from models.conversation import Visitor
        from services.core import finish

        self.app, self.batch = app, batch
        self.pool = None
        if concurrency > 1:
            from concurrent.futures import ThreadPoolExecutor

            self.pool = ThreadPoolExecutor(concurrency, initializer=lambda: app.app_context().push())
        self.inbox = deque()
        self.arrived = threading.Event()
        self.senders = []  # (session, conversation id)
        self.sessions = []
        self.delivered = 0
        self.expected = 0
        self.texts = Counter()
        with app.app_context():
            for agent in seed["agents"]:
                session = self._session(SocketSession, TokenBucket, db.session.get(User, agent["id"]))
                for conversation_id in agent["conversations"]:
                    self.senders.append((session, conversation_id))
            for entry in seed["active"]:
                session = self._session(SocketSession, TokenBucket, db.session.get(Visitor, entry["id"]))
                self.senders.append((session, entry["conversation"]))
            finish()
        self.seq = 0

    def _session(self, cls, bucket, principal):
        inbox, arrived = self.inbox, self.arrived
        session = cls(principal, push=None)

        def push(stream, frame):
            inbox.append((session, stream, frame))
            arrived.set()

        session.push = push
        session.bucket = bucket(1e9, 1e9)  # the benchmark sends faster than a client may; the bucket still runs
        self.sessions.append(session)
        frames = session.handle_text(json.dumps({"type": "resume", "positions": {}, "ref": "r"}))
        assert frames[0]["type"] == "ack", frames
        return session

    def run(self, messages):
        """Send `messages` messages; returns (process cpu seconds, wall seconds, this thread's cpu seconds)."""
        from blueprints.ws import _dump

        cpu0, wall0, own0 = time.process_time(), time.perf_counter(), time.thread_time()
        with self.app.app_context():
            sent = 0
            while sent < messages:
                sends = []
                for _ in range(min(self.batch, messages - sent)):
                    session, conversation_id = self.senders[self.seq % len(self.senders)]
                    self.seq += 1
                    sent += 1
                    text = json.dumps({"type": "message.send", "ref": f"m{self.seq}", "conversation_id": conversation_id,
                                       "client_id": f"hot-{self.seq}", "text": f"message {self.seq} " + "x" * 180})
                    sends.append((session, text))
                    self.expected += 2  # the visitor's socket and the agent's
                if self.pool is None:
                    answers = [session.handle_text(text) for session, text in sends]
                else:
                    answers = list(self.pool.map(lambda send: send[0].handle_text(send[1]), sends))
                for frames in answers:
                    for frame in frames:
                        if frame["type"] != "ack":
                            raise RuntimeError(f"message.send refused: {frame}")
                        _dump(frame)
                self._drain()
        return time.process_time() - cpu0, time.perf_counter() - wall0, time.thread_time() - own0

    def _drain(self, timeout=10.0):
        from blueprints.ws import _dump

        deadline = time.monotonic() + timeout
        while self.delivered < self.expected:
            try:
                session, stream, frame = self.inbox.popleft()
            except IndexError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.expected - self.delivered} deliveries missing")
                self.arrived.wait(0.05)
                self.arrived.clear()
                continue
            for out in session.deliver(stream, frame):
                _dump(out)
                if out.get("type") == "message.created":
                    self.delivered += 1
                    self.texts[out["data"]["message"]["id"]] += 1


def _batch_sizes():
    """{batch size bucket: batches} from the process's livechat_message_batch_size histogram."""
    from metrics import MESSAGE_BATCH

    sizes, below = {}, 0
    for sample in MESSAGE_BATCH.collect()[0].samples:
        if sample.name.endswith("_bucket") and sample.labels["le"] != "+Inf":
            sizes[f"<={float(sample.labels['le']):g}"] = int(sample.value) - below
            below = int(sample.value)
    return sizes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="", help="a PostgreSQL database to create a scratch one from")
    parser.add_argument("--redis-url", default="", help="Redis for the broker (none: the in-process broker)")
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--concurrency", type=int, default=1, help="threads sending each batch at once")
    parser.add_argument("--no-group-commit", action="store_true", help="one transaction per message")
    args = parser.parse_args(argv)

    from bench.seed import seed_schema

    run_id = uuid.uuid4().hex[:8]
    scratch, admin = None, None
    if args.database_url:
        import psycopg

        admin = args.database_url.replace("postgresql+psycopg://", "postgresql://")
        scratch = f"bench_hot_{run_id}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{scratch}"')
        url = "postgresql+psycopg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + "/" + scratch
    else:
        folder = tempfile.mkdtemp(prefix="hot-path-")
        url = f"sqlite:///{os.path.join(folder, 'hot.db')}"
    try:
        seed = seed_schema(url, {"agents": args.agents, "chats_per_agent": 3, "idle_max": 0, "max_chats": 4,
                                 "request_timeout_s": 30})
        from app import create_app
        from config import Config

        app = create_app(Config, SQLALCHEMY_DATABASE_URI=url, REDIS_URL=args.redis_url or None,
                         BROKER_PREFIX=f"bench-hot-{run_id}", PASSWORD_HASH_PROFILE="fast",
                         OUTBOX_SENDER_THREAD=False, SWEEPER_THREAD=False, JWT_SECRET_KEY="hot-path-" + "x" * 32,
                         TEST_SERVER=True, PUBLIC_URL="http://127.0.0.1",
                         MESSAGE_GROUP_COMMIT=not args.no_group_commit)
        harness = Harness(app, seed, args.batch, args.concurrency)
        harness.run(args.warmup)
        rounds = []
        for _ in range(args.rounds):
            cpu, wall, own = harness.run(args.messages)
            rounds.append({"cpu_ms_per_message": round(1000 * cpu / args.messages, 3),
                           "main_thread_cpu_ms_per_message": round(1000 * own / args.messages, 3),
                           "wall_ms_per_message": round(1000 * wall / args.messages, 3)})
        out = {"database": app.config["SQLALCHEMY_DATABASE_URI"].split(":", 1)[0],
               "broker": "redis" if args.redis_url else "memory", "messages": args.messages, "rounds": rounds,
               "concurrency": args.concurrency, "group_commit": not args.no_group_commit,
               "batch_sizes": _batch_sizes(),
               "cpu_ms_per_message_median": statistics.median(r["cpu_ms_per_message"] for r in rounds),
               "cpu_ms_per_message_min": min(r["cpu_ms_per_message"] for r in rounds)}
        if args.profile:
            profiler = cProfile.Profile(time.thread_time)  # CPU time, not the wall clock's waits
            profiler.enable()
            harness.run(args.messages)
            profiler.disable()
            stats = pstats.Stats(profiler)
            parts, total = Counter(), 0.0
            for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():
                parts[_part_of_file(filename)] += tottime
                total += tottime
            out["profile_own_time_shares"] = {name: round(parts[name] / total, 3) for name, _ in
                                              [*PARTS, ("other (stdlib, interpreter)", None)]}
            stats.sort_stats("tottime").print_stats(25)
        duplicates = sum(1 for n in harness.texts.values() if n != 2)
        out["messages_not_delivered_exactly_twice"] = duplicates
        app.extensions["broker"].close()
        print(json.dumps(out, indent=1))
    finally:
        if scratch:
            import psycopg

            from extensions import db

            try:
                with app.app_context():
                    db.engine.dispose()
            except Exception:  # noqa: BLE001
                pass
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    return 0


if __name__ == "__main__":
    sys.exit(main())
