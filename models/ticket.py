"""Short-lived, single-use tickets that open a WebSocket."""
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, TOKEN_KEY_LEN, UTCDateTime, utcnow


class SocketTicket(db.Model):
    __tablename__ = "socket_tickets"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # "user" or "visitor"
    subject_id: Mapped[int] = mapped_column(Integer)
    token_version: Mapped[int | None] = mapped_column(Integer)
    # The subject's token_key: the ticket opens nothing for a later row with the same id.
    subject_key: Mapped[str] = mapped_column(String(TOKEN_KEY_LEN))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
