"""Reports by day and by agent (their days are the workspace's time zone: schemas/workspaces.py)."""
from marshmallow import fields

from schemas.common import ObjectId, Schema

_DATES = "Local dates of the workspace's time zone, both included; at most 366 days"


class ReportArgsSchema(Schema):
    from_ = fields.Date(required=True, data_key="from", metadata={"description": "The first day (" + _DATES + ")"})
    to = fields.Date(required=True, metadata={"description": "The last day (" + _DATES + ")"})
    interface_id = ObjectId(metadata={"description": "Only this interface's chats"})


def _seconds(description):
    return fields.Float(dump_only=True, allow_none=True, metadata={"description": description + " (null: none)"})


class _ChatFigures(Schema):
    chats = fields.Integer(dump_only=True, metadata={"description": "Live and video requests accepted, and takeovers"})
    time_to_accept_median_s = _seconds("Median seconds from a request to its acceptance")
    time_to_accept_p90_s = _seconds("90th percentile of the seconds from a request to its acceptance")
    chat_duration_median_s = _seconds("Median seconds from acceptance to the chat's end (ended chats)")
    ratings = fields.Integer(dump_only=True, metadata={"description": "Ratings given"})
    rating_average = fields.Float(dump_only=True, allow_none=True, metadata={"description": "From 1 to 5"})
    rating_good_share = fields.Float(dump_only=True, allow_none=True,
                                     metadata={"description": "Share of ratings of 4 or 5, from 0 to 1"})


class ReportFiguresSchema(_ChatFigures):
    missed = fields.Integer(dump_only=True, metadata={
        "description": "Requests nobody accepted: expired, offline (nobody available) or outside business hours"})
    outside_hours = fields.Integer(dump_only=True, metadata={"description": "Requests outside business hours"})
    offline_forms = fields.Integer(dump_only=True, metadata={"description": "Offline forms submitted"})


class ReportDaySchema(ReportFiguresSchema):
    date = fields.Date(dump_only=True, metadata={"description": "The local day"})
    start_at = fields.DateTime(dump_only=True, metadata={"description": "When it starts (UTC)"})
    end_at = fields.DateTime(dump_only=True, metadata={"description": "When the next day starts (UTC)"})


class _Report(Schema):
    timezone = fields.String(dump_only=True, metadata={"description": "The workspace's time zone: whose days"})
    from_ = fields.Date(dump_only=True, data_key="from")
    to = fields.Date(dump_only=True)
    interface_id = fields.Integer(dump_only=True, allow_none=True)


class InterfacesReportSchema(_Report):
    days = fields.List(fields.Nested(ReportDaySchema), dump_only=True)
    total = fields.Nested(ReportFiguresSchema, dump_only=True, metadata={"description": "The whole range"})


class AgentFiguresSchema(_ChatFigures):
    agent_id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True, allow_none=True, metadata={"description": "null once deleted"})
    accepted = fields.Integer(dump_only=True)
    taken_over = fields.Integer(dump_only=True)


class AgentsReportSchema(_Report):
    agents = fields.List(fields.Nested(AgentFiguresSchema), dump_only=True)
