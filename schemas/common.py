"""Shared fields and schemas: the base of every schema, header-safe strings, ids, pagination."""
import marshmallow as ma
from marshmallow import fields, validate

from models.base import BIGINT_MAX, ID_MAX
from schemas.inbound import bad_text_errors
from schemas.openapi import declare_extra

PAGE_SIZE_DEFAULT = 20
PAGE_SIZE_MAX = 100
# A bound that keeps the row offset, (page - 1) * page_size, within what every database takes.
PAGE_MAX = 100_000


class Schema(ma.Schema):
    """The base of every schema: what comes in is refused, per field, when it holds text no column can store."""

    @ma.pre_load
    def _storable_text(self, data, **kwargs):
        errors = bad_text_errors(data)
        if errors:
            raise ma.ValidationError(errors)
        return data

_UNSAFE = ("\r", "\n", "\0")


def no_line_breaks(value):
    if any(ch in value for ch in _UNSAFE):
        raise ma.ValidationError("Must not contain line breaks or NUL characters.")


def not_blank(value):
    if not value.strip():
        raise ma.ValidationError("Must not be blank.")


# The same rules for the spec (ECMA-262 regular expressions, as JSON Schema reads them). A character that
# str.strip() keeps: ECMA's \S but for \x1c-\x1f and \x85 (white space to Python, not to ECMA), and with
# \ufeff (white space to ECMA, not to Python); a bare \S let "\x1c" through the spec and not the server.
_KEPT_BY_STRIP = r"(?:[^\s\x1c-\x1f\x85]|\ufeff)"
NOT_BLANK_PATTERN = _KEPT_BY_STRIP
ONE_LINE_NOT_BLANK_PATTERN = r"^[^\r\n\x00]*" + _KEPT_BY_STRIP + r"[^\r\n\x00]*$"


class SafeStr(fields.String):
    """A single-line string: no CR, LF or NUL, not blank, bounded length."""

    def __init__(self, *, max_length=120, **kwargs):
        validators = [no_line_breaks, not_blank, validate.Length(max=max_length)]
        extra = kwargs.pop("validate", None)
        if extra:
            validators.extend(extra if isinstance(extra, (list, tuple)) else [extra])
        metadata = {"minLength": 1, "pattern": ONE_LINE_NOT_BLANK_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(validate=validators, metadata=metadata, **kwargs)


class SafeEmail(fields.Email):
    """An e-mail address that can safely become a mail header."""

    def __init__(self, **kwargs):
        super().__init__(validate=[no_line_breaks, validate.Length(max=254)], **kwargs)


class PatchSchema(Schema):
    """The body of a PATCH: only the fields sent change, and a body that changes nothing is refused."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declare_extra(cls, minProperties=1)

    @ma.validates_schema
    def _changes_something(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("Send at least one field to change.")


class ObjectId(fields.Integer):
    """The id of a row: a positive integer within the database's INTEGER range."""

    def __init__(self, **kwargs):
        super().__init__(validate=validate.Range(min=1, max=ID_MAX), **kwargs)


class Position(fields.Integer):
    """A stream position or a message seq: 0 (nothing yet) or more, within a BIGINT."""

    def __init__(self, *, min=0, **kwargs):
        super().__init__(validate=validate.Range(min=min, max=BIGINT_MAX), **kwargs)


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=PAGE_MAX),
                          metadata={"description": f"From 1; at most {PAGE_MAX:,}"})
    page_size = fields.Integer(load_default=PAGE_SIZE_DEFAULT, validate=validate.Range(min=1, max=PAGE_SIZE_MAX))


_page_schemas = {}


def page_of(item_schema):
    """A page envelope {items, page, page_size, total} around item_schema."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    if name not in _page_schemas:
        _page_schemas[name] = type(
            name,
            (Schema,),
            {
                "items": fields.List(fields.Nested(item_schema), required=True),
                "page": fields.Integer(required=True),
                "page_size": fields.Integer(required=True),
                "total": fields.Integer(required=True),
                "__doc__": f"One page of {item_schema.__name__.removesuffix('Schema')} items.",
            },
        )
    return _page_schemas[name]
