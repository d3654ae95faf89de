"""Token revocation and single-use password links."""
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from extensions import db
from models.base import NO_ID_REUSE, TOKEN_KEY_LEN, StrEnum, UTCDateTime, utcnow


class RevokedToken(db.Model):
    """A revoked JWT, kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PasswordTokenPurpose(StrEnum):
    INVITATION = "invitation"
    RESET = "reset"


class PasswordToken(db.Model):
    """A single-use, expiring set-password link; only its hash is stored."""

    __tablename__ = "password_tokens"
    __table_args__ = NO_ID_REUSE

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The user's token_key: the link sets no password of a later user with the same id.
    user_key: Mapped[str] = mapped_column(String(TOKEN_KEY_LEN))
    purpose: Mapped[str] = mapped_column(String(16), default=PasswordTokenPurpose.INVITATION.value)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user = relationship("User")
