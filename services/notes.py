"""Private notes: agents and admins writing to each other inside a conversation.

A note is stored in its own table and announced on the conversation's notes
stream (notes:<id>, services/streams.py lets only users who may see the
conversation follow it), never on the conversation's stream or the visitor's:
nothing a visitor reads (history, socket, replay) can carry one. A mentioned
colleague hears note.mentioned on their user stream, in the same transaction.
"""
from sqlalchemy import select

from errors import NotFound, ValidationFailed
from extensions import db
from models import Note, Role, User
from models.base import utcnow
from models.note import NOTE_EXCERPT_LEN
from schemas.events import EventType
from schemas.notes import NoteSchema
from services.core import access_conversation, member_clause, transaction
from services.events import emit, notes_stream, user_stream
from services.pagination import paginate

_note_schema = NoteSchema()


def dump_note(note):
    return _note_schema.dump(note)


def access_notes(user, conversation_id):
    """A conversation whose notes the user may read and write: a user's reach, never a visitor's (404)."""
    if not isinstance(user, User):
        raise NotFound("Conversation not found")
    return access_conversation(user, conversation_id)


def list_notes(user, conversation_id, page, page_size):
    """The conversation's notes, oldest first."""
    conversation = access_notes(user, conversation_id)
    stmt = select(Note).where(Note.conversation_id == conversation.id).order_by(Note.id)
    return paginate(stmt, page, page_size)


def check_mentions(user, conversation, user_ids):
    """The users named, each an active user of the workspace who may see the conversation; a field error otherwise."""
    user_ids = list(dict.fromkeys(user_ids))
    if not user_ids:
        return []
    found = db.session.scalars(select(User).where(
        User.id.in_(user_ids), User.workspace_id == user.workspace_id, User.is_active,
        (User.role == Role.ADMIN) | member_clause(User.id, conversation.interface_id))).all()
    missing = sorted(set(user_ids) - {row.id for row in found})
    if missing:
        raise ValidationFailed("Some mentioned users cannot see this conversation", errors={"json": {"mentions": [
            f"Unknown, inactive, or not serving this conversation's interface: {missing}"]}})
    by_id = {row.id: row for row in found}
    return [by_id[i] for i in user_ids]


def excerpt(text):
    """A note's start for a notification: one line, at most NOTE_EXCERPT_LEN characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= NOTE_EXCERPT_LEN else flat[:NOTE_EXCERPT_LEN - 1] + "…"


@transaction
def do_create_note(user, conversation_id, text, mentions=()):
    """Write a note in a conversation the user may see; tell its followers and the colleagues it mentions."""
    conversation = access_notes(user, conversation_id)
    mentioned = check_mentions(user, conversation, mentions)
    note = Note(workspace_id=conversation.workspace_id, conversation_id=conversation.id, author_id=user.id,
                author_name=user.name, text=text, mentions=[m.id for m in mentioned], created_at=utcnow())
    db.session.add(note)
    db.session.flush()
    emit(EventType.NOTE_CREATED, {"note": dump_note(note)}, [notes_stream(conversation.id)],
         conversation.workspace_id)
    told = [user_stream(m.id) for m in mentioned if m.id != user.id]  # a mention of yourself is no news
    if told:
        emit(EventType.NOTE_MENTIONED, {"conversation_id": conversation.id, "note_id": note.id, "author_id": user.id,
                                        "author_name": user.name, "excerpt": excerpt(text)},
             told, conversation.workspace_id)
    return note
