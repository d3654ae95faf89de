"""The load generator: one asyncio process, the same client for every target.

It reads a plan (JSON) written by bench/run.py, drives one server over
loopback and writes its figures (JSON). Sends follow an open-loop schedule:
every send has a scheduled time, is fired as its own task at that time whether
or not earlier sends were answered, and latencies are measured from the
scheduled time, so a slow server cannot slow the generator down and hide its
own queueing.

Targets speak one of two framings: the product's JSON frames (the product and
baselines a and b) or Socket.IO carrying the same frames (baseline c).
"""
import argparse
import asyncio
import json
import random
import sys
import time
from collections import defaultdict
from urllib.parse import quote

from websockets.asyncio.client import connect

from bench.measure import ProcessGroup, machine_cpu, raise_fd_limit, self_cpu, services_cpu, summary_ms

TEXT_BYTES = 200
SDP = ("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
       "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:96 VP8/90000\r\n"
       "a=rtpmap:97 H264/90000\r\na=ice-ufrag:benchufrag\r\na=ice-pwd:benchpasswordbenchpassword\r\n"
       "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\na=sendrecv\r\n")
CANDIDATES_PER_SIDE = 9
SIGNALS = ("call.offer", "call.answer", "call.candidate")
HTTP_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 30


GENERATOR_BOUND_PCT = 90.0  # the generator's CPU (% of its core) in a step at which the step measured it


def now():
    return time.monotonic()


def message_text(tag):
    head = tag + "|"
    return head + "x" * (TEXT_BYTES - len(head))


# -- framings -----------------------------------------------------------------


class JsonCodec:
    """The product's protocol: one JSON object per WebSocket message."""

    name = "json"

    def encode(self, frame):
        return json.dumps(frame, separators=(",", ":"))

    def decode(self, text, conn):
        return [json.loads(text)]


class SocketIOCodec:
    """Engine.IO 4 / Socket.IO 5 over a WebSocket; frames travel as the events "cmd" and "frame"."""

    name = "socketio"

    def encode(self, frame):
        return "42" + json.dumps(["cmd", frame], separators=(",", ":"))

    def decode(self, text, conn):
        if text.startswith("42"):
            event, *args = json.loads(text[2:])
            return [args[0]] if event == "frame" and args else []
        if text == "2":  # Engine.IO ping: answer or be dropped
            conn.spawn(conn.ws.send("3"))
        elif text.startswith("0"):
            conn.spawn(conn.ws.send("40"))
        return []


# -- HTTP (REST) ----------------------------------------------------------------


async def http(host, port, method, path, body=None, token=None, origin=None):
    """One HTTP/1.1 request on its own connection; returns (status, json or None)."""
    async def run():
        reader, writer = await asyncio.open_connection(host, port)
        try:
            data = json.dumps(body).encode() if body is not None else b""
            head = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close",
                    f"Content-Length: {len(data)}"]
            if body is not None:
                head.append("Content-Type: application/json")
            if token:
                head.append(f"Authorization: Bearer {token}")
            if origin:
                head.append(f"Origin: {origin}")
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
            await writer.drain()
            raw = await reader.read()
        finally:
            writer.close()
        header, _, payload = raw.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        if any(line.lower().startswith("transfer-encoding: chunked") for line in lines[1:]):
            payload = _unchunk(payload)
        try:
            return status, json.loads(payload) if payload else None
        except ValueError:
            return status, None

    return await asyncio.wait_for(run(), HTTP_TIMEOUT_S)


def _unchunk(payload):
    out = b""
    while payload:
        size_line, _, rest = payload.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += rest[:size]
        payload = rest[size + 2:]
    return out


# -- connections ------------------------------------------------------------------


class Conn:
    """One WebSocket: a visitor's widget or an agent's dashboard."""

    def __init__(self, gen, role, index, ident, conversations, url, origin):
        self.gen = gen
        self.role = role            # "agent", "visitor" (active), "idle"
        self.index = index
        self.ident = ident          # user id or visitor id
        self.conversations = list(conversations)
        self.url = url
        self.origin = origin
        self.ws = None
        self.hello = None
        self.waiting = {}
        self.last_pos = {}
        self.closed = False
        self.tasks = set()
        self.commands = ()

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def open(self, compression):
        loop = asyncio.get_running_loop()
        self.hello = loop.create_future()
        self.ws = await connect(self.url, origin=self.origin, compression="deflate" if compression else None,
                                open_timeout=self.gen.plan["connect_timeout_s"], ping_interval=None, close_timeout=2,
                                max_size=2 ** 22, max_queue=None)
        self.reader = asyncio.ensure_future(self._read())
        hello = await asyncio.wait_for(self.hello, self.gen.plan["connect_timeout_s"])
        self.commands = tuple(hello.get("commands") or ())
        await self.command({"type": "resume", "positions": {}}, "resume")
        if self.role == "agent":
            for conversation_id in self.conversations:
                await self.command({"type": "subscribe", "stream": f"conversation:{conversation_id}"},
                                   f"sub{conversation_id}")

    async def command(self, frame, ref, timeout=CONNECT_TIMEOUT_S):
        future = asyncio.get_running_loop().create_future()
        self.waiting[ref] = future
        await self.ws.send(self.gen.codec.encode({**frame, "ref": ref}))
        reply = await asyncio.wait_for(future, timeout)
        if reply.get("type") == "error":
            raise RuntimeError(f"{frame['type']} refused: {reply}")
        return reply

    def send(self, frame):
        """Fire a frame without waiting (open loop)."""
        if self.closed:
            return
        self.spawn(self._send(self.gen.codec.encode(frame)))

    async def _send(self, text):
        try:
            await self.ws.send(text)
        except Exception:
            self.gen.counters["send_failed"] += 1

    async def _read(self):
        codec = self.gen.codec
        try:
            async for text in self.ws:
                at = now()
                for frame in codec.decode(text, self):
                    self.gen.on_frame(self, frame, at)
        except Exception as error:  # noqa: BLE001 - any end of the socket is counted
            self.gen.counters["read_error:" + type(error).__name__] += 1
        finally:
            self.closed = True
            if self.hello is not None and not self.hello.done():
                self.hello.set_exception(ConnectionError("closed before hello"))

    async def close(self):
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:
                pass


# -- the generator ----------------------------------------------------------------


class Generator:
    def __init__(self, plan):
        self.plan = plan
        self.codec = SocketIOCodec() if plan["framing"] == "socketio" else JsonCodec()
        self.host, self.port = plan["host"], plan["port"]
        self.server = ProcessGroup(plan["server_pid"]) if plan.get("server_pid") else None
        self.counters = defaultdict(int)
        self.conns = []
        self.agents, self.visitors, self.idle = [], [], []
        self.sent = {}                      # tag -> [scheduled, conversation, sender kind, phase]
        self.delivered = defaultdict(list)  # tag -> [receive times at the counterpart]
        self.echoed = defaultdict(int)      # tag -> times the sender's own socket saw it
        self.acks = {}                      # tag -> (time, created)
        self.refused = {}                   # tag -> error code the server answered the send with
        self.lat = defaultdict(list)        # metric -> seconds
        self.phase = "setup"
        self.answering = None
        self.tag_seq = 0
        self.requests = {}                  # conversation id -> request record
        self.request_seq = 0
        self.agent_of_conv = {}
        self.active_count = {}              # agent index -> open chats as the generator counts them
        self.capacity_violations = 0
        self.pos_dup = 0
        self.pos_gap = 0
        self.errors = defaultdict(int)
        self.rest_lat = defaultdict(list)
        self.rest_status = defaultdict(int)
        self.tokens = []
        self.figures = {"target": plan["target"], "mode": plan["mode"], "compression": plan["compression"]}
        self.tasks = set()
        self.calls = []
        self.call_by_id = {}
        self.visitor_of_conv = {}

    # -- helpers ------------------------------------------------------------------

    def spawn(self, coro):
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def sample(self):
        out = self.server.sample(self.port) if self.server else {"t": now(), "cpu_s": 0, "rss": 0, "held": 0}
        out["gen_cpu_s"] = self_cpu()
        out["machine_cpu_s"] = machine_cpu()
        out["svc_cpu_s"] = services_cpu()
        out["open"] = sum(1 for c in self.conns if not c.closed)
        return out

    def url_for(self, role, entry):
        plan = self.plan
        if plan["kind"] == "product":
            return f"ws://{self.host}:{self.port}/ws?ticket={quote(entry['ticket'])}"
        kind = "user" if role == "agent" else "visitor"
        conv = entry.get("conversation", 0)
        query = f"kind={kind}&id={entry['id']}&conv={conv}"
        if plan["framing"] == "socketio":
            return f"ws://{self.host}:{self.port}/socket.io/?EIO=4&transport=websocket&{query}"
        return f"ws://{self.host}:{self.port}/ws?{query}"

    def new_tag(self, kind, conversation_id):
        self.tag_seq += 1
        return f"{kind}{conversation_id}.{self.tag_seq}"

    # -- frames from the server ---------------------------------------------------

    def on_frame(self, conn, frame, at):
        kind = frame.get("type")
        if kind == "hello":
            if not conn.hello.done():
                conn.hello.set_result(frame)
            return
        if kind in ("ack", "error"):
            ref = frame.get("ref")
            if kind == "error":
                self.errors[frame.get("code", "?")] += 1
            future = conn.waiting.pop(ref, None) if ref else None
            if future is not None and not future.done():
                future.set_result(frame)
                return
            if ref and ref.startswith("m:"):
                tag = ref[2:]
                if kind == "ack":
                    self.acks[tag] = (at, bool((frame.get("data") or {}).get("created", True)))
                    record = self.sent.get(tag)
                    if record:
                        self.lat["ack_" + record[3]].append(at - record[0])
                else:
                    self.refused[tag] = frame.get("code")
                return
            if ref and ref.startswith("acc:"):
                self.on_accept_reply(conn, ref, frame, at)
                return
            if ref and ref.startswith("end:"):
                if kind == "ack":
                    self.active_count[conn.index] = self.active_count.get(conn.index, 0) - 1
                return
            return
        stream, pos = frame.get("stream"), frame.get("pos")
        if pos is not None and stream:
            last = conn.last_pos.get(stream)
            if last is not None:
                if pos <= last:
                    self.pos_dup += 1
                    return
                if pos > last + 1:
                    self.pos_gap += 1
            conn.last_pos[stream] = pos
        if kind == "message.created":
            self.on_message(conn, frame, at)
        elif kind in ("live_chat_request", "video_chat_request"):
            self.on_request_notice(conn, frame, at)
        elif kind in SIGNALS:
            self.on_signal(conn, frame, at)
        elif kind == "refetch":
            self.counters["refetch"] += 1
        else:
            self.counters["event:" + str(kind)] += 1

    def on_message(self, conn, frame, at):
        message = (frame.get("data") or {}).get("message") or {}
        tag = (message.get("text") or "").split("|", 1)[0]
        record = self.sent.get(tag)
        if record is None:
            self.counters["message_other"] += 1
            return
        scheduled, conversation_id, sender, phase = record
        counterpart = (sender == "v" and conn.role == "agent") or (sender == "a" and conn.role == "visitor")
        if not counterpart:
            self.echoed[tag] += 1
            return
        self.delivered[tag].append(at)
        if len(self.delivered[tag]) == 1:
            self.lat[("v2a_" if sender == "v" else "a2v_") + phase].append(at - scheduled)
        if sender == "v" and self.answering and phase == self.answering:
            reply = self.new_tag("a", conversation_id)
            self.sent[reply] = [at, conversation_id, "a", phase]
            conn.send({"type": "message.send", "conversation_id": conversation_id, "client_id": reply,
                       "text": message_text(reply), "ref": "m:" + reply})

    # -- video call set-up ------------------------------------------------------------

    def on_signal(self, conn, frame, at):
        data = frame.get("data") or {}
        record = self.call_by_id.get(data.get("call_id"))
        if record is None:
            self.counters["signal_other"] += 1
            return
        key = (data.get("candidate") or {}).get("candidate") if frame["type"] == "call.candidate" else frame["type"]
        sent = record["sent"].get(key)
        if sent is None or key in record["received"]:
            record["unexpected"] += 1
            return
        record["received"].add(key)
        record["relay"].append(at - sent)
        if frame["type"] == "call.offer" and not record["offer_rx"].done():
            record["offer_rx"].set_result(at)
        if len(record["received"]) == record["expected"] and not record["done"].done():
            record["done"].set_result(at)

    async def video_call(self, t_scheduled, index):
        """An agent offers video in a chat; offer, answer and 9 candidates each way; hang up."""
        agents = [a for a in self.agents if not a.closed]
        if not agents:
            return
        agent = agents[index % len(agents)]
        conversation_id = agent.conversations[(index // len(agents)) % len(agent.conversations)]
        visitor = self.visitor_of_conv.get(conversation_id)
        if visitor is None or visitor.closed or "call.offer_video" not in agent.commands:
            self.counters["video_not_possible"] += 1
            return
        loop = asyncio.get_running_loop()
        record = {"t0": now(), "sent": {}, "received": set(), "relay": [], "unexpected": 0,
                  "expected": 2 + 2 * CANDIDATES_PER_SIDE, "offer_rx": loop.create_future(),
                  "done": loop.create_future(), "setup_s": None, "error": None}
        self.calls.append(record)
        call_id = None
        try:
            ack = await agent.command({"type": "call.offer_video", "conversation_id": conversation_id},
                                      f"cv{index}", timeout=20)
            call_id = ack["data"]["call"]["id"]
            self.call_by_id[call_id] = record
            await visitor.command({"type": "call.accept_video", "call_id": call_id}, f"ca{index}", timeout=20)
            record["sent"]["call.offer"] = now()
            agent.send({"type": "call.offer", "call_id": call_id, "sdp": SDP, "ref": f"co{index}"})
            await asyncio.wait_for(record["offer_rx"], 20)
            record["sent"]["call.answer"] = now()
            visitor.send({"type": "call.answer", "call_id": call_id, "sdp": SDP, "ref": f"cn{index}"})
            for i in range(CANDIDATES_PER_SIDE):
                for side, conn in ((0, agent), (1, visitor)):
                    line = f"candidate:{i} 1 udp 2130706431 127.0.0.1 {20000 + (index % 2000) * 20 + i * 2 + side} typ host"
                    record["sent"][line] = now()
                    conn.send({"type": "call.candidate", "call_id": call_id, "ref": f"cc{index}.{i}.{side}",
                               "candidate": {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}})
            await asyncio.wait_for(record["done"], 20)
            record["setup_s"] = now() - record["t0"]
        except Exception as error:  # noqa: BLE001
            record["error"] = f"{type(error).__name__}: {str(error)[:120]}"
        finally:
            if call_id is not None:
                await asyncio.sleep(1.0)
                try:
                    await agent.command({"type": "call.hangup", "call_id": call_id}, f"ch{index}", timeout=20)
                except Exception as error:  # noqa: BLE001
                    self.counters["video_hangup_error:" + type(error).__name__] += 1

    def video_figures(self, records):
        relay = [x for r in records for x in r["relay"]]
        errors = defaultdict(int)
        for r in records:
            if r["error"]:
                errors[r["error"]] += 1
        return {"started": len(records), "completed": sum(1 for r in records if r["setup_s"] is not None),
                "setup_ms": summary_ms([r["setup_s"] for r in records if r["setup_s"] is not None]),
                "signal_relay_ms": summary_ms(relay), "unexpected_signals": sum(r["unexpected"] for r in records),
                "errors": dict(errors)}

    # -- live requests and the accept race -----------------------------------------

    def on_request_notice(self, conn, frame, at):
        data = frame.get("data") or {}
        record = self.requests.get(data.get("conversation_id"))
        if record is None:
            self.counters["notice_other"] += 1
            return
        record["notified"][conn.index] = at
        record["request_id"] = data.get("request_id")
        if record["racers"] and conn.index in record["racers"] and "request.accept" in conn.commands:
            ref = f"acc:{data['conversation_id']}:{conn.index}"
            record["accept_sent"][conn.index] = now()
            conn.send({"type": "request.accept", "request_id": data["request_id"], "ref": ref})

    def on_accept_reply(self, conn, ref, frame, at):
        _, conversation_id, _ = ref.split(":")
        record = self.requests.get(int(conversation_id))
        if record is None:
            return
        sent = record["accept_sent"].get(conn.index, at)
        if frame["type"] == "ack":
            record["winners"].append(conn.index)
            self.lat["accept_won"].append(at - sent)
            count = self.active_count.get(conn.index, 0) + 1
            self.active_count[conn.index] = count
            if count > self.plan["max_chats"]:
                self.capacity_violations += 1
            if "conversation.end" in conn.commands:
                self.spawn(self.end_later(conn, int(conversation_id)))
        else:
            record["losers"].append(frame.get("code"))
            self.lat["accept_lost"].append(at - sent)

    async def end_later(self, conn, conversation_id):
        await asyncio.sleep(self.plan["hold_accepted_s"])
        conn.send({"type": "conversation.end", "conversation_id": conversation_id, "ref": f"end:{conversation_id}"})

    async def product_request(self, t_scheduled, index):
        """A new visitor opens the widget and presses Live chat; all agents are told."""
        plan = self.plan
        key, origin = plan["public_key"], plan["widget_origin"]
        try:
            status, opened = await http(self.host, self.port, "POST", f"/api/widget/{key}/sessions", {},
                                        origin=origin)
            if status != 201:
                self.counters[f"request_open_{status}"] += 1
                return
            conversation_id = opened["conversation"]["id"]
            buttons = [b.get("id") for m in opened.get("messages", []) for b in ((m.get("data") or {}).get("buttons") or [])]
            button = "live_chat" if "live_chat" in buttons else (buttons[0] if buttons else "live_chat")
            record = self.new_request(conversation_id, index)
            record["t0"] = now()
            status, _ = await http(self.host, self.port, "POST",
                                   f"/api/widget/{key}/conversations/{conversation_id}/actions",
                                   {"type": "button", "button_id": button}, token=opened["visitor_token"],
                                   origin=origin)
            record["action_status"] = status
            record["action_s"] = now() - record["t0"]
        except Exception as error:  # noqa: BLE001
            self.counters["request_error:" + type(error).__name__] += 1

    def new_request(self, conversation_id, index):
        agents = len(self.agents)
        racers = {(index * 7 + k) % agents for k in range(min(3, agents))} if self.plan["accept"] else set()
        # Agents at their max chats are not offered the request: expect the others.
        expected = sum(1 for a in self.agents if not a.closed
                       and self.active_count.get(a.index, 0) < self.plan["max_chats"])
        record = {"t0": now(), "notified": {}, "racers": racers, "accept_sent": {}, "winners": [], "losers": [],
                  "request_id": None, "expected": expected}
        self.requests[conversation_id] = record
        return record

    async def baseline_request(self, t_scheduled, index):
        """The baselines' stand-in: one command that fans a request out to every agent."""
        if not self.idle:
            return
        conn = self.idle[index % len(self.idle)]
        self.request_seq += 1
        conversation_id = 10 ** 9 + self.request_seq  # a key of its own per request
        record = self.new_request(conversation_id, index)
        record["t0"] = now()
        conn.send({"type": "bench.live_request", "conversation_id": conversation_id})

    # -- schedules ------------------------------------------------------------------

    async def at(self, when):
        delay = when - now()
        if delay > 0:
            await asyncio.sleep(delay)

    async def visitor_schedule(self, conn, start, end, interval, phase):
        """Open loop: one message every `interval` s from a random offset, fired on time."""
        conversation_id = conn.conversations[0]
        t = start + random.uniform(0, interval)
        while t < end:
            await self.at(t)
            self.fire(conn, "v", conversation_id, t, phase)
            t += interval

    def fire(self, conn, sender, conversation_id, t, phase):
        tag = self.new_tag(sender, conversation_id)
        self.sent[tag] = [t, conversation_id, sender, phase]
        conn.send({"type": "message.send", "conversation_id": conversation_id, "client_id": tag,
                   "text": message_text(tag), "ref": "m:" + tag})

    async def periodic(self, start, end, interval, action):
        t, index = start, 0
        while t < end:
            await self.at(t)
            self.spawn(action(t, index))
            index += 1
            t += interval

    async def rest_probe(self, start, end, rate, bucket):
        paths = self.plan["rest_paths"]
        if not paths or not self.tokens:
            return

        async def one(t, index):
            path = paths[index % len(paths)]
            token = self.tokens[index % len(self.tokens)]
            try:
                status, _ = await http(self.host, self.port, "GET", path, token=token,
                                       origin=self.plan["dashboard_origin"])
            except Exception as error:  # noqa: BLE001
                status = type(error).__name__
            self.rest_status[f"{bucket}:{status}"] += 1
            self.rest_lat[bucket].append(now() - t)

        await self.periodic(start, end, 1.0 / rate, one)

    # -- phases -----------------------------------------------------------------------

    async def login_agents(self):
        if self.plan["kind"] != "product":
            return
        sem = asyncio.Semaphore(8)

        async def login(agent):
            async with sem:
                status, body = await http(self.host, self.port, "POST", "/api/auth/login",
                                          {"email": agent["email"], "password": self.plan["password"]},
                                          origin=self.plan["dashboard_origin"])
                if status != 200:
                    raise RuntimeError(f"login {agent['email']}: {status} {body}")
                return body["access_token"]

        self.tokens = await asyncio.gather(*(login(a) for a in self.plan["agents"]))
        # Warm every route once so imports and caches are not measured.
        for path in self.plan["rest_paths"]:
            await http(self.host, self.port, "GET", path, token=self.tokens[0], origin=self.plan["dashboard_origin"])

    async def open_many(self, conns, concurrency):
        sem = asyncio.Semaphore(concurrency)
        failures = defaultdict(int)
        started = now()

        async def one(conn):
            async with sem:
                try:
                    await conn.open(self.plan["compression"])
                except Exception as error:  # noqa: BLE001
                    failures[type(error).__name__ + ":" + str(error)[:80]] += 1
                    conn.closed = True

        await asyncio.gather(*(one(c) for c in conns))
        return {"opened": sum(1 for c in conns if not c.closed), "tried": len(conns),
                "seconds": round(now() - started, 2), "failures": dict(failures)}

    def make_conns(self, role, entries, offset=0):
        out = []
        for i, entry in enumerate(entries):
            origin = self.plan["dashboard_origin"] if role == "agent" else self.plan["widget_origin"]
            convs = entry.get("conversations") or [entry.get("conversation")]
            conn = Conn(self, role, offset + i, entry["id"], convs, self.url_for(role, entry), origin)
            out.append(conn)
            self.conns.append(conn)
        return out

    async def connect_active(self):
        self.agents = self.make_conns("agent", self.plan["agents"])
        self.visitors = self.make_conns("visitor", self.plan["active"])
        self.visitor_of_conv = {c.conversations[0]: c for c in self.visitors}
        for agent in self.agents:
            self.active_count[agent.index] = len(agent.conversations)
        result = await self.open_many(self.agents + self.visitors, 50)
        return result

    async def connect_idle(self, entries):
        conns = self.make_conns("idle", entries, offset=len(self.idle))
        self.idle.extend(conns)
        return await self.open_many(conns, self.plan["connect_concurrency"])

    async def drain(self, tags, grace):
        """Wait until every tag reached its counterpart, or grace seconds."""
        deadline = now() + grace
        while now() < deadline:
            if all(self.delivered.get(tag) for tag in tags):
                return True
            await asyncio.sleep(0.1)
        return False

    async def pg_activity(self, stop):
        """Every 0.5 s: the database's sessions by state and wait (lock waits show row-lock queues)."""
        dsn = self.plan.get("pg_dsn")
        if not dsn:
            return None
        import psycopg

        samples, waits, states, peak_lock = 0, defaultdict(int), defaultdict(int), 0
        blocked = defaultdict(int)
        try:
            conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
        except Exception:  # noqa: BLE001
            return None
        try:
            while not stop.is_set():
                cur = await conn.execute(
                    "select state, wait_event_type, wait_event, left(regexp_replace(query, '\\s+', ' ', 'g'), 48) "
                    "from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")
                rows = await cur.fetchall()
                samples += 1
                locks = 0
                for state, wait_type, wait, query in rows:
                    states[str(state)] += 1
                    if wait_type and wait_type not in ("Client", "Activity"):
                        waits[f"{wait_type}:{wait}"] += 1
                    if wait_type == "Lock":
                        locks += 1
                        blocked[query] += 1
                peak_lock = max(peak_lock, locks)
                try:
                    await asyncio.wait_for(stop.wait(), 0.5)
                except asyncio.TimeoutError:
                    pass
        finally:
            await conn.close()
        return {"samples": samples, "mean_sessions_by_state": {k: round(v / samples, 2) for k, v in states.items()},
                "mean_sessions_waiting": {k: round(v / samples, 2) for k, v in sorted(waits.items(), key=lambda i: -i[1])[:8]},
                "peak_sessions_waiting_on_locks": peak_lock,
                "statements_waiting_on_locks": {k: round(v / samples, 2)
                                                for k, v in sorted(blocked.items(), key=lambda i: -i[1])[:6]}}

    async def window(self, seconds, phase="window", requests=True, rest=True):
        """The design-point workload for `seconds`; returns its figures."""
        plan = self.plan
        stop_pg = asyncio.Event()
        pg_task = asyncio.ensure_future(self.pg_activity(stop_pg))
        before = self.sample()
        first_tag = self.tag_seq
        start = now() + 0.2
        end = start + seconds
        self.answering = phase  # agents answer the visitors' messages of this window
        jobs = [self.visitor_schedule(c, start, end, plan["message_interval_s"], phase)
                for c in self.visitors if not c.closed]
        first_request = len(self.requests)
        first_call = len(self.calls)
        if requests and plan.get("call_interval_s") and plan["kind"] == "product":
            jobs.append(self.periodic(start + 1.0, end, plan["call_interval_s"], self.video_call))
        if requests and plan["request_interval_s"]:
            action = self.product_request if plan["kind"] == "product" else self.baseline_request
            jobs.append(self.periodic(start + 0.5, end, plan["request_interval_s"], action))
        if rest and plan["kind"] == "product" and plan["rest_rate"]:
            jobs.append(self.rest_probe(start, end, plan["rest_rate"], "with_sockets_" + phase))
        for key in [k for k in self.lat if k.endswith("_" + phase)]:
            del self.lat[key]
        self.lat["accept_won"].clear()
        self.lat["accept_lost"].clear()
        await asyncio.gather(*jobs)
        stop_pg.set()
        pg = await pg_task
        self.answering = False
        tags = [t for t, r in self.sent.items() if r[3] == phase and int(t.split(".")[-1]) > first_tag]
        drained = await self.drain(tags, plan["grace_s"])
        pending_calls = [r["done"] for r in self.calls[first_call:] if not r["done"].done() and not r["error"]]
        if pending_calls:
            await asyncio.wait(pending_calls, timeout=plan["grace_s"])
        await asyncio.sleep(1.0)  # late notifications and acks
        after = self.sample()
        delivered = sum(1 for t in tags if self.delivered.get(t))
        cpu = after["cpu_s"] - before["cpu_s"]
        wall = after["t"] - before["t"]
        requests_made = list(self.requests.values())[first_request:]
        return {
            "seconds": round(wall, 2),
            "messages_sent": len(tags),
            "messages_delivered": delivered,
            "drained": drained,
            "visitor_to_agent_ms": summary_ms(self.lat.get("v2a_" + phase, [])),
            "agent_to_visitor_ms": summary_ms(self.lat.get("a2v_" + phase, [])),
            "ack_ms": summary_ms(self.lat.get("ack_" + phase, [])),
            "requests": self.request_figures(requests_made),
            "video": self.video_figures(self.calls[first_call:]) if plan.get("call_interval_s") else None,
            "rest_with_sockets_ms": summary_ms(self.rest_lat.get("with_sockets_" + phase, [])),
            "server_cpu_s": round(cpu, 3),
            "server_cpu_pct": round(100 * cpu / wall, 1) if wall else None,
            "server_cpu_ms_per_delivered": round(1000 * cpu / delivered, 3) if delivered else None,
            "services_cpu_s": round(after["svc_cpu_s"] - before["svc_cpu_s"], 3),
            "generator_cpu_pct": round(100 * (after["gen_cpu_s"] - before["gen_cpu_s"]) / wall, 1) if wall else None,
            # Everything else on the machine (other work sharing the two cores), in % of one core.
            "other_cpu_pct": round(100 * ((after["machine_cpu_s"] - before["machine_cpu_s"]) - cpu
                                          - (after["gen_cpu_s"] - before["gen_cpu_s"])
                                          - (after["svc_cpu_s"] - before["svc_cpu_s"])) / wall, 1) if wall else None,
            "database_sessions": pg,
            "rss_after": after["rss"],
            "held_after": after["held"],
            "open_after": after["open"],
        }

    def request_figures(self, records):
        last, first, accepted, lost_race, incomplete = [], [], 0, 0, 0
        for record in records:
            notified = record["notified"]
            if notified:
                first.append(min(notified.values()) - record["t0"])
            if notified and len(notified) >= record["expected"]:
                last.append(max(notified.values()) - record["t0"])
            else:
                incomplete += 1
            accepted += len(record["winners"])
            lost_race += len(record["losers"])
        double_wins = sum(1 for r in records if len(r["winners"]) > 1)
        return {
            "made": len(records),
            "first_agent_notified_ms": summary_ms(first),
            "last_agent_notified_ms": summary_ms(last),
            "not_all_agents_notified": incomplete,
            "accept_ms": summary_ms(self.lat.get("accept_won", [])) if self.plan["accept"] else None,
            "accept_refused_ms": summary_ms(self.lat.get("accept_lost", [])) if self.plan["accept"] else None,
            "accepted": accepted,
            "race_lost": lost_race,
            "requests_with_two_winners": double_wins,
            "statuses": dict(_count(r.get("action_status") for r in records)),
        }

    async def quiet(self, below_pct=15.0, limit_s=60.0):
        """Wait until the server's CPU stays under below_pct for half a second (the window's backlog is done)."""
        started = now()
        previous = self.sample()
        while now() - started < limit_s:
            await asyncio.sleep(0.5)
            current = self.sample()
            wall = current["t"] - previous["t"]
            if wall and 100 * (current["cpu_s"] - previous["cpu_s"]) / wall < below_pct:
                break
            previous = current
        return round(now() - started, 1)

    async def ramp(self):
        """Throughput: offered rates in steps, every active socket sending; the highest step kept up with."""
        plan = self.plan
        senders = [(c, "v", c.conversations[0]) for c in self.visitors if not c.closed]
        for agent in self.agents:
            if not agent.closed:
                senders += [(agent, "a", conversation_id) for conversation_id in agent.conversations]
        per_socket_cap = plan["per_socket_rate_cap"]
        sockets = len({id(c) for c, _, _ in senders})
        cap = per_socket_cap * sockets
        steps, best = [], None
        for rate in plan["ramp_rates"]:
            if rate > cap:
                break
            phase = f"ramp{rate}"
            before = self.sample()
            first_tag = self.tag_seq
            start = now() + 0.1
            end = start + plan["ramp_step_s"]
            interval = len(senders) / rate  # each sender in turn

            async def run_sender(conn, sender, conversation_id, offset):
                t = start + offset
                while t < end:
                    await self.at(t)
                    self.fire(conn, sender, conversation_id, t, phase)
                    t += interval

            await asyncio.gather(*(run_sender(c, s, cid, random.uniform(0, interval)) for c, s, cid in senders))
            tags = [t for t, r in self.sent.items() if r[3] == phase and int(t.split(".")[-1]) > first_tag]
            await self.drain(tags, plan["ramp_drain_s"])
            after = self.sample()
            delivered = sum(1 for t in tags if self.delivered.get(t))
            lat = sorted([*self.lat.get("v2a_" + phase, []), *self.lat.get("a2v_" + phase, [])])
            stats = summary_ms(lat)
            wall = after["t"] - before["t"]
            ok = bool(tags) and delivered >= plan["ramp_delivered_fraction"] * len(tags) \
                and stats["p99"] is not None and stats["p99"] <= plan["ramp_p99_ms"]
            cpu = after["cpu_s"] - before["cpu_s"]
            steps.append({"offered_per_s": rate, "sent": len(tags), "delivered": delivered,
                          "delivered_per_s": round(delivered / plan["ramp_step_s"], 1), "latency_ms": stats,
                          "server_cpu_pct": round(100 * cpu / wall, 1) if wall else None,
                          "server_cpu_ms_per_delivered": round(1000 * cpu / delivered, 3) if delivered else None,
                          "generator_cpu_pct": round(100 * (after["gen_cpu_s"] - before["gen_cpu_s"]) / wall, 1),
                          "kept_up": ok})
            # A step the generator could not offer in time (its own core full) says nothing of the server.
            steps[-1]["generator_bound"] = steps[-1]["generator_cpu_pct"] >= GENERATOR_BOUND_PCT
            if not ok:
                break
            best = rate
        return {"sustained_per_s": best, "client_cap_per_s": cap,
                "generator_bound": bool(steps) and not steps[-1]["kept_up"] and steps[-1]["generator_bound"], "capped": best is not None and steps
                and steps[-1]["kept_up"] and (len(steps) == len([r for r in plan["ramp_rates"] if r <= cap])),
                "criterion": f">= {plan['ramp_delivered_fraction']:.0%} delivered and p99 <= {plan['ramp_p99_ms']} ms",
                "steps": steps}

    async def final_drain(self):
        """Before the audit: let what is still queued arrive (up to twice the grace period)."""
        started = now()
        await self.drain([t for t in self.sent if not self.delivered.get(t) and t not in self.refused],
                         2 * self.plan["grace_s"])
        return round(now() - started, 1)

    def audit(self):
        """Every message sent: reached the other side exactly once? Positions gap-free and unrepeated?"""
        sent = list(self.sent)
        # Lost: acknowledged (stored) or never answered, yet never delivered. A send the server refused
        # with an error frame was not accepted: the client knows and may retry; counted apart.
        lost = [t for t in sent if not self.delivered.get(t) and t not in self.refused]
        lost_after_ack = [t for t in lost if t in self.acks]
        duplicated = [t for t in sent if len(self.delivered.get(t, ())) > 1]
        echo_dup = [t for t, n in self.echoed.items() if n > 1]
        unacked = [t for t in sent if t not in self.acks]
        # Each message carries its own tag (sender, conversation, sequence number) in its text; the
        # counterpart's sockets count it by tag, so sent = delivered once + lost + refused + duplicated.
        delivered_once = [t for t in sent if len(self.delivered.get(t, ())) == 1]
        return {
            "messages_sent": len(sent),
            "delivered_once": len(delivered_once),
            "lost": len(lost),
            "duplicated": len(duplicated) + len(echo_dup),
            "lost_after_ack": len(lost_after_ack),
            "refused_with_error": len(self.refused),
            "refused_codes": dict(_count(self.refused.values())),
            "not_acknowledged": len([t for t in unacked if t not in self.refused]),
            "position_duplicates": self.pos_dup,
            "position_gaps": self.pos_gap,
            "capacity_violations_seen_by_clients": self.capacity_violations,
            "requests_with_two_winners": sum(1 for r in self.requests.values() if len(r["winners"]) > 1),
            "examples_lost": lost[:5],
        }

    async def close_all(self):
        await asyncio.gather(*(c.close() for c in self.conns))
        for task in list(self.tasks):
            task.cancel()

    # -- modes ---------------------------------------------------------------------

    async def run_main(self):
        plan = self.plan
        figures = self.figures
        run_start = self.sample()
        await self.login_agents()
        if plan["kind"] == "product" and plan["rest_rate"]:
            start = now() + 0.1
            await self.rest_probe(start, start + plan["rest_alone_s"], plan["rest_rate"], "alone")
            figures["rest_alone_ms"] = summary_ms(self.rest_lat["alone"])
        await asyncio.sleep(0.5)
        base = self.sample()
        figures["rss_base"] = base["rss"]
        figures["connect_active"] = await self.connect_active()
        figures["connect_idle"] = await self.connect_idle(plan["idle"])
        await asyncio.sleep(plan["settle_s"])
        idle = self.sample()
        conns = idle["open"]
        figures["connections_open"] = conns
        figures["connections_held_server_side"] = idle["held"]
        figures["rss_idle"] = idle["rss"]
        figures["rss_each_idle"] = idle["rss_each"]
        figures["mem_per_conn_idle_kib"] = round((idle["rss"] - base["rss"]) / conns / 1024, 2) if conns else None
        figures["window"] = await self.window(plan["window_s"])
        after = self.sample()
        figures["rss_after_traffic"] = after["rss"]
        figures["mem_per_conn_after_traffic_kib"] = round((after["rss"] - base["rss"]) / conns / 1024, 2) \
            if conns else None
        if plan["ramp_rates"]:
            figures["quiet_before_ramp_s"] = await self.quiet()
            figures["throughput"] = await self.ramp()
        figures["final_drain_s"] = await self.final_drain()
        run_end = self.sample()
        delivered = sum(1 for t in self.sent if self.delivered.get(t))
        # The whole run (what --profile records): the CPU-per-message split multiplies its shares by this.
        figures["run_totals"] = {"server_cpu_s": round(run_end["cpu_s"] - run_start["cpu_s"], 3),
                                 "messages_delivered": delivered,
                                 "server_cpu_ms_per_delivered": round(1000 * (run_end["cpu_s"] - run_start["cpu_s"])
                                                                      / delivered, 3) if delivered else None}
        figures["audit"] = self.audit()
        figures["errors"] = dict(self.errors)
        figures["counters"] = dict(self.counters)
        figures["rest_status"] = dict(self.rest_status)
        figures["connections_open_at_end"] = sum(1 for c in self.conns if not c.closed)

    async def run_memory(self):
        """Memory only: connect everything, measure, one round of traffic, measure."""
        plan = self.plan
        figures = self.figures
        await asyncio.sleep(0.5)
        base = self.sample()
        figures["connect_active"] = await self.connect_active()
        figures["connect_idle"] = await self.connect_idle(plan["idle"])
        await asyncio.sleep(plan["settle_s"])
        idle = self.sample()
        conns = idle["open"]
        figures["connections_open"] = conns
        figures["mem_per_conn_idle_kib"] = round((idle["rss"] - base["rss"]) / conns / 1024, 2) if conns else None
        figures["window"] = await self.window(plan["memory_window_s"], phase="window", requests=False, rest=False)
        after = self.sample()
        figures["mem_per_conn_after_traffic_kib"] = round((after["rss"] - base["rss"]) / conns / 1024, 2) \
            if conns else None
        figures["audit"] = self.audit()

    async def run_scale(self):
        """The design-point figures at each number of idle connections."""
        plan = self.plan
        figures = self.figures
        await self.login_agents()
        await asyncio.sleep(0.5)
        base = self.sample()
        figures["rss_base"] = base["rss"]
        figures["connect_active"] = await self.connect_active()
        levels = []
        for level in plan["scale_levels"]:
            need = level - len(self.idle)
            connect = await self.connect_idle(plan["idle"][len(self.idle):len(self.idle) + need]) if need > 0 else None
            await asyncio.sleep(plan["settle_s"])
            idle = self.sample()
            conns = idle["open"]
            window = await self.window(plan["scale_window_s"], phase=f"scale{level}")
            after = self.sample()
            levels.append({
                "idle_target": level, "connect": connect, "connections_open": conns,
                "connections_held_server_side": idle["held"],
                "mem_per_conn_idle_kib": round((idle["rss"] - base["rss"]) / conns / 1024, 2) if conns else None,
                "mem_per_conn_after_traffic_kib": round((after["rss"] - base["rss"]) / conns / 1024, 2)
                if conns else None,
                "window": window,
            })
            if connect and connect["opened"] < connect["tried"] * 0.5:
                break  # the server stopped taking connections: larger levels mean nothing
        figures["levels"] = levels
        figures["final_drain_s"] = await self.final_drain()
        figures["audit"] = self.audit()
        figures["errors"] = dict(self.errors)
        figures["counters"] = dict(self.counters)

    async def run_history(self):
        """Cursor reads of a long conversation: newest page, a page after a cursor near the end, oldest page."""
        plan = self.plan
        figures = self.figures
        key = plan["public_key"]
        reads = {}
        for item in plan["history"]:
            path = f"/api/widget/{key}/conversations/{item['conversation']}/messages"
            last = item["count"]
            queries = {"newest_page": f"?before={last + 1}&limit=50", "after_cursor_near_end": f"?after={last - 50}&limit=50",
                       "oldest_page": "?after=0&limit=50", "middle_cursor": f"?after={last // 2}&limit=50"}
            out = {}
            for name, query in queries.items():
                samples = []
                for _ in range(plan["history_reads"]):
                    t = now()
                    status, body = await http(self.host, self.port, "GET", path + query, token=item["token"],
                                              origin=plan["widget_origin"])
                    samples.append(now() - t)
                    if status != 200:
                        self.counters[f"history_{status}"] += 1
                out[name] = summary_ms(samples)
                out[name]["items"] = len((body or {}).get("items", [])) if isinstance(body, dict) else None
            reads[str(item["count"])] = out
        figures["history"] = reads
        figures["counters"] = dict(self.counters)


def _count(values):
    out = defaultdict(int)
    for value in values:
        out[str(value)] += 1
    return out


async def main_async(plan):
    gen = Generator(plan)
    started = time.monotonic()
    cpu0 = self_cpu()
    try:
        await getattr(gen, "run_" + plan["mode"])()
    finally:
        await gen.close_all()
    gen.figures["generator_cpu_s"] = round(self_cpu() - cpu0, 2)
    gen.figures["generator_wall_s"] = round(time.monotonic() - started, 2)
    return gen.figures


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("plan")
    parser.add_argument("out")
    args = parser.parse_args()
    with open(args.plan) as handle:
        plan = json.load(handle)
    raise_fd_limit()
    random.seed(plan.get("seed", 1))
    figures = asyncio.run(asyncio.wait_for(main_async(plan), plan["deadline_s"]))
    with open(args.out, "w") as handle:
        json.dump(figures, handle, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
