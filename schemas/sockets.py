"""Socket tickets."""
from marshmallow import fields

from schemas.common import Schema


class TicketSchema(Schema):
    ticket = fields.String(required=True, metadata={"description": "Pass as /ws?ticket=...; works once"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the ticket stays valid"})
