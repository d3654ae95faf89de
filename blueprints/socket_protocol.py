"""The socket protocol, independent of the transport (blueprints/ws.py).

A SocketSession belongs to one connection. The transport feeds it client
frames (handle_text) and broker notifications (deliver) from one thread, and
sends whatever frames they return. Positions per stream make delivery exactly
once and in order: a duplicate is dropped, a gap is filled from the event log.

A client frame is parsed and checked against its schema (schemas/events.py),
rate-limited, and its type looked up in COMMANDS: one service call answers it,
with the same authorisation and errors as REST. This is an edge: the database
is reached only through services, and every command is one unit of work
(services/core.py), run again once when it lost a deadlock.
"""
import logging
import time

from marshmallow import ValidationError

from errors import DomainError, Forbidden
from models import User
from models.base import BIGINT_MAX, ID_MAX
from models.conversation import CLIENT_ID_MAX_LEN, MESSAGE_MAX_LEN, ConversationStatus
from schemas.events import (
    CALL_COMMANDS, COMMAND_SCHEMAS, REF_MAX_LEN, SIGNAL_COMMANDS, CommandType, EventType, ServerFrame, commands_for,
)
from schemas.inbound import JSONTooDeep, is_bad_text, load_json
from services import assignments, chat, notes, releases, signalling
from services.attachments import with_fresh_links
from services.broker import RESYNC
from services.conversations import dump_conversation
from services.core import DatabaseFailed, run_command, unit_of_work
from services.events import broker, conversation_stream, last_pos, notes_stream, replay, user_stream
from services.group_commit import SendJob, group_committer
from services.sockets import keep_present
from services.streams import access_stream, default_streams, held_streams, load_principal, stream_heads
from services.wire import loads

log = logging.getLogger(__name__)

FRAME_MAX_BYTES = 64 * 1024
RATE_PER_S = 10.0
RATE_BURST = 40
RATE_CLOSE_AFTER = 200  # rejected frames in a row before the socket is closed
# Call signalling goes to another person's browser: a tighter budget of its own.
SIGNAL_RATE_PER_S = 5.0
SIGNAL_BURST = 30


class CloseSocket(Exception):
    """Raised by the session when the transport must close the connection."""

    def __init__(self, code, reason, frames=()):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.frames = list(frames)  # sent before the close: why it closes (session.revoked)


def error_frame(status, code, message, errors=None, ref=None):
    frame = {"type": ServerFrame.ERROR.value, "code": code, "status": status, "message": message}
    if errors:
        frame["errors"] = errors
    if ref is not None:
        frame["ref"] = ref
    return frame


def _with_ref(frame, ref):
    """A reply names the command's ref when the command had one (no ref: no key, never null)."""
    if ref is not None:
        frame["ref"] = ref
    return frame


def ack(ref, data):
    return _with_ref({"type": ServerFrame.ACK.value, "data": data}, ref)


class TokenBucket:
    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate, self.burst, self.clock = rate, burst, clock
        self.tokens, self.stamp = float(burst), clock()

    def take(self):
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


# One loader per command, made once: building a schema costs three times what loading a frame does.
_COMMAND_LOADERS = {command_type: schema() for command_type, schema in COMMAND_SCHEMAS.items()}
_COMMAND_TYPES = {command_type.value: command_type for command_type in CommandType}


# The busiest commands, well formed, are loaded without the schema: a frame each of whose fields is
# exactly what the schema takes unchanged (an int where it wants an id, a bool, a str within its bounds
# that a column can store) and that has every required field loads to a copy of itself. Anything else,
# an unknown field, a "5" for 5, a missing field, goes to the schema, which answers as it always did.
def _text_within(low, high):
    return lambda value: type(value) is str and low <= len(value) <= high and not is_bad_text(value)


def _int_within(low, high):
    return lambda value: type(value) is int and low <= value <= high


_ANY_TYPE = lambda value: True  # noqa: E731 - the frame's type chose this table
_REF = _text_within(0, REF_MAX_LEN)
_ID = _int_within(1, ID_MAX)
_FAST_FIELDS = {  # command -> {field: check}, and the fields it must have
    CommandType.MESSAGE_SEND: ({"type": _ANY_TYPE, "ref": _REF, "conversation_id": _ID,
                                "client_id": _text_within(1, CLIENT_ID_MAX_LEN),
                                # Not empty: an empty text needs attachment_ids, which the schema checks.
                                "text": _text_within(1, MESSAGE_MAX_LEN)},
                               {"type", "conversation_id", "client_id", "text"}),
    CommandType.TYPING: ({"type": _ANY_TYPE, "ref": _REF, "conversation_id": _ID,
                          "typing": lambda value: type(value) is bool}, {"type", "conversation_id", "typing"}),
    CommandType.READ: ({"type": _ANY_TYPE, "ref": _REF, "conversation_id": _ID, "seq": _int_within(0, BIGINT_MAX)},
                       {"type", "conversation_id", "seq"}),
    CommandType.PING: ({"type": _ANY_TYPE, "ref": _REF}, {"type"}),
}
for _command_type, (_checks, _required) in _FAST_FIELDS.items():
    # A field added to one of these schemas must be added here too (or the fast path would refuse it).
    _declared = set(COMMAND_SCHEMAS[_command_type]().fields) - {"attachment_ids"}
    if set(_checks) != _declared:
        raise RuntimeError(f"the fast load of {_command_type.value} checks {sorted(_checks)}, "
                           f"its schema has {sorted(_declared)}")
_FAST_FIELDS = {command_type.value: entry for command_type, entry in _FAST_FIELDS.items()}


def fast_load(raw):
    """The schema's result for a well-formed frame of a busy command; None when the schema must decide."""
    entry = _FAST_FIELDS.get(raw["type"])
    if entry is None:
        return None
    checks, required = entry
    for key, value in raw.items():
        check = checks.get(key)
        if check is None or not check(value):
            return None
    if not required.issubset(raw):
        return None
    return dict(raw)


class SocketSession:
    """One connection's subscriptions, positions and command handling."""

    def __init__(self, principal, push, rate=RATE_PER_S, burst=RATE_BURST):
        self.kind = "user" if isinstance(principal, User) else "visitor"
        self.principal_id = principal.id
        self.workspace_id = principal.workspace_id  # never changes: a user or visitor belongs to one workspace
        self.push = push  # called from broker threads with (stream, frame)
        self.positions = {}
        self.bucket = TokenBucket(rate, burst)
        self.signal_bucket = TokenBucket(SIGNAL_RATE_PER_S, SIGNAL_BURST)
        self.rejected = 0
        self.frame_type = "other"  # the last client frame's type, once known to be a command (metrics)
        self._callbacks = {}
        # Conversation streams followed because this user holds the chat: dropped when they stop holding it.
        self.held = set()
        self.commands = frozenset(commands_for(self.kind))

    # -- principal --------------------------------------------------------

    def principal(self):
        """The user or visitor, re-read so a deleted or demoted user loses access at once."""
        principal = load_principal(self.kind, self.principal_id)
        if principal is None:
            raise CloseSocket(4401, "session revoked", self._until_revoked() if self.kind == "user" else ())
        return principal

    def hello(self):
        with unit_of_work():
            streams = stream_heads(default_streams(self.principal()))
            self.heartbeat(batched=False)
        return [{"type": ServerFrame.HELLO.value, "kind": self.kind, "id": self.principal_id, "streams": streams,
                 "commands": [command.value for command in commands_for(self.kind)]}]

    def heartbeat(self, batched=True):
        """Keep the user's presence (a visitor's: in their live call) fresh while this socket is open."""
        keep_present(self.kind, self.principal_id, batched)

    # -- subscriptions ------------------------------------------------------

    def _subscribe(self, stream, after):
        frames = []
        if stream not in self._callbacks:
            callback = self._make_callback(stream)
            self._callbacks[stream] = callback
            broker().subscribe(stream, callback)  # before reading the log: nothing falls between
        if after is None:
            if stream not in self.positions:  # already following: what is on its way still comes
                self.positions[stream] = last_pos(stream)
            return frames
        events = replay(stream, after)
        if events is None:
            self.positions[stream] = last_pos(stream)
            return [{"type": ServerFrame.REFETCH.value, "stream": stream, "pos": self.positions[stream]}]
        self.positions[stream] = after
        return self._accept(stream, with_fresh_links(events))

    def _make_callback(self, stream):
        def callback(frame):
            self.push(stream, frame)

        return callback

    def _unsubscribe(self, stream):
        callback = self._callbacks.pop(stream, None)
        if callback is not None:
            broker().unsubscribe(stream, callback)
        self.positions.pop(stream, None)
        self.held.discard(stream)

    def _follow_holdings(self, stream, frames):
        """Act on the user's own conversation.updated events: follow the chats they hold, drop those they lost.

        Every socket of the user, on every process, hears these events on its
        user stream, so all of them follow the same chats. Returns the frames
        to send: the events themselves, each followed by what a newly held
        chat's stream has had since the change.
        """
        if self.kind != "user" or stream != user_stream(self.principal_id):
            return frames
        out = []
        for frame in frames:
            out.append(frame)
            if frame.get("type") != EventType.CONVERSATION_UPDATED:
                continue
            conversation = frame["data"]["conversation"]
            followed = conversation_stream(conversation["id"])
            holds = conversation["status"] == ConversationStatus.ACTIVE and conversation["agent_id"] == self.principal_id
            notes = notes_stream(conversation["id"])
            if holds and followed not in self.held:
                self.held.add(followed)
                if followed not in self.positions:
                    out.extend(self._subscribe(followed, frame["data"].get("conversation_pos")))
                # Its private notes too, from the first: the colleagues' notes on a chat handed to you are news.
                self.held.add(notes)
                if notes not in self.positions:
                    out.extend(self._subscribe(notes, 0))
            elif not holds and followed in self.held:
                self._unsubscribe(followed)
                if notes in self.held:
                    self._unsubscribe(notes)
        return out

    def unsubscribe_all(self):
        for stream, callback in self._callbacks.items():
            broker().unsubscribe(stream, callback)
        self._callbacks.clear()

    def _accept(self, stream, events):
        out = []
        for frame in events:
            if frame["pos"] <= self.positions.get(stream, 0):
                continue
            out.append(frame)
            self.positions[stream] = frame["pos"]
        return out

    def deliver(self, stream, frame):
        """Frames to send for one broker notification."""
        if stream not in self.positions:
            return []
        if frame.get("type") == RESYNC or ("pos" in frame and frame["pos"] > self.positions[stream] + 1):
            try:
                with unit_of_work():
                    events = replay(stream, self.positions[stream])
            except DatabaseFailed as failure:
                # The position stays where it was: the next event on the stream finds the gap and replays it.
                log.warning("socket replay of %s: database unavailable (%s)", stream, failure.cause)
                return []
            if events is None:
                self.positions[stream] = frame.get("pos", self.positions[stream])
                return [{"type": ServerFrame.REFETCH.value, "stream": stream, "pos": self.positions[stream]}]
            return self._with_holdings(stream, self._accept(stream, with_fresh_links(events)))
        if "pos" in frame:
            accepted = self._accept(stream, [frame])
            if frame["type"] == EventType.SESSION_REVOKED and self.kind == "user":
                raise CloseSocket(4401, "session revoked", accepted)
            return self._with_holdings(stream, accepted)
        return [frame]  # ephemeral

    def _with_holdings(self, stream, frames):
        if self.kind != "user" or not any(f.get("type") == EventType.CONVERSATION_UPDATED for f in frames):
            return frames
        try:
            with unit_of_work():
                return self._follow_holdings(stream, frames)
        except DatabaseFailed as failure:
            # Not followed yet: the client still hears the change, and a resume follows the chat.
            for held in [held for held in self.held if held not in self.positions]:
                self._unsubscribe(held)
            log.warning("socket follow of a held chat: database unavailable (%s)", failure.cause)
            return frames

    def _until_revoked(self):
        """The user stream's events up to its session.revoked, when this socket has not had them yet.

        A command can find the user gone before the broker brings the news; the
        client still hears why its socket closes.
        """
        stream = user_stream(self.principal_id)
        if stream not in self.positions:
            return []
        try:
            with unit_of_work():
                events = replay(stream, self.positions[stream]) or []
        except DatabaseFailed:
            return []
        out = []
        for frame in self._accept(stream, events):
            out.append(frame)
            if frame["type"] == EventType.SESSION_REVOKED:
                break
        return out

    # -- client frames ------------------------------------------------------

    def handle_text(self, text):
        """Frames answering one client frame."""
        self.frame_type = "other"
        if not self.bucket.take():
            self.rejected += 1
            if self.rejected >= RATE_CLOSE_AFTER:
                raise CloseSocket(1008, "too many frames")
            return [error_frame(429, "rate_limited", "Too many frames; slow down")]
        self.rejected = 0
        if len(text) > FRAME_MAX_BYTES:
            raise CloseSocket(1009, "frame too large")
        try:
            raw = load_json(text, loads=loads)
        except JSONTooDeep as error:
            return [error_frame(400, "malformed_frame", f"Frames are JSON objects; {error}")]
        except (ValueError, TypeError):
            return [error_frame(400, "malformed_frame", "Frames are JSON objects")]
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            return [error_frame(400, "malformed_frame", "Frames are JSON objects with a string type")]
        ref = raw.get("ref") if isinstance(raw.get("ref"), str) else None
        schema = _COMMAND_LOADERS.get(raw["type"])
        if schema is None:
            return [error_frame(400, "unknown_type", f"Unknown frame type {raw['type'][:40]!r}", ref=ref)]
        self.frame_type = raw["type"]
        command = fast_load(raw)
        if command is None:
            try:
                command = schema.load(raw)
            except ValidationError as error:
                return [error_frame(422, "validation_error", "Invalid frame: see errors", error.messages, ref)]
        command_type = _COMMAND_TYPES[command["type"]]
        try:
            # Call signalling is not run again: its relay is published before the commit.
            return run_command(command_type.value, lambda: self._dispatch(command_type, command, ref),
                               retry=command_type not in SIGNAL_COMMANDS)
        except CloseSocket:
            raise
        except DomainError as error:  # the service's own answer, or Unavailable (503) when the database is away
            return [error_frame(error.status, error.code, error.message, error.errors, ref)]
        except Exception:
            log.exception("socket command %s failed", command_type.value)
            return [error_frame(500, "internal_error", "Internal server error", ref=ref)]

    def _dispatch(self, command_type, command, ref):
        if command_type not in self.commands:
            raise Forbidden("Only agents can do this" if self.kind == "visitor" else "Only visitors can do this")
        return COMMANDS[command_type](self, command, ref)

    # -- commands about the socket itself -------------------------------------

    def resume(self, command, ref):
        principal = self.principal()
        wanted = dict(command["positions"])
        for stream in default_streams(principal):
            wanted.setdefault(stream, None)
        if self.kind == "user":
            self.held.update(held_streams(principal))
        frames = []
        for stream in wanted:
            access_stream(principal, stream)
        for stream, after in wanted.items():
            frames.extend(self._subscribe(stream, after))
        return [ack(ref, {"positions": dict(self.positions)}), *frames]

    def subscribe(self, command, ref):
        access_stream(self.principal(), command["stream"])
        frames = self._subscribe(command["stream"], command["after"])
        return [ack(ref, {"stream": command["stream"], "pos": self.positions[command["stream"]]}), *frames]

    def unsubscribe(self, command, ref):
        self._unsubscribe(command["stream"])
        return [ack(ref, {"stream": command["stream"]})]

    def ping(self, command, ref):
        return [_with_ref({"type": ServerFrame.PONG.value}, ref)]

    # -- commands answered by the domain ------------------------------------

    def send_message(self, command, ref):
        """The busiest command: written with whatever else waits for a commit (services/group_commit.py).

        What the batch does not take (files, the bot phase, a retried client id, a sender to check the
        long way) goes here: sender, conversation and the right to write come from one read.
        """
        committer = group_committer()
        if committer is not None and not command.get("attachment_ids"):
            written = committer.send(SendJob(self.kind, self.principal_id, command["conversation_id"],
                                             command["text"], command["client_id"], self.workspace_id))
            if written is not None:
                return [ack(ref, {"message_id": written[0], "seq": written[1], "created": written[2]})]
        loaded = chat.load_sender(self.kind, self.principal_id, command["conversation_id"])
        principal, conversation = loaded if loaded is not None else (self.principal(), None)
        message, created = chat.send_message_as(principal, command["conversation_id"], command["text"],
                                                command["client_id"], conversation=conversation,
                                                attachment_ids=command.get("attachment_ids"))
        return [ack(ref, {"message_id": message.id, "seq": message.seq, "created": created})]

    def call_command(self, command, ref):
        principal = self.principal()
        command_type = CommandType(command["type"])
        if command_type in SIGNAL_COMMANDS and not self.signal_bucket.take():
            return [error_frame(429, "rate_limited", "Too much call signalling; slow down", ref=ref)]
        return [ack(ref, signalling.do_call_command(principal, command_type, command))]


def _answered_by(service):
    """A command one service call answers for the principal; what it returns is the ack's data."""

    def handle(session, command, ref):
        return [ack(ref, service(session.principal(), command))]

    return handle


def _agent_command(service):
    """An agent command, run by the same service as its REST route; the ack carries the conversation."""

    def handle(session, command, ref):
        user = session.principal()
        if not isinstance(user, User):
            raise Forbidden("Only agents can do this")
        return [ack(ref, {"conversation": dump_conversation(service(user, command))})]

    return handle


# Frame type -> the one call that answers it. The services are looked up when a command runs (module
# attributes, not names bound here), so what the REST routes call is what the socket calls.
COMMANDS = {
    CommandType.RESUME: SocketSession.resume,
    CommandType.SUBSCRIBE: SocketSession.subscribe,
    CommandType.UNSUBSCRIBE: SocketSession.unsubscribe,
    CommandType.PING: SocketSession.ping,
    CommandType.MESSAGE_SEND: SocketSession.send_message,
    CommandType.TYPING: _answered_by(lambda principal, c: chat.do_typing(principal, c["conversation_id"], c["typing"])),
    CommandType.READ: _answered_by(lambda principal, c: chat.do_mark_read(principal, c["conversation_id"], c["seq"])),
    CommandType.REQUEST_ACCEPT: _agent_command(lambda user, c: assignments.do_accept(user, c["request_id"])),
    CommandType.CONVERSATION_TAKEOVER: _agent_command(
        lambda user, c: assignments.do_takeover(user, c["conversation_id"])),
    CommandType.CONVERSATION_TRANSFER: _agent_command(
        lambda user, c: releases.do_transfer(user, c["conversation_id"], c["agent_id"], c.get("note"))),
    CommandType.CONVERSATION_HAND_BACK: _agent_command(
        lambda user, c: releases.do_hand_back(user, c["conversation_id"], c["component_id"])),
    CommandType.CONVERSATION_END: _agent_command(
        lambda user, c: releases.do_end(user, c["conversation_id"], c.get("reason"))),
    **{command_type: SocketSession.call_command for command_type in CALL_COMMANDS},
    CommandType.NOTE_CREATE: _answered_by(lambda principal, c: {"note": notes.dump_note(
        notes.do_create_note(principal, c["conversation_id"], c["text"], c["mentions"]))}),
}
if set(COMMANDS) != set(CommandType):  # a new command type needs its line above
    raise RuntimeError(f"socket commands without a handler: {sorted(set(CommandType) - set(COMMANDS))}")
