"""Data protection: finding a visitor, their export, their erasure, and the workspace's retention setting."""
from marshmallow import fields, validate

from models import ConversationStatus
from models.conversation import EXTERNAL_ID_MAX_LEN
from models.live_request import RequestKind, RequestStatus
from schemas.attachments import AttachmentSchema
from schemas.calls import CallSchema
from schemas.common import ObjectId, PageArgsSchema, SafeStr, Schema
from schemas.conversations import MessageSchema
from schemas.notes import NoteSchema
from schemas.ratings import RatingSchema
from schemas.requests import SubmissionSchema
from schemas.visitors import VisitorSchema



class VisitorQueryArgsSchema(PageArgsSchema):
    email = SafeStr(max_length=254, metadata={"description": "Exactly this e-mail address, ignoring case"})
    external_id = SafeStr(max_length=EXTERNAL_ID_MAX_LEN, metadata={"description": "Exactly this site's user id"})
    interface_id = ObjectId(metadata={"description": "Only visitors of this chat interface"})


class VisitorRecordSchema(VisitorSchema):
    """A visitor as their data is kept: an erased one is a shell whose details are all null."""

    interface_id = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    last_seen_at = fields.DateTime(dump_only=True)
    erased_at = fields.DateTime(dump_only=True, allow_none=True,
                                metadata={"description": "When the visitor's personal data was erased; null if not"})


class ConversationRecordSchema(Schema):
    id = fields.Integer(dump_only=True)
    interface_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, validate=validate.OneOf(ConversationStatus.values()))
    channel = fields.String(dump_only=True, validate=validate.OneOf(["text", "video"]))
    agent_id = fields.Integer(dump_only=True, allow_none=True)
    last_seq = fields.Integer(dump_only=True)
    created_at = fields.DateTime(dump_only=True)
    closed_at = fields.DateTime(dump_only=True, allow_none=True)
    erased_at = fields.DateTime(dump_only=True, allow_none=True,
                                metadata={"description": "When its content was erased; null if not"})


class LiveRequestRecordSchema(Schema):
    id = fields.Integer(dump_only=True)
    kind = fields.String(dump_only=True, validate=validate.OneOf(RequestKind.values()))
    status = fields.String(dump_only=True, validate=validate.OneOf(RequestStatus.values()))
    agent_id = fields.Integer(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)
    deadline_at = fields.DateTime(dump_only=True)
    resolved_at = fields.DateTime(dump_only=True, allow_none=True)


class ExportedConversationSchema(Schema):
    conversation = fields.Nested(ConversationRecordSchema, dump_only=True)
    messages = fields.List(fields.Nested(MessageSchema), dump_only=True, metadata={
        "description": "Every sender's messages, by seq (bot, agent and system ones too)"})
    messages_truncated = fields.Boolean(dump_only=True, metadata={
        "description": "True when the export's message cap cut this conversation's messages"})
    attachments = fields.List(fields.Nested(AttachmentSchema), dump_only=True, metadata={
        "description": "Metadata and fresh signed links, never the bytes"})
    live_requests = fields.List(fields.Nested(LiveRequestRecordSchema), dump_only=True)
    calls = fields.List(fields.Nested(CallSchema), dump_only=True)
    offline_submissions = fields.List(fields.Nested(SubmissionSchema), dump_only=True)
    notes = fields.List(fields.Nested(NoteSchema), dump_only=True, metadata={
        "description": "Staff's private notes about the conversation: data about the visitor, erased with it"})
    rating = fields.Nested(RatingSchema, dump_only=True, allow_none=True, metadata={
        "description": "The visitor's rating of the chat, if they gave one (erasing keeps the score, not the comment)"})


class VisitorExportSchema(Schema):
    """Everything kept about one visitor."""

    visitor = fields.Nested(VisitorRecordSchema, dump_only=True)
    conversations = fields.List(fields.Nested(ExportedConversationSchema), dump_only=True,
                                metadata={"description": "Newest first"})
    truncated = fields.Boolean(dump_only=True, metadata={
        "description": "True when a cap (conversations or messages) left something out"})
    exported_at = fields.DateTime(dump_only=True)
