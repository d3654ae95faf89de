"""Conversations and messages, as REST and the socket show them."""
import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates_schema

from models.call import CallEndReason, CallSide
from models.conversation import CLIENT_ID_MAX_LEN, MESSAGE_MAX_LEN, ConversationStatus, SenderType
from models.attachment import MESSAGE_ATTACHMENTS_MAX
from models.flow import ComponentType, Stage
from schemas.attachments import MessageAttachmentSchema
from schemas.common import ObjectId, Position, Schema
from schemas.components import PreviewButtonSchema, PreviewFormSchema
from schemas.openapi import MAY_BE_ABSENT, REST_SPEC, declare_components, declare_union, ref
from schemas.ratings import ConversationRatingSchema
from schemas.visitors import VisitorSchema

VISITOR_ACTIONS = ("button", "skip", "back")


class BotShowDataSchema(Schema):
    """What a bot message shows besides its text: the component and stage it comes from, its buttons, its form."""

    component_id = fields.Integer(required=True)
    component_type = fields.String(required=True, validate=validate.OneOf(ComponentType.values()))
    stage = fields.String(required=True, validate=validate.OneOf(Stage.values()))
    buttons = fields.List(fields.Nested(PreviewButtonSchema), required=True)
    form = fields.Nested(PreviewFormSchema, required=True, allow_none=True)
    request_id = fields.Integer(metadata={"description": "The live request this stage is about",
                                          MAY_BE_ABSENT: "only the welcome and offline stages belong to a request"})


class VisitorActionDataSchema(Schema):
    """What a visitor's action message records: the button pressed, or Skip or Back."""

    action = fields.String(required=True, validate=validate.OneOf(VISITOR_ACTIONS))
    button_id = fields.String(required=True, allow_none=True, metadata={"description": "With action button"})


def _event(*values):
    return fields.String(required=True, validate=validate.OneOf(values))


class TransferredEventSchema(Schema):
    event = _event("transferred")
    from_agent_id = fields.Integer(required=True, allow_none=True)
    to_agent_id = fields.Integer(required=True)


class HandedBackEventSchema(Schema):
    event = _event("handed_back")
    agent_id = fields.Integer(required=True, allow_none=True)


class ChatEndedEventSchema(Schema):
    event = _event("ended")
    reason = fields.String(validate=validate.OneOf(["visitor_idle"]),
                           metadata={MAY_BE_ABSENT: "only a chat the visitor left says why it ended"})


class RequeuedEventSchema(Schema):
    event = _event("requeued")
    agent_id = fields.Integer(required=True, metadata={"description": "The agent who went"})
    request_id = fields.Integer(required=True)
    queue_position = fields.Integer(required=True, allow_none=True)
    component_id = fields.Integer(required=True, allow_none=True)


class CallEventSchema(Schema):
    event = _event("call_offered", "call_accepted", "call_started")
    call_id = fields.Integer(required=True)


class CallEndedEventSchema(Schema):
    event = _event("call_ended")
    call_id = fields.Integer(required=True)
    duration_s = fields.Integer(required=True, allow_none=True)
    ended_by = fields.String(required=True, validate=validate.OneOf(CallSide.values()))
    end_reason = fields.String(required=True, validate=validate.OneOf(CallEndReason.values()))


declare_union("SystemEvent", "event", {
    "transferred": TransferredEventSchema, "handed_back": HandedBackEventSchema, "ended": ChatEndedEventSchema,
    "requeued": RequeuedEventSchema, "call_offered": CallEventSchema, "call_accepted": CallEventSchema,
    "call_started": CallEventSchema, "call_ended": CallEndedEventSchema,
}, "The data of a system message; `event` says which")
declare_components(BotShowDataSchema, VisitorActionDataSchema)


class MessageSchema(Schema):
    id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    seq = fields.Integer(dump_only=True, metadata={"description": "Position in the conversation, from 1"})
    sender_type = fields.String(dump_only=True, validate=validate.OneOf(SenderType.values()))
    sender_id = fields.Integer(dump_only=True, allow_none=True)
    sender_name = fields.String(dump_only=True, allow_none=True)
    client_id = fields.String(dump_only=True, allow_none=True)
    text = fields.String(dump_only=True)
    data = fields.Dict(dump_only=True, allow_none=True, metadata={
        "description": "What a bot message shows besides text: buttons, form",
        REST_SPEC: {"replace": True, "description": (
            "By sender_type: bot, what the message shows besides text (BotShowData); visitor, the action "
            "pressed (VisitorActionData) or null for typed text; system, the event (SystemEvent, by `event`); "
            "agent, null"), "anyOf": [ref(BotShowDataSchema), ref(VisitorActionDataSchema),
                                       {"$ref": "#/components/schemas/SystemEvent"}, {"type": "null"}]}})
    attachments = fields.List(fields.Nested(MessageAttachmentSchema), dump_only=True, dump_default=list,
                              metadata={"description": "The files the message carries (empty for most)"})
    created_at = fields.DateTime(dump_only=True)


def attachment_ids_field():
    """The uploads a message carries: the sender's own, in the same conversation, sent in no other message."""
    return fields.List(ObjectId(), validate=validate.Length(max=MESSAGE_ATTACHMENTS_MAX), metadata={
        "description": f"Up to {MESSAGE_ATTACHMENTS_MAX} of your unsent uploads in this conversation"})


TEXT_OR_FILES = "Empty: write something, or send attachment_ids."


def text_or_files(data):
    """A message says something: text, or files."""
    if not data.get("text") and not data.get("attachment_ids"):
        raise ValidationError(TEXT_OR_FILES, "text")


class MessageCreateSchema(Schema):
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=CLIENT_ID_MAX_LEN),
                              metadata={"description": "Chosen by the client; a retry with the same id "
                                                       "returns the first message instead of a duplicate"})
    text = fields.String(required=True, validate=validate.Length(max=MESSAGE_MAX_LEN),
                         metadata={"description": "May be empty only when the message carries attachments"})
    attachment_ids = attachment_ids_field()

    @validates_schema
    def _text_or_files(self, data, **kwargs):
        text_or_files(data)


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
    agent_name = fields.String(dump_only=True, allow_none=True, metadata={
        "description": "The name of the agent who has the chat (null while none has), so the visitor's widget can "
                       "name them the moment they accept"})
    last_seq = fields.Integer(dump_only=True)
    channel = fields.String(dump_only=True, metadata={"description": "text or video, once an agent has it"})
    visitor_read_seq = fields.Integer(dump_only=True, metadata={"description": "Last seq the visitor has read"})
    agent_read_seq = fields.Integer(dump_only=True, metadata={"description": "Last seq the agent has read"})
    initiated_at = fields.DateTime(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
    visitor = fields.Nested(VisitorSchema, dump_only=True, metadata={
        "description": "Who the visitor is: what they or the site told us (a visitor sees only their own)"})
    unread_count = fields.Integer(dump_only=True, metadata={
        "description": "The visitor's messages after agent_read_seq",
        MAY_BE_ABSENT: "only the agents' conversation list and conversation view count them"})
    rating = fields.Nested(ConversationRatingSchema, attribute="loaded_rating", dump_only=True, allow_none=True,
                           metadata={"description": "The visitor's rating of the ended chat (null: none yet)",
                                     MAY_BE_ABSENT: "only the agents' conversation list and conversation view "
                                                    "carry it"})

    @ma.post_dump
    def _unread_count_where_counted(self, data, **kwargs):
        if data.get("unread_count", 0) is None:
            del data["unread_count"]
        return data
