"""gunicorn settings; every value can be overridden from the environment."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import config as _settings  # noqa: E402 - a bad setting stops the master, named, before a worker boots
import logs  # noqa: E402 - needs the project on the path, whatever gunicorn's working directory

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# gevent, one worker per core (README, Deployment): a socket costs a greenlet, not a thread, so a worker
# holds thousands; under gthread each socket holds one of GUNICORN_THREADS for its whole life.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gevent")
worker_connections = int(os.environ.get("GUNICORN_WORKER_CONNECTIONS", "10000"))
threads = int(os.environ.get("GUNICORN_THREADS", "32"))  # used by the gthread worker only
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
# The longest request line (method, URL with its query, version): gunicorn's largest. Longer ones get 414.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
# Never log query strings: set-password links carry their token there.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss'
# gunicorn's own lines, its access log and the app's: JSON, one object a line on stdout (logs.py).
if os.environ.get("LOG_FORMAT", "json") == "json":
    logconfig_dict = logs.logconfig_dict(os.environ.get("LOG_LEVEL"), accesslog)


def post_worker_init(worker):
    """Each worker drains the outbox; the sweep and retention run in whichever worker holds their lease."""
    import gc

    from app import start_background
    from metrics import watch_gc

    start_background(worker.wsgi)
    # What is loaded by now (modules, the app, SQLAlchemy's mappings) lives as long as the worker: frozen,
    # the cyclic collector does not walk it on every full collection, a pause for every socket of the worker.
    gc.collect()
    gc.freeze()
    # The sockets' objects cannot be frozen: full collections are made rare instead (config.GC_THRESHOLDS),
    # and every pause is timed (livechat_gc_pause_seconds). A process setting, read from the environment as the
    # master read it: the benchmark serves its baselines' apps, which have no such key, with this file too.
    watch_gc(_settings.Config.GC_THRESHOLDS)


# Metrics (metrics.py): every worker writes its samples into PROMETHEUS_MULTIPROC_DIR and a scrape of any
# worker reads them all. Unset, a fresh directory under instance/ serves this run and is removed after it.
# Set before any worker imports prometheus_client, which reads it once.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    import tempfile

    _instance = os.environ.get("INSTANCE_PATH") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "instance")
    os.makedirs(_instance, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-", dir=_instance)


def worker_exit(server, worker):
    """A worker leaving gives its jobs' leases back, so another takes them over at its next round."""
    for name in ("sweeper", "retention"):
        periodic = worker.wsgi.extensions.get(name) if hasattr(worker.wsgi, "extensions") else None
        if periodic is not None:
            periodic.stop(timeout=2)


def on_starting(server):
    """Start from empty metrics: the files of an earlier run would add to this one's counters."""
    directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(directory, exist_ok=True)
    for name in os.listdir(directory):
        if name.endswith(".db"):
            os.remove(os.path.join(directory, name))


def child_exit(server, worker):
    """A dead worker's sockets are no longer open (the live gauges drop its samples)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        import shutil

        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _json_errors():
    """What gunicorn refuses itself (a request line or header past its limit, a malformed request) answers in
    the API's error shape rather than an HTML page."""
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):
        from errors import raw_error_response  # in a worker, where the app (and its path) is loaded

        util.write_nonblock(sock, raw_error_response(status_int, reason, mesg))

    util.write_error = write_error


_json_errors()
