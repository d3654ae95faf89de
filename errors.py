"""One error shape for every error: {code, status, message, errors}.

`code` is a machine-readable string ("capacity_full"), `status` the HTTP
status. Domain errors carry both, so REST and the WebSocket render them alike.
"""
import json
import logging
import math
import time

import marshmallow as ma
from flask import current_app, jsonify
from flask_smorest import Api as _SmorestApi
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)

# Default machine-readable codes for plain HTTP errors.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    431: "header_fields_too_large",
    500: "internal_error",
    503: "unavailable",
}


class ErrorSchema(ma.Schema):
    """The body of every error response."""

    code = ma.fields.String(required=True, metadata={"description": "Machine-readable error code", "example": "not_found"})
    status = ma.fields.Integer(required=True, metadata={"description": "HTTP status", "example": 404})
    message = ma.fields.String(required=True, metadata={"description": "Human-readable explanation"})
    # The metadata keys are schemas.openapi's MAY_BE_ABSENT and REST_SPEC (errors sits below schemas).
    errors = ma.fields.Dict(metadata={"description": "Per-field errors, keyed by location (json, query...) "
                                                     "then field",
                                      "x-may-be-absent": "sent only when there are per-field errors",
                                      "rest_spec": "ERROR_ERRORS"})


class DomainError(Exception):
    """An error a service raises; any transport renders it with status and code."""

    status = 400
    code = "bad_request"
    message = "Bad request"

    def __init__(self, message=None, *, code=None, errors=None):
        super().__init__(message or self.message)
        self.message = message or self.message
        if code:
            self.code = code
        self.errors = errors

    def to_dict(self):
        body = {"code": self.code, "status": self.status, "message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


class NotFound(DomainError):
    status, code, message = 404, "not_found", "Not found"


class Forbidden(DomainError):
    status, code, message = 403, "forbidden", "You are not allowed to do this"


class Unauthorized(DomainError):
    status, code, message = 401, "unauthorized", "Authentication required"


class Conflict(DomainError):
    status, code, message = 409, "conflict", "Conflict with the current state"


class ValidationFailed(DomainError):
    status, code, message = 422, "validation_error", "Invalid input"


class PreconditionFailed(DomainError):
    status, code, message = 412, "precondition_failed", "The resource changed since you read it"


class Unavailable(DomainError):
    status, code, message = 503, "unavailable", "Service temporarily unavailable, try again"


def error_body(status, message, code=None, errors=None):
    body = {"code": code or HTTP_CODES.get(status, "error"), "status": status, "message": message}
    if errors:
        body["errors"] = errors
    return body


# How long a client should wait before it tries again during an outage.
RETRY_AFTER_S = "5"


# What the database layer raises when it cannot serve: the driver's errors, and no connection free in the
# pool within its timeout (every connection busy: an overload, answered as an outage is).
DATABASE_ERRORS = (DBAPIError, PoolTimeout)


def is_database_outage(error):
    """A database error that means the database is away or saturated (not a bad statement)."""
    return isinstance(error, (OperationalError, PoolTimeout)) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def database_cause(error):
    """The name of what failed, for a log line: the driver's error, or the pool's timeout."""
    return getattr(error, "orig", error).__class__.__name__


def unavailable_response(message="Database temporarily unavailable, try again", errors=None):
    """The 503 every outage answers: JSON, with Retry-After."""
    return error_response(503, message, "unavailable", errors, headers={"Retry-After": RETRY_AFTER_S})


def raw_error_response(status, reason, message):
    """A whole HTTP/1.1 error response as bytes, for the server's own refusals (before any app code runs)."""
    body = json.dumps(error_body(status, message)).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return head.encode("latin-1", "replace") + body


def error_response(status, message, code=None, errors=None, headers=None):
    response = jsonify(error_body(status, message, code, errors))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _retry_after_s(limiter):
    """Seconds until the limit this request broke lets it through again (60 when it cannot tell)."""
    current = limiter.current_limit if limiter is not None else None
    if current is None:
        return 60
    return max(1, math.ceil(current.reset_at - time.time()))


class Api(_SmorestApi):
    """flask-smorest Api rendering HTTP errors in the project's shape.

    limiter: the Flask-Limiter whose broken limit a 429 names in Retry-After.
    """

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, app=None, *, limiter=None, **kwargs):
        self.limiter = limiter
        super().__init__(app, **kwargs)

    def handle_http_exception(self, error):
        data = getattr(error, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        message = data.get("message") or (
            "Invalid input: see errors" if error.code == 422 else error.description or error.name
        )
        headers = dict(data.get("headers") or {})
        if error.code == 429 and "Retry-After" not in headers:
            headers["Retry-After"] = str(_retry_after_s(self.limiter))
        if isinstance(error, InternalServerError):
            message = "Internal server error"
        response = error_response(error.code, message, data.get("code"), errors, headers)
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def rollback_quietly():
    """Drop what a failed request left in the session, so nothing later commits half of it.

    A session can outlive one request (a WebSocket, a test client inside an
    app context); without this, a later commit would write a rejected change.
    """
    try:
        current_app.extensions["sqlalchemy"].session.rollback()
    except Exception:  # the connection may be gone too; the answer stays the same
        log.warning("rollback after an error failed", exc_info=True)


def register_error_handlers(app, api):
    """Domain errors, database outages and stray exceptions all become JSON (HTTP errors through api)."""

    @app.errorhandler(DomainError)
    def _domain(error):
        rollback_quietly()
        headers = {"Retry-After": RETRY_AFTER_S} if error.status == 503 else None
        return error_response(error.status, error.message, error.code, error.errors, headers)

    @app.errorhandler(OperationalError)
    def _db_down(error):
        log.warning("database unavailable: %s", error.__class__.__name__)
        rollback_quietly()
        return unavailable_response()

    @app.errorhandler(PoolTimeout)
    def _db_busy(error):
        log.warning("database busy: no pooled connection free within the pool's timeout")
        rollback_quietly()
        return unavailable_response("Server busy, try again")

    @app.errorhandler(DBAPIError)
    def _db_error(error):
        rollback_quietly()
        if error.connection_invalidated:
            return unavailable_response()
        log.exception("database error")
        return error_response(500, "Internal server error", "internal_error")

    @app.errorhandler(Exception)
    def _unexpected(error):
        if isinstance(error, HTTPException):  # pragma: no cover - smorest's handler is more specific
            return api.handle_http_exception(error)
        log.exception("unhandled error")
        rollback_quietly()
        return error_response(500, "Internal server error", "internal_error")


def register_jwt_errors(jwt):
    """flask-jwt-extended's errors in the same shape, all 401."""

    @jwt.unauthorized_loader
    def _missing(reason):
        return error_response(401, "Missing or malformed Authorization header", "unauthorized")

    @jwt.invalid_token_loader
    def _invalid(reason):
        return error_response(401, "Invalid token", "invalid_token")

    @jwt.expired_token_loader
    def _expired(header, payload):
        return error_response(401, "Token has expired", "token_expired")

    @jwt.revoked_token_loader
    def _revoked(header, payload):
        return error_response(401, "Token has been revoked", "token_revoked")

    @jwt.user_lookup_error_loader
    def _gone(header, payload):
        return error_response(401, "Token is no longer valid", "token_revoked")

    @jwt.needs_fresh_token_loader
    def _fresh(header, payload):
        return error_response(401, "Fresh login required", "fresh_token_required")

    @jwt.token_verification_failed_loader
    def _failed(header, payload):
        return error_response(401, "Invalid token", "invalid_token")
