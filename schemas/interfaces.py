"""Chat interfaces."""
import re

from marshmallow import fields, validate

from models.interface import (
    REQUEST_TIMEOUT_DEFAULT_S, REQUEST_TIMEOUT_MAX_S, REQUEST_TIMEOUT_MIN_S, VIDEO_WEIGHT_DEFAULT, VIDEO_WEIGHT_MAX, RoutingMode,
)
from schemas.agents import InterfaceRefSchema  # noqa: F401 - re-exported for the builder
from schemas.common import ObjectId, PatchSchema, SafeStr, Schema
from schemas.visitors import PrechatFormField

# scheme://host[:port] and nothing else: no user info, path, query or fragment.
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# _ORIGIN for the spec: ECMA-262 has no inline flags, so both cases are spelled out. A port is 1 to 65535.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
ORIGIN_PATTERN = (rf"^[hH][tT][tT][pP][sS]?://(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:.]+\])"
                  r"(?::(?!0+/?$)(?:[0-5]?[0-9]{1,4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$")


class Origin(fields.String):
    """A web origin, stored as browsers send it in the Origin header (lower case, no default port)."""

    default_error_messages = {
        "invalid_origin": "An origin is scheme://host[:port], for example https://example.com.",
    }

    def __init__(self, **kwargs):
        metadata = {"description": "scheme://host[:port]", "example": "https://www.example.com",
                    "pattern": ORIGIN_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(validate=validate.Length(max=255), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        match = _ORIGIN.fullmatch(value)
        port = int(match["port"]) if match and match["port"] else None
        if match is None or (port is not None and not 0 < port < 65536):
            raise self.make_error("invalid_origin")
        scheme, host = match["scheme"].lower(), match["host"].lower()
        if port is None or port == _DEFAULT_PORTS[scheme]:
            return f"{scheme}://{host}"
        return f"{scheme}://{host}:{port}"


class OriginList(fields.List):
    """Allowed origins, each once."""

    def __init__(self, **kwargs):
        super().__init__(Origin(), validate=validate.Length(max=50),
                         metadata={"description": "Origins the widget may be embedded on"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))


_ROUTING = ("broadcast: every online agent with room is notified and the first to accept gets the chat; "
            "least_busy: the online agent with the fewest chats (round-robin on ties) gets it without a click")
_PRECHAT = ("Fields the widget asks before a live or video chat; when enabled, a request missing a required one "
            "is refused (422 prechat_required)")
_WEIGHT = "How many chats a video chat counts as against an agent's max chats"


class AgentRefSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)


class InterfaceSchema(Schema):
    id = fields.Integer(dump_only=True)
    workspace_id = fields.Integer(dump_only=True)
    name = SafeStr(required=True, max_length=120)
    public_key = fields.String(dump_only=True, metadata={"description": "Identifies the widget; rotate it to revoke"})
    allowed_origins = OriginList(load_default=list)
    request_timeout_s = fields.Integer(
        load_default=REQUEST_TIMEOUT_DEFAULT_S,
        validate=validate.Range(min=REQUEST_TIMEOUT_MIN_S, max=REQUEST_TIMEOUT_MAX_S),
        metadata={"description": "Seconds a live request waits for an agent before the offline path"},
    )
    routing_mode = fields.String(load_default=RoutingMode.BROADCAST.value,
                                 validate=validate.OneOf(RoutingMode.values()), metadata={"description": _ROUTING})
    video_weight = fields.Integer(load_default=VIDEO_WEIGHT_DEFAULT, validate=validate.Range(min=1, max=VIDEO_WEIGHT_MAX),
                                  metadata={"description": _WEIGHT})
    agent_ids = fields.List(ObjectId(), load_default=list, validate=validate.Length(max=500),
                            metadata={"description": "Users who serve this interface"})
    agents = fields.List(fields.Nested(AgentRefSchema), dump_only=True)
    prechat_form = PrechatFormField(metadata={"description": _PRECHAT})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class InterfaceUpdateSchema(PatchSchema):
    name = SafeStr(max_length=120)
    allowed_origins = OriginList()
    request_timeout_s = fields.Integer(validate=validate.Range(min=REQUEST_TIMEOUT_MIN_S, max=REQUEST_TIMEOUT_MAX_S))
    routing_mode = fields.String(validate=validate.OneOf(RoutingMode.values()), metadata={"description": _ROUTING})
    video_weight = fields.Integer(validate=validate.Range(min=1, max=VIDEO_WEIGHT_MAX), metadata={"description": _WEIGHT})
    agent_ids = fields.List(ObjectId(), validate=validate.Length(max=500),
                            metadata={"description": "Users who serve this interface (replaces the list)"})
    prechat_form = PrechatFormField(metadata={"description": _PRECHAT + " (replaces the form)"})


class InterfaceAgentsSchema(Schema):
    agent_ids = fields.List(ObjectId(), required=True, validate=validate.Length(max=500),
                            metadata={"description": "Users who serve this interface (replaces the list)"})
