"""Socket tickets."""
import marshmallow as ma
from marshmallow import fields


class TicketSchema(ma.Schema):
    ticket = fields.String(required=True, metadata={"description": "Pass as /ws?ticket=...; works once"})
    expires_in = fields.Integer(required=True, metadata={"description": "Seconds the ticket stays valid"})
