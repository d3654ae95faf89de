"""Ratings: what a visitor thought of a chat once it ended (CSAT)."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, UTCDateTime, utcnow

SCORE_MIN, SCORE_MAX = 1, 5
RATING_COMMENT_MAX_LEN = 1000


class Rating(db.Model):
    __tablename__ = "ratings"
    __table_args__ = (
        CheckConstraint(f"score BETWEEN {SCORE_MIN} AND {SCORE_MAX}", name="ck_ratings_score"),
        # The reports' reads: an interface's or an agent's ratings over a period.
        Index("ix_ratings_workspace_created", "workspace_id", "created_at"),
        Index("ix_ratings_agent_created", "agent_id", "created_at"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"), index=True)
    # One rating per conversation, decided by the database: a second answers 409.
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), unique=True)
    visitor_id: Mapped[int | None] = mapped_column(ForeignKey("visitors.id", ondelete="SET NULL"), index=True)
    # The agent who had the chat when it ended.
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    score: Mapped[int] = mapped_column(SmallInteger)
    # Personal data: what the visitor wrote about the chat (None: nothing).
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
