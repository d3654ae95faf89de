"""Configuration from the environment, with defaults that run on one machine."""
import os
import secrets
from datetime import timedelta
from pathlib import Path

from limits import parse_many

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))


class SettingsError(ValueError):
    """A setting from the environment that cannot be used; the message names the variable."""


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() not in _TRUE | _FALSE:
        raise SettingsError(f"{name}={value!r}: expected one of 1/0, true/false, yes/no, on/off")
    return value.strip().lower() in _TRUE


def _env_int(name, default, minimum=0):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        number = int(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a whole number") from None
    if number < minimum:
        raise SettingsError(f"{name}={value!r}: must be at least {minimum}")
    return number


def _env_float(name, default, minimum=0.0):
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected a number") from None
    if not number >= minimum or number == float("inf"):
        raise SettingsError(f"{name}={value!r}: must be a finite number of at least {minimum}")
    return number


def _env_gc_thresholds(name, default):
    """gc.set_threshold's three numbers, "20000,10,10"."""
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        numbers = tuple(int(part) for part in value.split(","))
    except ValueError:
        numbers = ()
    if len(numbers) != 3 or not 100 <= numbers[0] <= 10_000_000 or not all(1 <= n <= 1000 for n in numbers[1:]):
        raise SettingsError(f"{name}={value!r}: expected three whole numbers such as 20000,10,10 (the first "
                            "from 100 to 10000000, the others from 1 to 1000)")
    return numbers


def _env_urls(name, schemes):
    urls = _env_list(name)
    for url in urls:
        if not url.startswith(schemes):
            raise SettingsError(f"{name}: {url!r} does not start with {' or '.join(schemes)}")
    return urls


def _env_limit(name, default):
    """A rate limit string such as "20/minute;100/hour", checked now rather than at the first request."""
    value = os.environ.get(name) or default
    try:
        parse_many(value)
    except ValueError:
        raise SettingsError(f"{name}={value!r}: expected rate limits such as '20/minute;100/hour'") from None
    return value


def _env_choice(name, default, choices, normalise=str):
    value = normalise(os.environ.get(name) or default)
    if value not in choices:
        raise SettingsError(f"{name}={value!r}: expected one of {', '.join(sorted(choices))}")
    return value


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


DEFAULT_PUBLIC_URL = "http://localhost:5000"
MIN_SECRET_LENGTH = 32


def check_settings(config):
    """Refuse to start a production-shaped server with settings only the embedded default may use.

    The embedded default (SQLite) runs on one machine with nothing set; anything else is a deployment,
    where a generated per-machine JWT secret, links to localhost or cheap password hashes are mistakes.
    """
    if config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    problems = []
    secret = config.get("JWT_SECRET_KEY")
    if not secret:
        problems.append("JWT_SECRET_KEY is not set: every server must sign tokens with the same secret")
    elif len(secret) < MIN_SECRET_LENGTH:
        problems.append(f"JWT_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters")
    if not config.get("PUBLIC_URL") or config["PUBLIC_URL"] == DEFAULT_PUBLIC_URL:
        problems.append("PUBLIC_URL is not set: links in e-mails would point at " + DEFAULT_PUBLIC_URL)
    if config.get("PASSWORD_HASH_PROFILE") == "fast" and not config.get("TEST_SERVER"):
        problems.append("PASSWORD_HASH_PROFILE=fast makes cheap password hashes; it is for test servers only")
    if problems:
        raise SettingsError("Refusing to start outside the embedded default: " + "; ".join(problems))


class Config:
    """Production-shaped configuration; every value can come from the environment."""

    TESTING = False
    SQLALCHEMY_DATABASE_URI = _normalise_db_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'livechat.db'}")
    )
    # DB_POOL_SIZE / DB_MAX_OVERFLOW: connections each server process keeps open, and how many more it may
    # open in a burst (closed after); SQLAlchemy's defaults (5 and 10) when unset.
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True, **{
        option: _env_int(name, None) for option, name in (("pool_size", "DB_POOL_SIZE"),
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

    PUBLIC_URL = os.environ.get("PUBLIC_URL", DEFAULT_PUBLIC_URL).rstrip("/")
    # "fast" is for test servers only: cheap hashes, never in production (check_settings refuses it).
    PASSWORD_HASH_PROFILE = _env_choice("PASSWORD_HASH_PROFILE", "default", {"default", "fast"})
    # A throwaway server of the test suite or the benchmark: the only place "fast" hashes are allowed
    # beside the embedded default.
    TEST_SERVER = _env_bool("TEST_SERVER", False)
    # Under gevent, argon2 runs in this many threads per server process (services/passwords.py), so a login
    # does not stall the process's sockets; 0 hashes in the request's greenlet, holding them all meanwhile.
    # One: a default-profile hash already spreads its 4 lanes over the cores, and there is a worker per core.
    PASSWORD_HASH_THREADS = _env_int("PASSWORD_HASH_THREADS", 1)
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
    OUTBOX_POLL_S = _env_int("OUTBOX_POLL_S", 5, minimum=1)
    OUTBOX_MAX_ATTEMPTS = _env_int("OUTBOX_MAX_ATTEMPTS", 12)
    OUTBOX_BACKOFF_BASE_S = _env_int("OUTBOX_BACKOFF_BASE_S", 5)
    OUTBOX_BACKOFF_MAX_S = _env_int("OUTBOX_BACKOFF_MAX_S", 3600)

    # Expires live requests whose deadline passed. Every server process runs the thread; each round the
    # one holding the sweep's lease does the work.
    SWEEPER_THREAD = _env_bool("SWEEPER_THREAD", True)
    SWEEP_INTERVAL_S = _env_float("SWEEP_INTERVAL_S", 1.0, minimum=0.01)
    # Retention (services/retention.py): rows older than this many days are deleted; 0 keeps them forever.
    # A client resuming from before a deleted event is told to refetch; notifications go once resolved;
    # outbox mails once sent, given up or cancelled.
    RETENTION_THREAD = _env_bool("RETENTION_THREAD", True)
    RETENTION_INTERVAL_S = _env_int("RETENTION_INTERVAL_S", 3600, minimum=1)
    RETENTION_EVENTS_DAYS = _env_int("RETENTION_EVENTS_DAYS", 30)
    RETENTION_NOTIFICATIONS_DAYS = _env_int("RETENTION_NOTIFICATIONS_DAYS", 30)
    RETENTION_AUDIT_DAYS = _env_int("RETENTION_AUDIT_DAYS", 365)
    RETENTION_OUTBOX_DAYS = _env_int("RETENTION_OUTBOX_DAYS", 30)
    RETENTION_BATCH_SIZE = _env_int("RETENTION_BATCH_SIZE", 1000, minimum=1)
    RETENTION_MAX_BATCHES = _env_int("RETENTION_MAX_BATCHES", 100, minimum=1)
    # Webhooks (services/webhooks.py): a sender thread in every server process claims due deliveries.
    WEBHOOKS_SENDER_THREAD = _env_bool("WEBHOOKS_SENDER_THREAD", True)
    WEBHOOKS_POLL_S = _env_float("WEBHOOKS_POLL_S", 2.0, minimum=0.1)
    # Endpoints on private, loopback, link-local or reserved addresses are refused unless this is set
    # (a development or test setup whose receiver runs beside the server).
    WEBHOOKS_ALLOW_PRIVATE = _env_bool("WEBHOOKS_ALLOW_PRIVATE", False)
    WEBHOOKS_CONNECT_TIMEOUT_S = _env_float("WEBHOOKS_CONNECT_TIMEOUT_S", 5.0, minimum=0.05)
    WEBHOOKS_TIMEOUT_S = _env_float("WEBHOOKS_TIMEOUT_S", 15.0, minimum=0.05)  # the whole attempt
    WEBHOOKS_RESPONSE_MAX_BYTES = _env_int("WEBHOOKS_RESPONSE_MAX_BYTES", 64 * 1024, minimum=1)
    WEBHOOKS_MAX_ATTEMPTS = _env_int("WEBHOOKS_MAX_ATTEMPTS", 10, minimum=1)
    # Retry n waits a random time up to min(BASE * 2**(n-1), MAX) seconds (full jitter).
    WEBHOOKS_BACKOFF_BASE_S = _env_float("WEBHOOKS_BACKOFF_BASE_S", 5.0, minimum=0.0)
    WEBHOOKS_BACKOFF_MAX_S = _env_float("WEBHOOKS_BACKOFF_MAX_S", 3600.0, minimum=0.0)
    # An endpoint is turned off (and its workspace's admins told) after this many failed attempts in a
    # row spanning at least WEBHOOKS_DISABLE_AFTER_S; one success resets the count.
    WEBHOOKS_DISABLE_AFTER_FAILURES = _env_int("WEBHOOKS_DISABLE_AFTER_FAILURES", 20, minimum=1)
    WEBHOOKS_DISABLE_AFTER_S = _env_int("WEBHOOKS_DISABLE_AFTER_S", 24 * 3600)
    # After a secret rotation the old secret keeps signing (a second signature) this long.
    WEBHOOKS_SECRET_OVERLAP_S = _env_int("WEBHOOKS_SECRET_OVERLAP_S", 24 * 3600)
    # Whether a workspace has endpoints is remembered this long per process (the message path asks no
    # more often): another process's new endpoint starts receiving within this time.
    WEBHOOKS_LOOKUP_CACHE_S = _env_float("WEBHOOKS_LOOKUP_CACHE_S", 5.0)
    RETENTION_WEBHOOK_DELIVERIES_DAYS = _env_int("RETENTION_WEBHOOK_DELIVERIES_DAYS", 30)
    # Conversations erased by a workspace's retention_days per batch (each is several statements).
    RETENTION_ERASE_BATCH_SIZE = _env_int("RETENTION_ERASE_BATCH_SIZE", 100, minimum=1)
    # A visitor's export: at most this many conversations (newest) and messages over all of them.
    EXPORT_CONVERSATIONS_MAX = _env_int("EXPORT_CONVERSATIONS_MAX", 200, minimum=1)
    EXPORT_MESSAGES_MAX = _env_int("EXPORT_MESSAGES_MAX", 5000, minimum=1)
    # An agent whose dashboard sockets are all gone this long counts as offline.
    PRESENCE_GRACE_S = _env_int("PRESENCE_GRACE_S", 60)
    PRESENCE_REFRESH_S = _env_int("PRESENCE_REFRESH_S", 15, minimum=1)
    # A visitor whose widget sockets are all gone this long has left: their waiting request is abandoned and
    # their agent is told. A chat with an agent closes once the visitor has been gone VISITOR_IDLE_TIMEOUT_S.
    VISITOR_PRESENCE_GRACE_S = _env_int("VISITOR_PRESENCE_GRACE_S", 60)
    VISITOR_IDLE_TIMEOUT_S = _env_int("VISITOR_IDLE_TIMEOUT_S", 600)
    # A principal's `typing: true` in one conversation is passed on at most once per this many seconds (per
    # server process); `typing: false` always is.
    TYPING_THROTTLE_S = _env_float("TYPING_THROTTLE_S", 2.0)

    # The socket's message.send frames that arrive while a commit is in flight are written together, at
    # most MESSAGE_BATCH_MAX in one transaction (services/group_commit.py); off: one transaction each.
    MESSAGE_GROUP_COMMIT = _env_bool("MESSAGE_GROUP_COMMIT", True)
    MESSAGE_BATCH_MAX = _env_int("MESSAGE_BATCH_MAX", 64, minimum=1)
    # Python's cyclic garbage collector in a gunicorn worker (gc.set_threshold). With thousands of sockets a
    # full collection walks every object they hold and pauses the whole worker (0.3-0.4 s for 1,200 sockets
    # in the benchmark); Python's default 700 young objects brings one every 20-60 s under load, 20,000 none in
    # minutes, at young collections of a few tens of milliseconds every few seconds.
    GC_THRESHOLDS = _env_gc_thresholds("GC_THRESHOLDS", (20000, 10, 10))

    # ICE servers handed to the two browsers of a video call. STUN: e.g. "stun:stun.example.com:3478".
    # TURN is offered only with a shared secret (coturn's static-auth-secret): each
    # participant gets credentials that expire after TURN_TTL_S.
    STUN_URLS = _env_urls("STUN_URLS", ("stun:", "stuns:"))
    TURN_URLS = _env_urls("TURN_URLS", ("turn:", "turns:"))
    TURN_SECRET = os.environ.get("TURN_SECRET") or None
    if TURN_URLS and not TURN_SECRET:
        raise SettingsError("TURN_URLS is set but TURN_SECRET is not: TURN is only offered with its shared secret")
    TURN_TTL_S = _env_int("TURN_TTL_S", 3600, minimum=1)
    # A call still ringing this long (not accepted, or never answered by the browsers) ends.
    CALL_RING_TIMEOUT_S = _env_int("CALL_RING_TIMEOUT_S", 120, minimum=1)

    # How many proxies in front of the server set X-Forwarded-For/-Proto (werkzeug's ProxyFix): 0 trusts
    # none, and then the peer address is the client's, whatever the headers say.
    TRUSTED_PROXIES = _env_int("TRUSTED_PROXIES", 0)
    # /metrics asks for "Authorization: Bearer <METRICS_TOKEN>" when set; it is open when unset.
    METRICS_TOKEN = os.environ.get("METRICS_TOKEN") or None

    RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI") or REDIS_URL or "memory://"
    # X-RateLimit-* go on every limited answer; Retry-After only with 429 and 503 (app.py strips it elsewhere).
    RATELIMIT_HEADERS_ENABLED = True
    # Redis away: limits are counted in each process's memory until it answers again, so the widget and
    # login keep working (Flask-Limiter logs the switch once, and checks Redis again with a growing pause).
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
    # A Redis that does not answer must not hold a request: a limit check gives up after a second.
    RATELIMIT_STORAGE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
    LOGIN_LIMIT_PER_ADDRESS = _env_limit("LOGIN_LIMIT_PER_ADDRESS", "20/minute")
    LOGIN_LIMIT_PER_ACCOUNT = _env_limit("LOGIN_LIMIT_PER_ACCOUNT", "5/minute;20/hour")
    SET_PASSWORD_LIMIT_PER_ADDRESS = _env_limit("SET_PASSWORD_LIMIT_PER_ADDRESS", "10/minute")

    WIDGET_LIMIT_PER_ADDRESS = _env_limit("WIDGET_LIMIT_PER_ADDRESS", "300/minute")
    WIDGET_LIMIT_PER_VISITOR = _env_limit("WIDGET_LIMIT_PER_VISITOR", "120/minute")
    # Sockets one address may hold open in one server process (0: no cap); past it the upgrade is a 429.
    SOCKET_LIMIT_PER_ADDRESS = _env_int("SOCKET_LIMIT_PER_ADDRESS", 50)
    SOCK_SERVER_OPTIONS = {"ping_interval": _env_int("SOCKET_PING_S", 25), "max_message_size": 64 * 1024}

    # Attachments: where uploaded files are stored ("local": STORAGE_DIR, by default instance/files; "s3": the
    # bucket S3_BUCKET at S3_ENDPOINT_URL (empty: AWS itself) in S3_REGION, credentials from the AWS_* variables).
    STORAGE_BACKEND = _env_choice("STORAGE_BACKEND", "local", {"local", "s3"})
    STORAGE_DIR = os.environ.get("STORAGE_DIR") or None
    S3_BUCKET = os.environ.get("S3_BUCKET") or None
    if STORAGE_BACKEND == "s3" and not S3_BUCKET:
        raise SettingsError("STORAGE_BACKEND=s3 needs S3_BUCKET")
    S3_ENDPOINT_URL = os.environ.get("S3_ENDPOINT_URL") or None
    S3_REGION = os.environ.get("S3_REGION") or None
    # One file's largest size, and all the files of one conversation together (bytes).
    ATTACHMENT_MAX_BYTES = _env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1)
    ATTACHMENT_CONVERSATION_MAX_BYTES = _env_int("ATTACHMENT_CONVERSATION_MAX_BYTES", 100 * 1024 * 1024, minimum=1)
    # The types a file may be, decided from its content (never from its name or the type the client claims).
    # HTML and SVG are never accepted, whatever this says.
    ATTACHMENT_TYPES = _env_list("ATTACHMENT_TYPES", ["image/png", "image/jpeg", "image/gif", "image/webp",
                                                      "application/pdf", "text/plain"])
    # How long a download link handed out with an attachment works (seconds).
    ATTACHMENT_URL_TTL_S = _env_int("ATTACHMENT_URL_TTL_S", 300, minimum=1)
    # Uploads one visitor may make (on top of the widget's own limits).
    ATTACHMENT_UPLOAD_LIMIT_PER_VISITOR = _env_limit("ATTACHMENT_UPLOAD_LIMIT_PER_VISITOR", "10/minute;60/hour")
    # An upload no message carries is deleted after this many hours (by the retention worker).
    ATTACHMENT_UNSENT_TTL_H = _env_int("ATTACHMENT_UNSENT_TTL_H", 24, minimum=1)
    # How long the file links in a mailed transcript work (seconds; a week by default).
    TRANSCRIPT_LINK_TTL_S = _env_int("TRANSCRIPT_LINK_TTL_S", 7 * 24 * 3600, minimum=1)
    # Transcripts a visitor may ask for, and one conversation may be sent (on top of the widget's limits).
    TRANSCRIPT_LIMIT_PER_VISITOR = _env_limit("TRANSCRIPT_LIMIT_PER_VISITOR", "5/hour;20/day")
    TRANSCRIPT_LIMIT_PER_CONVERSATION = _env_limit("TRANSCRIPT_LIMIT_PER_CONVERSATION", "3/hour;10/day")
    # How long after a chat ends its visitor may rate it (hours).
    RATING_WINDOW_H = _env_int("RATING_WINDOW_H", 72, minimum=1)

    # Origins of the admin and agent single-page apps (the widget has its own
    # per-interface list).
    CORS_ORIGINS = _env_list("CORS_ORIGINS", ["http://localhost:3000"])

    # Logs: one JSON object a line on stdout (logs.py); "text" leaves logging as Python sets it up.
    LOG_LEVEL = _env_choice("LOG_LEVEL", "INFO", {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"},
                            normalise=str.upper)
    LOG_FORMAT = _env_choice("LOG_FORMAT", "json", {"json", "text"})

    API_TITLE = "Live chat API"
    API_VERSION = "1.2.0"
    OPENAPI_VERSION = "3.1.0"
    OPENAPI_URL_PREFIX = "/api"
    OPENAPI_JSON_PATH = "openapi.json"
    OPENAPI_SWAGGER_UI_PATH = "/docs"
    # The docs pages load their scripts from this server (blueprints/docs_assets.py), pinned and offline.
    OPENAPI_SWAGGER_UI_URL = "/api/docs/assets/swagger-ui/"
    # No validator badge: Swagger UI would send the spec's URL to validator.swagger.io.
    # showExtensions: the x- fields, x-roles above all (who may call an operation), show under each operation.
    OPENAPI_SWAGGER_UI_CONFIG = {"validatorUrl": None, "showExtensions": True}
    OPENAPI_REDOC_PATH = "/redoc"
    OPENAPI_REDOC_URL = "/api/docs/assets/redoc/redoc.standalone.js"
    API_SPEC_OPTIONS = {
        "info": {
            "description": "Live chat, video chat and human takeover for chat interfaces. "
            "Every error has the JSON shape {code, status, message, errors}.\n\n"
            + (BASE_DIR / "openapi" / "getting-started.md").read_text(),  # also linked from README.md
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
    RETENTION_THREAD = False
    WEBHOOKS_SENDER_THREAD = False
    RATELIMIT_STORAGE_URI = "memory://"
    MAIL_SERVER = "127.0.0.1"
    MAIL_PORT = 1  # nothing listens here unless a test starts an SMTP server
    MAIL_TIMEOUT_S = 2
    PUBLIC_URL = "http://testserver"
