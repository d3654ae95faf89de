"""Shared column types and helpers for the models."""
import enum
import secrets
from datetime import datetime, timezone

from sqlalchemy import DateTime, Enum, TypeDecorator


# Table option for every table whose ids leave the database (tokens, tickets,
# URLs, links, events): SQLite hands the id of a deleted newest row to the next
# row unless the table says AUTOINCREMENT; PostgreSQL sequences never go back.
NO_ID_REUSE = {"sqlite_autoincrement": True}

TOKEN_KEY_LEN = 32


def utcnow():
    return datetime.now(timezone.utc)


def new_token_key():
    """128 random bits, hex: what binds tokens, tickets and links to one user or visitor."""
    return secrets.token_hex(TOKEN_KEY_LEN // 2)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes on every database (SQLite keeps no zone)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class StrEnum(str, enum.Enum):
    """Wire values that compare equal to their strings."""

    def __str__(self):
        return self.value

    @classmethod
    def values(cls):
        return [member.value for member in cls]


def enum_type(enum_cls, length=16):
    """A VARCHAR enum storing the wire values (no native enum: migrations stay simple)."""
    return Enum(enum_cls, native_enum=False, length=length, values_callable=lambda cls: [m.value for m in cls],
                validate_strings=True)


# The range of every id a client can name: ids are INTEGER columns, 32-bit on PostgreSQL, so a larger number
# names nothing (and would overflow the driver).
ID_MAX = 2**31 - 1
# Stream positions and message seqs are BIGINT columns.
BIGINT_MAX = 2**63 - 1
