"""Configuration from the environment, with defaults that run on one machine."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name, default):
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def _env_list(name, default=()):
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def instance_secret(name, instance_dir=INSTANCE_DIR):
    """Read a secret kept in instance/, creating it once so every worker agrees."""
    instance_dir = Path(instance_dir)
    instance_dir.mkdir(parents=True, exist_ok=True)
    path = instance_dir / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _normalise_db_url(url):
    # Heroku-style URLs and bare "postgresql://" both mean psycopg 3 here.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


class Config:
    """Production-shaped configuration; every value can come from the environment."""

    TESTING = False
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'livechat.db'}")
    )
    # DB_POOL_SIZE / DB_MAX_OVERFLOW: connections each server process keeps open, and how many more it may
    # open in a burst (closed after); SQLAlchemy's defaults (5 and 10) when unset.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, **{
        option: int(os.environ[name]) for option, name in (("pool_size", "DB_POOL_SIZE"),
                                                           ("max_overflow", "DB_MAX_OVERFLOW"))
        if os.environ.get(name)}}
    REDIS_URL = os.environ.get("REDIS_URL") or None
    # Redis channels are shared by every database of a server: deployments sharing one Redis need their own.
    BROKER_PREFIX = os.environ.get("BROKER_PREFIX") or "livechat"

    # An explicit secret wins; otherwise one is generated once in instance/.
    JWT_SECRET_KEY = os.environ.get("JWT_SECRET_KEY") or None
    JWT_ACCESS_TOKEN_EXPIRES = timedelta(seconds=_env_int("ACCESS_TOKEN_TTL_S", 15 * 60))
    JWT_REFRESH_TOKEN_EXPIRES = timedelta(seconds=_env_int("REFRESH_TOKEN_TTL_S", 30 * 24 * 3600))
    JWT_TOKEN_LOCATION = ["headers"]
    JWT_ERROR_MESSAGE_KEY = "message"

    PUBLIC_URL = os.environ.get("PUBLIC_URL", "http://localhost:5000").rstrip("/")
    # "fast" is for test servers only: cheap hashes, never in production.
    PASSWORD_HASH_PROFILE = os.environ.get("PASSWORD_HASH_PROFILE", "default")
    INVITATION_TTL_S = _env_int("INVITATION_TTL_S", 72 * 3600)
    MAX_CONTENT_LENGTH = _env_int("MAX_CONTENT_LENGTH", 256 * 1024)

    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _env_int("MAIL_PORT", 25)
    MAIL_USE_TLS = _env_bool("MAIL_USE_TLS", False)
    MAIL_USE_SSL = _env_bool("MAIL_USE_SSL", False)
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "Live chat <no-reply@localhost>")
    MAIL_TIMEOUT_S = _env_int("MAIL_TIMEOUT_S", 10)
    # The in-process sender drains the outbox; turn it off where a separate
    # `flask outbox send --loop` does the job.
    OUTBOX_SENDER_THREAD = _env_bool("OUTBOX_SENDER_THREAD", True)
    OUTBOX_POLL_S = _env_int("OUTBOX_POLL_S", 5)
    OUTBOX_MAX_ATTEMPTS = _env_int("OUTBOX_MAX_ATTEMPTS", 12)
    OUTBOX_BACKOFF_BASE_S = _env_int("OUTBOX_BACKOFF_BASE_S", 5)
    OUTBOX_BACKOFF_MAX_S = _env_int("OUTBOX_BACKOFF_MAX_S", 3600)

    # Expires live requests whose deadline passed; idempotent, so every worker may run it.
    SWEEPER_THREAD = _env_bool("SWEEPER_THREAD", True)
    SWEEP_INTERVAL_S = float(os.environ.get("SWEEP_INTERVAL_S", "1"))
    # An agent whose dashboard sockets are all gone this long counts as offline.
    PRESENCE_GRACE_S = _env_int("PRESENCE_GRACE_S", 60)
    PRESENCE_REFRESH_S = _env_int("PRESENCE_REFRESH_S", 15)
    # A visitor whose widget sockets are all gone this long has left: their waiting request is abandoned and
    # their agent is told. A chat with an agent closes once the visitor has been gone VISITOR_IDLE_TIMEOUT_S.
    VISITOR_PRESENCE_GRACE_S = _env_int("VISITOR_PRESENCE_GRACE_S", 60)
    VISITOR_IDLE_TIMEOUT_S = _env_int("VISITOR_IDLE_TIMEOUT_S", 600)

    # ICE servers handed to the two browsers of a video call. STUN: e.g. "stun:stun.example.com:3478".
    # TURN is offered only with a shared secret (coturn's static-auth-secret): each
    # participant gets credentials that expire after TURN_TTL_S.
    STUN_URLS = _env_list("STUN_URLS")
    TURN_URLS = _env_list("TURN_URLS")
    TURN_SECRET = os.environ.get("TURN_SECRET") or None
    TURN_TTL_S = _env_int("TURN_TTL_S", 3600)
    # A call still ringing this long (not accepted, or never answered by the browsers) ends.
    CALL_RING_TIMEOUT_S = _env_int("CALL_RING_TIMEOUT_S", 120)

    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    # X-RateLimit-* go on every limited answer; Retry-After only with 429 and 503 (app.py strips it elsewhere).
    RATELIMIT_HEADERS_ENABLED = True
    # Redis away: limits are counted in each process's memory until it answers again, so the widget and
    # login keep working (Flask-Limiter logs the switch once, and checks Redis again with a growing pause).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # A Redis that does not answer must not hold a request: a limit check gives up after a second.
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
    LOGIN_LIMIT_PER_ADDRESS = os.environ.get("LOGIN_LIMIT_PER_ADDRESS", "20/minute")
    LOGIN_LIMIT_PER_ACCOUNT = os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5/minute;20/hour")
    SET_PASSWORD_LIMIT_PER_ADDRESS = os.environ.get("SET_PASSWORD_LIMIT_PER_ADDRESS", "10/minute")

    WIDGET_LIMIT_PER_ADDRESS = os.environ.get("WIDGET_LIMIT_PER_ADDRESS", "300/minute")
    WIDGET_LIMIT_PER_VISITOR = os.environ.get("WIDGET_LIMIT_PER_VISITOR", "120/minute")
    SOCK_SERVER_OPTIONS = {"ping_interval": _env_int("SOCKET_PING_S", 25), "max_message_size": 64 * 1024}

    # Origins of the admin and agent single-page apps (the widget has its own
    # per-interface list).
    CORS_ORIGINS = _env_list("CORS_ORIGINS", ["http://localhost:3000"])

    API_TITLE = "Live chat API"
    API_VERSION = "1.0.0"
    OPENAPI_VERSION = "3.0.3"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    OPENAPI_SWAGGER_UI_URL = "https://cdn.jsdelivr.net/npm/swagger-ui-dist/"
    OPENAPI_REDOC_PATH = "/redoc"
    OPENAPI_REDOC_URL = "https://cdn.jsdelivr.net/npm/redoc@next/bundles/redoc.standalone.js"
    API_SPEC_OPTIONS = {
        "info": {
            "description": "Live chat, video chat and human takeover for chat interfaces. "
            "Every error has the JSON shape {code, status, message, errors}.",
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "A user's access token (refresh token for /api/auth/refresh)"},
                "visitorToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": "The visitor token returned when the widget opens"},
            }
        },
    }


class TestConfig(Config):
    """Configuration for the test suite: a throwaway database, no background threads."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    JWT_SECRET_KEY = "test-secret-not-for-production-use-0123456789"
    OUTBOX_SENDER_THREAD = False
    SWEEPER_THREAD = False
    RATELIMIT_STORAGE_URI = "memory://"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 1  # nothing listens here unless a test starts an SMTP server
    MAIL_TIMEOUT_S = 2
    PUBLIC_URL = "http://testserver"
