"""Visitor actions, live requests, offline form submissions, notifications, availability."""
import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from models import Availability, NotificationStatus, NotificationType, RequestKind, RequestStatus
from schemas.common import ObjectId, PageArgsSchema, Schema
from schemas.conversations import ConversationSchema, MessageSchema

ACTIONS = ("button", "skip", "back")


class ActionSchema(Schema):
    type = fields.String(required=True, validate=validate.OneOf(ACTIONS),
                         metadata={"description": "A button press (Live chat and Video chat are buttons), Skip or Back"})
    button_id = fields.String(validate=validate.Length(min=1, max=64),
                              metadata={"description": "The id of a button of the last bot message"})

    @validates_schema
    def _button_needs_id(self, data, **kwargs):
        if data.get("type") == "button" and not data.get("button_id"):
            raise ma.ValidationError("Required for a button press.", "button_id")


class ActionResultSchema(Schema):
    conversation = fields.Nested(ConversationSchema, required=True)
    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           metadata={"description": "What the action added, in order"})


class RequestViewSchema(Schema):
    request_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(RequestKind.values()))
    status = fields.String(required=True, validate=validate.OneOf(RequestStatus.values()))
    queue_position = fields.Integer(allow_none=True, metadata={"description": "1 is next; null once resolved"})
    deadline_at = fields.String(required=True, metadata={"format": "date-time"})


class OfflineFormSubmitSchema(Schema):
    request_id = ObjectId(required=True, metadata={"description": "The request the form was offered for"})
    answers = fields.Dict(keys=fields.String(validate=validate.Length(max=40)), required=True,
                          validate=validate.Length(max=20),
                          metadata={"description": "Answers by field key: strings, booleans for checkboxes"})


class SubmissionSchema(Schema):
    id = fields.Integer(dump_only=True)
    interface_id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    request_id = fields.Integer(dump_only=True)
    component_id = fields.Integer(dump_only=True, allow_none=True)
    data = fields.Dict(dump_only=True)
    recipients = fields.List(fields.String(), dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class SubmissionReceiptSchema(Schema):
    id = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)


class NotificationSchema(Schema):
    id = fields.Integer(dump_only=True)
    type = fields.String(dump_only=True, validate=validate.OneOf(NotificationType.values()))
    status = fields.String(dump_only=True, validate=validate.OneOf(NotificationStatus.values()))
    interface_id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    request_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class AgentAvailabilitySchema(Schema):
    """An agent's availability. Not named Availability: a generated client would give the model and its
    `availability` property the same name."""

    availability = fields.String(required=True, validate=validate.OneOf(Availability.values()))


AvailabilitySchema = AgentAvailabilitySchema


class SubmissionQueryArgsSchema(PageArgsSchema):
    pass
