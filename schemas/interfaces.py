"""Chat interfaces."""
import re
from datetime import date
from functools import cache
from zoneinfo import available_timezones

from marshmallow import fields, validate

from models.interface import (
    HOURS_EXCEPTIONS_MAX, HOURS_RANGES_MAX, REQUEST_TIMEOUT_DEFAULT_S, REQUEST_TIMEOUT_MAX_S, REQUEST_TIMEOUT_MIN_S,
    TIMEZONE_MAX_LEN, VIDEO_WEIGHT_DEFAULT, VIDEO_WEIGHT_MAX, RoutingMode,
)
from models.texts import BEFORE_AGENT
from schemas.agents import InterfaceRefSchema  # noqa: F401 - re-exported for the builder
from schemas.common import ObjectId, PatchSchema, SafeStr, Schema
from schemas.visitors import PrechatFormField
from schemas.component_fields import MessageText

# scheme://host[:port] and nothing else: no user info, path, query or fragment.
_ORIGIN = re.compile(
    r"(?P<scheme>https?)://"
    r"(?P<host>[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*|\[[0-9a-f:.]+\])"
    r"(?::(?P<port>[0-9]{1,5}))?/?",
    re.IGNORECASE,
)
_DEFAULT_PORTS = {"http": 80, "https": 443}
# _ORIGIN for the spec: ECMA-262 has no inline flags, so both cases are spelled out. A port is 1 to 65535.
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
ORIGIN_PATTERN = (rf"^[hH][tT][tT][pP][sS]?://(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9a-fA-F:.]+\])"
                  r"(?::(?!0+/?$)(?:[0-5]?[0-9]{1,4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?/?$")


class Origin(fields.String):
    """A web origin, stored as browsers send it in the Origin header (lower case, no default port)."""

    default_error_messages = {
        "invalid_origin": "An origin is scheme://host[:port], for example https://example.com.",
    }

    def __init__(self, **kwargs):
        metadata = {"description": "scheme://host[:port]", "example": "https://www.example.com",
                    "pattern": ORIGIN_PATTERN, **kwargs.pop("metadata", {})}
        super().__init__(validate=validate.Length(max=255), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        match = _ORIGIN.fullmatch(value)
        port = int(match["port"]) if match and match["port"] else None
        if match is None or (port is not None and not 0 < port < 65536):
            raise self.make_error("invalid_origin")
        scheme, host = match["scheme"].lower(), match["host"].lower()
        if port is None or port == _DEFAULT_PORTS[scheme]:
            return f"{scheme}://{host}"
        return f"{scheme}://{host}:{port}"


class OriginList(fields.List):
    """Allowed origins, each once."""

    def __init__(self, **kwargs):
        super().__init__(Origin(), validate=validate.Length(max=50),
                         metadata={"description": "Origins the widget may be embedded on"}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return list(dict.fromkeys(super()._deserialize(value, attr, data, **kwargs)))


_ROUTING = ("broadcast: every online agent with room is notified and the first to accept gets the chat; "
            "least_busy: the online agent with the fewest chats (round-robin on ties) gets it without a click")
_PRECHAT = ("Fields the widget asks before a live or video chat; when enabled, a request missing a required one "
            "is refused (422 prechat_required)")
_WEIGHT = "How many chats a video chat counts as against an agent's max chats"


# -- business hours (what they mean: services/business_hours.py) ------------------

_START_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
_END_PATTERN = r"^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
# Exception dates: far enough either way for any real calendar, and never near date.min or date.max.
_FIRST_DATE, _LAST_DATE = date(2000, 1, 1), date(2199, 12, 31)


@cache
def _zones():
    # "localtime" and "Factory" are files of the zone database, not places.
    return frozenset(available_timezones()) - {"localtime", "Factory"}


class TimeZoneName(fields.String):
    """An IANA time zone name, such as Europe/Berlin."""

    default_error_messages = {"unknown_zone": "Unknown time zone: use an IANA name such as Europe/Berlin."}

    def __init__(self, **kwargs):
        metadata = {"description": "IANA time zone name", "example": "Europe/Berlin", "minLength": 1,
                    "pattern": r"^[A-Za-z0-9_+\-/]+$", **kwargs.pop("metadata", {})}
        super().__init__(validate=validate.Length(min=1, max=TIMEZONE_MAX_LEN), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        if len(value) > TIMEZONE_MAX_LEN or value not in _zones():
            raise self.make_error("unknown_zone")
        return value


class CalendarDate(fields.String):
    """A date as YYYY-MM-DD, kept as that text."""

    default_error_messages = {"invalid_date": f"A date is YYYY-MM-DD, from {_FIRST_DATE} to {_LAST_DATE}."}

    def __init__(self, **kwargs):
        metadata = {"format": "date", "example": "2026-12-25", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
                    **kwargs.pop("metadata", {})}
        super().__init__(validate=validate.Length(equal=10), metadata=metadata, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            day = date.fromisoformat(value) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) else None
        except ValueError:
            day = None
        if day is None or not _FIRST_DATE <= day <= _LAST_DATE:
            raise self.make_error("invalid_date")
        return day.isoformat()


class TimeRangeSchema(Schema):
    """Wall-clock times in the schedule's zone; an end before the start crosses midnight into the next day."""

    start = fields.String(required=True, validate=[validate.Length(equal=5), validate.Regexp(
                              _START_PATTERN, error="A time is HH:MM, 00:00 to 23:59.")],
                          metadata={"description": "HH:MM, inclusive", "example": "09:00"})
    end = fields.String(required=True, validate=[validate.Length(equal=5), validate.Regexp(
                            _END_PATTERN, error="A time is HH:MM, 00:00 to 24:00.")],
                        metadata={"description": "HH:MM, exclusive; 24:00 is the end of the day; before start: the "
                                                 "range ends on the next day (22:00-02:00); never equal to start",
                                  "example": "17:00"})


def _ranges(description):
    return fields.List(fields.Nested(TimeRangeSchema), load_default=list,
                       validate=validate.Length(max=HOURS_RANGES_MAX), metadata={"description": description})


class WeeklyHoursSchema(Schema):
    """The opening ranges of each day of the week; a day left out or empty is closed."""

    monday = _ranges("Monday's ranges")
    tuesday = _ranges("Tuesday's ranges")
    wednesday = _ranges("Wednesday's ranges")
    thursday = _ranges("Thursday's ranges")
    friday = _ranges("Friday's ranges")
    saturday = _ranges("Saturday's ranges")
    sunday = _ranges("Sunday's ranges")


class HoursExceptionSchema(Schema):
    """One date that does not follow the week: no ranges closes it (a holiday), ranges open it at those times."""

    date = CalendarDate(required=True, metadata={"description": "A local date of the schedule's zone, YYYY-MM-DD"})
    ranges = _ranges("The date's ranges instead of its weekday's; empty: closed all day")


class BusinessHoursSchema(Schema):
    """When live and video requests reach agents; outside these hours they take the offline path at once."""

    enabled = fields.Boolean(load_default=True, metadata={"description": "false: always open, the schedule is kept"})
    timezone = TimeZoneName(required=True)
    weekly = fields.Nested(WeeklyHoursSchema, load_default=lambda: WeeklyHoursSchema().load({}))
    exceptions = fields.List(fields.Nested(HoursExceptionSchema), load_default=list,
                             validate=validate.Length(max=HOURS_EXCEPTIONS_MAX),
                             metadata={"description": "Holidays and special openings, each date once"})
    outside_hours_message = MessageText(
        placeholders=BEFORE_AGENT, allow_none=True, load_default=None,
        metadata={"description": "Shown instead of the live chat component's offline message outside business "
                                 "hours; null: the offline message"},
    )


class AgentRefSchema(Schema):
    id = fields.Integer(dump_only=True)
    name = fields.String(dump_only=True)
    email = fields.String(dump_only=True)
    role = fields.String(dump_only=True)


_TRANSCRIPTS = ("Mail the chat's transcript to the visitor when it ends, only to an e-mail the site verified "
                "(a visitor may always ask for one: sendVisitorTranscript)")


class InterfaceSchema(Schema):
    id = fields.Integer(dump_only=True)
    workspace_id = fields.Integer(dump_only=True)
    name = SafeStr(required=True, max_length=120)
    public_key = fields.String(dump_only=True, metadata={"description": "Identifies the widget; rotate it to revoke"})
    allowed_origins = OriginList(load_default=list)
    request_timeout_s = fields.Integer(
        load_default=REQUEST_TIMEOUT_DEFAULT_S,
        validate=validate.Range(min=REQUEST_TIMEOUT_MIN_S, max=REQUEST_TIMEOUT_MAX_S),
        metadata={"description": "Seconds a live request waits for an agent before the offline path"},
    )
    routing_mode = fields.String(load_default=RoutingMode.BROADCAST.value,
                                 validate=validate.OneOf(RoutingMode.values()), metadata={"description": _ROUTING})
    video_weight = fields.Integer(load_default=VIDEO_WEIGHT_DEFAULT, validate=validate.Range(min=1, max=VIDEO_WEIGHT_MAX),
                                  metadata={"description": _WEIGHT})
    agent_ids = fields.List(ObjectId(), load_default=list, validate=validate.Length(max=500),
                            metadata={"description": "Users who serve this interface"})
    agents = fields.List(fields.Nested(AgentRefSchema), dump_only=True)
    prechat_form = PrechatFormField(metadata={"description": _PRECHAT})
    business_hours = fields.Nested(BusinessHoursSchema, allow_none=True, load_default=None,
                                   metadata={"description": "null: always open"})
    transcript_auto_send = fields.Boolean(load_default=False, metadata={"description": _TRANSCRIPTS})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class InterfaceUpdateSchema(PatchSchema):
    name = SafeStr(max_length=120)
    allowed_origins = OriginList()
    request_timeout_s = fields.Integer(validate=validate.Range(min=REQUEST_TIMEOUT_MIN_S, max=REQUEST_TIMEOUT_MAX_S))
    routing_mode = fields.String(validate=validate.OneOf(RoutingMode.values()), metadata={"description": _ROUTING})
    video_weight = fields.Integer(validate=validate.Range(min=1, max=VIDEO_WEIGHT_MAX), metadata={"description": _WEIGHT})
    agent_ids = fields.List(ObjectId(), validate=validate.Length(max=500),
                            metadata={"description": "Users who serve this interface (replaces the list)"})
    prechat_form = PrechatFormField(metadata={"description": _PRECHAT + " (replaces the form)"})
    business_hours = fields.Nested(BusinessHoursSchema, allow_none=True,
                                   metadata={"description": "Replaces the whole schedule; null: always open"})
    transcript_auto_send = fields.Boolean(metadata={"description": _TRANSCRIPTS})


class InterfaceAgentsSchema(Schema):
    agent_ids = fields.List(ObjectId(), required=True, validate=validate.Length(max=500),
                            metadata={"description": "Users who serve this interface (replaces the list)"})
