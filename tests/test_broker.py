"""The broker: a transaction's events reach subscribers in order, also when Redis is away."""
import os
import threading
import uuid

import pytest

from services.broker import MemoryBroker, RedisBroker

WAIT_S = 5


def _collect(broker, streams):
    heard, done = [], threading.Event()

    def on(stream):
        def callback(frame):
            heard.append((stream, frame["n"]))
            if len(heard) >= 6:
                done.set()
        return callback

    for stream in streams:
        broker.subscribe(stream, on(stream))
    return heard, done


ITEMS = [("user:1", {"n": 1}), ("user:2", {"n": 2}), ("user:1", {"n": 3}),
         ("conversation:9", {"n": 4}), ("user:2", {"n": 5}), ("user:1", {"n": 6})]


def test_memory_broker_publishes_a_batch_in_order():
    broker = MemoryBroker()
    heard, _ = _collect(broker, ["user:1", "user:2", "conversation:9"])
    broker.publish_many(ITEMS)
    assert heard == [(stream, frame["n"]) for stream, frame in ITEMS]


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs Redis (TEST_REDIS_URL)")
def test_redis_broker_publishes_a_batch_in_order():
    broker = RedisBroker(os.environ["TEST_REDIS_URL"], prefix=f"test-{uuid.uuid4().hex[:8]}")
    try:
        heard, done = _collect(broker, ["user:1", "user:2", "conversation:9"])
        broker.publish_many(ITEMS)
        assert done.wait(WAIT_S), heard
        assert heard == [(stream, frame["n"]) for stream, frame in ITEMS]
    finally:
        broker.close()


@pytest.mark.skipif(not os.environ.get("TEST_REDIS_URL"), reason="needs Redis (TEST_REDIS_URL)")
def test_a_batch_crosses_redis_as_one_message_and_another_process_hears_it_in_order():
    # A live request to fifty agents is a hundred frames: one PUBLISH for Redis to match and one reply for
    # each listener to parse, not a hundred. A single frame keeps its stream's own channel.
    import redis

    from services import wire
    from services.broker import BATCH

    prefix = f"test-{uuid.uuid4().hex[:8]}"
    raw = redis.Redis.from_url(os.environ["TEST_REDIS_URL"]).pubsub(ignore_subscribe_messages=True)
    raw.psubscribe(f"{prefix}:*")
    here = RedisBroker(os.environ["TEST_REDIS_URL"], prefix=prefix)
    there = RedisBroker(os.environ["TEST_REDIS_URL"], prefix=prefix)
    try:
        heard, done = _collect(there, ["user:1", "user:2"])  # not conversation:9: nothing of it arrives
        here.publish_many(ITEMS)
        here.publish("user:2", {"n": 7})
        assert done.wait(WAIT_S), heard
        expected = [(stream, frame["n"]) for stream, frame in ITEMS + [("user:2", {"n": 7})]
                    if stream != "conversation:9"]
        for _ in range(50):
            if len(heard) == len(expected):
                break
            threading.Event().wait(0.05)
        assert heard == expected
        messages = []
        for _ in range(20):  # a subscription's own confirmation reads as None
            message = raw.get_message(timeout=WAIT_S / 10)
            if message is not None:
                messages.append(message)
            if len(messages) == 2:
                break
        assert [m["channel"].decode() for m in messages] == [f"{prefix}:{BATCH}", f"{prefix}:user:2"]
        assert wire.loads(messages[0]["data"]) == [[stream, frame] for stream, frame in ITEMS]
        assert raw.get_message(timeout=0.2) is None
    finally:
        here.close()
        there.close()
        raw.close()


def test_redis_broker_away_still_tells_this_process_subscribers():
    # Nothing listens on this port: publishing fails, and the local sockets still hear the events
    # (other processes' sockets catch up from the event log when their broker comes back).
    broker = RedisBroker("redis://127.0.0.1:1/0", prefix="test-away")
    try:
        heard, _ = _collect(broker, ["user:1", "user:2", "conversation:9"])
        broker.publish_many(ITEMS)
        assert heard == [(stream, frame["n"]) for stream, frame in ITEMS]
    finally:
        broker.close()
