"""Every WebSocket event and command: names and schemas live here and nowhere else.

Server frames: {"type", "stream", "pos", "data", "at"} for durable events
(resumable by position), {"type", "stream", "data"} for ephemeral ones,
{"type": "error", "code", "status", "message", "errors", "ref"} for errors and
{"type": "ack", "ref", "data"} for answered commands.
Client frames: {"type", "ref"?, ...fields of the command}.
"""
from marshmallow import fields, validate, validates_schema

from models.base import StrEnum
from models.live_request import NotificationType, RequestKind, RequestStatus, WithdrawReason
from models.user import SessionEndReason
from models.conversation import CLIENT_ID_MAX_LEN, MESSAGE_MAX_LEN
from schemas.calls import CallSchema, IceCandidateSchema, validate_sdp
from schemas.common import ObjectId, Position, Schema
from schemas.notes import NoteSchema, note_mentions, note_text
from schemas.ratings import RatingSchema
from schemas.conversations import (
    ConversationSchema, MessageSchema, attachment_ids_field, text_or_files,
)

STREAM_MAX_LEN = 64
REF_MAX_LEN = 64
# A resume names a user's own stream, two per chat they hold (its conversation and its notes) up to
# MAX_CHATS_MAX chats, and the streams they subscribed to.
RESUME_STREAMS_MAX = 200


class EventType(StrEnum):
    """Durable events, each with a position in its stream."""

    MESSAGE_CREATED = "message.created"
    CONVERSATION_UPDATED = "conversation.updated"
    NEW_CHAT_INITIATED = "new_chat_initiated"
    LIVE_CHAT_REQUEST = "live_chat_request"
    VIDEO_CHAT_REQUEST = "video_chat_request"
    NOTIFICATION_WITHDRAWN = "notification.withdrawn"
    REQUEST_UPDATED = "request.updated"
    SESSION_REVOKED = "session.revoked"
    CONVERSATION_READ = "conversation.read"
    CALL_UPDATED = "call.updated"
    VISITOR_PRESENCE = "visitor.presence"
    # Staff only: a private note (notes:<conversation id>), and a mention of you in one (user:<id>).
    NOTE_CREATED = "note.created"
    NOTE_MENTIONED = "note.mentioned"
    WEBHOOK_DISABLED = "webhook.disabled"
    # A visitor rated a chat of yours once it ended (user:<id>).
    RATING_CREATED = "rating.created"


class EphemeralType(StrEnum):
    """Frames with no position: not kept, not replayed."""

    TYPING = "typing"
    QUEUE_POSITION = "queue.position"
    # WebRTC signalling, relayed to the other participant of the call only.
    CALL_OFFER = "call.offer"
    CALL_ANSWER = "call.answer"
    CALL_CANDIDATE = "call.candidate"


class ServerFrame(StrEnum):
    HELLO = "hello"
    ACK = "ack"
    ERROR = "error"
    PONG = "pong"
    REFETCH = "refetch"


class CommandType(StrEnum):
    RESUME = "resume"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PING = "ping"
    MESSAGE_SEND = "message.send"
    TYPING = "typing"
    READ = "read"
    REQUEST_ACCEPT = "request.accept"
    CONVERSATION_TAKEOVER = "conversation.takeover"
    CONVERSATION_TRANSFER = "conversation.transfer"
    CONVERSATION_HAND_BACK = "conversation.hand_back"
    CONVERSATION_END = "conversation.end"
    CALL_OFFER = "call.offer"
    CALL_ANSWER = "call.answer"
    CALL_CANDIDATE = "call.candidate"
    CALL_HANGUP = "call.hangup"
    CALL_OFFER_VIDEO = "call.offer_video"
    CALL_ACCEPT_VIDEO = "call.accept_video"
    CALL_DECLINE_VIDEO = "call.decline_video"
    CALL_FALLBACK_TO_TEXT = "call.fallback_to_text"
    NOTE_CREATE = "note.create"


# -- event payloads ---------------------------------------------------------


class MessageCreatedSchema(Schema):
    message = fields.Nested(MessageSchema, required=True)


class ConversationUpdatedSchema(Schema):
    conversation = fields.Nested(ConversationSchema, required=True)
    conversation_pos = fields.Integer(metadata={"description": (
        "On a user stream only: the conversation stream's position before this change. When the chat is "
        "yours after it (status active, agent_id you), your sockets follow conversation:{id} from this "
        "position without a subscribe; when it stops being yours they stop following it")})


class NotificationDataSchema(Schema):
    notification_id = fields.Integer(required=True)
    notification_type = fields.String(required=True, validate=validate.OneOf(NotificationType.values()))
    conversation_id = fields.Integer(required=True)
    interface_id = fields.Integer(required=True)
    request_id = fields.Integer(allow_none=True)
    visitor_name = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


class NotificationWithdrawnSchema(Schema):
    notification_id = fields.Integer(required=True)
    reason = fields.String(required=True, validate=validate.OneOf(WithdrawReason.values()),
                           metadata={"description": "claimed: you accepted it; the others say why it no longer "
                                                    "needs you (agent_*: this agent's own state changed)"})


class RequestUpdatedSchema(Schema):
    request_id = fields.Integer(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(RequestKind.values()))
    status = fields.String(required=True, validate=validate.OneOf(RequestStatus.values()))
    queue_position = fields.Integer(allow_none=True)
    deadline_at = fields.DateTime(allow_none=True)


class SessionRevokedSchema(Schema):
    reason = fields.String(required=True, validate=validate.OneOf(SessionEndReason.values()))


class WebhookDisabledSchema(Schema):
    webhook_id = fields.Integer(required=True, metadata={"description": "The endpoint turned off"})
    url = fields.String(required=True)
    consecutive_failures = fields.Integer(required=True, metadata={"description": "Failed attempts in a row"})
    failing_since = fields.DateTime(required=True, metadata={"description": "When the run of failures began"})


class ConversationReadSchema(Schema):
    conversation_id = fields.Integer(required=True)
    reader = fields.String(required=True, validate=validate.OneOf(("visitor", "agent")))
    seq = fields.Integer(required=True)


class VisitorPresenceSchema(Schema):
    conversation_id = fields.Integer(required=True)
    visitor_id = fields.Integer(required=True)
    online = fields.Boolean(required=True, metadata={"description": (
        "false: the visitor's sockets have been gone past VISITOR_PRESENCE_GRACE_S (the chat closes once "
        "they have been gone VISITOR_IDLE_TIMEOUT_S); true: they are back")})
    last_seen_at = fields.DateTime(allow_none=True, metadata={"description": "When a socket of theirs was last seen"})


class NoteCreatedSchema(Schema):
    note = fields.Nested(NoteSchema, required=True)


class NoteMentionedSchema(Schema):
    conversation_id = fields.Integer(required=True)
    note_id = fields.Integer(required=True)
    author_id = fields.Integer(required=True, allow_none=True)
    author_name = fields.String(required=True, allow_none=True)
    excerpt = fields.String(required=True, metadata={"description": "The note's start, at most 140 characters"})


class RatingCreatedSchema(Schema):
    rating = fields.Nested(RatingSchema, required=True)


class TypingSchema(Schema):
    conversation_id = fields.Integer(required=True)
    sender_type = fields.String(required=True, validate=validate.OneOf(("visitor", "agent")))
    sender_name = fields.String(allow_none=True)
    typing = fields.Boolean(required=True)


class CallUpdatedSchema(Schema):
    call = fields.Nested(CallSchema, required=True)


class CallSignalSchema(Schema):
    call_id = fields.Integer(required=True)
    conversation_id = fields.Integer(required=True)
    sender = fields.String(required=True, metadata={"description": "agent or visitor: who sent it"})


class CallSdpSignalSchema(CallSignalSchema):
    sdp = fields.String(required=True)


class CallCandidateSignalSchema(CallSignalSchema):
    candidate = fields.Nested(IceCandidateSchema, required=True)


EVENT_SCHEMAS = {
    EventType.MESSAGE_CREATED: MessageCreatedSchema,
    EventType.CONVERSATION_UPDATED: ConversationUpdatedSchema,
    EventType.NEW_CHAT_INITIATED: NotificationDataSchema,
    EventType.LIVE_CHAT_REQUEST: NotificationDataSchema,
    EventType.VIDEO_CHAT_REQUEST: NotificationDataSchema,
    EventType.NOTIFICATION_WITHDRAWN: NotificationWithdrawnSchema,
    EventType.REQUEST_UPDATED: RequestUpdatedSchema,
    EventType.SESSION_REVOKED: SessionRevokedSchema,
    EventType.CONVERSATION_READ: ConversationReadSchema,
    EventType.CALL_UPDATED: CallUpdatedSchema,
    EventType.VISITOR_PRESENCE: VisitorPresenceSchema,
    EventType.NOTE_CREATED: NoteCreatedSchema,
    EventType.NOTE_MENTIONED: NoteMentionedSchema,
    EventType.WEBHOOK_DISABLED: WebhookDisabledSchema,
    EventType.RATING_CREATED: RatingCreatedSchema,
    EphemeralType.TYPING: TypingSchema,
    EphemeralType.QUEUE_POSITION: RequestUpdatedSchema,
    EphemeralType.CALL_OFFER: CallSdpSignalSchema,
    EphemeralType.CALL_ANSWER: CallSdpSignalSchema,
    EphemeralType.CALL_CANDIDATE: CallCandidateSignalSchema,
}


# -- client commands --------------------------------------------------------


class CommandSchema(Schema):
    type = fields.String(required=True)
    ref = fields.String(validate=validate.Length(max=REF_MAX_LEN),
                        metadata={"description": "Echoed in the ack or error that answers this command"})


class ResumeCommandSchema(CommandSchema):
    positions = fields.Dict(keys=fields.String(validate=validate.Length(max=STREAM_MAX_LEN)),
                            values=Position(), required=True,
                            validate=validate.Length(max=RESUME_STREAMS_MAX),
                            metadata={"description": "Last position seen per stream"})


class SubscribeCommandSchema(CommandSchema):
    stream = fields.String(required=True, validate=validate.Length(max=STREAM_MAX_LEN))
    after = Position(load_default=None, allow_none=True,
                           metadata={"description": "Replay events after this position; omit for live only"})


class UnsubscribeCommandSchema(CommandSchema):
    stream = fields.String(required=True, validate=validate.Length(max=STREAM_MAX_LEN))


class PingCommandSchema(CommandSchema):
    pass


class MessageSendCommandSchema(CommandSchema):
    conversation_id = ObjectId(required=True)
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=CLIENT_ID_MAX_LEN))
    text = fields.String(required=True, validate=validate.Length(max=MESSAGE_MAX_LEN),
                         metadata={"description": "May be empty only when the message carries attachments"})
    attachment_ids = attachment_ids_field()

    @validates_schema
    def _text_or_files(self, data, **kwargs):
        text_or_files(data)


class TypingCommandSchema(CommandSchema):
    conversation_id = ObjectId(required=True)
    typing = fields.Boolean(required=True)


class ReadCommandSchema(CommandSchema):
    conversation_id = ObjectId(required=True)
    seq = Position(required=True)


class RequestAcceptCommandSchema(CommandSchema):
    request_id = ObjectId(required=True)


class ConversationCommandSchema(CommandSchema):
    conversation_id = ObjectId(required=True)


class ConversationTransferCommandSchema(ConversationCommandSchema):
    agent_id = ObjectId(required=True)
    note = fields.String(validate=validate.Length(max=500))


class ConversationHandBackCommandSchema(ConversationCommandSchema):
    component_id = ObjectId(allow_none=True, load_default=None)


class ConversationEndCommandSchema(ConversationCommandSchema):
    reason = fields.String(validate=validate.Length(max=500))


class CallCommandSchema(CommandSchema):
    call_id = ObjectId(required=True)


class CallSdpCommandSchema(CallCommandSchema):
    sdp = fields.String(required=True, validate=validate_sdp,
                        metadata={"description": "The SDP, as RTCSessionDescription.sdp; at most 32 KiB"})


class CallOfferCommandSchema(CallSdpCommandSchema):
    pass


class CallAnswerCommandSchema(CallSdpCommandSchema):
    pass


class CallCandidateCommandSchema(CallCommandSchema):
    candidate = fields.Nested(IceCandidateSchema, required=True)


class CallHangupCommandSchema(CallCommandSchema):
    pass


class CallAcceptVideoCommandSchema(CallCommandSchema):
    pass


class CallDeclineVideoCommandSchema(CallCommandSchema):
    pass


class CallFallbackToTextCommandSchema(CallCommandSchema):
    pass


class CallOfferVideoCommandSchema(CommandSchema):
    conversation_id = ObjectId(required=True)


class NoteCreateCommandSchema(CommandSchema):
    conversation_id = ObjectId(required=True)
    text = note_text()
    mentions = note_mentions()


COMMAND_SCHEMAS = {
    CommandType.RESUME: ResumeCommandSchema,
    CommandType.SUBSCRIBE: SubscribeCommandSchema,
    CommandType.UNSUBSCRIBE: UnsubscribeCommandSchema,
    CommandType.PING: PingCommandSchema,
    CommandType.MESSAGE_SEND: MessageSendCommandSchema,
    CommandType.TYPING: TypingCommandSchema,
    CommandType.READ: ReadCommandSchema,
    CommandType.REQUEST_ACCEPT: RequestAcceptCommandSchema,
    CommandType.CONVERSATION_TAKEOVER: ConversationCommandSchema,
    CommandType.CONVERSATION_TRANSFER: ConversationTransferCommandSchema,
    CommandType.CONVERSATION_HAND_BACK: ConversationHandBackCommandSchema,
    CommandType.CONVERSATION_END: ConversationEndCommandSchema,
    CommandType.CALL_OFFER: CallOfferCommandSchema,
    CommandType.CALL_ANSWER: CallAnswerCommandSchema,
    CommandType.CALL_CANDIDATE: CallCandidateCommandSchema,
    CommandType.CALL_HANGUP: CallHangupCommandSchema,
    CommandType.CALL_OFFER_VIDEO: CallOfferVideoCommandSchema,
    CommandType.CALL_ACCEPT_VIDEO: CallAcceptVideoCommandSchema,
    CommandType.CALL_DECLINE_VIDEO: CallDeclineVideoCommandSchema,
    CommandType.CALL_FALLBACK_TO_TEXT: CallFallbackToTextCommandSchema,
    CommandType.NOTE_CREATE: NoteCreateCommandSchema,
}

# Commands only users (agents and admins) may send.
AGENT_COMMANDS = {CommandType.REQUEST_ACCEPT, CommandType.CONVERSATION_TAKEOVER, CommandType.CONVERSATION_TRANSFER,
                  CommandType.CONVERSATION_HAND_BACK, CommandType.CONVERSATION_END}

# Who may send what: hello lists a principal's commands, and the socket refuses the others with 403.
USER_ONLY_COMMANDS = AGENT_COMMANDS | {CommandType.CALL_OFFER_VIDEO, CommandType.NOTE_CREATE}
VISITOR_ONLY_COMMANDS = {CommandType.CALL_ACCEPT_VIDEO, CommandType.CALL_DECLINE_VIDEO}


def commands_for(kind):
    """The commands a principal of this kind ("user" or "visitor") may send, in declaration order."""
    barred = VISITOR_ONLY_COMMANDS if kind == "user" else USER_ONLY_COMMANDS
    return [command for command in CommandType if command not in barred]


# Commands about calls, handled by services/calls.py (which checks who may send each).
CALL_COMMANDS = {CommandType.CALL_OFFER, CommandType.CALL_ANSWER, CommandType.CALL_CANDIDATE, CommandType.CALL_HANGUP,
                 CommandType.CALL_OFFER_VIDEO, CommandType.CALL_ACCEPT_VIDEO, CommandType.CALL_DECLINE_VIDEO,
                 CommandType.CALL_FALLBACK_TO_TEXT}
# Signalling relayed to the other participant; rate-limited per socket on top of the frame limit.
SIGNAL_COMMANDS = {CommandType.CALL_OFFER: EphemeralType.CALL_OFFER, CommandType.CALL_ANSWER: EphemeralType.CALL_ANSWER,
                   CommandType.CALL_CANDIDATE: EphemeralType.CALL_CANDIDATE}
