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
