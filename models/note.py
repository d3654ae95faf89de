"""Private notes: what agents and admins write to each other in a conversation, never shown to its visitor."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, UTCDateTime, utcnow
from models.event import BigId

NOTE_MAX_LEN = 4000
MENTIONS_MAX = 20
# What a mention notification quotes of the note.
NOTE_EXCERPT_LEN = 140


class Note(db.Model):
    # A table of its own, never messages: whatever reads a visitor's history cannot come across a note.
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_conversation_id_id", "conversation_id", "id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # Kept as written: the note outlives its author's account.
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    author_name: Mapped[str | None] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    # The ids of the users the note mentions (each told on their user stream).
    mentions: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
