"""Fan-out of committed events to the sockets of this process, across processes.

In-process by default; with REDIS_URL every process publishes to Redis and
listens to one pattern subscription, then fans out locally. The broker only
carries notifications: the event rows are the truth, and a socket that sees a
gap in positions reads the missing events from the database.
"""
import json
import logging
import threading
from collections import defaultdict

from metrics import BROKER_CONNECTED

log = logging.getLogger(__name__)

RESYNC = "_resync"  # told to local subscribers when the broker may have lost messages


class MemoryBroker:
    """Subscribers and publishers in one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._subscribers = defaultdict(set)

    def subscribe(self, stream, callback):
        with self._lock:
            self._subscribers[stream].add(callback)

    def unsubscribe(self, stream, callback):
        with self._lock:
            callbacks = self._subscribers.get(stream)
            if callbacks is not None:
                callbacks.discard(callback)
                if not callbacks:
                    del self._subscribers[stream]

    def subscriber_count(self):
        with self._lock:
            return sum(len(callbacks) for callbacks in self._subscribers.values())

    def publish(self, stream, frame):
        self.dispatch(stream, frame)

    def publish_many(self, items):
        """Publish (stream, frame) pairs in order."""
        for stream, frame in items:
            self.publish(stream, frame)

    def dispatch(self, stream, frame):
        with self._lock:
            callbacks = list(self._subscribers.get(stream, ()))
        for callback in callbacks:
            try:
                callback(frame)
            except Exception:  # one broken subscriber must not starve the others
                log.exception("subscriber failed")

    def resync_all(self):
        with self._lock:
            items = [(stream, list(callbacks)) for stream, callbacks in self._subscribers.items()]
        for stream, callbacks in items:
            for callback in callbacks:
                try:
                    callback({"type": RESYNC, "stream": stream})
                except Exception:
                    log.exception("subscriber failed")

    def close(self):
        pass


class RedisBroker(MemoryBroker):
    """Publish through Redis; one listener thread per process dispatches locally."""

    RECONNECT_S = 1.0

    def __init__(self, url, prefix="livechat"):
        super().__init__()
        import redis

        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                           health_check_interval=15)
        self._url = url
        self._prefix = prefix
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="broker-listener", daemon=True)
        self._thread.start()
        self._ready.wait(3)

    def publish(self, stream, frame):
        try:
            self._redis.publish(f"{self._prefix}:{stream}", json.dumps(frame, separators=(",", ":")))
        except Exception:
            # The event row is committed; subscribers catch up from the database.
            log.warning("broker publish failed; subscribers will catch up", exc_info=True)
            self.dispatch(stream, frame)

    def publish_many(self, items):
        """One round trip for a transaction's events (a live request's reach every agent at once)."""
        if len(items) == 1:
            return self.publish(*items[0])
        try:
            pipe = self._redis.pipeline(transaction=False)
            for stream, frame in items:
                pipe.publish(f"{self._prefix}:{stream}", json.dumps(frame, separators=(",", ":")))
            pipe.execute()
        except Exception:
            log.warning("broker publish failed; subscribers will catch up", exc_info=True)
            for stream, frame in items:
                self.dispatch(stream, frame)

    def _listen(self):
        import redis

        first = True
        while not self._stopped.is_set():
            pubsub = None
            try:
                client = redis.Redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=None)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{self._prefix}:*")
                BROKER_CONNECTED.set(1)
                self._ready.set()
                if not first:
                    self.resync_all()  # anything published while we were away is in the database
                first = False
                strip = len(self._prefix) + 1
                while not self._stopped.is_set():
                    message = pubsub.get_message(timeout=0.25)
                    if message is None:
                        continue
                    channel = message["channel"].decode()
                    self.dispatch(channel[strip:], json.loads(message["data"]))
            except Exception:
                BROKER_CONNECTED.set(0)
                log.warning("broker connection lost; reconnecting", exc_info=True)
                self._ready.set()
                self._stopped.wait(self.RECONNECT_S)
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass

    def close(self):
        self._stopped.set()
        self._thread.join(3)


def make_broker(config):
    url = config.get("REDIS_URL")
    if url:
        BROKER_CONNECTED.set(0)  # until the listener has subscribed
        return RedisBroker(url, prefix=config.get("BROKER_PREFIX", "livechat"))
    BROKER_CONNECTED.set(1)
    return MemoryBroker()
