"""Prometheus metrics, at /metrics (outside /api and its OpenAPI document).

Under gunicorn every worker writes its samples to PROMETHEUS_MULTIPROC_DIR
(gunicorn.conf.py prepares it) and a scrape of any worker reads them all; without
it (tests, the werkzeug server) the metrics live in this process. Facts that are
rows (the outbox) are counted in the database at scrape time, so every worker
reports the same number. It imports nothing of services/, which record into it.
"""
import gc
import hmac
import os
import time
from collections import deque
from datetime import datetime

from prometheus_client import (CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram,
                               generate_latest, multiprocess)
from flask import Response, g, request
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from errors import error_response
from extensions import db
from models import OutboxMail
from models.outbox import OutboxStatus

SOCKETS_OPEN = Gauge("livechat_sockets_open", "WebSockets open now, by role (admin, agent, visitor)", ["role"],
                     multiprocess_mode="livesum")
SOCKET_FRAMES = Counter("livechat_socket_frames", "WebSocket frames by direction (in, out) and frame type",
                        ["direction", "type"])
SOCKETS_REFUSED = Counter("livechat_sockets_refused", "Socket upgrades refused before the upgrade, by reason",
                          ["reason"])
LIVE_REQUESTS = Counter("livechat_live_requests",
                        "Live requests by outcome, counted once committed: opened, and then one of offline "
                        "(nobody available), outside_hours (asked outside business hours), accepted, expired, "
                        "cancelled", ["outcome"])
BACKGROUND_RUNS = Counter("livechat_background_runs", "Rounds of a background worker (sweeper, retention, "
                          "outbox-sender) by outcome (ok, failed, skipped: another process holds the job's lease)",
                          ["worker", "outcome"])
OUTBOX_SEND_FAILURES = Counter("livechat_outbox_send_failures",
                               "Attempts to send an outbox mail that failed (retried later, or given up)")
BROKER_CONNECTED = Gauge("livechat_broker_connected", "1 when the broker listener of every live process is "
                         "connected (the in-process broker always is), else 0", multiprocess_mode="livemin")
TIME_TO_ACCEPT = Histogram("livechat_live_request_accept_seconds",
                           "From a live request to its acceptance (by an agent, or by least-busy routing), by kind",
                           ["kind"], buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600))
EVENT_DELIVERY = Histogram("livechat_event_delivery_seconds",
                           "From an event's commit to its frame going out on a socket that follows its stream "
                           "(live deliveries; replays are not counted)",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
MESSAGE_BATCH = Histogram("livechat_message_batch_size",
                          "Socket messages per group commit (services/group_commit.py); 1: a message alone",
                          buckets=(1, 2, 4, 8, 16, 32, 64))
DB_POOL_IN_USE = Gauge("livechat_db_pool_in_use", "Database connections checked out of each process's pool, "
                       "summed over live processes (read when a request ends)", multiprocess_mode="livesum")
GC_PAUSE = Histogram("livechat_gc_pause_seconds",
                     "Pauses of Python's cyclic garbage collector in a gunicorn worker, by generation (0 and 1 "
                     "young, 2 full): every request and socket of the worker waits through one (GC_THRESHOLDS)",
                     ["generation"], buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
HTTP_LATENCY = Histogram("livechat_http_request_duration_seconds",
                         "HTTP request duration by method, route template and status class",
                         ["method", "route", "status"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

_UNTIMED_ROUTES = {"/ws", "/metrics"}  # a socket's request lasts its whole life; scrapes are not traffic
# Label values must stay a small set: a client may send any method token, and each new one is a series.
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
_AFTER_COMMIT = "metrics_after_commit"


def count_after_commit(session, counter, **labels):
    """Increment counter once session's transaction (begun already) commits; never when it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append((counter, labels, None))


def observe_after_commit(session, histogram, value, **labels):
    """Observe value in histogram once session's transaction commits; never when it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append((histogram, labels, value))


def observe_delivery(frame, now=None):
    """Time from a live event frame's commit ("at", ISO 8601) to now."""
    at = frame.get("at")
    if not isinstance(at, str):
        return
    try:
        written = datetime.fromisoformat(at).timestamp()
    except ValueError:
        return
    EVENT_DELIVERY.observe(max(0.0, (now or time.time()) - written))


def _install_session_hooks():
    @event.listens_for(Session, "after_commit")
    def _committed(session):
        for metric, labels, value in session.info.pop(_AFTER_COMMIT, ()):
            sample = metric.labels(**labels) if labels else metric
            if value is None:
                sample.inc()
            else:
                sample.observe(value)

    @event.listens_for(Session, "after_transaction_end")
    def _ended(session, transaction):
        if transaction.parent is None:  # rolled back (a commit has emptied the list already)
            session.info.pop(_AFTER_COMMIT, None)


_install_session_hooks()


def frame_type(frame, known):
    """A frame's type as a label: one of known, or "other" (labels must stay a small set)."""
    kind = frame.get("type") if isinstance(frame, dict) else None
    return kind if kind in known else "other"


class _DatabaseCollector:
    """Gauges read from the database at scrape time: the same answer from every worker."""

    def collect(self):
        try:
            counts = dict(db.session.execute(
                select(OutboxMail.status, func.count()).group_by(OutboxMail.status)).all())
            db.session.rollback()
        except Exception:  # the database is briefly gone: /readyz says so; scrape the rest
            db.session.rollback()
            return
        backlog = GaugeMetricFamily("livechat_outbox_backlog", "Outbox mails waiting to be sent")
        backlog.add_metric([], counts.get(OutboxStatus.PENDING.value, 0))
        failed = GaugeMetricFamily("livechat_outbox_failed", "Outbox mails given up after OUTBOX_MAX_ATTEMPTS")
        failed.add_metric([], counts.get(OutboxStatus.FAILED.value, 0))
        yield backlog
        yield failed


def exposition():
    """The text exposition of every metric: all workers' in multiprocess mode, plus the database gauges."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    database = CollectorRegistry()
    database.register(_DatabaseCollector())
    return generate_latest(registry) + generate_latest(database)


# Pauses measured by the collector's callback, observed later: a collection can start while this thread holds
# prometheus_client's lock (an observe allocates), so the callback takes no lock; a deque's append needs none.
_gc_pauses = deque(maxlen=10_000)
_gc_started = [0.0]


def _time_gc(phase, info):
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _gc_pauses.append((info["generation"], time.perf_counter() - _gc_started[0]))


def watch_gc(thresholds):
    """Set the collector's thresholds and time its pauses (a gunicorn worker, once it has loaded the app)."""
    gc.set_threshold(*thresholds)
    if _time_gc not in gc.callbacks:
        gc.callbacks.append(_time_gc)


def observe_gc_pauses():
    """Observe the pauses timed since the last call (at the end of each request and before a scrape)."""
    while True:
        try:
            generation, seconds = _gc_pauses.popleft()
        except IndexError:  # none left (another greenlet may have taken the last)
            return
        GC_PAUSE.labels(str(generation)).observe(seconds)


def _observe_pool():
    try:
        DB_POOL_IN_USE.set(db.engine.pool.checkedout())
    except (AttributeError, RuntimeError):  # a pool without a count (SQLite's in-memory one), or no app
        pass


def init_app(app):
    """Serve /metrics (bearer METRICS_TOKEN when set) and time every HTTP request by route template."""
    @app.before_request
    def _start_timer():
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        _observe_pool()
        observe_gc_pauses()
        started = g.pop("metrics_started", None)
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        if started is not None and rule not in _UNTIMED_ROUTES:
            method = request.method if request.method in _METHODS else "other"
            HTTP_LATENCY.labels(method, rule, f"{response.status_code // 100}xx").observe(
                time.perf_counter() - started)
        return response

    def metrics():
        token = app.config.get("METRICS_TOKEN")
        if token:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return error_response(401, "A valid metrics token is required", "unauthorized",
                                      headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
        observe_gc_pauses()
        return Response(exposition(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
