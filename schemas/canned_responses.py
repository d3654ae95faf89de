"""Canned responses, as the agent's composer lists and inserts them."""
from marshmallow import fields, validate

from models.canned_response import CANNED_TEXT_MAX_LEN, SHORTCUT_MAX_LEN, SHORTCUT_PATTERN, CannedScope
from models.texts import PLACEHOLDERS
from schemas.common import PageArgsSchema, PatchSchema, Schema, no_line_breaks
from schemas.component_fields import MessageText

QUERY_MAX_LEN = 120


class Shortcut(fields.String):
    """What an agent types to pick a response: lower-case letters, digits, - and _, at most SHORTCUT_MAX_LEN."""

    def __init__(self, **kwargs):
        metadata = {"description": "Lower-case letters, digits, - and _; starts with a letter or digit",
                    "example": "refund-policy", **kwargs.pop("metadata", {})}
        # no_line_breaks: Python's $ also matches before a final line feed, which the pattern must not let in.
        super().__init__(validate=[no_line_breaks, validate.Length(min=1, max=SHORTCUT_MAX_LEN),
                                   validate.Regexp(SHORTCUT_PATTERN)], metadata=metadata, **kwargs)


def _text(**kwargs):
    return MessageText(placeholders=PLACEHOLDERS, max_length=CANNED_TEXT_MAX_LEN, metadata={
        "description": "Filled in for a conversation by renderCannedResponse"}, **kwargs)


class CannedResponseSchema(Schema):
    id = fields.Integer(dump_only=True)
    scope = fields.String(load_default=CannedScope.PERSONAL.value, validate=validate.OneOf(CannedScope.values()),
                          metadata={"description": "shared: the workspace's, managed by admins; personal "
                                                   "(default): yours alone"})
    owner_id = fields.Integer(dump_only=True, allow_none=True,
                              metadata={"description": "Who owns a personal response; null for a shared one"})
    shortcut = Shortcut(required=True)
    text = _text(required=True)
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class CannedResponseUpdateSchema(PatchSchema):
    shortcut = Shortcut()
    text = _text()


class CannedResponseQueryArgsSchema(PageArgsSchema):
    scope = fields.String(validate=validate.OneOf(CannedScope.values()),
                          metadata={"description": "Only shared or only your personal ones; default both"})
    q = fields.String(validate=validate.Length(max=QUERY_MAX_LEN), metadata={
        "description": "A shortcut starting with it or a text containing it, ignoring case; % and _ are literal"})


class RenderedCannedResponseSchema(Schema):
    canned_response_id = fields.Integer(required=True)
    shortcut = fields.String(required=True)
    text = fields.String(required=True, metadata={
        "description": "The text with its placeholders filled for the conversation: you as agent_name, its "
                       "visitor's name, its interface's name, and its place in the queue while it waits"})
