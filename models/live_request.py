"""Live requests (a visitor asks for a human), agent notifications, offline form submissions."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, enum_type, utcnow


class RequestKind(StrEnum):
    TEXT = "text"
    VIDEO = "video"


class RequestStatus(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    EXPIRED = "expired"      # nobody accepted before the deadline
    OFFLINE = "offline"      # nobody was available when asked
    CANCELLED = "cancelled"  # the visitor changed their mind
    ABANDONED = "abandoned"  # the visitor's sockets were gone past the grace period before an agent took it
    OUTSIDE_HOURS = "outside_hours"  # asked outside the interface's business hours: no agent was asked


class NotificationType(StrEnum):
    NEW_CHAT_INITIATED = "new_chat_initiated"
    LIVE_CHAT_REQUEST = "live_chat_request"
    VIDEO_CHAT_REQUEST = "video_chat_request"


class NotificationStatus(StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"      # this agent took it
    WITHDRAWN = "withdrawn"  # someone else took it, or it expired or was cancelled


class WithdrawReason(StrEnum):
    """Why a notification stopped being pending: every value notification.withdrawn carries."""

    CLAIMED = "claimed"                        # an agent accepted the request (theirs is claimed)
    EXPIRED = "expired"                        # nobody accepted before the deadline
    CANCELLED = "cancelled"                    # the visitor withdrew the request
    ABANDONED = "abandoned"                    # the visitor left (no socket past the grace period)
    TAKEN_OVER = "taken_over"                  # an agent took the bot conversation over
    ENDED = "ended"                            # the chat was ended
    AGENT_OFFLINE = "agent_offline"            # this agent went offline (or was absent past the grace period)
    AGENT_DELETED = "agent_deleted"            # this agent was deleted
    AGENT_DEACTIVATED = "agent_deactivated"    # this agent was deactivated
    AGENT_ROLE_CHANGED = "agent_role_changed"  # this agent's role changed


class LiveRequest(db.Model):
    __tablename__ = "live_requests"
    __table_args__ = (
        # One pending request per conversation, decided by the database.
        Index("uq_live_requests_pending_conversation", "conversation_id", unique=True,
              postgresql_where=text("status = 'pending'"), sqlite_where=text("status = 'pending'")),
        Index("ix_live_requests_status_deadline", "status", "deadline_at"),
        Index("ix_live_requests_interface_status", "interface_id", "status"),
        # The reports read a workspace's requests by when they were made.
        Index("ix_live_requests_workspace_created", "workspace_id", "created_at"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="SET NULL"))
    kind: Mapped[RequestKind] = mapped_column(enum_type(RequestKind))
    status: Mapped[RequestStatus] = mapped_column(enum_type(RequestStatus), default=RequestStatus.PENDING)
    deadline_at: Mapped[datetime] = mapped_column(UTCDateTime())
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    conversation = relationship("Conversation")


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_status", "user_id", "status"),
                      Index("ix_notifications_resolved_at", "resolved_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[NotificationType] = mapped_column(enum_type(NotificationType, length=24))
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("live_requests.id", ondelete="CASCADE"), index=True)
    status: Mapped[NotificationStatus] = mapped_column(enum_type(NotificationStatus),
                                                      default=NotificationStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OfflineSubmission(db.Model):
    """A filled offline form: stored before anything else, then e-mailed."""

    __tablename__ = "offline_submissions"
    # The reports read a workspace's submissions by when they were made.
    __table_args__ = (Index("ix_offline_submissions_workspace_created", "workspace_id", "created_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    # One submission per request: a second answers 409.
    request_id: Mapped[int] = mapped_column(ForeignKey("live_requests.id", ondelete="CASCADE"), unique=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="SET NULL"))
    data: Mapped[dict] = mapped_column(JSON)
    recipients: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
