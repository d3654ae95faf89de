"""Calls: the video part of a conversation, from ringing to ended."""
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, enum_type, utcnow

END_REASON_MAX_LEN = 32


class CallStatus(StrEnum):
    RINGING = "ringing"  # set up; waiting for the visitor's consent or the SDP answer
    ACTIVE = "active"    # the answer went through: both browsers agreed on the media
    ENDED = "ended"


class CallSide(StrEnum):
    VISITOR = "visitor"
    AGENT = "agent"
    SYSTEM = "system"  # ended by the product: the chat ended, was transferred or requeued


class CallEndReason(StrEnum):
    HANGUP = "hangup"
    DECLINED = "declined"
    FALLBACK_TO_TEXT = "fallback_to_text"
    CONNECTION_LOST = "connection_lost"    # a side's sockets were gone past the grace period
    NO_ANSWER = "no_answer"                # still ringing when the ring timeout passed
    CONVERSATION_ENDED = "conversation_ended"
    HANDED_BACK = "handed_back"
    TRANSFERRED = "transferred"
    REQUEUED = "requeued"


class Call(db.Model):
    __tablename__ = "calls"
    __table_args__ = (
        # One live call per conversation, decided by the database.
        Index("uq_calls_live_conversation", "conversation_id", unique=True,
              postgresql_where=text("status <> 'ended'"), sqlite_where=text("status <> 'ended'")),
        Index("ix_calls_status", "status"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"), index=True)
    status: Mapped[CallStatus] = mapped_column(enum_type(CallStatus), default=CallStatus.RINGING)
    initiated_by: Mapped[CallSide] = mapped_column(enum_type(CallSide))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # When the callee agreed: at once for a visitor's request an agent accepted,
    # when the visitor accepts for a video chat the agent offered.
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[CallSide | None] = mapped_column(enum_type(CallSide))
    end_reason: Mapped[str | None] = mapped_column(String(END_REASON_MAX_LEN))
    # Seconds from answered_at to ended_at; 0 for a call that never became active.
    duration_s: Mapped[int | None] = mapped_column(Integer)
    # Refreshed by the visitor's sockets while the call is live (an agent's by users.presence_seen_at).
    visitor_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    conversation = relationship("Conversation")
