"""The agent dashboard's requests and commands."""
from datetime import datetime, timezone

import marshmallow as ma
from marshmallow import fields, validate

from models import AuditAction
from models.conversation import DASHBOARD_SCOPES, ConversationStatus
from schemas.common import ObjectId, PageArgsSchema, Position, SafeStr, Schema
from schemas.conversations import ConversationSchema
from schemas.ratings import score_field
from schemas.requests import RequestViewSchema


# The bounds of a date filter: every instant between them is a datetime in any time zone.
DATE_FILTER_MIN = datetime(1970, 1, 1, tzinfo=timezone.utc)
DATE_FILTER_MAX = datetime(9000, 1, 1, tzinfo=timezone.utc)
DATE_TIME_MAX_LEN = 40
SEARCH_TEXT_MAX_LEN = 200
VISITOR_FILTER_MAX_LEN = 254


class FilterDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time (UTC when it names no zone) from 1970 to 9000, at most 40 characters."""

    def __init__(self, **kwargs):
        metadata = {"maxLength": DATE_TIME_MAX_LEN, **kwargs.pop("metadata", {})}
        super().__init__(default_timezone=timezone.utc, metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str) and len(value) > DATE_TIME_MAX_LEN:
            raise self.make_error("invalid", input=value[:DATE_TIME_MAX_LEN], obj_type=self.OBJ_TYPE)
        moment = super()._deserialize(value, attr, data, **kwargs)
        # By year first: an instant of year 1 or 9999 with an offset has no UTC datetime to compare with.
        if not DATE_FILTER_MIN.year < moment.year < DATE_FILTER_MAX.year:
            raise ma.ValidationError(f"Must be between {DATE_FILTER_MIN.date()} and {DATE_FILTER_MAX.date()}.")
        return moment.astimezone(timezone.utc)


class ConversationQueryArgsSchema(PageArgsSchema):
    scope = fields.String(load_default="mine", validate=validate.OneOf(DASHBOARD_SCOPES),
                          metadata={"description": "mine: open chats with you; waiting, bot, active, closed, all"})
    interface_id = ObjectId()
    status = fields.String(validate=validate.OneOf(ConversationStatus.values()),
                           metadata={"description": "Only conversations in this status (and the scope)"})
    agent_id = ObjectId(metadata={"description": "Only conversations with this agent"})
    created_from = FilterDateTime(metadata={"description": "Only conversations created at or after this time"})
    created_to = FilterDateTime(metadata={"description": "Only conversations created before this time"})
    visitor = SafeStr(max_length=VISITOR_FILTER_MAX_LEN, metadata={
        "description": "Only conversations whose visitor's e-mail or name holds this text (any case)"})
    q = SafeStr(max_length=SEARCH_TEXT_MAX_LEN, metadata={
        "description": "Only conversations with a message holding every word of this text (full-text search of "
                       "the messages; taken as plain words, never as query syntax)"})
    rating_min = score_field(metadata={"description": "Only rated conversations with a score of at least this"})
    rating_max = score_field(metadata={"description": "Only rated conversations with a score of at most this"})

    @ma.validates_schema
    def _range_in_order(self, data, **kwargs):
        if "created_from" in data and "created_to" in data and data["created_from"] > data["created_to"]:
            raise ma.ValidationError("Must not be before created_from.", "created_to")
        if "rating_min" in data and "rating_max" in data and data["rating_min"] > data["rating_max"]:
            raise ma.ValidationError("Must not be below rating_min.", "rating_max")


class ConversationPageSchema(Schema):
    """One page of Conversation items."""

    items = fields.List(fields.Nested(ConversationSchema), required=True)
    page = fields.Integer(required=True)
    page_size = fields.Integer(required=True)
    total = fields.Integer(required=True)
    total_exact = fields.Boolean(required=True, metadata={"description": (
        "false when a search for words found in most conversations stopped counting: total is then a lower "
        "bound (the count's cap), and more pages may follow")})


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
