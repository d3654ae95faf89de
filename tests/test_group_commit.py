"""Group commit of the socket's message.send (services/group_commit.py): what a batch writes, what it leaves to
the usual path, and that senders waiting together are written together and each acked after its commit."""
import json
import os
import re
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select, text

from blueprints.socket_protocol import SocketSession
from extensions import db
from models import Conversation, ConversationStatus, Message
from models.conversation import SenderType, Visitor
from models.event import Event, Stream
from services import group_commit
from services.events import conversation_stream
from services.group_commit import GroupCommitter, SendJob, do_write_batch
from config import TestConfig
from tests.conftest import database_url, is_postgres
from tests.factories import go_online, make_interface, make_user, make_workspace
from tests.live import GunicornServer
from tests.test_hot_path import Statements


@pytest.fixture
def world(app):
    workspace, _ = make_workspace()
    agent, other = make_user(workspace, max_chats=50), make_user(workspace, max_chats=50)
    interface = make_interface(workspace, agents=[agent, other])
    go_online(agent, other)

    def conversation(status=ConversationStatus.ACTIVE, agent_id=agent.id):
        visitor = Visitor(workspace_id=workspace.id, interface_id=interface.id)
        db.session.add(visitor)
        db.session.flush()
        row = Conversation(workspace_id=workspace.id, interface_id=interface.id, visitor_id=visitor.id,
                           status=status, agent_id=agent_id, last_seq=0)
        db.session.add(row)
        db.session.flush()
        return row

    chats = [conversation() for _ in range(12)]
    extra = {"bot": conversation(ConversationStatus.BOT, None), "closed": conversation(ConversationStatus.CLOSED),
             "waiting": conversation(ConversationStatus.WAITING, None), "others": conversation(agent_id=other.id)}
    db.session.commit()
    return {"agent": agent, "other": other, "chats": [(c.id, c.visitor_id) for c in chats],
            **{name: (c.id, c.visitor_id) for name, c in extra.items()}}


def agent_job(world, conversation_id, client_id, text="hello"):
    return SendJob("user", world["agent"].id, conversation_id, text, client_id, world["agent"].workspace_id)


def visitor_job(pair, client_id, text="hi"):
    return SendJob("visitor", pair[1], pair[0], text, client_id, db.session.get(Visitor, pair[1]).workspace_id)


def stored(conversation_id):
    return db.session.execute(select(Message.seq, Message.sender_type, Message.client_id, Message.text)
                              .where(Message.conversation_id == conversation_id).order_by(Message.seq)).all()


def events(conversation_id):
    return db.session.execute(select(Event.pos, Event.type, Event.payload).where(
        Event.stream == conversation_stream(conversation_id)).order_by(Event.pos)).all()


def test_a_batch_writes_its_messages_in_order_with_consecutive_numbers_and_events(app, world):
    (one, v1), (two, _) = world["chats"][:2]
    jobs = [agent_job(world, one, "a1"), visitor_job((one, v1), "v1"), agent_job(world, two, "a2"),
            agent_job(world, one, "a3", "third"), visitor_job((world["waiting"]), "w1")]
    do_write_batch(jobs)
    assert [job.result[1:] for job in jobs] == [(1, True), (2, True), (1, True), (3, True), (1, True)]
    db.session.expire_all()
    assert stored(one) == [(1, SenderType.AGENT, "a1", "hello"), (2, SenderType.VISITOR, "v1", "hi"),
                           (3, SenderType.AGENT, "a3", "third")]
    assert db.session.get(Conversation, one).last_seq == 3
    # One message.created per message, at gap-free positions, carrying what the socket's schema dumps.
    written = events(one)
    assert [(pos, kind) for pos, kind, _ in written] == [(1, "message.created"), (2, "message.created"),
                                                         (3, "message.created")]
    first = written[0][2]["message"]
    assert first["id"] == jobs[0].result[0] and first["seq"] == 1 and first["sender_type"] == "agent"
    assert first["sender_id"] == world["agent"].id and first["sender_name"] == world["agent"].name
    assert first["client_id"] == "a1" and first["attachments"] == [] and first["data"] is None
    assert written[1][2]["message"]["sender_id"] is None and written[1][2]["message"]["sender_name"] is None
    assert db.session.scalar(select(Stream.last_pos).where(Stream.key == conversation_stream(one))) == 3


def test_the_batch_costs_the_same_statements_for_2_messages_as_for_12(app, world):
    counts = []
    for size, prefix in ((2, "warm-up"), (2, "s"), (12, "l")):
        jobs = [agent_job(world, cid, f"{prefix}{i}") for i, (cid, _) in enumerate(world["chats"][:size])]
        with Statements(db.engine) as seen:
            do_write_batch(jobs)
        assert all(job.result and job.result[2] for job in jobs)
        counts.append(len(seen.statements))
    assert counts[1] == counts[2], counts
    assert counts[1] <= 9, counts  # senders, stored ids, lock, numbers, insert, positions, events, commit (+ BEGIN)


def test_what_the_batch_cannot_take_whole_is_left_to_the_usual_path(app, world):
    (one, v1), (two, _) = world["chats"][:2]
    first = [agent_job(world, one, "kept")]
    do_write_batch(first + [agent_job(world, two, "filler")])
    retry = agent_job(world, one, "kept", "the retry's text")
    jobs = [
        retry,                                                # a stored client id: the first message answers
        agent_job(world, one, "twice"), agent_job(world, one, "twice"),  # the second waits for the first
        visitor_job(world["bot"], "bot"),                     # the flow reads it: the usual path
        agent_job(world, world["closed"][0], "closed"),       # conversation_closed, from the usual path
        agent_job(world, world["others"][0], "not-mine"),     # another agent's chat
        SendJob("visitor", v1, two, "wrong visitor", "x"),    # a visitor writing in someone else's chat
        agent_job(world, 10**9, "missing"),
        visitor_job((one, v1), "fine"),
    ]
    do_write_batch(jobs)
    assert retry.result == (first[0].result[0], first[0].result[1], False)
    assert jobs[1].result[1:] == (2, True) and jobs[-1].result[1:] == (3, True)
    assert [job.result for job in jobs[2:-1]] == [None] * 6
    db.session.expire_all()
    assert [row[2] for row in stored(one)] == ["kept", "twice", "fine"]
    assert stored(world["bot"][0]) == [] and stored(world["closed"][0]) == [] and stored(two)[1:] == []


def test_a_batch_that_fails_as_a_whole_writes_and_announces_nothing(app, world, monkeypatch):
    (one, v1), (two, _) = world["chats"][:2]
    do_write_batch([agent_job(world, one, "taken"), agent_job(world, two, "b")])
    published = []
    monkeypatch.setattr(type(app.extensions["broker"]), "publish_many",
                        lambda self, frames: published.extend(frames))
    # Another process stores the same client id after the batch read the stored ones: the insert fails.
    monkeypatch.setattr(group_commit, "_STORED", group_commit._STORED.where(text("1 = 0")))
    jobs = [visitor_job((one, v1), "new"), agent_job(world, one, "taken"), agent_job(world, two, "c")]
    do_write_batch(jobs)
    assert [job.result for job in jobs] == [None, None, None]
    assert published == []
    db.session.expire_all()
    assert [row[2] for row in stored(one)] == ["taken"] and [row[2] for row in stored(two)] == ["b"]
    assert db.session.get(Conversation, one).last_seq == 1 and len(events(one)) == 1
    assert db.session.scalar(select(Stream.last_pos).where(Stream.key == conversation_stream(one))) == 1
    # Each then goes the usual way: the new one is stored, the retry answered with the first.
    session = SocketSession(world["agent"], push=lambda *a: None)
    session.hello()
    ack = session.handle_text(json.dumps({"type": "message.send", "conversation_id": one, "text": "x",
                                          "client_id": "taken"}))[0]
    assert ack["type"] == "ack" and ack["data"]["created"] is False and ack["data"]["seq"] == 1


def test_senders_waiting_together_are_written_together_and_each_ack_follows_its_commit(app, world, monkeypatch):
    """Socket sessions in threads; the first batch is held until the others queue, so they form one."""
    committer = GroupCommitter(max_batch=64)
    app.extensions["group_committer"] = committer
    sizes, real_write = [], group_commit.do_write_batch

    def held_write(jobs):
        if not sizes:
            deadline = time.monotonic() + 10
            while len(committer._queue) < len(world["chats"]) * 2 - 1 and time.monotonic() < deadline:
                time.sleep(0.005)
        sizes.append(len(jobs))
        real_write(jobs)

    monkeypatch.setattr(group_commit, "do_write_batch", held_write)
    chats = world["chats"]
    senders = [("agent", cid) for cid, _ in chats] + [("visitor", (cid, vid)) for cid, vid in chats]
    barrier = threading.Barrier(len(senders))
    visible = {}

    def send(index):
        side, target = senders[index]
        with app.app_context():
            if side == "agent":
                principal, conversation_id = db.session.get(type(world["agent"]), world["agent"].id), target
            else:
                principal, conversation_id = db.session.get(Visitor, target[1]), target[0]
            session = SocketSession(principal, push=lambda *a: None)
            db.session.remove()
            barrier.wait(10)
            frame = session.handle_text(json.dumps({"type": "message.send", "conversation_id": conversation_id,
                                                    "text": f"{side} {index}", "client_id": f"c{index}"}))[0]
            # The ack's row is already committed: a new connection reads it.
            with db.engine.connect() as connection:
                visible[index] = connection.scalar(select(func.count()).select_from(Message).where(
                    Message.id == frame["data"]["message_id"]))
            return frame

    with ThreadPoolExecutor(len(senders)) as pool:
        frames = list(pool.map(send, range(len(senders))))
    assert all(frame["type"] == "ack" and frame["data"]["created"] for frame in frames), frames
    assert visible == {i: 1 for i in range(len(senders))}
    assert sum(sizes) == len(senders) and max(sizes) > 1, sizes
    db.session.expire_all()
    for cid, _ in chats:
        assert [row[0] for row in stored(cid)] == [1, 2]
        assert [pos for pos, _, _ in events(cid)] == [1, 2]
    assert not committer._queue and not committer._leading


def test_group_commit_can_be_switched_off(app):
    app.config["MESSAGE_GROUP_COMMIT"] = False
    app.extensions.pop("group_committer", None)
    assert group_commit.group_committer() is None


@pytest.mark.parametrize("size", [1, 3])
def test_a_chat_ended_between_the_senders_read_and_the_numbering_is_left_to_the_usual_path(app, world, size):
    """The end commits after the batch read its senders: the update (alone) or the locked read (a batch)
    sees it, and the message goes the usual way, which answers conversation_closed."""
    (one, v1), (two, _) = world["chats"][:2]
    marker = "UPDATE conversations SET last_seq" if size == 1 else "SELECT conversations.id, conversations.status"

    def end_first(conn, cursor, statement, params, context, executemany):
        if marker in statement:  # on PostgreSQL a message alone is numbered inside its one statement's WITH
            conn.exec_driver_sql(f"UPDATE conversations SET status = 'closed' WHERE id = {one}")

    jobs = [visitor_job((one, v1), "late")] + [agent_job(world, two, f"b{i}") for i in range(size - 1)]
    event.listen(db.engine, "before_cursor_execute", end_first)
    try:
        do_write_batch(jobs)
    finally:
        event.remove(db.engine, "before_cursor_execute", end_first)
    assert jobs[0].result is None
    assert [job.result[1] for job in jobs[1:]] == list(range(1, size))
    db.session.expire_all()
    assert stored(one) == [] and db.session.get(Conversation, one).last_seq == 0


@pytest.mark.parametrize("sender", ["agent", "visitor"])
def test_the_written_out_message_is_what_the_schema_dumps(app, sender):
    from datetime import UTC, datetime

    from schemas.conversations import MessageSchema

    values = {"workspace_id": 3, "conversation_id": 7, "seq": 41, "sender_type": SenderType(sender),
              "sender_id": 5 if sender == "agent" else None, "sender_name": "Zoë \u202e" if sender == "agent" else None,
              "client_id": "c-\U0001f600", "text": "<b>hi</b> \u0000 \U0001f600", "data": None,
              "created_at": datetime(2026, 12, 2, 3, 4, 5, 678901, tzinfo=UTC)}
    assert group_commit.message_data(99, values) == MessageSchema().dump(Message(id=99, **values))


@pytest.mark.parametrize("sender", ["agent", "visitor"])
def test_a_message_alone_publishes_the_frame_its_replay_gives_and_the_schema_dumps(app, world, monkeypatch, sender):
    """On PostgreSQL the event's payload is built by the database (one statement), elsewhere by Python: either
    way the live frame, the frame replayed from the event row and the stored message dumped agree."""
    from schemas.conversations import MessageSchema
    from services.events import broker, replay

    one, v1 = world["chats"][5]
    text = 'say "hi" \\ <b>Zoë</b> \u202e \U0001f600\n\t'
    job = agent_job(world, one, "alone", text) if sender == "agent" else visitor_job((one, v1), "alone", text)
    published = []
    monkeypatch.setattr(broker(), "publish_many", published.extend)
    do_write_batch([job])
    assert job.result is not None and job.result[2] is True
    [(stream, frame)] = published
    assert stream == conversation_stream(one) and frame["type"] == "message.created"
    assert replay(stream, frame["pos"] - 1) == [frame]
    db.session.expire_all()
    assert frame["data"]["message"] == MessageSchema().dump(db.session.get(Message, job.result[0]))
    assert frame["data"]["message"]["text"] == text


class _Killed(BaseException):
    pass


class _KilledWhileWaiting:
    """A job's wake-up whose wait is interrupted, as when the worker kills the socket's greenlet."""

    def wait(self, timeout=None):
        raise _Killed()

    def set(self):
        pass


def test_a_sender_killed_while_waiting_leaves_the_queue_and_passes_the_lead_on(app, world):
    committer = GroupCommitter(max_batch=64)
    gone, heir, later = (agent_job(world, cid, f"k{i}") for i, (cid, _) in enumerate(world["chats"][:3]))
    gone.done = _KilledWhileWaiting()
    committer._leading = True  # another sender's batch is in flight
    with pytest.raises(_Killed):
        committer.send(gone)
    assert list(committer._queue) == [] and committer._leading
    # Picked to lead the next batch, then killed: the one queued behind it leads instead.
    committer._queue.extend([gone, heir])
    gone.promoted = True
    committer._leave(gone)  # what send does when the wait is interrupted
    assert list(committer._queue) == [heir] and heir.promoted and heir.done.is_set()
    committer._queue.clear()
    committer._leading = False
    assert committer.send(later)[2] is True and not committer._leading and not committer._queue


@pytest.mark.skipif(not (is_postgres() and os.environ.get("TEST_REDIS_URL")),
                    reason="batches form where the database driver waits cooperatively: PostgreSQL under gevent")
def test_a_burst_on_two_gevent_servers_is_batched_and_every_message_arrives_once_in_order(app):
    """Visitors and agents on two gunicorn gevent workers send at once, without waiting for acks: every
    message is acked once as created, reaches the other side exactly once, numbers stay gap-free, and the
    servers wrote some of them in batches (their livechat_message_batch_size histogram)."""
    from tests.test_agent_e2e import DASHBOARD, ORIGIN, Agent, http
    from tests.test_agent_e2e import Visitor as VisitorSocket

    workspace, _ = make_workspace()
    agents = [make_user(workspace, max_chats=50) for _ in range(3)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    go_online(*agents)
    env = {"DATABASE_URL": database_url(), "REDIS_URL": os.environ["TEST_REDIS_URL"],
           "JWT_SECRET_KEY": TestConfig.JWT_SECRET_KEY, "PASSWORD_HASH_PROFILE": "fast",
           "RATELIMIT_ENABLED": "0", "CORS_ORIGINS": DASHBOARD}
    with GunicornServer(env, worker_class="gevent") as one, GunicornServer(env, worker_class="gevent") as two:
        bases = [one.url, two.url]
        staff = [Agent(bases[i % 2], agent) for i, agent in enumerate(agents)]
        visitors = [VisitorSocket(bases[(i + 1) % 2], interface.public_key) for i in range(12)]
        held = {}
        for i, visitor in enumerate(visitors):
            agent = staff[i % 3]
            status, body = http(agent.base, "POST", f"/api/conversations/{visitor.conversation_id}/takeover",
                                token=agent.token, origin=DASHBOARD)
            assert status == 200, body
            held.setdefault(agent, []).append(visitor.conversation_id)
        start = {v.conversation_id: db.session.get(Conversation, v.conversation_id).last_seq for v in visitors}
        db.session.remove()
        per_visitor, per_chat_by_agent = 8, 4
        expected = per_visitor + per_chat_by_agent

        def burst(sock, sends, chats):
            """Send every frame at once, then read until each is acked and each chat's messages all came."""
            for frame in sends:
                sock.send(frame)
            acks, created = {}, {}
            deadline = time.monotonic() + 60
            while (len(acks) < len(sends) or any(len(created.get(c, [])) < expected for c in chats)) \
                    and time.monotonic() < deadline:  # created: the burst's own messages, past the takeover's
                frame = sock.recv()
                if frame["type"] in ("ack", "error") and str(frame.get("ref", "")).startswith("m-"):
                    assert frame["type"] == "ack", frame
                    acks[frame["ref"]] = frame["data"]
                elif frame["type"] == "message.created" and frame["data"]["message"]["seq"] > start[
                        frame["data"]["message"]["conversation_id"]]:
                    message = frame["data"]["message"]
                    created.setdefault(message["conversation_id"], []).append(message)
            return acks, created

        jobs = []
        for visitor in visitors:
            cid = visitor.conversation_id
            sends = [{"type": "message.send", "ref": f"m-v{cid}-{n}", "conversation_id": cid,
                      "client_id": f"v{cid}-{n}", "text": f"visitor {cid} {n}"} for n in range(per_visitor)]
            jobs.append((visitor.sock, sends, [cid]))
        for agent, chats in held.items():
            sends = [{"type": "message.send", "ref": f"m-a{cid}-{n}", "conversation_id": cid,
                      "client_id": f"a{cid}-{n}", "text": f"agent {cid} {n}"}
                     for n in range(per_chat_by_agent) for cid in chats]
            jobs.append((agent.sock, sends, chats))
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(pool.map(lambda job: burst(*job), jobs))

        acked = {}
        for (_, sends, _), (acks, _) in zip(jobs, results, strict=True):
            assert sorted(acks) == sorted(frame["ref"] for frame in sends)
            assert all(ack["created"] for ack in acks.values())
            acked.update({ack["message_id"]: ack["seq"] for ack in acks.values()})
        for _, (_, created) in zip(jobs, results, strict=True):
            for cid, messages in created.items():
                fresh = messages
                # Exactly once, in order, gap-free, and each the message its sender was acked for.
                assert [m["seq"] for m in fresh] == list(range(start[cid] + 1, start[cid] + expected + 1))
                assert all(acked[m["id"]] == m["seq"] for m in fresh)
                sent_by_visitor = [m["text"] for m in fresh if m["sender_type"] == "visitor"]
                assert sent_by_visitor == [f"visitor {cid} {n}" for n in range(per_visitor)]
        assert len(acked) == len(visitors) * expected
        batches = messages_written = 0
        for base in bases:
            text_ = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
            batches += float(re.search(r"^livechat_message_batch_size_count (\S+)$", text_, re.M).group(1))
            messages_written += float(re.search(r"^livechat_message_batch_size_sum (\S+)$", text_, re.M).group(1))
        assert messages_written == len(acked) and batches < messages_written, (batches, messages_written)
