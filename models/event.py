"""The durable event log: every state change a client must hear, by stream."""
from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, UTCDateTime, utcnow

# BigInteger ids that are still INTEGER PRIMARY KEY (rowid) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Stream(db.Model):
    """The last position handed out in a stream.

    Positions are taken with an UPDATE of this row inside the transaction that
    writes the event, so a second writer waits for the first to commit:
    positions become visible in order, with no gaps, and a resume cannot skip
    a late commit (ids from a sequence could commit out of order).
    """

    __tablename__ = "streams"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_pos: Mapped[int] = mapped_column(BigInteger, default=0)


class Event(db.Model):
    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("stream", "pos"), Index("ix_events_created_at", "created_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    stream: Mapped[str] = mapped_column(String(64))
    pos: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(48))
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def to_frame(self):
        return event_frame(self.type, self.stream, self.pos, self.payload, self.created_at.isoformat())


def event_frame(event_type, stream, pos, data, at):
    """The frame of an event row (`at`: its created_at in ISO 8601), live or replayed: one shape for both."""
    return {"type": str(event_type), "stream": stream, "pos": pos, "data": data, "at": at}
