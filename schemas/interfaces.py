"""Chat interfaces."""
from urllib.parse import urlsplit

import marshmallow as ma
from marshmallow import fields, validate

from models.interface import REQUEST_TIMEOUT_DEFAULT_S, REQUEST_TIMEOUT_MAX_S, REQUEST_TIMEOUT_MIN_S, RoutingMode
from schemas.agents import InterfaceRefSchema  # noqa: F401 - re-exported for the builder
from schemas.common import SafeStr


def _origin(value):
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/") \
            or parts.query or parts.fragment or any(ch in value for ch in "\r\n\0 "):
        raise ma.ValidationError("An origin is scheme://host[:port], for example https://example.com.")


class AgentRefSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)


class InterfaceSchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    workspace_id = fields.Integer(dump_only=True)
    name = SafeStr(required=True, max_length=120)
    public_key = fields.String(dump_only=True, metadata={"description": "Identifies the widget; rotate it to revoke"})
    allowed_origins = fields.List(
        fields.String(validate=[validate.Length(max=255), _origin]),
        load_default=list, validate=validate.Length(max=50),
        metadata={"description": "Origins the widget may be embedded on"},
    )
    request_timeout_s = fields.Integer(
        load_default=REQUEST_TIMEOUT_DEFAULT_S,
        validate=validate.Range(min=REQUEST_TIMEOUT_MIN_S, max=REQUEST_TIMEOUT_MAX_S),
        metadata={"description": "Seconds a live request waits for an agent before the offline path"},
    )
    routing_mode = fields.String(load_default=RoutingMode.BROADCAST.value, validate=validate.OneOf(RoutingMode.values()))
    agent_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=500))
    agents = fields.List(fields.Nested(AgentRefSchema), dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class InterfaceUpdateSchema(ma.Schema):
    name = SafeStr(max_length=120)
    allowed_origins = fields.List(fields.String(validate=[validate.Length(max=255), _origin]),
                                  validate=validate.Length(max=50))
    request_timeout_s = fields.Integer(validate=validate.Range(min=REQUEST_TIMEOUT_MIN_S, max=REQUEST_TIMEOUT_MAX_S))
    routing_mode = fields.String(validate=validate.OneOf(RoutingMode.values()))
    agent_ids = fields.List(fields.Integer(), validate=validate.Length(max=500))


class InterfaceAgentsSchema(ma.Schema):
    agent_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(max=500))
