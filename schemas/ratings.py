"""Ratings (CSAT) and transcripts of ended chats: what the visitor sends, what agents and admins read."""
from marshmallow import ValidationError, fields, validate

from models.rating import RATING_COMMENT_MAX_LEN, SCORE_MAX, SCORE_MIN
from schemas.common import ObjectId, PageArgsSchema, SafeEmail, Schema


def _no_nul(value):
    if "\0" in value:
        raise ValidationError("Must not contain NUL characters.")


def score_field(**kwargs):
    return fields.Integer(validate=validate.Range(min=SCORE_MIN, max=SCORE_MAX), **kwargs)


class RatingCreateSchema(Schema):
    score = score_field(required=True, metadata={"description": f"From {SCORE_MIN} (bad) to {SCORE_MAX} (great)"})
    comment = fields.String(validate=[validate.Length(max=RATING_COMMENT_MAX_LEN), _no_nul],
                            metadata={"description": "What the visitor wants to add (optional)",
                                      "pattern": "^[^\\x00]*$"})


class RatingSchema(Schema):
    id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    interface_id = fields.Integer(dump_only=True)
    agent_id = fields.Integer(dump_only=True, allow_none=True,
                              metadata={"description": "The agent who had the chat when it ended"})
    score = fields.Integer(dump_only=True)
    comment = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class ConversationRatingSchema(Schema):
    """A rating as the conversation's agents see it."""

    score = fields.Integer(dump_only=True)
    comment = fields.String(dump_only=True, allow_none=True)
    created_at = fields.DateTime(dump_only=True)


class RatingQueryArgsSchema(PageArgsSchema):
    interface_id = ObjectId()
    agent_id = ObjectId(metadata={"description": "Only ratings of this agent's chats"})
    score_min = score_field(metadata={"description": "Only ratings of at least this score"})
    score_max = score_field(metadata={"description": "Only ratings of at most this score"})


class TranscriptRequestSchema(Schema):
    email = SafeEmail(required=True, metadata={"description": "Where to mail the transcript"})


class TranscriptReceiptSchema(Schema):
    email = fields.String(dump_only=True)
    queued_at = fields.DateTime(dump_only=True)
