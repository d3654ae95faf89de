"""Who a visitor is: the details they or the site give, the identity a site signs, the pre-chat form."""
import marshmallow as ma
from marshmallow import fields, validate, validates_schema

from models.conversation import (
    ATTRIBUTE_KEY_PATTERN, ATTRIBUTE_VALUE_MAX_LEN, ATTRIBUTES_MAX, EXTERNAL_ID_MAX_LEN, VISITOR_NAME_MAX_LEN,
)
from schemas.common import PatchSchema, SafeEmail, SafeStr, Schema
from schemas.component_fields import Label
from schemas.openapi import REST_SPEC

USER_HASH_PATTERN = r"^[0-9a-fA-F]{64}$"
PRECHAT_FIELDS_MAX = 10
PRECHAT_FIELD_TYPES = ("text", "email", "textarea")
# What an interface without a pre-chat form shows.
NO_PRECHAT_FORM = {"enabled": False, "fields": []}
_KEY_ERROR = "Use 1 to 40 letters, digits, '_', '.' or '-'."


def _at_most(limit, what):
    def check(value):
        if len(value) > limit:
            raise ma.ValidationError(f"At most {limit} {what}.")
    return check


def Attributes(**kwargs):
    """Free key/value strings about a visitor (the spec is told the bounds; apispec would say maxLength)."""
    return fields.Dict(
        keys=fields.String(validate=validate.Regexp(ATTRIBUTE_KEY_PATTERN, error=_KEY_ERROR)),
        values=fields.String(validate=validate.Length(max=ATTRIBUTE_VALUE_MAX_LEN)),
        validate=_at_most(ATTRIBUTES_MAX, "attributes"),
        metadata={"description": f"Free key/value strings (at most {ATTRIBUTES_MAX}; keys 1 to 40 of A-Z a-z 0-9 _ . -, "
                                 f"values at most {ATTRIBUTE_VALUE_MAX_LEN} characters). Sent ones are merged into "
                                 "the visitor's, a key at a time",
                  "maxProperties": ATTRIBUTES_MAX,
                  REST_SPEC: {"propertyNames": {"pattern": ATTRIBUTE_KEY_PATTERN}}},
        **kwargs)


class IdentitySchema(Schema):
    """The site's logged-in user, signed with the interface's identity secret."""

    user_id = fields.String(required=True, validate=validate.Length(min=1, max=EXTERNAL_ID_MAX_LEN),
                            metadata={"description": "The site's id of its logged-in user"})
    user_hash = fields.String(required=True, validate=validate.Regexp(USER_HASH_PATTERN, error="64 hex digits."),
                              metadata={"description": "hex(HMAC-SHA256(identity_secret, user_id))",
                                        "pattern": USER_HASH_PATTERN, "minLength": 64, "maxLength": 64})


class WidgetOpenArgsSchema(Schema):
    """Optional details to open the widget with."""

    name = SafeStr(max_length=VISITOR_NAME_MAX_LEN)
    email = SafeEmail(metadata={"description": "Stored as verified only with a valid identity"})
    attributes = Attributes()
    identity = fields.Nested(IdentitySchema, metadata={
        "description": "The site's signed user: the widget opens as that user's visitor, on any device; a hash "
                       "that does not match is a 403 identity_invalid"})


class VisitorUpdateSchema(PatchSchema):
    """The details a visitor gives (the pre-chat form); an e-mail typed here is not verified."""

    name = SafeStr(max_length=VISITOR_NAME_MAX_LEN)
    email = SafeEmail()
    attributes = Attributes()


class _AttributesOut(fields.Dict):
    def _serialize(self, value, attr, obj, **kwargs):
        return super()._serialize(value or {}, attr, obj, **kwargs)


class VisitorSchema(Schema):
    """A visitor as agents (and the visitor themselves) see them."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True)
    email = fields.String(dump_only=True, allow_none=True)
    email_verified = fields.Boolean(dump_only=True, metadata={
        "description": "True only for an e-mail the site signed with the visitor's identity"})
    verified = fields.Boolean(dump_only=True, metadata={"description": "Identified by a valid identity hash"})
    external_id = fields.String(dump_only=True, allow_none=True,
                                metadata={"description": "The site's user id, when verified"})
    attributes = _AttributesOut(keys=fields.String(), values=fields.String(), dump_only=True)


class PrechatFieldSchema(Schema):
    """One field of the pre-chat form: the visitor's name, e-mail or an attribute."""

    key = fields.String(required=True, validate=validate.Regexp(ATTRIBUTE_KEY_PATTERN, error=_KEY_ERROR), metadata={
        "description": "name, email, or an attribute key", "example": "company", "pattern": ATTRIBUTE_KEY_PATTERN})
    label = Label(required=True)
    type = fields.String(load_default="text", validate=validate.OneOf(PRECHAT_FIELD_TYPES),
                         metadata={"description": "The e-mail field's type is email"})
    required = fields.Boolean(load_default=False)

    @validates_schema
    def _fits_key(self, data, **kwargs):
        if data.get("key") == "email" and data.get("type", "text") != "email":
            raise ma.ValidationError("The email field's type is email.", "type")


class PrechatFormSchema(Schema):
    """What the widget asks before a live or video chat request; a request missing a required field is refused."""

    enabled = fields.Boolean(required=True)
    form_fields = fields.List(fields.Nested(PrechatFieldSchema), data_key="fields", attribute="fields",
                              required=True, validate=validate.Length(max=PRECHAT_FIELDS_MAX),
                              metadata={"description": "Each key once"})

    @validates_schema
    def _keys_differ(self, data, **kwargs):
        keys = [field["key"] for field in data.get("fields", [])]
        if len(set(keys)) != len(keys):
            raise ma.ValidationError("Each field's key must differ from the others'.", "fields")


class PrechatFormField(fields.Nested):
    """An interface's pre-chat form (disabled with no fields when it has none)."""

    def __init__(self, **kwargs):
        super().__init__(PrechatFormSchema, **kwargs)

    def _serialize(self, nested_obj, attr, obj, **kwargs):
        return super()._serialize(nested_obj or NO_PRECHAT_FORM, attr, obj, **kwargs)


class IdentitySecretSchema(Schema):
    identity_secret = fields.String(dump_only=True, metadata={
        "description": "Sign your logged-in user's id with it: user_hash = hex(HMAC-SHA256(identity_secret, user_id)). "
                       "Keep it on your server"})
