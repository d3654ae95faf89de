"""Baselines (a) and (b): a bare `websockets` asyncio server speaking the product's frames.

(a) `--mode relay`: no framework, no storage, no authentication: the transport limit.
(b) `--mode store`: the same, plus a PostgreSQL insert per message (one statement that
    takes the next sequence number under the conversation's row lock, as the product
    does) and Redis publish/subscribe for the fan-out: our work without Flask.

Commands: resume, subscribe, ping, message.send, and bench.live_request (the
stand-in for a visitor's live chat request: one event to every agent). The
principal comes from the query string (?kind=user|visitor&id=N&conv=N).
"""
import argparse
import asyncio
import json
import signal
import time
from collections import defaultdict
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve

DUMP = dict(separators=(",", ":"))

SCHEMA = """
create table if not exists b_conversations (id bigint primary key, last_seq bigint not null default 0);
create table if not exists b_messages (
  id bigserial primary key, conversation_id bigint not null, seq bigint not null, sender text not null,
  client_id text not null, text text not null, created_at timestamptz not null default now(),
  unique (conversation_id, seq), unique (conversation_id, sender, client_id));
create table if not exists b_notifications (
  id bigserial primary key, user_id bigint not null, conversation_id bigint not null,
  created_at timestamptz not null default now());
"""

INSERT = """
with s as (
  insert into b_conversations (id, last_seq) values (%(c)s, 1)
  on conflict (id) do update set last_seq = b_conversations.last_seq + 1 returning last_seq)
insert into b_messages (conversation_id, seq, sender, client_id, text)
select %(c)s, s.last_seq, %(s)s, %(k)s, %(t)s from s
on conflict (conversation_id, sender, client_id) do nothing
returning id, seq
"""


class Hub:
    """Local subscribers by stream; (b) routes every publish through Redis first."""

    def __init__(self, mode, database_url=None, redis_url=None, pool_size=10, prefix="bench-b"):
        self.mode = mode
        self.subscribers = defaultdict(set)
        self.agents = set()
        self.positions = defaultdict(int)
        self.seen = {}
        self.database_url, self.redis_url = database_url, redis_url
        self.pool_size, self.prefix = pool_size, prefix
        self.pool = None
        self.redis = None

    async def start(self):
        if self.mode != "store":
            return
        import psycopg
        import redis.asyncio as aioredis

        self.pool = asyncio.Queue()
        for _ in range(self.pool_size):
            conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
            await self.pool.put(conn)
        conn = await self.pool.get()
        await conn.execute(SCHEMA)
        await self.pool.put(conn)
        self.redis = aioredis.Redis.from_url(self.redis_url)
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe(self.prefix + ":*")
        self.listener = asyncio.ensure_future(self._listen(pubsub))

    async def _listen(self, pubsub):
        strip = len(self.prefix) + 1
        async for message in pubsub.listen():
            if message.get("type") != "pmessage":
                continue
            stream = message["channel"].decode()[strip:]
            self.dispatch(stream, message["data"].decode())

    def dispatch(self, stream, text):
        targets = self.agents if stream == "agents" else self.subscribers.get(stream, ())
        for ws in list(targets):
            ws.queue.put_nowait(text)

    async def publish(self, stream, frame):
        text = json.dumps(frame, **DUMP)
        if self.redis is not None:
            await self.redis.publish(f"{self.prefix}:{stream}", text)
        else:
            self.dispatch(stream, text)

    async def store_message(self, conversation_id, sender, client_id, text):
        """Returns (seq, created)."""
        if self.pool is None:
            key = (conversation_id, sender, client_id)
            if key in self.seen:
                return self.seen[key], False
            self.positions[conversation_id] += 1
            self.seen[key] = self.positions[conversation_id]
            return self.seen[key], True
        conn = await self.pool.get()
        try:
            cur = await conn.execute(INSERT, {"c": conversation_id, "s": sender, "k": client_id, "t": text})
            row = await cur.fetchone()
        finally:
            await self.pool.put(conn)
        if row is None:  # a retry: the first one stands
            return None, False
        return row[1], True

    async def store_notifications(self, user_ids, conversation_id):
        if self.pool is None or not user_ids:
            return
        conn = await self.pool.get()
        try:
            async with conn.cursor() as cur:
                await cur.executemany("insert into b_notifications (user_id, conversation_id) values (%s, %s)",
                                      [(u, conversation_id) for u in user_ids])
        finally:
            await self.pool.put(conn)


def at():
    return datetime.now(timezone.utc).isoformat()


async def handler(ws, hub):
    query = parse_qs(urlsplit(ws.request.path).query)
    kind = query.get("kind", ["visitor"])[0]
    ident = int(query.get("id", ["0"])[0])
    conv = int(query.get("conv", ["0"])[0])
    default = f"user:{ident}" if kind == "user" else f"conversation:{conv}"
    ws.queue = asyncio.Queue()
    streams = set()
    positions = defaultdict(int)
    await ws.send(json.dumps({"type": "hello", "kind": kind, "id": ident, "streams": {default: 0},
                              "commands": ["resume", "subscribe", "ping", "message.send"]}, **DUMP))

    async def writer():
        while True:
            text = await ws.queue.get()
            await ws.send(text)

    writing = asyncio.ensure_future(writer())

    def subscribe(stream):
        streams.add(stream)
        hub.subscribers[stream].add(ws)

    try:
        async for text in ws:
            frame = json.loads(text)
            kind_ = frame.get("type")
            ref = frame.get("ref")
            if kind_ == "resume":
                subscribe(default)
                if kind == "user":
                    hub.agents.add(ws)
                ws.queue.put_nowait(json.dumps({"type": "ack", "ref": ref, "data": {"positions": dict(positions)}}))
            elif kind_ == "subscribe":
                subscribe(frame["stream"])
                ws.queue.put_nowait(json.dumps({"type": "ack", "ref": ref, "data": {"stream": frame["stream"], "pos": 0}}))
            elif kind_ == "ping":
                ws.queue.put_nowait(json.dumps({"type": "pong", "ref": ref}))
            elif kind_ == "message.send":
                conversation_id = frame["conversation_id"]
                sender = "agent" if kind == "user" else "visitor"
                seq, created = await hub.store_message(conversation_id, sender, frame["client_id"], frame["text"])
                if created:
                    stream = f"conversation:{conversation_id}"
                    await hub.publish(stream, {
                        "type": "message.created", "stream": stream, "pos": seq, "at": at(),
                        "data": {"message": {"conversation_id": conversation_id, "seq": seq, "sender_type": sender,
                                             "sender_id": ident, "client_id": frame["client_id"],
                                             "text": frame["text"]}}})
                ws.queue.put_nowait(json.dumps({"type": "ack", "ref": ref, "data": {"seq": seq, "created": created}},
                                               **DUMP))
            elif kind_ == "bench.live_request":
                conversation_id = frame["conversation_id"]
                users = sorted(int(s.split(":")[1]) for s in hub.subscribers if s.startswith("user:"))
                await hub.store_notifications(users, conversation_id)
                await hub.publish("agents", {"type": "live_chat_request", "stream": "agents", "at": at(),
                                             "data": {"conversation_id": conversation_id, "request_id": None}})
            else:
                ws.queue.put_nowait(json.dumps({"type": "error", "code": "unknown_type", "status": 400, "ref": ref}))
    finally:
        writing.cancel()
        hub.agents.discard(ws)
        for stream in streams:
            hub.subscribers[stream].discard(ws)
            if not hub.subscribers[stream]:
                del hub.subscribers[stream]


async def main_async(args):
    hub = Hub(args.mode, args.database_url, args.redis_url, prefix=args.prefix)
    await hub.start()
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    async with serve(lambda ws: handler(ws, hub), args.host, args.port, ping_interval=25, ping_timeout=20,
                     max_size=64 * 1024, compression="deflate", backlog=4096):
        await asyncio.wait([stop, asyncio.ensure_future(asyncio.sleep(args.max_seconds))],
                           return_when=asyncio.FIRST_COMPLETED)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mode", choices=["relay", "store"], required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--prefix", default=f"bench-b-{int(time.time())}")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop by itself after this long")
    args = parser.parse_args()
    from bench.measure import raise_fd_limit

    raise_fd_limit()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
