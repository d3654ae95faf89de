"""Users of a workspace as the builder's agent list shows them."""
from marshmallow import fields, validate

from models.user import MAX_CHATS_MAX, MAX_CHATS_MIN, Role
from schemas.common import ObjectId, PageArgsSchema, PatchSchema, SafeEmail, SafeStr, Schema


class InterfaceRefSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)


class AgentSchema(Schema):
    id = fields.Integer(dump_only=True)
    workspace_id = fields.Integer(dump_only=True)
    name = SafeStr(required=True, max_length=120)
    email = SafeEmail(required=True)
    role = fields.String(load_default=Role.AGENT.value, validate=validate.OneOf(Role.values()))
    max_chats = fields.Integer(load_default=3, validate=validate.Range(min=MAX_CHATS_MIN, max=MAX_CHATS_MAX))
    is_active = fields.Boolean(dump_only=True)
    interface_ids = fields.List(ObjectId(), load_default=list, validate=validate.Length(max=200),
                                metadata={"description": "Chat interfaces this user serves"})
    interfaces = fields.List(fields.Nested(InterfaceRefSchema), dump_only=True,
                             metadata={"description": "Where this user is assigned"})
    has_password = fields.Boolean(dump_only=True, metadata={"description": "False until the invitation is used"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class AgentUpdateSchema(PatchSchema):
    name = SafeStr(max_length=120)
    email = SafeEmail()
    role = fields.String(validate=validate.OneOf(Role.values()))
    max_chats = fields.Integer(validate=validate.Range(min=MAX_CHATS_MIN, max=MAX_CHATS_MAX))
    is_active = fields.Boolean()
    interface_ids = fields.List(ObjectId(), validate=validate.Length(max=200),
                                metadata={"description": "Chat interfaces this user serves (replaces the list)"})


class AgentQueryArgsSchema(PageArgsSchema):
    role = fields.String(validate=validate.OneOf(Role.values()))
    interface_id = ObjectId(metadata={"description": "Only users who serve this chat interface"})
    q = fields.String(validate=validate.Length(max=120), metadata={"description": "Search in name and e-mail"})
