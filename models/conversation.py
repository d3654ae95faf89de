"""Visitors, their conversations and the messages in them."""
from datetime import datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, inspect, text,
)
from sqlalchemy.orm import Mapped, mapped_column, query_expression, relationship

from extensions import db
from models.base import NO_ID_REUSE, TOKEN_KEY_LEN, StrEnum, UTCDateTime, enum_type, new_token_key, utcnow
from models.event import BigId

MESSAGE_MAX_LEN = 4000
CLIENT_ID_MAX_LEN = 64
# What a site may tell us about its visitor (services/visitor_identity.py).
VISITOR_NAME_MAX_LEN = 120
VISITOR_EMAIL_MAX_LEN = 254
EXTERNAL_ID_MAX_LEN = 128
ATTRIBUTES_MAX = 20
ATTRIBUTE_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,40}$"
ATTRIBUTE_VALUE_MAX_LEN = 500


class ConversationStatus(StrEnum):
    BOT = "bot"            # the flow is talking
    WAITING = "waiting"    # a live request is pending
    ACTIVE = "active"      # an agent has it
    CLOSED = "closed"


# What an agent's dashboard lists: "mine" (open with me), one of the statuses, or "all".
DASHBOARD_SCOPES = ("mine", "waiting", "bot", "active", "closed", "all")


class SenderType(StrEnum):
    VISITOR = "visitor"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class Visitor(db.Model):
    __tablename__ = "visitors"
    __table_args__ = (
        # A verified visitor is the site's user: one visitor per user and interface, decided by the database.
        # Anonymous visitors have no external id (NULLs never collide).
        Index("uq_visitors_interface_external_id", "interface_id", "external_id", unique=True),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(VISITOR_NAME_MAX_LEN))
    email: Mapped[str | None] = mapped_column(String(VISITOR_EMAIL_MAX_LEN))
    # True only for an e-mail the site signed along with the visitor's identity; a typed one is contact data.
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The site's user id, set only from a valid identity hash: a visitor with one is verified.
    external_id: Mapped[str | None] = mapped_column(String(EXTERNAL_ID_MAX_LEN))
    # Free key/value strings from the site or the pre-chat form (None: none yet).
    attributes: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Refreshed by the visitor's sockets while one is open; None: no socket yet (a REST-only client is
    # never judged absent). absent_at: when the sweeper found them gone past the grace period.
    presence_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    absent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Random and never given to another visitor: visitor tokens and socket
    # tickets carry it (see users.token_key).
    token_key: Mapped[str] = mapped_column(String(TOKEN_KEY_LEN), default=new_token_key)
    # Set when the visitor's personal data was erased: the row stays as a pseudonymous shell.
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    interface = relationship("Interface")

    @property
    def verified(self):
        return self.external_id is not None


class Conversation(db.Model):
    __tablename__ = "conversations"
    __table_args__ = (
        # One open conversation per visitor, decided by the database.
        Index("uq_conversations_open_visitor", "visitor_id", unique=True,
              postgresql_where=text("status <> 'closed'"), sqlite_where=text("status <> 'closed'")),
        Index("ix_conversations_interface_status", "interface_id", "status"),
        # The dashboard's order (newest first) within a workspace: a page is read off it without a sort.
        Index("ix_conversations_workspace_updated", "workspace_id", "updated_at", "id"),
        # The retention worker's search: closed conversations not yet erased, oldest first.
        Index("ix_conversations_closed_unerased", "closed_at",
              postgresql_where=text("erased_at IS NULL"), sqlite_where=text("erased_at IS NULL")),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    interface_id: Mapped[int] = mapped_column(ForeignKey("interfaces.id", ondelete="CASCADE"))
    visitor_id: Mapped[int] = mapped_column(ForeignKey("visitors.id", ondelete="CASCADE"))
    status: Mapped[ConversationStatus] = mapped_column(enum_type(ConversationStatus), default=ConversationStatus.BOT)
    # Where the flow stands: the id of the current component (None: not started or past the end).
    component_id: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # "text" or "video": what the agent took it as.
    channel: Mapped[str] = mapped_column(String(8), default="text")
    # What this chat counts against its agent's max chats (a video chat may count more).
    weight: Mapped[int] = mapped_column(Integer, default=1)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Read positions: the last seq each side has seen.
    visitor_read_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    agent_read_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    initiated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when its messages, files, forms and notes were redacted (services/data_protection.py).
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Visitor messages past agent_read_seq; loaded only by the agents' reads (services/dashboard.py), else None.
    unread_count: Mapped[int | None] = query_expression()

    visitor = relationship("Visitor")
    interface = relationship("Interface")
    agent = relationship("User")
    # The visitor's rating once the chat ended (None: none); the agents' reads load it (services/dashboard.py).
    rating = relationship("Rating", uselist=False, viewonly=True)

    @property
    def agent_name(self):
        """The name of the agent holding or who last held the chat (None: no agent yet, or they were deleted)."""
        return self.agent.name if self.agent_id is not None and self.agent is not None else None

    @property
    def loaded_rating(self):
        """The rating when the query loaded it; AttributeError otherwise, so a shape without it omits it."""
        if "rating" in inspect(self).unloaded:
            raise AttributeError("loaded_rating")
        return self.rating


class Message(db.Model):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        # A retried send with the same client id finds the first one.
        UniqueConstraint("conversation_id", "sender_type", "client_id"),
        NO_ID_REUSE,
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    sender_type: Mapped[SenderType] = mapped_column(enum_type(SenderType))
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    sender_name: Mapped[str | None] = mapped_column(String(120))
    client_id: Mapped[str | None] = mapped_column(String(CLIENT_ID_MAX_LEN))
    text: Mapped[str] = mapped_column(Text, default="")
    # What came with a bot message: buttons, a form, the component it belongs to.
    data: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
