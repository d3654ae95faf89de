"""Visitor actions, live requests, offline form submissions, notifications, availability."""
import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from models import Availability, NotificationStatus, NotificationType, RequestKind, RequestStatus
from models.flow import MESSAGE_MAX_LEN
from schemas.common import ObjectId, PageArgsSchema, Schema
from schemas.conversations import ConversationSchema, MessageSchema
from schemas.openapi import REST_SPEC, declare_union

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


class ButtonPressSchema(Schema):
    """The visitor pressed a button of the last bot message (Live chat and Video chat are buttons)."""

    type = fields.String(required=True, validate=validate.OneOf(["button"]))
    button_id = fields.String(required=True, validate=validate.Length(min=1, max=64),
                              metadata={"description": "The id of a button of the last bot message"})


class SkipActionSchema(Schema):
    """The visitor pressed Skip: the flow goes on with the next component."""

    type = fields.String(required=True, validate=validate.OneOf(["skip"]))


class BackActionSchema(Schema):
    """The visitor pressed Back: the flow returns to the previous component."""

    type = fields.String(required=True, validate=validate.OneOf(["back"]))


# What the spec says ActionSchema is (ActionSchema itself loads them all): one shape per type.
declare_union("Action", "type", {"button": ButtonPressSchema, "skip": SkipActionSchema, "back": BackActionSchema},
              "What the visitor pressed: a button, Skip or Back; `type` says which")


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


def _at_most(limit, what):
    def check(value):
        if len(value) > limit:
            raise ma.ValidationError(f"At most {limit} {what}.")
    return check


class OfflineFormSubmitSchema(Schema):
    request_id = ObjectId(required=True, metadata={"description": "The request the form was offered for"})
    # The key and count bounds are told to the spec by metadata: apispec would put a Length on the object
    # itself (maxLength), which says nothing about keys or their number.
    answers = fields.Dict(keys=fields.String(validate=_at_most(40, "characters")), required=True,
                          validate=_at_most(20, "answers"),
                          metadata={"description": "Answers by field key (the form's fields): text, or true/false "
                                                   "for a checkbox. Which keys, how long and which are required "
                                                   "follow the form's fields; a wrong one is a 422 naming it",
                                    "maxProperties": 20, "additionalProperties": {"type": ["string", "boolean"],
                                                                                  "maxLength": MESSAGE_MAX_LEN},
                                    REST_SPEC: {"propertyNames": {"maxLength": 40}}})


class SubmissionSchema(Schema):
    id = fields.Integer(dump_only=True)
    interface_id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    request_id = fields.Integer(dump_only=True)
    component_id = fields.Integer(dump_only=True, allow_none=True)
    data = fields.Dict(dump_only=True, metadata={
        "description": "The answers by field key, as the server cleaned them: text, or true/false for a checkbox",
        REST_SPEC: {"additionalProperties": {"type": ["string", "boolean"]}}})
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
