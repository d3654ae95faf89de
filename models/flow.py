"""Conversation flows: the ordered components of a chat interface."""
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, enum_type, utcnow

LABEL_MAX_LEN = 40
MESSAGE_MAX_LEN = 2000
NAME_MAX_LEN = 120


class ComponentType(StrEnum):
    MESSAGE = "message"
    LIVE_CHAT = "live_chat"


class ButtonStyle(StrEnum):
    PRIMARY = "primary"
    SECONDARY = "secondary"
    OUTLINE = "outline"


class FormFieldType(StrEnum):
    TEXT = "text"
    EMAIL = "email"
    PHONE = "phone"
    TEXTAREA = "textarea"
    SELECT = "select"
    CHECKBOX = "checkbox"


class Stage(StrEnum):
    """The moments at which a component shows something."""

    START = "start"            # the flow reaches the component
    WELCOME = "welcome"        # the visitor asked for a live or video chat
    ASSIGNED = "assigned"      # an agent accepted the live chat request
    VIDEO_CHAT = "video_chat"  # an agent accepted the video chat request
    TAKEOVER = "takeover"      # an agent took the conversation over
    OFFLINE = "offline"        # no agent online, or nobody answered in time
    THANK_YOU = "thank_you"    # the visitor sent the offline form
    REQUEUED = "requeued"      # the agent left (offline, deleted): the chat waits in the queue again
    OUTSIDE_HOURS = "outside_hours"  # asked outside the interface's business hours


class Action(StrEnum):
    """What pressing a button does."""

    NEXT = "next"
    COMPONENT = "component"
    LIVE_CHAT = "live_chat"
    VIDEO_CHAT = "video_chat"
    SKIP = "skip"
    BACK = "back"


class Component(db.Model):
    """One step of an interface's flow; `config` is the full normalised configuration of its type."""

    __tablename__ = "components"
    __table_args__ = (
        # NULL names repeat freely on every database; a given name is used once per flow.
        UniqueConstraint("interface_id", "name"),
        Index("ix_components_interface_id_position", "interface_id", "position"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"))
    # Dense 0..n-1 within the interface; changed only by set-based UPDATEs, so a
    # move never bumps `version` (the ETag covers type, name and config).
    position: Mapped[int] = mapped_column(Integer)
    type: Mapped[ComponentType] = mapped_column(enum_type(ComponentType))
    name: Mapped[str | None] = mapped_column(String(NAME_MAX_LEN))
    config: Mapped[dict] = mapped_column(JSON)
    # Optimistic locking: every ORM UPDATE says WHERE version = <read version>.
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    interface = relationship("Interface")

    __mapper_args__ = {"version_id_col": version}
