"""The widget's (visitor's) view."""
from marshmallow import fields

from schemas.common import Schema
from schemas.conversations import ConversationSchema, MessageSchema
from schemas.visitors import PrechatFormField, VisitorSchema


class WidgetInterfaceSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)


class WidgetAvailabilitySchema(Schema):
    """Whether the interface's live and video requests reach agents now (its business hours)."""

    open = fields.Boolean(required=True, metadata={"description": "false: a request now takes the offline path"})
    next_open_at = fields.DateTime(required=True, allow_none=True, metadata={
        "description": "When it next opens (UTC); null while open, or when none is scheduled in the coming weeks"})
    timezone = fields.String(required=True, allow_none=True, metadata={
        "description": "The zone of the business hours (IANA name); null without business hours"})


class WidgetOpenSchema(Schema):
    visitor_token = fields.String(required=True, metadata={
        "description": "Send as 'Authorization: Bearer ...' on every widget call; keep it to come back"})
    visitor_id = fields.Integer(required=True)
    interface = fields.Nested(WidgetInterfaceSchema, required=True)
    conversation = fields.Nested(ConversationSchema, required=True)
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           metadata={"description": "The latest messages, oldest first"})
    visitor = fields.Nested(VisitorSchema, required=True, metadata={"description": "Your own details"})
    prechat_form = PrechatFormField(required=True, metadata={
        "description": "What to ask before a live or video chat (when enabled, a required field the visitor has "
                       "not given refuses the request with 422 prechat_required)"})
    business_hours = fields.Nested(WidgetAvailabilitySchema, required=True)
