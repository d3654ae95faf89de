"""The tenant: every other row belongs to one workspace."""
from datetime import datetime

from sqlalchemy import Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, UTCDateTime, utcnow


class Workspace(db.Model):
    __tablename__ = "workspaces"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    # Closed conversations older than this many days are erased by the retention worker (None: kept forever).
    retention_days: Mapped[int | None] = mapped_column(Integer)
    # An IANA zone name: the reports' days are this zone's days.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default=text("'UTC'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
