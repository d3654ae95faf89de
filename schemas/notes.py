"""Private notes in a conversation: written by agents and admins, for agents and admins only."""
from marshmallow import ValidationError, fields, validate

from models.note import MENTIONS_MAX, NOTE_MAX_LEN
from schemas.common import NOT_BLANK_PATTERN, ObjectId, Schema, not_blank


def _unique(values):
    if len(set(values)) != len(values):
        raise ValidationError("Name each user once.")


def note_text():
    """A note's text, as REST and the socket take it."""
    return fields.String(required=True, validate=[not_blank, validate.Length(min=1, max=NOTE_MAX_LEN)],
                         metadata={"pattern": NOT_BLANK_PATTERN})


def note_mentions():
    """The users a note mentions, as REST and the socket take them."""
    return fields.List(ObjectId(), load_default=list, validate=[validate.Length(max=MENTIONS_MAX), _unique],
                       metadata={"uniqueItems": True, "description": (
                           "Users to tell (note.mentioned on their user stream): active users of the "
                           "workspace who may see the conversation, each once")})


class NoteSchema(Schema):
    id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    author_id = fields.Integer(dump_only=True, allow_none=True, metadata={"description": "null once deleted"})
    author_name = fields.String(dump_only=True, allow_none=True)
    text = note_text()
    mentions = note_mentions()
    created_at = fields.DateTime(dump_only=True)
