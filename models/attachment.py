"""Files uploaded into a conversation, and the stored files waiting to be removed."""
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, enum_type, utcnow
from models.event import BigId

FILENAME_MAX_LEN = 255
STORAGE_KEY_MAX_LEN = 128
# How many files one message may carry.
MESSAGE_ATTACHMENTS_MAX = 10


class UploaderType(StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"


class Attachment(db.Model):
    """One uploaded file: unattached until a message of its uploader carries it."""

    __tablename__ = "attachments"
    __table_args__ = (
        Index("ix_attachments_conversation_id", "conversation_id"),
        # A message's files, and the old uploads no message carries (the retention worker).
        Index("ix_attachments_unsent", "message_id", "created_at"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("messages.id", ondelete="SET NULL"))
    uploader_type: Mapped[UploaderType] = mapped_column(enum_type(UploaderType))
    # A visitor's id or a user's id, as uploader_type says (no foreign key: either table).
    uploader_id: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(FILENAME_MAX_LEN))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(STORAGE_KEY_MAX_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StoredFileDeletion(db.Model):
    """A stored file whose row is gone (or going): removed after the commit, retried by the retention worker."""

    __tablename__ = "stored_file_deletions"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    storage_key: Mapped[str] = mapped_column(String(STORAGE_KEY_MAX_LEN))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
