"""Who did what to a conversation, and why a request went to whom."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, utcnow
from models.event import BigId


class AuditAction(StrEnum):
    ROUTED = "routed"
    ACCEPTED = "accepted"
    AUTO_ASSIGNED = "auto_assigned"
    TOOK_OVER = "took_over"
    TRANSFERRED = "transferred"
    HANDED_BACK = "handed_back"
    ENDED = "ended"
    REQUEUED = "requeued"
    EXPIRED = "expired"
    ABANDONED = "abandoned"
    IDENTITY_SECRET_ROTATED = "identity_secret_rotated"
    # An admin changed one of the workspace's shared canned responses.
    CANNED_RESPONSE_CREATED = "canned_response_created"
    CANNED_RESPONSE_UPDATED = "canned_response_updated"
    CANNED_RESPONSE_DELETED = "canned_response_deleted"
    BUSINESS_HOURS_CHANGED = "business_hours_changed"
    WEBHOOK_CREATED = "webhook_created"
    WEBHOOK_UPDATED = "webhook_updated"
    WEBHOOK_DELETED = "webhook_deleted"
    WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated"
    WEBHOOK_REDELIVERED = "webhook_redelivered"
    WEBHOOK_DISABLED = "webhook_disabled"  # by the server, after a run of failures
    # Data protection: details name the visitor only as visitor#<id>.
    VISITOR_EXPORTED = "visitor_exported"
    VISITOR_ERASED = "visitor_erased"
    CONVERSATIONS_ERASED = "conversations_erased"  # by the workspace's retention
    RETENTION_CHANGED = "retention_changed"


class AuditEntry(db.Model):
    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_workspace_id_id", "workspace_id", "id"),
                      Index("ix_audit_entries_created_at", "created_at"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(24))
    # Kept as plain values: the record outlives deleted users.
    actor_id: Mapped[int | None] = mapped_column()
    actor_name: Mapped[str | None] = mapped_column(String(120))
    conversation_id: Mapped[int | None] = mapped_column(index=True)
    request_id: Mapped[int | None] = mapped_column()
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
