"""Fan-out of committed events to the sockets of this process, across processes.

In-process by default; with REDIS_URL every process publishes to Redis and
listens to one pattern subscription, then fans out locally. The broker only
carries notifications: the event rows are the truth, and a socket that sees a
gap in positions reads the missing events from the database.
"""
import logging
import random
import threading
import time
from collections import defaultdict

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from metrics import BROKER_CONNECTED
from services import wire

log = logging.getLogger(__name__)

RESYNC = "_resync"  # told to local subscribers when the broker may have lost messages
# The channel of a transaction's frames published together: [[stream, frame], ...] in order. No stream is
# named so (streams are kind:id).
BATCH = "_batch"


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
    """Publish through Redis; one listener thread per process dispatches locally.

    While Redis is away nothing stops: a publisher tells its own process's
    sockets at once and remembers the streams the others did not hear of; the
    listener tries to reconnect with a growing, jittered pause and meanwhile
    looks at the event table every POLL_S, telling the sockets of streams that
    moved to read it. When it is back, every stream that moved is read again
    and the remembered streams are announced, so a delay is bounded by the
    poll, never by the next event on a stream.
    """

    POLL_S = 1.0  # how often sockets catch up from the event table while Redis is away
    RECONNECT_MIN_S = 0.2
    RECONNECT_MAX_S = 3.0
    LIVENESS_S = 5.0  # a listener that hears nothing, not even its own ping, this long twice over reconnects
    DIRTY_MAX = 10_000  # beyond this many unheard-of streams, everyone resyncs everything instead

    def __init__(self, url, prefix="livechat", stream_positions=None):
        super().__init__()
        self._redis = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5,
                                           health_check_interval=15)
        # Readiness probes ask through this one client (its pool keeps the connection between probes):
        # one try, a second at most, so a probe answers before an orchestrator's timeout.
        self._probe = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1,
                                           retry=Retry(NoBackoff(), 0))
        self._url = url
        self._prefix = prefix
        # stream_positions(streams) -> {stream: last position}: how the poll reads the event table.
        self._stream_positions = stream_positions
        self._seen = {}  # positions the last poll found, so the next one resyncs only streams that moved
        self._next_poll = 0.0
        self._connected = False
        self._dirty = set()  # streams whose events other processes may not have heard of
        self._dirty_overflow = False
        self._state_lock = threading.Lock()
        self._stopped = threading.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="broker-listener", daemon=True)
        self._thread.start()
        self._ready.wait(3)

    # -- publishing ---------------------------------------------------------

    def publish(self, stream, frame):
        self.publish_many([(stream, frame)])

    def publish_many(self, items):
        """A transaction's events in one PUBLISH (a live request's reach every agent at once).

        Every process listens to every channel, so a batch is one message on BATCH: one command for Redis
        to match and send, one reply for each listener to parse, where a PUBLISH per frame cost each of
        them a hundred for a live request to fifty agents.
        """
        if self._connected:
            try:
                if len(items) == 1:
                    self._redis.publish(self._channel(items[0][0]), wire.dumpb(items[0][1]))
                else:
                    self._redis.publish(self._channel(BATCH), wire.dumpb([[stream, frame] for stream, frame in items]))
                if self._dirty or self._dirty_overflow:
                    self._announce_dirty()
                return
            except Exception as error:
                self._lost(error)
        # The event rows are committed: this process's sockets hear them now, the others' from the table.
        for stream, frame in items:
            self.dispatch(stream, frame)
        self._mark_dirty(stream for stream, frame in items if "pos" in frame)

    def _channel(self, stream):
        return f"{self._prefix}:{stream}"

    def _mark_dirty(self, streams):
        with self._state_lock:
            self._dirty.update(streams)
            if len(self._dirty) > self.DIRTY_MAX:
                self._dirty.clear()
                self._dirty_overflow = True

    def _announce_dirty(self):
        """Tell every process to read the streams it may have missed (published while Redis was away)."""
        with self._state_lock:
            streams, everything = self._dirty, self._dirty_overflow
            self._dirty, self._dirty_overflow = set(), False
        if not streams and not everything:
            return
        try:
            pipe = self._redis.pipeline(transaction=False)
            if everything:
                pipe.publish(self._channel(RESYNC), wire.dumpb({"type": RESYNC}))
            for stream in streams:
                pipe.publish(self._channel(stream), wire.dumpb({"type": RESYNC, "stream": stream}))
            pipe.execute()
        except Exception as error:
            with self._state_lock:
                self._dirty.update(streams)
                self._dirty_overflow = self._dirty_overflow or everything
            self._lost(error)

    # -- connection state ---------------------------------------------------

    @property
    def connected(self):
        """Whether events go through Redis now (otherwise sockets catch up from the event table)."""
        return self._connected

    def ping(self):
        """Whether Redis answers a PING now (readiness)."""
        try:
            return bool(self._probe.ping())
        except Exception:
            return False

    def _lost(self, error):
        """Redis stopped answering: say so once, and catch up from the table until it is back."""
        with self._state_lock:
            was_connected, self._connected = self._connected, False
            BROKER_CONNECTED.set(0)
            if was_connected:
                self._seen = {}  # the first poll of an outage reads every stream once
                self._next_poll = 0.0
        if was_connected:
            log.warning("broker connection lost (%s: %s); sockets catch up from the event table until it is back",
                        error.__class__.__name__, error)

    def _back(self, away_since):
        with self._state_lock:
            self._connected = True
            BROKER_CONNECTED.set(1)
        if away_since is not None:
            log.warning("broker connection back after %.1f s", time.monotonic() - away_since)

    def resync_moved(self):
        """Tell the sockets of every stream that moved since the last look to read the event table.

        False when the table could not be read (the database may be away too).
        """
        with self._lock:
            streams = list(self._subscribers)
        if not streams:
            return True
        if self._stream_positions is None:
            self.resync_all()
            return True
        try:
            positions = self._stream_positions(streams)
        except Exception as error:  # the next poll tries again
            log.debug("broker catch-up: event table unreadable (%s)", error.__class__.__name__)
            return False
        with self._state_lock:
            seen, self._seen = self._seen, {stream: positions.get(stream, 0) for stream in streams}
        for stream in streams:
            if stream not in seen or positions.get(stream, 0) > seen[stream]:
                self.dispatch(stream, {"type": RESYNC, "stream": stream})
        return True

    # -- the listener -------------------------------------------------------

    def _listen(self):
        failures = 0
        away_since = None  # None until the first connection, and while connected
        first = True
        while not self._stopped.is_set():
            pubsub = None
            try:
                # No silent reconnect inside redis-py: a connection that drops must reach this loop, which
                # resyncs, or what was published in between would wait for the next event on its stream.
                client = redis.Redis.from_url(self._url, socket_connect_timeout=2, socket_timeout=self.LIVENESS_S,
                                              retry=Retry(NoBackoff(), 0))
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.psubscribe(f"{self._prefix}:*")
                self._back(away_since)
                self._ready.set()
                if not first and not self.resync_moved():
                    self.resync_all()  # anything published while we were away is in the database
                self._announce_dirty()
                first, failures, away_since = False, 0, None
                self._receive(pubsub)
            except Exception as error:
                if away_since is None:
                    away_since = time.monotonic()
                if first and failures == 0:
                    log.warning("broker unreachable (%s: %s); retrying", error.__class__.__name__, error)
                self._lost(error)
                self._ready.set()
                failures += 1
                self._wait_and_poll(_backoff_s(failures, self.RECONNECT_MIN_S, self.RECONNECT_MAX_S))
            finally:
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass

    def _receive(self, pubsub):
        strip = len(self._prefix) + 1
        everything, batch = self._channel(RESYNC), self._channel(BATCH)
        last_heard = last_ping = time.monotonic()
        while not self._stopped.is_set():
            message = pubsub.get_message(timeout=0.25)
            if self._stopped.is_set():
                return
            now = time.monotonic()
            if message is not None:
                last_heard = now
                if message["type"] == "pmessage":
                    channel = message["channel"].decode()
                    if channel == batch:
                        for stream, frame in wire.loads(message["data"]):
                            self.dispatch(stream, frame)
                    elif channel == everything:
                        self.resync_all()
                    else:
                        self.dispatch(channel[strip:], wire.loads(message["data"]))
            if now - last_heard > 2 * self.LIVENESS_S:
                raise ConnectionError("no answer from Redis")
            if not self._connected:  # a publish failed: resubscribe, which catches everyone up
                raise ConnectionError("publishing failed")
            if now - last_ping > self.LIVENESS_S:
                pubsub.ping()
                last_ping = now

    def _wait_and_poll(self, seconds):
        """Wait before the next connection attempt, catching sockets up from the event table meanwhile."""
        deadline = time.monotonic() + seconds
        while not self._stopped.is_set():
            now = time.monotonic()
            if now >= self._next_poll:
                self._next_poll = now + self.POLL_S
                self.resync_moved()
            if now >= deadline:
                return
            self._stopped.wait(max(min(self._next_poll, deadline) - time.monotonic(), 0))

    def close(self):
        self._stopped.set()
        try:  # wake the listener's read at once instead of at its next timeout
            self._probe.publish(self._channel(_WAKE), b"{}")
        except Exception:  # Redis away: the read times out on its own
            pass
        self._thread.join(3)
        self._probe.close()


# The channel a closing broker publishes on to wake its own listener (no socket follows it).
_WAKE = "broker.wake"


def _backoff_s(failures, low, high):
    """Exponential backoff with full jitter: processes that lost Redis together do not return together."""
    return random.uniform(low, min(high, low * 2 ** failures))



def make_broker(config, stream_positions=None):
    """The broker for a configuration; stream_positions reads the event table when Redis is away."""
    url = config.get("REDIS_URL")
    if url:
        BROKER_CONNECTED.set(0)  # until the listener has subscribed
        return RedisBroker(url, prefix=config.get("BROKER_PREFIX", "livechat"), stream_positions=stream_positions)
    BROKER_CONNECTED.set(1)
    return MemoryBroker()
