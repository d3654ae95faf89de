"""The AsyncAPI 3.0 document of the WebSocket protocol, generated from schemas/events.py.

Schemas are JSON Schema (draft-07, AsyncAPI's default schema format): apispec writes them in its OpenAPI 3.1
dialect, where a nullable field is `type: [X, "null"]` (never `nullable: true`, which AsyncAPI 3.0 does not
know). tests/frame_contract.py validates every frame the test suite sees against this document, and
tools/asyncapi_validate.mjs parses it with @asyncapi/parser.
"""
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin

from models.call import CallEndReason, CallStatus
from models.conversation import SenderType
from models.flow import ComponentType, Stage
from schemas.components import PreviewButtonSchema, PreviewFormSchema
from schemas.events import (
    COMMAND_SCHEMAS, EVENT_SCHEMAS, REF_MAX_LEN, STREAM_MAX_LEN, CommandType, EphemeralType, EventType, ServerFrame,
    commands_for,
)

CHANNEL = "socket"
SCHEMA_REF = "#/components/schemas/"
MESSAGE_REF = "#/components/messages/"

COMMAND_SUMMARIES = {
    CommandType.RESUME: "Subscribe to your streams, replaying what came after the given positions",
    CommandType.SUBSCRIBE: "Follow one more stream (a conversation you may see)",
    CommandType.UNSUBSCRIBE: "Stop following a stream",
    CommandType.PING: "Application-level heartbeat; answered with pong",
    CommandType.MESSAGE_SEND: "Send a chat message; a retry with the same client_id makes no duplicate",
    CommandType.TYPING: "Tell the other side you are typing (not stored)",
    CommandType.READ: "Say up to which message seq you have read",
    CommandType.REQUEST_ACCEPT: "Agents: accept a live or video request (first with room wins)",
    CommandType.CONVERSATION_TAKEOVER: "Agents: take over a conversation the bot leads",
    CommandType.CONVERSATION_TRANSFER: "Agents: hand your chat to another online agent with room",
    CommandType.CONVERSATION_HAND_BACK: "Agents: give the chat back to the bot",
    CommandType.CONVERSATION_END: "Agents: end the chat",
    CommandType.CALL_OFFER: "Call participants: send your SDP offer to the other participant (relayed, not stored)",
    CommandType.CALL_ANSWER: "Call participants: send your SDP answer; the call becomes active",
    CommandType.CALL_CANDIDATE: "Call participants: send one ICE candidate (\"\" ends them); throttled per socket",
    CommandType.CALL_HANGUP: "Call participants: end the call; the chat goes on in text",
    CommandType.CALL_OFFER_VIDEO: "Agents: offer a video call in your text chat (counts the video weight)",
    CommandType.CALL_ACCEPT_VIDEO: "Visitors: accept the video call the agent offered",
    CommandType.CALL_DECLINE_VIDEO: "Visitors: decline the video call the agent offered",
    CommandType.CALL_FALLBACK_TO_TEXT: "Call participants: leave the video call and go on chatting in text",
    CommandType.NOTE_CREATE: "Agents and admins: write a private note in a conversation you may see (never "
                             "shown to its visitor); mentions tell colleagues",
}

EVENT_SUMMARIES = {
    EventType.MESSAGE_CREATED: "A message was added to a conversation",
    EventType.CONVERSATION_UPDATED: "A conversation changed state (on an agent's user stream: a chat became "
                                    "theirs or stopped being theirs; their sockets follow it accordingly)",
    EventType.NEW_CHAT_INITIATED: "A visitor made their first action on an interface you serve",
    EventType.LIVE_CHAT_REQUEST: "A visitor asks for a live chat",
    EventType.VIDEO_CHAT_REQUEST: "A visitor asks for a video chat",
    EventType.NOTIFICATION_WITHDRAWN: "A notification no longer needs you; its reason says why",
    EventType.REQUEST_UPDATED: "The visitor's live request changed (queue position, outcome)",
    EventType.SESSION_REVOKED: "Your session ended (deleted, deactivated, role changed); sent before the socket closes with 4401",
    EventType.CONVERSATION_READ: "The other side has read up to a message",
    EventType.CALL_UPDATED: "A call changed: offered, ringing, active, ended (who, when, how long)",
    EventType.VISITOR_PRESENCE: "The visitor of a chat with an agent left (no socket past the grace period) or "
                                "came back; on the conversation's stream and its agent's user stream",
    EventType.NOTE_CREATED: "A private note was written in a conversation (on notes:<conversation id>, which "
                            "visitors never get; your sockets follow it for the chats you hold)",
    EventType.NOTE_MENTIONED: "A colleague mentioned you in a private note (on your user stream)",
    EventType.WEBHOOK_DISABLED: "A webhook endpoint of your workspace failed too long and was turned off "
                                "(admins only, on their user streams; they are mailed too)",
    EventType.RATING_CREATED: "The visitor rated a chat you had, once it ended (on your user stream)",
    EphemeralType.TYPING: "Someone is typing (not stored, not replayed)",
    EphemeralType.QUEUE_POSITION: "Your place in the queue changed (not stored; GET .../request reads it again)",
    EphemeralType.CALL_OFFER: "The other participant's SDP offer (on your user or visitor stream only; not replayed)",
    EphemeralType.CALL_ANSWER: "The other participant's SDP answer (on your user or visitor stream only)",
    EphemeralType.CALL_CANDIDATE: "One ICE candidate of the other participant (on your user or visitor stream only)",
}

# Server frames only users (agents, admins) get: they travel on user:<id> streams only.
USER_ONLY_EVENTS = {EventType.NEW_CHAT_INITIATED, EventType.LIVE_CHAT_REQUEST, EventType.VIDEO_CHAT_REQUEST,
                    EventType.NOTIFICATION_WITHDRAWN, EventType.SESSION_REVOKED,
                    EventType.NOTE_CREATED, EventType.NOTE_MENTIONED, EventType.WEBHOOK_DISABLED}

# What each command's ack carries in `data` (a schema of components/schemas). ping is answered by pong.
ACK_DATA = {
    CommandType.RESUME: "ResumeAckData",
    CommandType.SUBSCRIBE: "SubscribeAckData",
    CommandType.UNSUBSCRIBE: "UnsubscribeAckData",
    CommandType.MESSAGE_SEND: "MessageSendAckData",
    CommandType.TYPING: "EmptyAckData",
    CommandType.READ: "ConversationRead",
    CommandType.REQUEST_ACCEPT: "ConversationAckData",
    CommandType.CONVERSATION_TAKEOVER: "ConversationAckData",
    CommandType.CONVERSATION_TRANSFER: "ConversationAckData",
    CommandType.CONVERSATION_HAND_BACK: "ConversationAckData",
    CommandType.CONVERSATION_END: "ConversationAckData",
    CommandType.CALL_OFFER: "CallSignalAckData",
    CommandType.CALL_ANSWER: "CallSignalAckData",
    CommandType.CALL_CANDIDATE: "CallSignalAckData",
    CommandType.CALL_HANGUP: "CallAckData",
    CommandType.CALL_OFFER_VIDEO: "CallAckData",
    CommandType.CALL_ACCEPT_VIDEO: "CallAckData",
    CommandType.CALL_DECLINE_VIDEO: "CallAckData",
    CommandType.CALL_FALLBACK_TO_TEXT: "CallAckData",
    CommandType.NOTE_CREATE: "NoteAckData",
}

PRINCIPALS = {  # principal -> the kind commands_for() and hello use
    "admin": "user",
    "agent": "user",
    "visitor": "visitor",
}

DESCRIPTION = """\
The live-chat WebSocket: one socket per browser tab for everything realtime (chat messages, agent
notifications, queue positions, video-call state and WebRTC signalling).

This document describes **the server**: `receive` operations list the commands a client sends, `send`
operations the frames the server sends. There is one operation of each kind per principal (admin, agent,
visitor), so a client generated for one principal only knows what it may send and what it may get.

## Connecting

Get a single-use, short-lived ticket over authenticated HTTP (`POST /api/sockets/ticket` for users,
`POST /api/widget/{public_key}/sockets/ticket` for visitors), then open `/ws?ticket=T`. The ticket and the
`Origin` are checked before the upgrade: a user's socket may come from the origins in `CORS_ORIGINS` or from
this server's own origin (the console at `/console`), a visitor's from the interface's `allowed_origins`.
Every frame is a JSON object with a string `type`. The server sends
`hello` first: who you are, your default streams with their latest positions, and the commands you may send.

## Frames

- **Durable events** `{type, stream, pos, data, at}`: stored in the stream's log, each with a position
  (`pos`, from 1, one more than the event before on that stream). They can be replayed.
- **Ephemeral frames** `{type, stream, data}` (`typing`, `queue.position`, `call.offer`, `call.answer`,
  `call.candidate`): not stored, not replayed; a lost one is corrected by the next.
- **Replies** `ack`, `error`, `pong`: they name the command's `ref` when it had one (no ref: no key, never
  `null`).
- `hello` on connect and `refetch` when a replay is impossible.

## Streams and resuming

Streams are `user:<id>` (a user's notifications, their chats' state, call signalling addressed to them),
`visitor:<id>` (call signalling addressed to the visitor) and `conversation:<id>` (messages, state, typing,
reads, queue position, call state of one chat). Keep, per stream, the last `pos` you processed.

Admins and agents also have `notes:<id>`: the private notes of conversation `<id>` (`note.created`), for
whoever may see the conversation and never for its visitor (a visitor's `subscribe` to it is answered 404).
The sockets of the agent holding a chat follow its notes stream as they follow its conversation stream
(in `hello` and `resume`, and from its first note the moment the chat becomes theirs); anyone else
`subscribe`s to it. A mention in a note comes as `note.mentioned` on the mentioned user's own stream.

After `hello`, send `resume` with those positions (`{"type": "resume", "positions": {"conversation:12": 40}}`;
`{}` on the very first connection). Your default streams are added to it (a stream you do not name is
followed live from now). The ack lists the position of every stream you now follow; then, for each stream
you named, every event after your position comes in order, exactly once, followed by live events. The
server keeps positions per socket: a duplicate is dropped, a gap is filled from the log.
When you were away too long (the events after your position were deleted, see `RETENTION_EVENTS_DAYS`,
or the server cannot fill a gap), you get `refetch` for that stream instead: reload it over REST
(messages, conversation, request) and carry on from the `pos` it gives.

## Reconnecting

A socket can close at any time (deploys, network changes, 4401 when your session was revoked, 1008 when a
client floods, 1009 for a frame over 64 KiB, 1013 when the server cannot reach its database just now).
Reconnect with exponential backoff and jitter (for example
0.5 s doubling up to 30 s, randomised by ±50 %, reset after a connection stays up for a minute); do not
reconnect after 4401 without logging in again. Every reconnection needs a fresh ticket. Then send
`resume` with the last positions you processed, the same way as above: you miss nothing and get nothing
twice. Commands whose ack you did not get may be sent again: `message.send` with the same `client_id`
does not make a duplicate (the ack says `created: false`).

## Following conversations

A visitor's socket follows its latest conversation from `hello`. **Agents do not need to subscribe to the
chats they hold**: an agent's sockets follow, without a `subscribe`, every conversation they hold (status
`active`, `agent_id` them). `hello` and `resume` include those streams (give their positions in `resume`
to get what you missed). The moment a chat becomes theirs (`request.accept`, automatic assignment with
least-busy routing, a transfer to them, `conversation.takeover`) every socket of theirs, on every
server, hears `conversation.updated` on their user stream, with `conversation_pos` (the conversation
stream's position just before the change), and starts following `conversation:<id>` from that position:
the frames of the change itself (the "assigned" message...) come right after. When the chat stops being
theirs (transferred away, ended, handed back, requeued) their sockets stop following it. So an agent
does not `subscribe` after accepting (a `subscribe` without `after` to a stream already followed
changes nothing; with `after` it replays from that position again). Admins watching
someone else's chat, and agents looking at a conversation they do not hold, `subscribe` to it (with
`after` to replay) and `unsubscribe` when done.

## Who may send what

`hello.commands` lists them; any other command is answered with a 403 error.

{principals}

Admins and agents are both users: the socket offers them the same commands; the services decide the rest
(an agent serves only their interfaces, takes only requests within their max chats, and so on).

## Replies: ack, error, pong

Every command may carry a `ref` (a string of at most {ref_max} characters); the `ack`, `error` or `pong`
that answers it carries the same `ref` (the correlation id of the messages below). Every `ack` has
`type: "ack"`; what its `data` holds depends on the command. The frame does not name the command, so the
document declares **one ack message per command** (`<command>Ack`, each with its own payload schema,
correlated to its command by `ref`) rather than one `ack` message with a `oneOf` of payloads: several
acks have the same shape (`call.offer`, `call.answer`, `call.candidate`) and one is empty (`typing`),
so a `oneOf` could not tell them apart, while a client that remembers which command it sent under which
`ref` knows the exact type of the answer. Errors are `{code, status, message, errors?, ref?}` with HTTP
status codes and the same codes as the REST API; `errors` holds per-field messages (422).

## Video calls: who sends the SDP offer

A call is set up on the server first, then the browsers negotiate through this socket (`call.offer`,
`call.answer`, `call.candidate`, each relayed to the other participant's own `user:`/`visitor:` stream
only; never stored). Signalling is refused (`call_not_accepted`) until the call is accepted:

- **Visitor-initiated** (the visitor asked for a video chat): the call is accepted the moment an agent
  accepts the request (`call.updated` with status `ringing` and `accepted_at` set). **The agent sends the
  SDP offer**, the visitor answers with `call.answer`.
- **Agent-offered** (`call.offer_video` in a text chat): the call rings with `accepted_at` null until the
  visitor sends `call.accept_video` (or `call.decline_video`). After that, again **the agent sends the SDP
  offer** and the visitor answers.

In both cases the call becomes `active` when the `call.answer` goes through. The server relays an offer
from either side (it does not enforce the roles), so a client that follows this rule never meets a glare
of two offers. ICE servers come from `GET .../call/ice-servers`; candidates trickle with `call.candidate`,
`""` ending them.

## Message data

`Message.data` is `null` for plain text (visitors', agents', some system messages), and otherwise one of:
`BotMessageData` (sender_type `bot`: what a flow component shows at a stage, with buttons and, at the
offline stage, a form; discriminated by `component_type`), `VisitorActionData` (sender_type `visitor`:
the button, Skip or Back the visitor pressed, stored with the button's label as text) and
`SystemEventData` (sender_type `system`: a chat or call event, discriminated by `event`). The variants have
disjoint required keys, so the object's keys tell them apart.

Close codes: 1008 policy (flood), 1009 frame too large, 1011 internal error, 1013 try again later (the database
is away or saturated: reconnect with backoff, then resume), 4401 session revoked.
"""


# -- examples -------------------------------------------------------------------

AT = "2026-01-05T10:00:00+00:00"
CONVERSATION = {
    "id": 12, "interface_id": 3, "visitor_id": 40, "status": "active", "component_id": 7, "agent_id": 2, "agent_name": "Ada",
    "last_seq": 9, "channel": "text", "visitor_read_seq": 8, "agent_read_seq": 9, "initiated_at": AT,
    "created_at": AT, "closed_at": None,
    "visitor": {"id": 40, "name": "Vera", "email": "vera@example.com", "email_verified": False, "verified": False,
                "external_id": None, "attributes": {"plan": "pro"}},
}
MESSAGE = {
    "id": 101, "conversation_id": 12, "seq": 9, "sender_type": "agent", "sender_id": 2, "sender_name": "Ann",
    "client_id": "c-5f2b", "text": "Hello, how can I help?", "data": None, "attachments": [], "created_at": AT,
}
FILE_MESSAGE = {
    **MESSAGE, "id": 103, "seq": 11, "sender_type": "visitor", "sender_id": None, "sender_name": None,
    "client_id": "v-81ac", "text": "", "attachments": [{
        "id": 7, "filename": "receipt.png", "content_type": "image/png", "size": 48213,
        "url": "https://chat.example.com/api/files/7.1767607500.Jx3kqW0uQ8bJ2b3sWvVx3oQm9hVw4cKc2c8y1uJd1rU",
        "url_expires_at": "2026-01-05T10:05:00+00:00"}],
}
BOT_MESSAGE = {
    **MESSAGE, "id": 95, "seq": 3, "sender_type": "bot", "sender_id": None, "sender_name": None, "client_id": None,
    "text": "Would you like to talk to a person?",
    "data": {"component_id": 7, "component_type": "live_chat", "stage": "start", "form": None, "buttons": [
        {"id": "live_chat", "label": "Chat with us", "style": "primary", "action": {"type": "live_chat"}},
        {"id": "skip", "label": "Skip", "style": "secondary", "action": {"type": "skip"}}]},
}
SYSTEM_MESSAGE = {
    **MESSAGE, "id": 102, "seq": 10, "sender_type": "system", "sender_id": None, "sender_name": None,
    "client_id": None, "text": "Bob has joined the chat.",
    "data": {"event": "transferred", "from_agent_id": 2, "to_agent_id": 5},
}
CALL = {
    "id": 4, "conversation_id": 12, "agent_id": 2, "visitor_id": 40, "status": "ringing", "initiated_by": "visitor",
    "created_at": AT, "accepted_at": AT, "answered_at": None, "ended_at": None, "ended_by": None,
    "end_reason": None, "duration_s": None,
}
ENDED_CALL = {**CALL, "status": "ended", "answered_at": AT, "ended_at": "2026-01-05T10:03:20+00:00",
              "ended_by": "agent", "end_reason": "hangup", "duration_s": 200}
SDP = "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 192.0.2.10 50000 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0, "usernameFragment": "abcd"}
NOTIFICATION = {"notification_id": 31, "notification_type": "live_chat_request", "conversation_id": 12,
                "interface_id": 3, "request_id": 8, "visitor_name": "Vera", "created_at": AT}
NOTE = {"id": 7, "conversation_id": 12, "author_id": 2, "author_name": "Ann", "text": "Refund approved, @Bob?",
        "mentions": [5], "created_at": AT}
REQUEST = {"request_id": 8, "kind": "text", "status": "pending", "queue_position": 2,
           "deadline_at": "2026-01-05T10:02:00+00:00"}

EVENT_EXAMPLES = {
    EventType.MESSAGE_CREATED: [("agent message", "conversation:12", 41, {"message": MESSAGE}),
                                ("bot message with buttons", "conversation:12", 35, {"message": BOT_MESSAGE}),
                                ("system message", "conversation:12", 42, {"message": SYSTEM_MESSAGE}),
                                ("visitor's file", "conversation:12", 45, {"message": FILE_MESSAGE})],
    EventType.CONVERSATION_UPDATED: [
        ("a chat became yours", "user:2", 17, {"conversation": CONVERSATION, "conversation_pos": 40}),
        ("on the conversation stream", "conversation:12", 40, {"conversation": CONVERSATION})],
    EventType.NEW_CHAT_INITIATED: [("first action", "user:2", 15, {
        **NOTIFICATION, "notification_type": "new_chat_initiated", "request_id": None, "visitor_name": None})],
    EventType.LIVE_CHAT_REQUEST: [("live request", "user:2", 16, NOTIFICATION)],
    EventType.VIDEO_CHAT_REQUEST: [("video request", "user:2", 16,
                                    {**NOTIFICATION, "notification_type": "video_chat_request"})],
    EventType.NOTIFICATION_WITHDRAWN: [("someone else accepted", "user:5", 9,
                                        {"notification_id": 32, "reason": "claimed"})],
    EventType.REQUEST_UPDATED: [("accepted", "conversation:12", 38, {**REQUEST, "status": "accepted",
                                                                     "queue_position": None, "deadline_at": None})],
    EventType.SESSION_REVOKED: [("deactivated", "user:2", 18, {"reason": "deactivated"})],
    EventType.CONVERSATION_READ: [("agent read", "conversation:12", 43,
                                   {"conversation_id": 12, "reader": "agent", "seq": 9})],
    EventType.CALL_UPDATED: [("ringing", "conversation:12", 44, {"call": CALL}),
                             ("ended", "user:2", 21, {"call": ENDED_CALL})],
    EventType.VISITOR_PRESENCE: [("visitor left", "user:2", 22, {"conversation_id": 12, "visitor_id": 40,
                                                                 "online": False, "last_seen_at": AT})],
    EventType.NOTE_CREATED: [("note with a mention", "notes:12", 3, {"note": NOTE})],
    EventType.NOTE_MENTIONED: [("mentioned", "user:5", 23, {"conversation_id": 12, "note_id": 7, "author_id": 2,
                                                            "author_name": "Ann", "excerpt": "Refund approved, @Bob?"})],
    EventType.WEBHOOK_DISABLED: [("failing endpoint", "user:1", 30, {
        "webhook_id": 3, "url": "https://crm.example.com/hooks", "consecutive_failures": 20, "failing_since": AT})],
    EventType.RATING_CREATED: [("rated", "user:2", 24, {"rating": {
        "id": 3, "conversation_id": 12, "interface_id": 1, "agent_id": 2, "score": 5, "comment": "Quick and kind",
        "created_at": AT}})],
    EphemeralType.TYPING: [("agent typing", "conversation:12", None, {"conversation_id": 12, "sender_type": "agent",
                                                                     "sender_name": "Ann", "typing": True})],
    EphemeralType.QUEUE_POSITION: [("second in line", "conversation:12", None, REQUEST)],
    EphemeralType.CALL_OFFER: [("agent's offer", "visitor:40", None,
                                {"call_id": 4, "conversation_id": 12, "sender": "agent", "sdp": SDP})],
    EphemeralType.CALL_ANSWER: [("visitor's answer", "user:2", None,
                                 {"call_id": 4, "conversation_id": 12, "sender": "visitor", "sdp": SDP})],
    EphemeralType.CALL_CANDIDATE: [("agent's candidate", "visitor:40", None,
                                    {"call_id": 4, "conversation_id": 12, "sender": "agent", "candidate": CANDIDATE})],
}

COMMAND_EXAMPLES = {
    CommandType.RESUME: {"positions": {"user:2": 17, "conversation:12": 40}},
    CommandType.SUBSCRIBE: {"stream": "conversation:12", "after": 40},
    CommandType.UNSUBSCRIBE: {"stream": "conversation:12"},
    CommandType.PING: {},
    CommandType.MESSAGE_SEND: {"conversation_id": 12, "client_id": "c-5f2b", "text": "Hello, how can I help?",
                               "attachment_ids": []},
    CommandType.TYPING: {"conversation_id": 12, "typing": True},
    CommandType.READ: {"conversation_id": 12, "seq": 9},
    CommandType.REQUEST_ACCEPT: {"request_id": 8},
    CommandType.CONVERSATION_TAKEOVER: {"conversation_id": 12},
    CommandType.CONVERSATION_TRANSFER: {"conversation_id": 12, "agent_id": 5, "note": "Billing question"},
    CommandType.CONVERSATION_HAND_BACK: {"conversation_id": 12, "component_id": None},
    CommandType.CONVERSATION_END: {"conversation_id": 12, "reason": "Resolved"},
    CommandType.CALL_OFFER: {"call_id": 4, "sdp": SDP},
    CommandType.CALL_ANSWER: {"call_id": 4, "sdp": SDP},
    CommandType.CALL_CANDIDATE: {"call_id": 4, "candidate": CANDIDATE},
    CommandType.CALL_HANGUP: {"call_id": 4},
    CommandType.CALL_OFFER_VIDEO: {"conversation_id": 12},
    CommandType.CALL_ACCEPT_VIDEO: {"call_id": 4},
    CommandType.CALL_DECLINE_VIDEO: {"call_id": 4},
    CommandType.CALL_FALLBACK_TO_TEXT: {"call_id": 4},
    CommandType.NOTE_CREATE: {"conversation_id": 12, "text": "Refund approved, @Bob?", "mentions": [5]},
}

ACK_DATA_EXAMPLES = {
    "ResumeAckData": {"positions": {"user:2": 17, "conversation:12": 44}},
    "SubscribeAckData": {"stream": "conversation:12", "pos": 44},
    "UnsubscribeAckData": {"stream": "conversation:12"},
    "MessageSendAckData": {"message_id": 101, "seq": 9, "created": True},
    "EmptyAckData": {},
    "ConversationRead": {"conversation_id": 12, "reader": "agent", "seq": 9},
    "ConversationAckData": {"conversation": CONVERSATION},
    "CallSignalAckData": {"call_id": 4, "status": "ringing"},
    "CallAckData": {"call": CALL},
    "NoteAckData": {"note": NOTE},
}

CONTROL_EXAMPLES = {
    ServerFrame.HELLO: [
        ("agent", {"type": "hello", "kind": "user", "id": 2, "streams": {"user:2": 17, "conversation:12": 44},
                   "commands": [c.value for c in commands_for("user")]}),
        ("visitor", {"type": "hello", "kind": "visitor", "id": 40, "streams": {"conversation:12": 44, "visitor:40": 3},
                     "commands": [c.value for c in commands_for("visitor")]})],
    ServerFrame.ERROR: [
        ("validation", {"type": "error", "code": "validation_error", "status": 422, "message": "Invalid frame: see errors",
                        "errors": {"text": ["Shorter than minimum length 1."]}, "ref": "m-7"}),
        ("not yours", {"type": "error", "code": "forbidden", "status": 403, "message": "Only agents can do this",
                       "ref": "a-1"})],
    ServerFrame.PONG: [("with ref", {"type": "pong", "ref": "p-1"})],
    ServerFrame.REFETCH: [("too far behind", {"type": "refetch", "stream": "conversation:12", "pos": 420})],
}


# -- schemas --------------------------------------------------------------------


def _ref(name):
    return {"$ref": SCHEMA_REF + name}


def _const(value):
    return {"type": "string", "const": value}


def _obj(properties, required=None, description=None):
    schema = {"type": "object", "properties": properties,
              "required": list(properties) if required is None else required, "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


INT = {"type": "integer"}
ID = {"type": "integer", "minimum": 1}
NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1}
REF = {"type": "string", "maxLength": REF_MAX_LEN, "description": "The ref of the command this answers"}
STREAM = {"type": "string", "maxLength": STREAM_MAX_LEN, "examples": ["conversation:12"],
          "description": "user:<id>, visitor:<id> or conversation:<id>"}


def _message_data_schemas():
    """Message.data, typed: what services/ really store in it (flow_runtime.show, chat, calls, releases)."""
    shown = {
        "component_id": ID,
        "buttons": {"type": "array", "items": _ref("ShownButton"),
                    "description": "Buttons to show; pressing one sends its id (widget REST API)"},
        "form": {"oneOf": [{"type": "null"}, _ref("ShownForm")],
                 "description": "The offline form to show (live_chat at stage offline, when the form is active)"},
    }
    system = {
        "call_offered": ({"call_id": ID}, "An agent offered a video call (the visitor may accept or decline)"),
        "call_accepted": ({"call_id": ID}, "The visitor accepted the offered video call"),
        "call_started": ({"call_id": ID}, "The call became active"),
        "call_ended": ({"call_id": ID, "duration_s": {"type": ["integer", "null"], "minimum": 0},
                        "ended_by": {"type": "string", "enum": ["visitor", "agent", "system"]},
                        "end_reason": {"type": "string", "enum": CallEndReason.values()}}, "The call ended; the chat goes on in text if still active"),
        "transferred": ({"from_agent_id": NULLABLE_ID, "to_agent_id": ID}, "Another agent took the chat over"),
        "handed_back": ({"agent_id": NULLABLE_ID}, "The agent gave the chat back to the bot"),
        "requeued": ({"agent_id": ID, "request_id": ID, "queue_position": {"type": ["integer", "null"]},
                      "component_id": NULLABLE_ID}, "The agent left; the chat waits in the queue again"),
    }
    schemas = {
        "BotMessageData": {
            "description": "What a flow component shows (sender_type bot), discriminated by component_type",
            "discriminator": "component_type",
            "oneOf": [_ref("MessageComponentShown"), _ref("LiveChatComponentShown")]},
        "MessageComponentShown": _obj({
            **shown, "component_type": _const(ComponentType.MESSAGE.value), "stage": _const(Stage.START.value),
        }, description="A message component: its text and buttons"),
        "LiveChatComponentShown": _obj({
            **shown, "component_type": _const(ComponentType.LIVE_CHAT.value),
            "stage": {"type": "string", "enum": Stage.values(),
                      "description": "start: the options; welcome, assigned, video_chat, takeover, offline, "
                                     "thank_you, requeued: the live chat's messages at those moments"},
            "request_id": {**ID, "description": "The live request, at stages welcome and offline"},
        }, required=["component_id", "component_type", "stage", "buttons", "form"],
            description="The live chat component at one stage"),
        "VisitorActionData": _obj({
            "action": {"type": "string", "enum": ["button", "skip", "back"]},
            "button_id": {"type": ["string", "null"], "description": "The pressed button's id (action button)"},
        }, description="sender_type visitor: what the visitor pressed; the message text is its label"),
        "SystemEventData": {
            "description": "sender_type system: a chat or call event, discriminated by event",
            "discriminator": "event",
            "oneOf": [_ref(f"SystemEvent_{name}") for name in (*system, "ended")]},
        "SystemEvent_ended": _obj({"event": _const("ended"), "reason": _const("visitor_idle")}, required=["event"],
                                  description="The chat ended (reason visitor_idle: the visitor left)"),
    }
    for name, (properties, description) in system.items():
        schemas[f"SystemEvent_{name}"] = _obj({"event": _const(name), **properties}, description=description)
    schemas["MessageData"] = {
        "description": "null for plain text; otherwise by sender_type: bot BotMessageData, visitor "
                       "VisitorActionData, system SystemEventData",
        "oneOf": [{"type": "null"}, _ref("BotMessageData"), _ref("VisitorActionData"), _ref("SystemEventData")]}
    return schemas


def _ack_data_schemas():
    return {
        "ResumeAckData": _obj({"positions": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                                             "description": "Every stream this socket follows now, at its position"}}),
        "SubscribeAckData": _obj({"stream": STREAM, "pos": {"type": "integer", "minimum": 0,
                                                            "description": "Your position in it now"}}),
        "UnsubscribeAckData": _obj({"stream": STREAM}),
        "MessageSendAckData": _obj({"message_id": ID, "seq": ID, "created": {
            "type": "boolean", "description": "false: a retry; the message with this client_id already existed"}}),
        "EmptyAckData": _obj({}, description="Nothing to say but that it worked"),
        "ConversationAckData": _obj({"conversation": _ref("Conversation")}),
        "CallSignalAckData": _obj({"call_id": ID, "status": {"type": "string", "enum": CallStatus.values()}},
                                  description="Relayed; the call's status after it (an answer makes it active)"),
        "CallAckData": _obj({"call": _ref("Call")}),
        "NoteAckData": _obj({"note": _ref("Note")}),
        "FieldErrors": {
            "type": "object", "description": "Messages per field (nested objects for nested fields, "
                                             "list indexes and a location such as json or query)",
            "additionalProperties": {"oneOf": [{"type": "array", "items": {"type": "string"}}, _ref("FieldErrors")]}},
    }


def _envelope(type_value, data_name, durable):
    properties = {"type": _const(type_value), "stream": STREAM, "data": _ref(data_name)}
    if durable:
        properties["pos"] = {"type": "integer", "minimum": 1, "description": "Position in the stream"}
        properties["at"] = {"type": "string", "format": "date-time"}
    return _obj(properties)


def _camel(value):
    parts = value.replace(".", "_").split("_")
    return parts[0] + "".join(part.title() for part in parts[1:])


def _control_schemas():
    return {
        "HelloFrame": _obj({
            "type": _const(ServerFrame.HELLO.value), "kind": {"type": "string", "enum": ["user", "visitor"]},
            "id": ID,
            "commands": {"type": "array", "items": {"type": "string", "enum": CommandType.values()},
                         "description": "The commands you may send (users' and visitors' differ); any other is "
                                        "answered with a 403 error"},
            "streams": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0},
                        "description": "Your default streams and their latest positions: your user (or visitor) "
                                       "stream, a visitor's latest conversation, and every chat an agent holds"}}),
        "ErrorFrame": _obj({
            "type": _const(ServerFrame.ERROR.value),
            "code": {"type": "string", "description": "Machine-readable, as in the REST API (validation_error, "
                                                      "forbidden, not_found, rate_limited, call_not_accepted...)"},
            "status": {"type": "integer", "description": "The HTTP status the same failure has over REST"},
            "message": {"type": "string"}, "errors": _ref("FieldErrors"), "ref": REF,
        }, required=["type", "code", "status", "message"]),
        "PongFrame": _obj({"type": _const(ServerFrame.PONG.value), "ref": REF}, required=["type"]),
        "RefetchFrame": _obj({
            "type": _const(ServerFrame.REFETCH.value), "stream": STREAM,
            "pos": {"type": "integer", "minimum": 0, "description": "Resume from here after reloading over REST"}}),
    }


CORRELATION = {"$ref": "#/components/correlationIds/ref"}


def _message(name, title, summary, payload, examples, description=None, correlated=False):
    message = {"name": name, "title": title, "summary": summary, "contentType": "application/json",
               "payload": _ref(payload), "examples": [{"name": n, "summary": s, "payload": p} for n, s, p in examples]}
    if description:
        message["description"] = description
    if correlated:
        message["correlationId"] = CORRELATION
    return message


# Fields of the REST shapes that no frame carries: (schema, property) -> why.
REST_ONLY = {("Conversation", "unread_count"): "counted by the agents' REST reads only",
             ("Conversation", "rating"): "read by the agents' REST reads only (rating.created tells the agent)"}


def _with_required_outputs(schemas):
    """Output objects (every field dump-only) always carry every field: say so, for strict clients."""
    for name, prop in REST_ONLY:
        schemas[name]["properties"].pop(prop, None)
    for name in ("Message", "Conversation", "Call"):
        schema = schemas[name]
        schema["required"] = sorted(schema["properties"])
    schemas["Message"]["properties"]["data"] = _ref("MessageData")
    # An event stored before messages carried files is replayed as it was stored: without the list.
    schemas["Message"]["required"].remove("attachments")
    schemas["Message"]["properties"]["attachments"]["description"] = (
        "The files the message carries, with download links that expire: after url_expires_at, read the "
        "attachment again (getAttachment, getVisitorAttachment) for a fresh link. Absent from events replayed "
        "from before messages carried files")


def build_asyncapi(title, version):
    """The AsyncAPI 3.0 document: one channel, the server's receive and send operations per principal."""
    spec = APISpec(title=title, version=version, openapi_version="3.1.0", plugins=[MarshmallowPlugin()])
    spec.components.schema("ShownButton", schema=PreviewButtonSchema)
    spec.components.schema("ShownForm", schema=PreviewFormSchema)
    messages, command_ids, frame_ids, ack_ids = {}, {}, {}, {}
    frame_schemas = {}
    for event_type, schema in EVENT_SCHEMAS.items():
        data_name = schema.__name__.removesuffix("Schema")
        if data_name not in spec.components.schemas:
            spec.components.schema(data_name, schema=schema)
        durable = isinstance(event_type, EventType)
        frame_name = _camel(event_type.value)[0].upper() + _camel(event_type.value)[1:] + "Frame"
        frame_schemas[frame_name] = _envelope(event_type.value, data_name, durable)
        message_id = _camel(event_type.value) + ("Event" if durable else "Signal")
        examples = [(n.replace(" ", "_"), n, {"type": event_type.value, "stream": stream, **(
            {"pos": pos, "at": AT} if durable else {}), "data": data})
            for n, stream, pos, data in EVENT_EXAMPLES[event_type]]
        kind = "Durable event (stored, replayed by position)" if durable else "Ephemeral (not stored, not replayed)"
        messages[message_id] = _message(message_id, f"{event_type.value} ({'event' if durable else 'ephemeral'})",
                                        EVENT_SUMMARIES[event_type], frame_name, examples,
                                        f"{kind}. type: `{event_type.value}`.")
        frame_ids[event_type] = message_id
    for command_type, schema in COMMAND_SCHEMAS.items():
        schema_name = schema.__name__.removesuffix("Schema")
        spec.components.schema(schema_name, schema=schema)
        message_id = _camel(command_type.value) + "Command"
        payload = {"type": command_type.value, "ref": f"{command_type.value.split('.')[-1][:8]}-1",
                   **COMMAND_EXAMPLES[command_type]}
        messages[message_id] = _message(message_id, f"{command_type.value} (command)",
                                        COMMAND_SUMMARIES[command_type], schema_name,
                                        [("example", COMMAND_SUMMARIES[command_type], payload)],
                                        f"Client to server. type: `{command_type.value}`.", correlated=True)
        command_ids[command_type] = message_id
    for command_type, data_name in ACK_DATA.items():
        message_id = _camel(command_type.value) + "Ack"
        frame_name = message_id[0].upper() + message_id[1:] + "Frame"
        frame_schemas[frame_name] = _obj({"type": _const(ServerFrame.ACK.value), "ref": REF, "data": _ref(data_name)},
                                         required=["type", "data"])
        messages[message_id] = _message(
            message_id, f"ack of {command_type.value}", f"{command_type.value} succeeded", frame_name,
            [("example", f"The answer to {command_type.value}",
              {"type": "ack", "ref": f"{command_type.value.split('.')[-1][:8]}-1", "data": ACK_DATA_EXAMPLES[data_name]})],
            f"type: `ack`, answering a `{command_type.value}` command: correlate it by `ref`.", correlated=True)
        ack_ids[command_type] = message_id
    control = _control_schemas()
    frame_schemas.update(control)
    control_summaries = {
        ServerFrame.HELLO: "Sent once on connect: who you are, your streams, your commands",
        ServerFrame.ERROR: "A command or frame failed",
        ServerFrame.PONG: "Answer to ping",
        ServerFrame.REFETCH: "You were away too long for a replay: reload this stream over REST",
    }
    for frame_type, summary in control_summaries.items():
        message_id = frame_type.value + "Frame"
        messages[message_id] = _message(message_id, f"{frame_type.value}", summary,
                                        frame_type.value.title() + "Frame",
                                        [(n.replace(" ", "_"), n, p) for n, p in CONTROL_EXAMPLES[frame_type]],
                                        f"type: `{frame_type.value}`.",
                                        correlated=frame_type in (ServerFrame.ERROR, ServerFrame.PONG))
        frame_ids[frame_type] = message_id

    schemas = spec.to_dict()["components"]["schemas"]
    for command_type, schema in COMMAND_SCHEMAS.items():
        schemas[schema.__name__.removesuffix("Schema")]["properties"]["type"] = _const(command_type.value)
    _with_required_outputs(schemas)
    schemas.update(_message_data_schemas())
    schemas.update(_ack_data_schemas())
    schemas.update(frame_schemas)
    schemas = {name: _to_jsonschema(schema) for name, schema in schemas.items()}

    channel_messages = {message_id: {"$ref": MESSAGE_REF + message_id} for message_id in messages}
    operations = {}
    principal_lines = []
    for principal, kind in PRINCIPALS.items():
        commands = commands_for(kind)
        events = [e for e in EVENT_SCHEMAS if kind == "user" or e not in USER_ONLY_EVENTS]
        sent = ([frame_ids[ServerFrame.HELLO]] + [frame_ids[e] for e in events]
                + [ack_ids[c] for c in commands if c in ack_ids]
                + [frame_ids[f] for f in (ServerFrame.ERROR, ServerFrame.PONG, ServerFrame.REFETCH)])
        label = principal.title()
        operations[f"receive{label}Commands"] = {
            "action": "receive", "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "title": f"Commands from {principal}s", "summary": f"What a {principal}'s socket may send",
            "description": f"Any other command is answered with a 403 error. The answer to each is an ack "
                           f"(`<command>Ack`), an error or, for ping, a pong, with the command's ref.",
            "tags": [{"name": principal}],
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{command_ids[c]}"} for c in commands],
        }
        operations[f"send{label}Frames"] = {
            "action": "send", "channel": {"$ref": f"#/channels/{CHANNEL}"},
            "title": f"Frames to {principal}s", "summary": f"What a {principal}'s socket may receive",
            "tags": [{"name": principal}],
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{m}"} for m in sent],
        }
        principal_lines.append(f"- **{principal}**: " + ", ".join(f"`{c.value}`" for c in commands))

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{title}: WebSocket protocol", "version": version,
            "description": DESCRIPTION.replace("{principals}", "\n".join(principal_lines))
                                      .replace("{ref_max}", str(REF_MAX_LEN)),
            "tags": [{"name": p, "description": f"What a {p}'s socket sends and gets"} for p in PRINCIPALS],
        },
        "defaultContentType": "application/json",
        "servers": {"local": {"host": "localhost:5000", "protocol": "ws",
                              "description": "make run; in production wss:// on the API's host"}},
        "channels": {
            CHANNEL: {
                "address": "/ws", "title": "The socket",
                "description": "One endpoint for every principal; commands in, frames out",
                "servers": [{"$ref": "#/servers/local"}],
                "messages": channel_messages,
                "bindings": {"ws": {"method": "GET", "bindingVersion": "0.1.0", "query": {
                    "type": "object", "required": ["ticket"], "additionalProperties": False,
                    "properties": {"ticket": {"type": "string", "description": "Single-use, short-lived"}}}}},
            }
        },
        "operations": operations,
        "components": {
            "messages": messages, "schemas": schemas,
            "correlationIds": {"ref": {"description": "The command's ref, echoed in its ack, error or pong",
                                       "location": "$message.payload#/ref"}},
        },
    }


def _to_jsonschema(node):
    """apispec's OpenAPI 3.1 dialect to plain JSON Schema draft-07: `example` becomes `examples`."""
    if isinstance(node, list):
        return [_to_jsonschema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "example":
            out["examples"] = [value]
        elif key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: _to_jsonschema(sub) for name, sub in value.items()}
        else:
            out[key] = _to_jsonschema(value)
    return out
