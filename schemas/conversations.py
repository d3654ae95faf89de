"""Conversations and messages, as REST and the socket show them."""
from marshmallow import fields, validate

from models.conversation import CLIENT_ID_MAX_LEN, MESSAGE_MAX_LEN, ConversationStatus, SenderType
from schemas.common import Position, Schema


class MessageSchema(Schema):
    id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    seq = fields.Integer(dump_only=True, metadata={"description": "Position in the conversation, from 1"})
    sender_type = fields.String(dump_only=True, validate=validate.OneOf(SenderType.values()))
    sender_id = fields.Integer(dump_only=True, allow_none=True)
    sender_name = fields.String(dump_only=True, allow_none=True)
    client_id = fields.String(dump_only=True, allow_none=True)
    text = fields.String(dump_only=True)
    data = fields.Dict(dump_only=True, allow_none=True,
                       metadata={"description": "What a bot message shows besides text: buttons, form"})
    created_at = fields.DateTime(dump_only=True)


class MessageCreateSchema(Schema):
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=CLIENT_ID_MAX_LEN),
                              metadata={"description": "Chosen by the client; a retry with the same id "
                                                       "returns the first message instead of a duplicate"})
    text = fields.String(required=True, validate=validate.Length(min=1, max=MESSAGE_MAX_LEN))


class MessageHistoryArgsSchema(Schema):
    after = Position(load_default=0,
                     metadata={"description": "Return messages with seq greater than this"})
    before = Position(min=1,
                      metadata={"description": "Return the newest messages with seq less than this"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MessagePageSchema(Schema):
    items = fields.List(fields.Nested(MessageSchema), required=True)
    next_after = fields.Integer(allow_none=True, metadata={"description": "Cursor for newer messages"})
    next_before = fields.Integer(allow_none=True, metadata={"description": "Cursor for older messages"})


class ConversationSchema(Schema):
    id = fields.Integer(dump_only=True)
    interface_id = fields.Integer(dump_only=True)
    visitor_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, validate=validate.OneOf(ConversationStatus.values()))
    component_id = fields.Integer(dump_only=True, allow_none=True)
    agent_id = fields.Integer(dump_only=True, allow_none=True)
    last_seq = fields.Integer(dump_only=True)
    channel = fields.String(dump_only=True, metadata={"description": "text or video, once an agent has it"})
    visitor_read_seq = fields.Integer(dump_only=True, metadata={"description": "Last seq the visitor has read"})
    agent_read_seq = fields.Integer(dump_only=True, metadata={"description": "Last seq the agent has read"})
    initiated_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
