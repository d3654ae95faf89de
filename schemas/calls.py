"""Calls, ICE servers and the shape of WebRTC signalling (SDP and ICE candidates)."""
import re

import marshmallow as ma
from marshmallow import fields, validate

from models.call import CallEndReason, CallSide, CallStatus
from schemas.common import ObjectId, Schema
from schemas.openapi import MAY_BE_ABSENT

# A socket frame is at most 64 KiB; an SDP has to fit in one with its envelope.
SDP_MAX_BYTES = 32 * 1024
CANDIDATE_MAX_LEN = 512
SDP_MID_MAX_LEN = 32
UFRAG_MAX_LEN = 256
CANDIDATE_PREFIX = "candidate:"
_SDP_LINE = re.compile(r"[a-z]=[^\x00-\x08\x0a-\x1f\x7f]*")
_UNSAFE = ("\r", "\n", "\0")


def validate_sdp(value):
    """An SDP body: "v=0" first, o=, s= and m= lines, every line "<letter>=<text>", bounded size."""
    if len(value.encode("utf-8")) > SDP_MAX_BYTES:
        raise ma.ValidationError(f"Longer than {SDP_MAX_BYTES} bytes.")
    lines = value.replace("\r\n", "\n").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if not lines or lines[0] != "v=0":
        raise ma.ValidationError('An SDP starts with the line "v=0".')
    if not all(_SDP_LINE.fullmatch(line) for line in lines):
        raise ma.ValidationError('Every SDP line is "<letter>=<value>" without control characters.')
    kinds = {line[0] for line in lines}
    missing = [f"{kind}=" for kind in "osm" if kind not in kinds]
    if missing:
        raise ma.ValidationError(f"An SDP has {', '.join(missing)} lines.")


def validate_candidate(value):
    """An ICE candidate line ("candidate:..."), or "" for the end of candidates."""
    if any(ch in value for ch in _UNSAFE):
        raise ma.ValidationError("Must not contain line breaks or NUL characters.")
    if value and not value.startswith(CANDIDATE_PREFIX):
        raise ma.ValidationError(f'A candidate starts with "{CANDIDATE_PREFIX}" (or is "" for the end).')


class IceCandidateSchema(Schema):
    """An RTCIceCandidateInit, as a browser's RTCIceCandidate.toJSON() gives it."""

    candidate = fields.String(required=True, validate=[validate.Length(max=CANDIDATE_MAX_LEN), validate_candidate],
                              metadata={"description": '"candidate:..." (RFC 8839), or "" for the end of candidates'})
    sdpMid = fields.String(allow_none=True, load_default=None,
                           validate=[validate.Length(max=SDP_MID_MAX_LEN), validate.Regexp(r"[\x21-\x7e]*\Z")])
    sdpMLineIndex = fields.Integer(allow_none=True, load_default=None, validate=validate.Range(min=0, max=255))
    usernameFragment = fields.String(allow_none=True, load_default=None,
                                     validate=[validate.Length(max=UFRAG_MAX_LEN), validate.Regexp(r"[\x21-\x7e]*\Z")])

    @ma.validates_schema
    def _says_where(self, data, **kwargs):
        if data.get("candidate") and data.get("sdpMid") is None and data.get("sdpMLineIndex") is None:
            raise ma.ValidationError("A candidate names its sdpMid or sdpMLineIndex.", "sdpMid")


class CallSchema(Schema):
    id = fields.Integer(dump_only=True)
    conversation_id = fields.Integer(dump_only=True)
    agent_id = fields.Integer(dump_only=True, allow_none=True)
    visitor_id = fields.Integer(dump_only=True)
    status = fields.String(dump_only=True, validate=validate.OneOf(CallStatus.values()),
                           metadata={"description": "ringing: set up, waiting for the visitor's consent or the "
                                                    "SDP answer; active: the answer went through; ended"})
    initiated_by = fields.String(dump_only=True, validate=validate.OneOf([CallSide.VISITOR, CallSide.AGENT]))
    created_at = fields.DateTime(dump_only=True)
    accepted_at = fields.DateTime(dump_only=True, allow_none=True,
                                  metadata={"description": "When the callee agreed; null while the visitor is "
                                                           "still asked (signalling waits for it)"})
    answered_at = fields.DateTime(dump_only=True, allow_none=True, metadata={"description": "When it became active"})
    ended_at = fields.DateTime(dump_only=True, allow_none=True)
    ended_by = fields.String(dump_only=True, allow_none=True, validate=validate.OneOf(CallSide.values()))
    end_reason = fields.String(dump_only=True, allow_none=True, validate=validate.OneOf(CallEndReason.values()))
    duration_s = fields.Integer(dump_only=True, allow_none=True,
                                metadata={"description": "From answered_at to ended_at; 0 if it never became active"})


class CallHistoryArgsSchema(Schema):
    before = ObjectId(metadata={"description": "Return calls with an id below this"})
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class CallPageSchema(Schema):
    items = fields.List(fields.Nested(CallSchema), required=True, metadata={"description": "Newest first"})
    next_before = fields.Integer(allow_none=True, metadata={"description": "Cursor for older calls"})


class IceServerSchema(Schema):
    urls = fields.List(fields.String(), required=True)
    username = fields.String(metadata={"description": 'TURN only: "<expiry unix time>:<label>"',
                                       MAY_BE_ABSENT: "a STUN server has no credentials"})
    credential = fields.String(metadata={"description": "TURN only: valid until expires_at",
                                         MAY_BE_ABSENT: "a STUN server has no credentials"})


class IceConfigurationSchema(Schema):
    """The ICE servers to pass to RTCPeerConnection. Not named IceServers: a generated client would give the
    model and its `ice_servers` property the same name."""

    ice_servers = fields.List(fields.Nested(IceServerSchema), required=True,
                              metadata={"description": "Pass as RTCConfiguration.iceServers"})
    expires_at = fields.DateTime(allow_none=True, metadata={"description": "When the TURN credentials stop working; "
                                                                          "fetch new ones before that"})
    ttl_s = fields.Integer(allow_none=True)


IceServersSchema = IceConfigurationSchema
