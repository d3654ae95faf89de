"""Chat interfaces (widgets): public key, allowed origins, routing settings."""
import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import NO_ID_REUSE, StrEnum, UTCDateTime, enum_type, utcnow
from models.user import interface_agents

REQUEST_TIMEOUT_DEFAULT_S = 60
REQUEST_TIMEOUT_MIN_S = 10
REQUEST_TIMEOUT_MAX_S = 3600
VIDEO_WEIGHT_DEFAULT = 1
VIDEO_WEIGHT_MAX = 10
# Business hours: time ranges a day, exception dates, the zone name's length (IANA names are shorter).
HOURS_RANGES_MAX = 6
HOURS_EXCEPTIONS_MAX = 366
TIMEZONE_MAX_LEN = 64
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class RoutingMode(StrEnum):
    BROADCAST = "broadcast"
    LEAST_BUSY = "least_busy"


def new_public_key():
    return "pk_" + secrets.token_urlsafe(24)


IDENTITY_SECRET_LEN = 64


def new_identity_secret():
    """The key a site signs its users' ids with (HMAC-SHA256): 256 random bits, hex."""
    return secrets.token_hex(IDENTITY_SECRET_LEN // 2)


class Interface(db.Model):
    __tablename__ = "interfaces"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    public_key: Mapped[str] = mapped_column(String(64), unique=True, default=new_public_key)
    allowed_origins: Mapped[list] = mapped_column(JSON, default=list)
    request_timeout_s: Mapped[int] = mapped_column(Integer, default=REQUEST_TIMEOUT_DEFAULT_S)
    routing_mode: Mapped[RoutingMode] = mapped_column(
        enum_type(RoutingMode), default=RoutingMode.BROADCAST,
    )
    # How many chats a video chat counts as against an agent's max chats.
    video_weight: Mapped[int] = mapped_column(Integer, default=VIDEO_WEIGHT_DEFAULT)
    # Signs visitor identities (services/visitor_identity.py); admins read and rotate it, nobody else.
    identity_secret: Mapped[str] = mapped_column(String(IDENTITY_SECRET_LEN), default=new_identity_secret)
    # What the widget asks before a live or video request: {"enabled": bool, "fields": [...]}; None: no form.
    prechat_form: Mapped[dict | None] = mapped_column(JSON)
    # When live and video requests reach agents (services/business_hours.py); None: always.
    business_hours: Mapped[dict | None] = mapped_column(JSON)
    # Mail the transcript to the visitor when the chat ends, if the site verified their e-mail.
    transcript_auto_send: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    agents = relationship("User", secondary=interface_agents, back_populates="interfaces", order_by="User.id")

    @property
    def agent_ids(self):
        return [agent.id for agent in self.agents]
