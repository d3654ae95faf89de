"""Structured logs: one JSON object per line, for gunicorn and the app alike.

Every line carries the request id when there is a request (HTTP or the request
that opened a socket), and the user or visitor and workspace once known. No
secret may reach a line: query parameters and headers that carry credentials
are redacted by the formatter itself, whatever a caller logged.
"""
import logging
import logging.config
import os
import re
import uuid
from datetime import datetime, timezone

from flask import g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
# WSGI environ keys the access log reads (gunicorn's {key}e atoms).
ENV_REQUEST_ID, ENV_USER, ENV_VISITOR, ENV_WORKSPACE = (
    "livechat.request_id", "livechat.user_id", "livechat.visitor_id", "livechat.workspace_id")

REDACTED = "[redacted]"
# Credentials in query strings (set-password links, socket tickets, any *token*), in headers, and bare JWTs.
_SECRET_PATTERNS = [
    (re.compile(r"(?i)([?&;]|\b)((?:[a-z_]*token|ticket|password|secret|key)=)[^&;\s\"'#]+"), r"\1\2" + REDACTED),
    (re.compile(r"(?i)\b(authorization|cookie)([\"']?\s*[:=]\s*[\"']?)(?:(bearer|basic)\s+)?[^\s\"',}]+"),
     lambda m: f"{m.group(1)}{m.group(2)}{(m.group(3) + ' ') if m.group(3) else ''}{REDACTED}"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
]


def redact(text):
    """The text with every credential-looking value replaced."""
    for pattern, replacement in _SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def request_id_from(value):
    """The client's request id when it is a sane token, else a fresh one."""
    if value and _SANE_REQUEST_ID.fullmatch(value):
        return value
    return uuid.uuid4().hex


def _request_context_fields():
    """request_id, user_id / visitor_id and workspace_id of the current request, when there is one."""
    if not has_request_context():
        return {}
    fields = {"request_id": g.get("request_id")}
    fields.update(principal_fields())
    return {key: value for key, value in fields.items() if value is not None}


def principal_fields():
    """Who the current request speaks for: from its verified JWT, or from the socket it opened."""
    context = g.get("log_context")
    if context:  # set by an edge that knows its principal without a JWT (the socket)
        return dict(context)
    # The claims of a token that was verified and whose user or visitor was found: ids without a query
    # (a log line never queries the database; it may be why we log).
    claims = g.get("_jwt_extended_jwt")
    if not claims or not g.get("_jwt_extended_jwt_user"):
        return {}
    kind = "visitor_id" if claims.get("kind") == "visitor" else "user_id"
    fields = {kind: _int(claims.get("sub")), "workspace_id": _int(claims.get("ws"))}
    return {key: value for key, value in fields.items() if value is not None}


class Formatter(JsonFormatter):
    """JSON lines with time, level, logger, message and the request's context; secrets redacted."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger", "asctime": "time"})
        kwargs.setdefault("timestamp", False)
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s", *args, **kwargs)

    def add_fields(self, log_record, record, message_dict):
        super().add_fields(log_record, record, message_dict)
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            log_record.update(_access_fields(record.args))
        else:
            for key, value in _request_context_fields().items():
                log_record.setdefault(key, value)

    def formatTime(self, record, datefmt=None):
        return datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")

    def format(self, record):
        return redact(super().format(record))


def _access_fields(atoms):
    """gunicorn's access atoms as fields: never the query string, never a header but the request id."""

    def atom(key):
        value = atoms.get(key)
        return None if value in (None, "-") else value

    fields = {
        "remote_addr": atom("h"), "method": atom("m"), "path": atom("U"), "status": _int(atom("s")),
        "bytes": _int(atom("B")), "duration_ms": round(int(atom("D") or 0) / 1000, 3),
        "request_id": atom("{x-request-id}o") or atom("{%s}e" % ENV_REQUEST_ID),
        "user_id": _int(atom("{%s}e" % ENV_USER)), "visitor_id": _int(atom("{%s}e" % ENV_VISITOR)),
        "workspace_id": _int(atom("{%s}e" % ENV_WORKSPACE)), "user_agent": atom("a"),
    }
    return {key: value for key, value in fields.items() if value is not None}


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def logconfig_dict(level=None, access_path=None):
    """One logging configuration for gunicorn (its logconfig_dict) and for the app outside gunicorn.

    Everything goes to stdout, except the access log when access_path names a file.
    """
    level = (level or os.environ.get("LOG_LEVEL") or "INFO").upper()
    handlers = {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}}
    access = {"level": "INFO", "handlers": [], "propagate": True}
    if access_path and access_path != "-":
        handlers["access"] = {"class": "logging.FileHandler", "formatter": "json", "filename": access_path}
        access = {"level": "INFO", "handlers": ["access"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": Formatter}},
        "handlers": handlers,
        "root": {"level": level, "handlers": ["json"]},
        "loggers": {
            # Propagate to the root's one handler: one stream, one format.
            "gunicorn.error": {"level": level, "handlers": [], "propagate": True},
            "gunicorn.access": access,
            "werkzeug": {"level": "WARNING"},
            "alembic.runtime.plugins": {"level": "WARNING"},
        },
    }


def configure(level=None):
    """Send every logger to stdout as JSON, once per process."""
    root = logging.getLogger()
    if any(isinstance(handler.formatter, Formatter) for handler in root.handlers):
        return
    logging.config.dictConfig(logconfig_dict(level))


def init_app(app):
    """Give each request its id (X-Request-ID in and out) and tell the access log who it was for."""
    if not app.testing and app.config.get("LOG_FORMAT", "json") == "json":
        configure(app.config.get("LOG_LEVEL"))

    @app.before_request
    def _request_id():
        g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        request.environ[ENV_REQUEST_ID] = g.request_id

    @app.after_request
    def _tag_response(response):
        if "request_id" not in g:  # an earlier before_request answered first (a rate limit)
            g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
            request.environ[ENV_REQUEST_ID] = g.request_id
        response.headers[REQUEST_ID_HEADER] = g.request_id
        principal = principal_fields()
        for key, environ_key in (("user_id", ENV_USER), ("visitor_id", ENV_VISITOR),
                                 ("workspace_id", ENV_WORKSPACE)):
            value = principal.get(key)
            if value is not None:
                request.environ[environ_key] = str(value)
        return response
