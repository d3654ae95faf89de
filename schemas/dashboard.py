"""The agent dashboard's requests and commands."""
from marshmallow import fields, validate

from models import AuditAction
from models.conversation import DASHBOARD_SCOPES
from schemas.common import ObjectId, PageArgsSchema, Position, Schema
from schemas.requests import RequestViewSchema


class ConversationQueryArgsSchema(PageArgsSchema):
    scope = fields.String(load_default="mine", validate=validate.OneOf(DASHBOARD_SCOPES),
                          metadata={"description": "mine: open chats with you; waiting, bot, active, closed, all"})
    interface_id = ObjectId()


class PendingRequestSchema(RequestViewSchema):
    conversation_id = fields.Integer(required=True)
    interface_id = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class TransferSchema(Schema):
    agent_id = ObjectId(required=True, metadata={"description": "An online agent of the interface with room"})
    note = fields.String(validate=validate.Length(max=500))


class HandBackSchema(Schema):
    component_id = ObjectId(allow_none=True, load_default=None,
                            metadata={"description": "Where the bot goes on; default: the next component"})


class EndSchema(Schema):
    reason = fields.String(validate=validate.Length(max=500))


class ReadSchema(Schema):
    seq = Position(required=True,
                   metadata={"description": "The last message seq you have read"})


class AuditEntrySchema(Schema):
    id = fields.Integer(dump_only=True)
    action = fields.String(dump_only=True, validate=validate.OneOf(AuditAction.values()))
    actor_id = fields.Integer(dump_only=True, allow_none=True)
    actor_name = fields.String(dump_only=True, allow_none=True)
    conversation_id = fields.Integer(dump_only=True, allow_none=True)
    request_id = fields.Integer(dump_only=True, allow_none=True)
    details = fields.Dict(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class AuditQueryArgsSchema(PageArgsSchema):
    conversation_id = ObjectId()
    action = fields.String(validate=validate.OneOf(AuditAction.values()))
