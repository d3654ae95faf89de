"""Canned responses: texts agents insert with a shortcut, shared by the workspace or personal to one user."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, utcnow

SHORTCUT_MAX_LEN = 32
SHORTCUT_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
CANNED_TEXT_MAX_LEN = 4000


class CannedScope(StrEnum):
    SHARED = "shared"      # the workspace's: admins manage them, every user reads them
    PERSONAL = "personal"  # one user's own: nobody else sees them


class CannedResponse(db.Model):
    __tablename__ = "canned_responses"
    __table_args__ = (
        # A shortcut names one shared response per workspace and one personal response per owner; NULL owners
        # never collide in a plain unique index, so each kind has its own partial one.
        Index("uq_canned_responses_shared_shortcut", "workspace_id", "shortcut", unique=True,
              postgresql_where=text("owner_id IS NULL"), sqlite_where=text("owner_id IS NULL")),
        Index("uq_canned_responses_personal_shortcut", "owner_id", "shortcut", unique=True,
              postgresql_where=text("owner_id IS NOT NULL"), sqlite_where=text("owner_id IS NOT NULL")),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    # None: shared by the workspace; otherwise the one user who owns (and alone sees) it.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shortcut: Mapped[str] = mapped_column(String(SHORTCUT_MAX_LEN))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def scope(self):
        return CannedScope.SHARED if self.owner_id is None else CannedScope.PERSONAL
