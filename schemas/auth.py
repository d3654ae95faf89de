"""Login, tokens, password links."""
from marshmallow import fields, validate

from models.user import PASSWORD_MAX_LEN, PASSWORD_MIN_LEN
from schemas.common import NOT_BLANK_PATTERN, SafeEmail, Schema, not_blank


class LoginSchema(Schema):
    email = SafeEmail(required=True)
    password = fields.String(required=True, load_only=True, validate=validate.Length(min=1, max=PASSWORD_MAX_LEN))


class AccessTokenSchema(Schema):
    access_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "Bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds until the access token expires"})


class TokenPairSchema(AccessTokenSchema):
    refresh_token = fields.String(required=True)
    user = fields.Nested("MeSchema", required=True)


class MeSchema(Schema):
    id = fields.Integer(dump_only=True)
    workspace_id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)
    max_chats = fields.Integer(dump_only=True)
    interface_ids = fields.List(fields.Integer(), dump_only=True)


class SetPasswordSchema(Schema):
    token = fields.String(required=True, validate=validate.Length(min=10, max=200))
    password = fields.String(
        required=True, load_only=True,
        validate=[validate.Length(min=PASSWORD_MIN_LEN, max=PASSWORD_MAX_LEN), not_blank],
        metadata={"description": f"{PASSWORD_MIN_LEN} to {PASSWORD_MAX_LEN} characters, not only spaces",
                  "pattern": NOT_BLANK_PATTERN},
    )
