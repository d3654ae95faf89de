"""Webhook endpoints of a workspace and the deliveries queued for them (Standard Webhooks)."""
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, utcnow
from models.event import BigId

WEBHOOK_URL_MAX_LEN = 2048
WEBHOOK_DESCRIPTION_MAX_LEN = 500
WEBHOOK_SECRET_MAX_LEN = 100
RESPONSE_EXCERPT_MAX_BYTES = 1024


class WebhookEventType(StrEnum):
    """What an endpoint can subscribe to. Each has a bit in WebhookEndpoint.event_mask, fixed forever."""

    CONVERSATION_STARTED = "conversation.started"
    CONVERSATION_ASSIGNED = "conversation.assigned"
    CONVERSATION_ENDED = "conversation.ended"
    MESSAGE_CREATED = "message.created"
    OFFLINE_FORM_SUBMITTED = "offline_form.submitted"
    RATING_CREATED = "rating.created"
    CALL_STARTED = "call.started"
    CALL_ENDED = "call.ended"


# The bit of each event type in event_mask: the order above, never renumbered.
EVENT_BITS = {event_type.value: 1 << index for index, event_type in enumerate(WebhookEventType)}


def event_mask_of(event_types):
    mask = 0
    for event_type in event_types:
        mask |= EVENT_BITS[str(event_type)]
    return mask


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its first attempt or a retry
    DELIVERED = "delivered"  # the endpoint answered 2xx
    FAILED = "failed"  # gave up after the maximum number of attempts, or could not be sent at all


class WebhookEndpoint(db.Model):
    __tablename__ = "webhook_endpoints"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(WEBHOOK_URL_MAX_LEN))
    description: Mapped[str] = mapped_column(String(WEBHOOK_DESCRIPTION_MAX_LEN), default="")
    # One bit per WebhookEventType (EVENT_BITS): the hot path filters with one AND on every database.
    event_mask: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why the server turned it off ("failing"); None when an admin did, or while enabled.
    disabled_reason: Mapped[str | None] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(String(WEBHOOK_SECRET_MAX_LEN))
    # After a rotation the old secret signs too until previous_secret_until.
    previous_secret: Mapped[str | None] = mapped_column(String(WEBHOOK_SECRET_MAX_LEN))
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    @property
    def event_types(self):
        return [value for value, bit in EVENT_BITS.items() if self.event_mask & bit]


class WebhookDelivery(db.Model):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_status_next_attempt_at", "status", "next_attempt_at"),
                      Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
                      Index("ix_webhook_deliveries_created_at", "created_at"),
                      Index("ix_webhook_deliveries_conversation_id", "conversation_id"), NO_ID_REUSE)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    # The conversation the event is about (no foreign key: a delivery outlives nothing, but erasing a
    # visitor's conversations finds their payloads by it).
    conversation_id: Mapped[int | None] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(32))
    # The webhook-id header: the same on every attempt and redelivery, so receivers can drop duplicates.
    webhook_id: Mapped[str] = mapped_column(String(40))
    # The exact body sent on every attempt: {type, timestamp, data}, serialised once.
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)
    # A sender leases a row before sending so two senders never send it at once.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
