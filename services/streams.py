"""What a socket may follow: stream access, the streams a principal follows unasked, the principal itself.

Streams are named by services/events.py (conversation:<id>, user:<id>,
visitor:<id>, notes:<id>); this module decides who may hear which.
"""
from sqlalchemy import select

from errors import NotFound
from extensions import db
from models import User
from models.base import ID_MAX
from models.conversation import Conversation, ConversationStatus, Visitor
from services.events import conversation_stream, last_pos, notes_stream, user_stream, visitor_stream
from services.core import may_see


def load_principal(kind, principal_id):
    """The user ("user") or visitor ("visitor") again, read fresh; None when their session is revoked.

    A deleted or deactivated user is None, so they lose access at once.
    """
    if kind == "user":
        user = db.session.get(User, principal_id)
        return user if user is not None and user.is_active else None
    return db.session.get(Visitor, principal_id)


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
    # A conversation's notes are private: never a visitor's, their own chat's neither.
    if kind == "conversation" or (kind == "notes" and isinstance(principal, User)):
        conversation = db.session.get(Conversation, object_id)
        if conversation is not None and may_see(principal, conversation):
            return stream
    raise NotFound("Unknown stream")


def held_streams(user):
    """The streams of the chats the user holds now (active, theirs) and of their notes: followed unasked."""
    ids = db.session.scalars(select(Conversation.id).where(
        Conversation.agent_id == user.id, Conversation.status == ConversationStatus.ACTIVE)
        .order_by(Conversation.id)).all()
    return [stream for conversation_id in ids
            for stream in (conversation_stream(conversation_id), notes_stream(conversation_id))]


def default_streams(principal):
    """The streams a socket follows from its start: a user's own and held chats; a visitor's own and latest chat."""
    if isinstance(principal, User):
        return [user_stream(principal.id), *held_streams(principal)]
    latest = db.session.scalar(select(Conversation.id).where(Conversation.visitor_id == principal.id)
                               .order_by(Conversation.id.desc()).limit(1))
    own = [visitor_stream(principal.id)]
    return [conversation_stream(latest), *own] if latest is not None else own


def stream_heads(streams):
    """{stream: its last position} for the given streams, in their order (0 for a stream without events)."""
    return {stream: last_pos(stream) for stream in streams}
