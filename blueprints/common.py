"""Decorators shared by the blueprints: authentication, roles, documented errors."""
from functools import wraps

from flask_jwt_extended import current_user, verify_jwt_in_request

from errors import ErrorSchema, Forbidden, Unauthorized
from models import Role, User

BEARER = [{"bearerAuth": []}]


def errors(blp, *statuses):
    """Document error responses with the shared error body."""
    descriptions = {
        400: "Bad request", 401: "Not logged in, or the token is invalid, expired or revoked",
        403: "Your role does not allow this", 404: "Not found (or outside your reach)",
        409: "Conflict with the current state (see `code`)", 412: "The ETag in If-Match is stale",
        413: "Body too large", 422: "Invalid input (per-field errors in `errors`)",
        428: "If-Match header required", 429: "Too many requests (see Retry-After)",
    }

    def decorator(func):
        for status in statuses:
            func = blp.alt_response(status, schema=ErrorSchema, description=descriptions[status])(func)
        return func

    return decorator


def login_required(blp, role=None, refresh=False):
    """Require a valid user token; with role="admin", an admin (checked against the database)."""

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request(refresh=refresh)
            user = current_user
            if not isinstance(user, User):
                raise Unauthorized("A user token is required")
            if role is not None and user.role != Role(role):
                raise Forbidden("Only admins can do this")
            return func(*args, **kwargs)

        wrapper = blp.doc(security=BEARER)(wrapper)
        wrapper = errors(blp, 401)(wrapper)
        if role is not None:
            wrapper = errors(blp, 403)(wrapper)
        return wrapper

    return decorator
