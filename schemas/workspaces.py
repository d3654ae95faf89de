"""The workspace's own settings: its name, the time zone of its reports, how long it keeps conversations."""
from marshmallow import fields, validate

from schemas.common import PatchSchema, SafeStr, Schema
from schemas.interfaces import TimeZoneName

RETENTION_DAYS_MIN, RETENTION_DAYS_MAX = 1, 3650


class WorkspaceSchema(Schema):
    """The workspace's settings."""

    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    timezone = fields.String(dump_only=True, metadata={"description": "IANA name; the reports' days are its days"})
    retention_days = fields.Integer(dump_only=True, allow_none=True, metadata={
        "description": "Closed conversations older than this many days are erased; null keeps them forever"})
    created_at = fields.DateTime(dump_only=True)


class WorkspaceUpdateSchema(PatchSchema):
    name = SafeStr(max_length=120)
    timezone = TimeZoneName()
    retention_days = fields.Integer(allow_none=True, validate=validate.Range(
        min=RETENTION_DAYS_MIN, max=RETENTION_DAYS_MAX), metadata={
        "description": f"{RETENTION_DAYS_MIN} to {RETENTION_DAYS_MAX}, or null to keep conversations forever"})
