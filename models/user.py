"""Users (admins and agents) and their interface assignments."""
from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import NO_ID_REUSE, TOKEN_KEY_LEN, StrEnum, UTCDateTime, enum_type, new_token_key, utcnow

MAX_CHATS_MIN = 1
MAX_CHATS_MAX = 50
PASSWORD_MIN_LEN = 10
PASSWORD_MAX_LEN = 128


class Role(StrEnum):
    ADMIN = "admin"
    AGENT = "agent"


class Availability(StrEnum):
    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class SessionEndReason(StrEnum):
    """Why a user's sessions ended at once (session.revoked)."""

    DELETED = "deleted"
    DEACTIVATED = "deactivated"
    ROLE_CHANGED = "role_changed"


interface_agents = Table(
    "interface_agents",
    db.metadata,
    Column("interface_id", Integer, ForeignKey("interfaces.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(db.Model):
    __tablename__ = "users"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # Stored lower-cased; one login per address across the product.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    role: Mapped[Role] = mapped_column(enum_type(Role))
    max_chats: Mapped[int] = mapped_column(Integer, default=3)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Bumped on delete/demote/password change: every token carrying an older
    # version stops working on its next request.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    # Random and never given to another user: tokens, socket tickets and
    # password links carry it, so a deleted user's never work for a later
    # user who gets the same id.
    token_key: Mapped[str] = mapped_column(String(TOKEN_KEY_LEN), default=new_token_key)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set by the agent; only online agents with room are offered requests.
    availability: Mapped[Availability] = mapped_column(enum_type(Availability), default=Availability.OFFLINE)
    # Refreshed while a dashboard socket is open; stale past the grace period means gone.
    presence_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Round-robin tie-break of automatic routing.
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    workspace = relationship("Workspace")
    interfaces = relationship(
        "Interface", secondary=interface_agents, back_populates="agents", order_by="Interface.id"
    )

    @property
    def interface_ids(self):
        return [interface.id for interface in self.interfaces]

    @property
    def has_password(self):
        return self.password_hash is not None
