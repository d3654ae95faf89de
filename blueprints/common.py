"""What the blueprints share: the JSON body parser, path converters, authentication, documented errors."""
from functools import wraps

import flask_smorest
from flask import request
from flask_jwt_extended import current_user, verify_jwt_in_request
from flask_smorest import abort
from flask_smorest.spec.plugins import integerconverter2paramschema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import BaseConverter, IntegerConverter

from errors import ErrorSchema, Forbidden, Unauthorized
from models import Role, User
from models.base import ID_MAX
from schemas.inbound import JSON_DEPTH_MAX, JSONTooDeep, check_depth

BEARER = [{"bearerAuth": []}]
PUBLIC_KEY_PATTERN = r"pk_[A-Za-z0-9_-]{1,61}"


class BoundedJSONParser(FlaskParser):
    """webargs' parser, reading bodies with bounded nesting (schemas.inbound)."""

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        try:
            check_depth(data)
        except JSONTooDeep as error:
            abort(400, message=f"{error}.", messages={"json": [f"{error}."]})
        return core.parse_json(data)


class Blueprint(flask_smorest.Blueprint):
    """Every API blueprint: bodies parsed by BoundedJSONParser, and a body the spec calls required is required."""

    ARGUMENTS_PARSER = BoundedJSONParser()

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        decorator = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json":
            return decorator
        malformed = self.alt_response(400, schema=ErrorSchema,
                                      description=f"Not JSON, or JSON nested deeper than {JSON_DEPTH_MAX} levels")
        if not required:
            return lambda func: malformed(decorator(func))

        def outer(func):
            inner = malformed(decorator(func))

            @wraps(inner)
            def wrapper(*args, **kw):
                # webargs reads a missing body as {}; where the spec requires one, {} is not what was meant.
                if not request.is_json or not request.get_data(cache=True):
                    message = "A JSON body is required (Content-Type: application/json)."
                    abort(422, message=message, messages={"json": {"_schema": [message]}})
                return inner(*args, **kw)

            return wrapper

        return outer


class IdConverter(IntegerConverter):
    """<id:name>: the id of a row, 1 to ID_MAX; any other number names nothing and does not match (404)."""

    def __init__(self, map):
        super().__init__(map, min=1, max=ID_MAX)


class PublicKeyConverter(BaseConverter):
    """<public_key:name>: an interface's public key; anything else does not match (404)."""

    regex = PUBLIC_KEY_PATTERN


def register_converters(app, api):
    """The path converters, in the URL map (before any rule uses them) and in the spec."""
    app.url_map.converters["id"] = IdConverter
    app.url_map.converters["public_key"] = PublicKeyConverter
    api.register_converter(IdConverter, integerconverter2paramschema)
    api.register_converter(PublicKeyConverter,
                           lambda converter: {"type": "string", "pattern": f"^{PUBLIC_KEY_PATTERN}$", "maxLength": 64})


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
