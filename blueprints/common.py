"""What the blueprints share: the JSON body parser, path converters, authentication, documented errors."""
from functools import wraps

import flask_smorest
from flask import current_app, request
from flask_jwt_extended import current_user, verify_jwt_in_request
from flask_smorest import abort
from flask_smorest.spec.plugins import integerconverter2paramschema
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import BaseConverter, IntegerConverter

from blueprints.contract import DEFAULT_CODES, ERROR_DESCRIPTIONS, TOKEN_CODES, codes_of
from errors import ErrorSchema, Forbidden, NotFound, Unauthorized
from models import Role, User
from models.base import ID_MAX
from schemas.inbound import JSON_DEPTH_MAX, JSONTooDeep, check_depth

BEARER = [{"bearerAuth": []}]
PUBLIC_KEY_PATTERN = r"pk_[A-Za-z0-9_-]{1,61}"
# A user token refused: missing, malformed, expired, revoked, or a visitor's (Unauthorized).
USER_TOKEN_CODES = TOKEN_CODES


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


def errors(blp, *statuses, codes=None):
    """Document error responses with the shared error body, and the codes each status can carry.

    codes maps a status to the DomainError subclasses (or code strings) a route can answer it with;
    a status it does not name carries its plain code (blueprints.contract.DEFAULT_CODES). Calls add up:
    a status documented twice lists the codes of both. The spec shows them as an enum of `code`.
    """
    codes = codes or {}
    unknown = set(codes) - set(statuses)
    if unknown:
        raise ValueError(f"codes given for undocumented statuses {sorted(unknown)}")

    def decorator(func):
        documented = getattr(func, "_apidoc", {}).get("response", {}).get("responses", {})
        for status in statuses:
            if status not in documented:
                func = blp.alt_response(status, schema=ErrorSchema, description=ERROR_DESCRIPTIONS[status])(func)
            named = codes_of(codes.get(status) or DEFAULT_CODES[status])
            func = blp.doc(**{"x-error-codes": {str(status): dict.fromkeys(named, True)}})(func)
        return func

    return decorator


def roles(blp, *names):
    """Record who may call the operation (`x-roles`; no call: public). login_required and visitor_required use it."""
    return blp.doc(**{"x-roles": list(names)})


def login_required(blp, role=None, refresh=False, hidden_from_visitors=False):
    """Require a valid user token; with role="admin", an admin (checked against the database).

    hidden_from_visitors: a visitor's token gets 404, as for a conversation they cannot reach, so a visitor
    cannot even learn that the route holds anything (private notes).
    """

    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            verify_jwt_in_request(refresh=refresh)
            user = current_user
            if not isinstance(user, User):
                if hidden_from_visitors and user is not None:
                    raise NotFound("Not found")
                raise Unauthorized("A user token is required")
            if role is not None and user.role != Role(role):
                raise Forbidden("Only admins can do this")
            return func(*args, **kwargs)

        wrapper = blp.doc(security=BEARER)(wrapper)
        if hidden_from_visitors:
            wrapper = blp.doc(**{"x-visitor-token": "not_found"})(wrapper)
        wrapper = roles(blp, *([role] if role is not None else [Role.ADMIN.value, Role.AGENT.value]))(wrapper)
        wrapper = errors(blp, 401, codes={401: USER_TOKEN_CODES})(wrapper)
        if role is not None:
            wrapper = errors(blp, 403)(wrapper)
        return wrapper

    return decorator


# What a multipart body may add to the file it carries (boundaries, part headers, the filename).
MULTIPART_OVERHEAD = 64 * 1024


def upload_body(setting):
    """Let this route's body be as large as the file the setting allows (plus the form's own bytes), no larger.

    Outermost on the view, so it runs before the form is parsed: werkzeug then stops reading a body
    (even a chunked one, whatever Content-Length says) at that size and answers 413.
    """
    def decorator(func):
        @wraps(func)
        def wrapper(*args, **kwargs):
            request.max_content_length = current_app.config[setting] + MULTIPART_OVERHEAD
            return func(*args, **kwargs)

        return wrapper

    return decorator
