"""gunicorn settings; every value can be overridden from the environment."""
import os

bind = os.environ.get("BIND", "127.0.0.1:5000")
workers = int(os.environ.get("WEB_CONCURRENCY", "1"))
# gevent, one worker per core (README, Deployment): a socket costs a greenlet, not a thread. `make bench`
# measured the gthread worker holding 32 sockets with its 32 threads, and one gevent worker 5,200 with
# a lower p99 at the design point (37.7 against 52.4 ms).
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


def post_worker_init(worker):
    """Each worker drains the outbox and sweeps request deadlines (both are safe to run N times)."""
    import gc

    from app import start_background

    start_background(worker.wsgi)
    # What is loaded by now (modules, the app, SQLAlchemy's mappings) lives as long as the worker: frozen,
    # the cyclic collector stops walking it on every full collection, which were pauses of every socket.
    gc.collect()
    gc.freeze()


def _json_errors():
    """What gunicorn refuses itself (a request line or header past its limit, a malformed request) answers in
    the API's error shape rather than an HTML page."""
    from gunicorn import util

    def write_error(sock, status_int, reason, mesg):
        from errors import raw_error_response  # in a worker, where the app (and its path) is loaded

        util.write_nonblock(sock, raw_error_response(status_int, reason, mesg))

    util.write_error = write_error


_json_errors()
