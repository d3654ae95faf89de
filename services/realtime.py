"""The socket protocol, independent of the transport.

A SocketSession belongs to one connection. The transport feeds it client
frames (handle_text) and broker notifications (deliver) from one thread, and
sends whatever frames they return. Positions per stream make delivery exactly
once and in order: a duplicate is dropped, a gap is filled from the event log.
"""
import logging
import time

from marshmallow import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from errors import DomainError, Forbidden, NotFound
from extensions import db
from models import User
from models.base import ID_MAX
from models.conversation import Conversation, ConversationStatus
from schemas.events import (
    AGENT_COMMANDS, CALL_COMMANDS, COMMAND_SCHEMAS, SIGNAL_COMMANDS, CommandType, EphemeralType, EventType, ServerFrame,
    commands_for,
)
from schemas.inbound import JSONTooDeep, load_json
from services.broker import RESYNC
from services.core import serves
from services.events import (
    broker, conversation_stream, last_pos, publish_ephemeral, replay, user_stream, visitor_stream,
)

log = logging.getLogger(__name__)

FRAME_MAX_BYTES = 64 * 1024
RATE_PER_S = 10.0
RATE_BURST = 40
RATE_CLOSE_AFTER = 200  # rejected frames in a row before the socket is closed
# Call signalling goes to another person's browser: a tighter budget of its own.
SIGNAL_RATE_PER_S = 5.0
SIGNAL_BURST = 30
# A command that lost a deadlock or a serialisation conflict runs once more before it is answered with 503.
TRANSIENT_RETRIES = 1
TRANSIENT_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure


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


def is_transient(error):
    """A database error that a second try of the same transaction may not meet."""
    if getattr(error.orig, "sqlstate", None) in TRANSIENT_SQLSTATES:
        return True
    return "database is locked" in str(error.orig)  # SQLite's busy writer


def access_stream(principal, stream):
    """Check that principal may follow stream; 404 otherwise (never reveal it exists)."""
    kind, _, raw_id = stream.partition(":")
    # Digits only (int() also takes signs, spaces and underscores), and an id the database can hold.
    if not (raw_id.isascii() and raw_id.isdigit() and len(raw_id) <= 10 and 0 < int(raw_id) <= ID_MAX):
        raise NotFound("Unknown stream")
    object_id = int(raw_id)
    if kind == "user" and isinstance(principal, User) and object_id == principal.id:
        return stream
    if kind == "visitor" and not isinstance(principal, User) and object_id == principal.id:
        return stream
    if kind == "conversation":
        conversation = db.session.get(Conversation, object_id)
        if conversation is not None and may_follow(principal, conversation):
            return stream
    raise NotFound("Unknown stream")


def may_follow(principal, conversation):
    if isinstance(principal, User):
        if conversation.workspace_id != principal.workspace_id:
            return False
        return serves(principal, conversation.interface_id)
    return conversation.visitor_id == principal.id


def held_streams(user):
    """The streams of the chats the user holds now (active, theirs): their sockets follow them unasked."""
    ids = db.session.scalars(db.select(Conversation.id).where(
        Conversation.agent_id == user.id, Conversation.status == ConversationStatus.ACTIVE)
        .order_by(Conversation.id)).all()
    return [conversation_stream(conversation_id) for conversation_id in ids]


def default_streams(principal):
    if isinstance(principal, User):
        return [user_stream(principal.id), *held_streams(principal)]
    conversation = db.session.query(Conversation).filter(
        Conversation.visitor_id == principal.id).order_by(Conversation.id.desc()).first()
    own = [visitor_stream(principal.id)]
    return [conversation_stream(conversation.id), *own] if conversation is not None else own


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


class SocketSession:
    """One connection's subscriptions, positions and command handling."""

    def __init__(self, principal, push, rate=RATE_PER_S, burst=RATE_BURST):
        self.kind = "user" if isinstance(principal, User) else "visitor"
        self.principal_id = principal.id
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
        from models.conversation import Visitor

        if self.kind == "user":
            user = db.session.get(User, self.principal_id)
            if user is None or not user.is_active:
                raise CloseSocket(4401, "session revoked", self._until_revoked())
            return user
        visitor = db.session.get(Visitor, self.principal_id)
        if visitor is None:
            raise CloseSocket(4401, "session revoked")
        return visitor

    def hello(self):
        principal = self.principal()
        streams = {stream: last_pos(stream) for stream in default_streams(principal)}
        self.heartbeat(batched=False)
        db.session.remove()
        return [{"type": ServerFrame.HELLO.value, "kind": self.kind, "id": self.principal_id, "streams": streams,
                 "commands": [command.value for command in commands_for(self.kind)]}]

    def heartbeat(self, batched=True):
        """Keep the user's presence (a visitor's: in their live call) fresh while this socket is open.

        The periodic beats of a process's sockets are written together; the
        first one, when the socket opens, is written at once.
        """
        from services.presence import heartbeat_batch, do_write_heartbeats

        try:
            if batched:
                heartbeat_batch().beat(self.kind, self.principal_id)
            elif self.kind == "user":
                do_write_heartbeats(user_ids=[self.principal_id])
            else:
                do_write_heartbeats(visitor_ids=[self.principal_id])
        except DBAPIError as error:  # the next beat tries again; the socket stays open
            db.session.rollback()
            db.session.remove()
            log.warning("socket heartbeat: database unavailable (%s)", error.orig.__class__.__name__)

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
        return self._accept(stream, events)

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
            if holds and followed not in self.held:
                self.held.add(followed)
                if followed not in self.positions:
                    out.extend(self._subscribe(followed, frame["data"].get("conversation_pos")))
            elif not holds and followed in self.held:
                self._unsubscribe(followed)
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
                events = replay(stream, self.positions[stream])
            except DBAPIError as error:
                # The position stays where it was: the next event on the stream finds the gap and replays it.
                db.session.rollback()
                log.warning("socket replay of %s: database unavailable (%s)", stream, error.orig.__class__.__name__)
                return []
            finally:
                db.session.remove()
            if events is None:
                self.positions[stream] = frame.get("pos", self.positions[stream])
                return [{"type": ServerFrame.REFETCH.value, "stream": stream, "pos": self.positions[stream]}]
            return self._with_holdings(stream, self._accept(stream, events))
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
            return self._follow_holdings(stream, frames)
        except DBAPIError as error:
            # Not followed yet: the client still hears the change, and a resume follows the chat.
            db.session.rollback()
            for held in [held for held in self.held if held not in self.positions]:
                self._unsubscribe(held)
            log.warning("socket follow of a held chat: database unavailable (%s)", error.orig.__class__.__name__)
            return frames
        finally:
            db.session.remove()

    def _until_revoked(self):
        """The user stream's events up to its session.revoked, when this socket has not had them yet.

        A command can find the user gone before the broker brings the news; the
        client still hears why its socket closes.
        """
        stream = user_stream(self.principal_id)
        if stream not in self.positions:
            return []
        try:
            events = replay(stream, self.positions[stream]) or []
        except DBAPIError:
            db.session.rollback()
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
            raw = load_json(text)
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
        try:
            command = schema.load(raw)
        except ValidationError as error:
            return [error_frame(422, "validation_error", "Invalid frame: see errors", error.messages, ref)]
        for attempt in range(1 + TRANSIENT_RETRIES):
            try:
                return self._dispatch(CommandType(command["type"]), command, ref)
            except CloseSocket:
                db.session.rollback()
                raise
            except DomainError as error:
                db.session.rollback()
                return [error_frame(error.status, error.code, error.message, error.errors, ref)]
            except DBAPIError as error:
                # The transaction is gone as a whole (nothing was announced: events go out after commit),
                # so a deadlock victim runs again; an outage is answered and the socket stays open. Call
                # signalling is not run again: its relay is published before the commit.
                db.session.rollback()
                if attempt < TRANSIENT_RETRIES and is_transient(error) and command["type"] not in SIGNAL_COMMANDS:
                    log.info("socket command %s retried after %s", command["type"], error.orig.__class__.__name__)
                    continue
                if isinstance(error, OperationalError) or error.connection_invalidated:
                    log.warning("socket command %s: database unavailable (%s)", command["type"],
                                error.orig.__class__.__name__)
                    return [error_frame(503, "unavailable", "Database temporarily unavailable, try again", ref=ref)]
                log.exception("socket command %s failed", command["type"])
                return [error_frame(500, "internal_error", "Internal server error", ref=ref)]
            except Exception:
                db.session.rollback()
                log.exception("socket command %s failed", command["type"])
                return [error_frame(500, "internal_error", "Internal server error", ref=ref)]
            finally:
                db.session.remove()
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    def _dispatch(self, command_type, command, ref):
        if command_type not in self.commands:
            raise Forbidden("Only agents can do this" if self.kind == "visitor" else "Only visitors can do this")
        if command_type == CommandType.PING:
            return [{"type": ServerFrame.PONG.value, "ref": ref}]
        if command_type == CommandType.MESSAGE_SEND:
            return [self._ack(ref, self._send_message(command))]
        principal = self.principal()
        if command_type == CommandType.RESUME:
            wanted = dict(command["positions"])
            for stream in default_streams(principal):
                wanted.setdefault(stream, None)
            if self.kind == "user":
                self.held.update(held_streams(principal))
            frames = []
            for stream, after in wanted.items():
                access_stream(principal, stream)
            for stream, after in wanted.items():
                frames.extend(self._subscribe(stream, after))
            return [self._ack(ref, {"positions": dict(self.positions)}), *frames]
        if command_type == CommandType.SUBSCRIBE:
            access_stream(principal, command["stream"])
            frames = self._subscribe(command["stream"], command["after"])
            return [self._ack(ref, {"stream": command["stream"], "pos": self.positions[command["stream"]]}), *frames]
        if command_type == CommandType.UNSUBSCRIBE:
            self._unsubscribe(command["stream"])
            return [self._ack(ref, {"stream": command["stream"]})]
        if command_type == CommandType.TYPING:
            from services.core import access_conversation

            conversation = access_conversation(principal, command["conversation_id"])
            publish_ephemeral(conversation_stream(conversation.id), {
                "type": EphemeralType.TYPING.value, "stream": conversation_stream(conversation.id),
                "data": {"conversation_id": conversation.id, "sender_type": self.kind if self.kind == "visitor" else "agent",
                         "sender_name": getattr(principal, "name", None), "typing": command["typing"]},
            })
            return [self._ack(ref, {})]
        if command_type == CommandType.READ:
            from services.chat import do_mark_read

            return [self._ack(ref, do_mark_read(principal, command["conversation_id"], command["seq"]))]
        if command_type in CALL_COMMANDS:
            from services.signalling import do_call_command

            if command_type in SIGNAL_COMMANDS and not self.signal_bucket.take():
                return [error_frame(429, "rate_limited", "Too much call signalling; slow down", ref=ref)]
            return [self._ack(ref, do_call_command(principal, command_type, command))]
        if command_type in AGENT_COMMANDS:
            if not isinstance(principal, User):
                raise Forbidden("Only agents can do this")
            return [self._ack(ref, _agent_command(principal, command_type, command))]
        raise NotFound("Unknown command")  # pragma: no cover - every CommandType is handled above

    def _send_message(self, command):
        """The busiest command: sender, conversation and the right to write come from one read."""
        from services.chat import load_sender, send_message_as

        loaded = load_sender(self.kind, self.principal_id, command["conversation_id"])
        principal, conversation = loaded if loaded is not None else (self.principal(), None)
        message, created = send_message_as(principal, command["conversation_id"], command["text"],
                                           command["client_id"], conversation=conversation)
        return {"message_id": message.id, "seq": message.seq, "created": created}

    @staticmethod
    def _ack(ref, data):
        return {"type": ServerFrame.ACK.value, "ref": ref, "data": data}


def _agent_command(user, command_type, command):
    """Run an agent command through the same services as REST; the ack carries the conversation."""
    from services import assignments, releases
    from services.conversations import dump_conversation

    if command_type == CommandType.REQUEST_ACCEPT:
        conversation = assignments.do_accept(user, command["request_id"])
    elif command_type == CommandType.CONVERSATION_TAKEOVER:
        conversation = assignments.do_takeover(user, command["conversation_id"])
    elif command_type == CommandType.CONVERSATION_TRANSFER:
        conversation = releases.do_transfer(user, command["conversation_id"], command["agent_id"],
                                               command.get("note"))
    elif command_type == CommandType.CONVERSATION_HAND_BACK:
        conversation = releases.do_hand_back(user, command["conversation_id"], command["component_id"])
    else:
        conversation = releases.do_end(user, command["conversation_id"], command.get("reason"))
    return {"conversation": dump_conversation(conversation)}
