"""The agent dashboard's requests and commands."""
import marshmallow as ma
from marshmallow import fields, validate

from models import AuditAction
from schemas.common import PageArgsSchema
from schemas.requests import RequestViewSchema
from services.dashboard import SCOPES


class ConversationQueryArgsSchema(PageArgsSchema):
    scope = fields.String(load_default="mine", validate=validate.OneOf(SCOPES),
                          metadata={"description": "mine: open chats with you; waiting, bot, active, closed, all"})
    interface_id = fields.Integer()


class PendingRequestSchema(RequestViewSchema):
    conversation_id = fields.Integer(required=True)
    interface_id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class TransferSchema(ma.Schema):
    agent_id = fields.Integer(required=True, metadata={"description": "An online agent of the interface with room"})
    note = fields.String(validate=validate.Length(max=500))


class HandBackSchema(ma.Schema):
    component_id = fields.Integer(allow_none=True, load_default=None,
                                  metadata={"description": "Where the bot goes on; default: the next component"})


class EndSchema(ma.Schema):
    reason = fields.String(validate=validate.Length(max=500))


class ReadSchema(ma.Schema):
    seq = fields.Integer(required=True, validate=validate.Range(min=0),
                         metadata={"description": "The last message seq you have read"})


class AuditEntrySchema(ma.Schema):
    id = fields.Integer(dump_only=True)
    action = fields.String(dump_only=True, validate=validate.OneOf(AuditAction.values()))
    actor_id = fields.Integer(dump_only=True, allow_none=True)
    actor_name = fields.String(dump_only=True, allow_none=True)
    conversation_id = fields.Integer(dump_only=True, allow_none=True)
    request_id = fields.Integer(dump_only=True, allow_none=True)
    details = fields.Dict(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class AuditQueryArgsSchema(PageArgsSchema):
    conversation_id = fields.Integer()
    action = fields.String(validate=validate.OneOf(AuditAction.values()))
