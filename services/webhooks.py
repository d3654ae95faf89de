"""Webhooks (Standard Webhooks): endpoints, deliveries queued with the change, and a sender that cannot be aimed inward.

- `enqueue` (and the helpers per event type below it) runs in the caller's transaction: one
  INSERT ... SELECT writes a delivery per enabled endpoint subscribed to the type, so a delivery exists
  exactly when the change it describes was committed. A workspace without endpoints costs no statement
  on the hot path: whether it has any is remembered per process for WEBHOOKS_LOOKUP_CACHE_S (this
  process forgets it at once when an endpoint changes here; other processes within that time).
- `do_send_due` claims due deliveries with a conditional UPDATE (safe with several processes), signs
  each body with the endpoint's secret (and, during a rotation's overlap, the previous one too) and
  POSTs it with time-outs, a response-size cap and no redirects. Failures back off exponentially with
  full jitter; an endpoint failing WEBHOOKS_DISABLE_AFTER_FAILURES times in a row over at least
  WEBHOOKS_DISABLE_AFTER_S is turned off and its workspace's admins get an e-mail.
- SSRF: a URL's host is resolved and every address checked when the endpoint is saved AND when each
  delivery is sent; the connection goes to the address checked (pinned), with the URL's host in the
  Host header and TLS SNI, so a DNS answer that changes in between reaches nothing inside.
"""
import base64
import http.client
import ipaddress
import json
import logging
import random
import secrets
import socket
import ssl
import time
from datetime import timedelta
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import Integer, Text, func, insert, literal, or_, select, update
from standardwebhooks import Webhook

from errors import Conflict, NotFound, ValidationFailed
from extensions import db
from models import AuditAction
from models.base import UTCDateTime, utcnow
from models.webhook import (
    EVENT_BITS, RESPONSE_EXCERPT_MAX_BYTES, WEBHOOK_URL_MAX_LEN, DeliveryStatus, WebhookDelivery, WebhookEndpoint,
    WebhookEventType, event_mask_of,
)
from schemas.calls import CallSchema
from schemas.conversations import ConversationSchema, MessageSchema
from schemas.events import EventType
from schemas.ratings import RatingSchema
from schemas.requests import SubmissionSchema
from services.audit import audit
from services.core import active_admins, get_in_workspace, transaction
from services.events import emit, user_stream
from services.mailer import queue_mail
from services.pagination import paginate
from services.workers import PeriodicWorker

log = logging.getLogger(__name__)

LEASE_S = 120
SECRET_BYTES = 24
USER_AGENT = "livechat-webhooks/1"
# Cloud instance metadata services: never a webhook target, whatever WEBHOOKS_ALLOW_PRIVATE says.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "fd00:ec2::23"))

_conversation_schema = ConversationSchema()
_message_schema = MessageSchema()
_call_schema = CallSchema()
_submission_schema = SubmissionSchema()
_rating_schema = RatingSchema()


# -- errors --------------------------------------------------------------------


class WebhookUrlInvalid(ValidationFailed):
    code, message = "webhook_url_invalid", "A webhook URL is http(s)://host[:port]/path, without credentials"


class WebhookUrlPrivate(ValidationFailed):
    code, message = "webhook_url_private", "The webhook URL's host is a private, loopback or reserved address"


class WebhookUrlMetadata(ValidationFailed):
    code, message = "webhook_url_metadata", "The webhook URL's host is a cloud metadata address"


class WebhookUrlUnresolvable(ValidationFailed):
    code, message = "webhook_url_unresolvable", "The webhook URL's host does not resolve"


class WebhookDisabled(Conflict):
    code, message = "webhook_disabled", "This webhook endpoint is disabled: enable it first"


URL_ERRORS = (WebhookUrlInvalid, WebhookUrlPrivate, WebhookUrlMetadata, WebhookUrlUnresolvable)


def _url_error(error_cls, message=None):
    message = message or error_cls.message
    return error_cls(message, errors={"json": {"url": [message]}})


# -- addresses -------------------------------------------------------------------


def resolve(host, port):
    """Every address host resolves to (the sender and the checks look names up here only)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def check_address(address, allow_private):
    """Raise unless a webhook may connect to address (a string, IPv4 or IPv6)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        raise _url_error(WebhookUrlMetadata)
    if allow_private:
        return ip
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_link_local:
        raise _url_error(WebhookUrlPrivate, f"{WebhookUrlPrivate.message} ({ip}), which a webhook may not reach")
    return ip


def parse_url(url):
    """(scheme, host, port, path with query) of a webhook URL, or WebhookUrlInvalid."""
    if not isinstance(url, str) or not url or len(url) > WEBHOOK_URL_MAX_LEN:
        raise _url_error(WebhookUrlInvalid)
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in url):
        raise _url_error(WebhookUrlInvalid, "A webhook URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        raise _url_error(WebhookUrlInvalid) from None
    if port == 0:
        raise _url_error(WebhookUrlInvalid, "A webhook URL's port is 1 to 65535")
    if parts.scheme.lower() not in ("http", "https"):
        raise _url_error(WebhookUrlInvalid, "A webhook URL must start with http:// or https://")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _url_error(WebhookUrlInvalid, "A webhook URL may not carry credentials (user:password@)")
    if not host:
        raise _url_error(WebhookUrlInvalid, "A webhook URL needs a host")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise _url_error(WebhookUrlInvalid, "The webhook URL's host is not a valid name") from None
    scheme = parts.scheme.lower()
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return scheme, host, port or (443 if scheme == "https" else 80), path


def checked_addresses(host, port, allow_private):
    """The addresses of host, every one of them allowed; raise otherwise (a name is checked whole)."""
    try:
        literal_ip = ipaddress.ip_address(host)
    except ValueError:
        literal_ip = None
    if literal_ip is not None:
        return [check_address(host, allow_private)]
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise _url_error(WebhookUrlUnresolvable) from None
    if not addresses:
        raise _url_error(WebhookUrlUnresolvable)
    return [check_address(address, allow_private) for address in addresses]


def check_url(url):
    """The URL, once its host and every address it resolves to may be reached; else one of URL_ERRORS."""
    scheme, host, port, _ = parse_url(url)
    checked_addresses(host, port, current_app.config["WEBHOOKS_ALLOW_PRIVATE"])
    return url


# -- endpoints -------------------------------------------------------------------


def new_secret():
    """whsec_ + base64 of random bytes: the Standard Webhooks secret format."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _forget_lookup(workspace_id):
    current_app.extensions.setdefault("webhook_lookups", {}).pop(workspace_id, None)


def access_endpoint(actor, endpoint_id):
    endpoint = get_in_workspace(WebhookEndpoint, endpoint_id, actor.workspace_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found")
    return endpoint


def list_endpoints(actor, page, page_size):
    stmt = (select(WebhookEndpoint).where(WebhookEndpoint.workspace_id == actor.workspace_id)
            .order_by(WebhookEndpoint.id))
    return paginate(stmt, page, page_size)


def _apply(endpoint, data):
    if "url" in data:
        endpoint.url = check_url(data["url"])
    if "event_types" in data:
        endpoint.event_mask = event_mask_of(data["event_types"])
    if "description" in data:
        endpoint.description = data["description"]
    if "enabled" in data:
        if data["enabled"] and not endpoint.enabled:
            endpoint.consecutive_failures, endpoint.failing_since, endpoint.disabled_reason = 0, None, None
        endpoint.enabled = data["enabled"]
        if not endpoint.enabled:
            endpoint.disabled_reason = None


def _audited(endpoint):
    """What the audit trail keeps of an endpoint: never its secret."""
    return {"webhook_id": endpoint.id, "url": endpoint.url, "event_types": endpoint.event_types,
            "enabled": endpoint.enabled}


@transaction
def do_create_endpoint(actor, data):
    """Register an endpoint with a fresh secret (shown in this answer and on rotation only)."""
    endpoint = WebhookEndpoint(workspace_id=actor.workspace_id, secret=new_secret(), description="", enabled=True,
                               consecutive_failures=0)
    _apply(endpoint, data)
    db.session.add(endpoint)
    db.session.flush()
    audit(AuditAction.WEBHOOK_CREATED, actor.workspace_id, actor, **_audited(endpoint))
    _forget_lookup(actor.workspace_id)
    return endpoint


@transaction
def do_update_endpoint(actor, endpoint, data):
    _apply(endpoint, data)
    db.session.flush()
    audit(AuditAction.WEBHOOK_UPDATED, actor.workspace_id, actor, **_audited(endpoint))
    _forget_lookup(actor.workspace_id)
    return endpoint


@transaction
def do_delete_endpoint(actor, endpoint):
    """Delete an endpoint and its delivery log; its pending deliveries go with it."""
    audit(AuditAction.WEBHOOK_DELETED, actor.workspace_id, actor, **_audited(endpoint))
    db.session.delete(endpoint)
    _forget_lookup(actor.workspace_id)


@transaction
def do_rotate_secret(actor, endpoint):
    """A new secret; the old one keeps signing beside it for WEBHOOKS_SECRET_OVERLAP_S."""
    overlap = current_app.config["WEBHOOKS_SECRET_OVERLAP_S"]
    if overlap:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = utcnow() + timedelta(seconds=overlap)
    else:
        endpoint.previous_secret = endpoint.previous_secret_until = None
    endpoint.secret = new_secret()
    audit(AuditAction.WEBHOOK_SECRET_ROTATED, actor.workspace_id, actor, webhook_id=endpoint.id,
          overlap_until=endpoint.previous_secret_until.isoformat() if overlap else None)
    return endpoint


def list_deliveries(endpoint, page, page_size, status=None):
    stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id).order_by(WebhookDelivery.id.desc())
    if status:
        stmt = stmt.where(WebhookDelivery.status == status)
    return paginate(stmt, page, page_size)


@transaction
def do_redeliver(actor, endpoint, delivery_id):
    """Send a delivery again soon, with the same webhook-id and body; its attempts count afresh."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.endpoint_id != endpoint.id:
        raise NotFound("Delivery not found")
    if not endpoint.enabled:
        raise WebhookDisabled()
    delivery.status, delivery.attempts = DeliveryStatus.PENDING.value, 0
    delivery.next_attempt_at, delivery.locked_until = utcnow(), None
    audit(AuditAction.WEBHOOK_REDELIVERED, actor.workspace_id, actor, webhook_id=endpoint.id, delivery_id=delivery.id)
    return delivery


# -- queueing (in the caller's transaction) ---------------------------------------


def has_endpoints(workspace_id):
    """Whether the workspace has an enabled endpoint, remembered a few seconds per process."""
    lookups = current_app.extensions.setdefault("webhook_lookups", {})
    now = time.monotonic()
    known = lookups.get(workspace_id)
    if known is not None and known[1] > now:
        return known[0]
    found = db.session.scalar(select(WebhookEndpoint.id).where(
        WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.enabled.is_(True)).limit(1)) is not None
    if len(lookups) > 10000:
        lookups.clear()
    lookups[workspace_id] = (found, now + current_app.config["WEBHOOKS_LOOKUP_CACHE_S"])
    return found


def enqueue(workspace_id, event_type, data, conversation_id):
    """Queue event_type for every enabled endpoint of the workspace subscribed to it (the caller commits).

    data is a callable giving the payload's `data`: nothing is serialised for a workspace without endpoints.
    conversation_id: the conversation the event is about (erasing it deletes the payload). Returns the
    number of deliveries written.
    """
    event_type = str(event_type)
    if not has_endpoints(workspace_id):
        return 0
    now = utcnow()
    body = json.dumps({"type": event_type, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data()},
                      separators=(",", ":"), ensure_ascii=False)
    webhook_id = "msg_" + secrets.token_urlsafe(18)
    subscribed = select(
        literal(workspace_id), WebhookEndpoint.id, literal(conversation_id, Integer), literal(event_type), literal(webhook_id), literal(body, Text),
        literal(DeliveryStatus.PENDING.value), literal(0), literal(now, UTCDateTime()), literal(now, UTCDateTime()),
    ).where(WebhookEndpoint.workspace_id == workspace_id, WebhookEndpoint.enabled.is_(True),
            WebhookEndpoint.event_mask.op("&")(EVENT_BITS[event_type]) != 0)
    columns = ["workspace_id", "endpoint_id", "conversation_id", "event_type", "webhook_id", "payload", "status", "attempts",
               "next_attempt_at", "created_at"]
    return db.session.execute(insert(WebhookDelivery).from_select(columns, subscribed)).rowcount


def conversation_event(event_type, conversation):
    """conversation.started, .assigned or .ended: {conversation}."""
    return enqueue(conversation.workspace_id, event_type,
                   lambda: {"conversation": _conversation_schema.dump(conversation)}, conversation.id)


def conversation_started(conversation):
    return conversation_event(WebhookEventType.CONVERSATION_STARTED, conversation)


def conversation_assigned(conversation):
    return conversation_event(WebhookEventType.CONVERSATION_ASSIGNED, conversation)


def conversation_ended(conversation):
    return conversation_event(WebhookEventType.CONVERSATION_ENDED, conversation)


def message_created(conversation, message):
    return enqueue(conversation.workspace_id, WebhookEventType.MESSAGE_CREATED,
                   lambda: {"message": _message_schema.dump(message)}, conversation.id)


def call_event(event_type, call):
    """call.started (the call is created, ringing) or call.ended: {call}."""
    return enqueue(call.workspace_id, event_type, lambda: {"call": _call_schema.dump(call)}, call.conversation_id)


def call_started(call):
    return call_event(WebhookEventType.CALL_STARTED, call)


def call_ended(call):
    return call_event(WebhookEventType.CALL_ENDED, call)


def rating_created(rating):
    return enqueue(rating.workspace_id, WebhookEventType.RATING_CREATED, lambda: {"rating": _rating_schema.dump(rating)},
                   rating.conversation_id)


def offline_form_submitted(submission):
    return enqueue(submission.workspace_id, WebhookEventType.OFFLINE_FORM_SUBMITTED,
                   lambda: {"submission": _submission_schema.dump(submission)}, submission.conversation_id)


# -- sending ------------------------------------------------------------------------


class AddressRefused(Exception):
    """The URL's host resolved to an address a webhook may not reach (checked at send time)."""


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the address that was checked, whatever the name resolves to now; Host is the URL's."""

    def __init__(self, host, port, address, timeout, connect_timeout):
        super().__init__(host, port, timeout=timeout)
        self.address, self.connect_timeout = address, connect_timeout

    def _open(self):
        sock = socket.create_connection((self.address, self.port), self.connect_timeout)
        sock.settimeout(self.timeout)
        return sock

    def connect(self):
        self.sock = self._open()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """The same over TLS: the certificate is checked against the URL's host (SNI too), not the address."""

    def __init__(self, host, port, address, timeout, connect_timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.address, self.connect_timeout = address, connect_timeout

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.connect_timeout)
        sock.settimeout(self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def signature_header(secrets_in_use, webhook_id, timestamp, body):
    """webhook-signature: one `v1,<base64>` per secret, space-separated."""
    return " ".join(Webhook(secret).sign(webhook_id, timestamp, body) for secret in secrets_in_use)


def post(url, headers, body, config):
    """POST body to url through a pinned connection: (status, excerpt bytes, truncated). Raises on failure."""
    try:
        scheme, host, port, path = parse_url(url)
        addresses = checked_addresses(host, port, config["WEBHOOKS_ALLOW_PRIVATE"])
    except ValidationFailed as error:
        raise AddressRefused(error.message) from None
    deadline = time.monotonic() + config["WEBHOOKS_TIMEOUT_S"]
    connection_cls = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_cls(host, port, str(addresses[0]), config["WEBHOOKS_TIMEOUT_S"],
                                min(config["WEBHOOKS_CONNECT_TIMEOUT_S"], config["WEBHOOKS_TIMEOUT_S"]))
    try:
        connection.request("POST", path, body=body.encode("utf-8"), headers=headers)
        sock = connection.sock  # the response reads from it even after the connection lets go of it
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        response = connection.getresponse()
        cap, received = config["WEBHOOKS_RESPONSE_MAX_BYTES"], b""
        while len(received) < cap:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the endpoint took longer than WEBHOOKS_TIMEOUT_S")
            sock.settimeout(left)
            chunk = response.read1(min(16384, cap - len(received)))
            if not chunk:
                break
            received += chunk
        truncated = len(received) >= cap and not response.isclosed()
        return response.status, received, truncated
    finally:
        connection.close()


def backoff_s(attempts, config, rng=random):
    """Full jitter: a random wait up to min(base * 2**(attempts-1), max) seconds."""
    ceiling = min(config["WEBHOOKS_BACKOFF_BASE_S"] * (2 ** max(attempts - 1, 0)), config["WEBHOOKS_BACKOFF_MAX_S"])
    return rng.uniform(0, ceiling)


_DUE = (WebhookDelivery.status == DeliveryStatus.PENDING.value,)


@transaction
def _do_claim(delivery_id, now):
    """Lease one due delivery for one attempt; the database decides which sender gets it. A snapshot, or None."""
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, *_DUE, WebhookDelivery.next_attempt_at <= now,
               or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now))
        .values(locked_until=now + timedelta(seconds=LEASE_S), attempts=WebhookDelivery.attempts + 1)
    ).rowcount == 1
    if not claimed:
        return None
    row = db.session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.payload, WebhookDelivery.endpoint_id,
               WebhookEndpoint.url, WebhookEndpoint.secret, WebhookEndpoint.previous_secret,
               WebhookEndpoint.previous_secret_until, WebhookEndpoint.enabled)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.id == delivery_id)).one_or_none()
    if row is None or not row.enabled:  # turned off meanwhile: the delivery waits, this was no attempt
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(
            locked_until=None, attempts=WebhookDelivery.attempts - 1))
        return None
    return row


def _storable(text):
    """Text every database column takes: no NUL (PostgreSQL refuses it in text)."""
    return text.replace("\x00", "")


def _attempt(row, now, config):
    """One POST; a dict of what to record (status code, error, latency, excerpt) and whether it succeeded."""
    sending_secrets = [row.secret]
    if row.previous_secret and row.previous_secret_until and row.previous_secret_until > now:
        sending_secrets.append(row.previous_secret)
    timestamp = utcnow()  # the receiver checks it against its clock
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, "webhook-id": row.webhook_id,
               "webhook-timestamp": str(int(timestamp.timestamp())),
               "webhook-signature": signature_header(sending_secrets, row.webhook_id, timestamp, row.payload)}
    started = time.monotonic()
    outcome = {"last_status_code": None, "last_error": None, "response_excerpt": None}
    try:
        status, received, _ = post(row.url, headers, row.payload, config)
    except AddressRefused as error:
        outcome.update(last_error=f"address_refused: {error}"[:500], final=True, ok=False)
    except (OSError, http.client.HTTPException, ValueError) as error:
        outcome.update(last_error=_storable(f"{error.__class__.__name__}: {error}")[:500], final=False, ok=False)
    except Exception as error:  # a fault of ours must not leave the delivery leased: a failure, retried
        log.warning("webhook delivery %s: unexpected error", row.webhook_id, exc_info=True)
        outcome.update(last_error=_storable(f"{error.__class__.__name__}")[:500], final=False, ok=False)
    else:
        excerpt = _storable(received[:RESPONSE_EXCERPT_MAX_BYTES].decode("utf-8", "ignore"))
        ok = 200 <= status < 300
        error = None if ok else ("redirect_not_followed" if 300 <= status < 400 else f"HTTP {status}")
        outcome.update(last_status_code=status, response_excerpt=excerpt, last_error=error, final=False, ok=ok)
    outcome["latency_ms"] = int((time.monotonic() - started) * 1000)
    return outcome


def _admin_notice(endpoint):
    """Tell the workspace's admins that an endpoint was turned off: an event on their streams, and an e-mail."""
    admins = active_admins(endpoint.workspace_id)
    if not admins:
        return
    emit(EventType.WEBHOOK_DISABLED, {"webhook_id": endpoint.id, "url": endpoint.url,
                                      "consecutive_failures": endpoint.consecutive_failures,
                                      "failing_since": endpoint.failing_since.isoformat()},
         [user_stream(admin.id) for admin in admins], endpoint.workspace_id)
    text = (f"The webhook endpoint {endpoint.url} failed {endpoint.consecutive_failures} times in a row since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC and has been disabled. Its undelivered events wait; "
            "enable it again once it answers, and they will be sent.")
    queue_mail("webhook_disabled", [admin.email for admin in admins], "A webhook endpoint was disabled", text,
               workspace_id=endpoint.workspace_id)


@transaction
def _do_record(delivery_id, endpoint_id, outcome, now, config, rng):
    """Store an attempt's outcome; back off, give up, or turn a failing endpoint off."""
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:  # deleted with its endpoint meanwhile
        return
    delivery.last_status_code, delivery.last_error = outcome["last_status_code"], outcome["last_error"]
    delivery.response_excerpt, delivery.latency_ms = outcome["response_excerpt"], outcome["latency_ms"]
    delivery.last_attempt_at, delivery.locked_until = now, None
    if outcome["ok"]:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = DeliveryStatus.DELIVERED.value, now, None
        db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(
            consecutive_failures=0, failing_since=None))
        return
    if outcome["final"] or delivery.attempts >= config["WEBHOOKS_MAX_ATTEMPTS"]:
        delivery.status, delivery.next_attempt_at = DeliveryStatus.FAILED.value, None
    else:
        delivery.next_attempt_at = now + timedelta(seconds=backoff_s(delivery.attempts, config, rng))
    db.session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(
        consecutive_failures=WebhookEndpoint.consecutive_failures + 1,
        failing_since=func.coalesce(WebhookEndpoint.failing_since, now)))
    endpoint = db.session.get(WebhookEndpoint, endpoint_id)
    db.session.refresh(endpoint)
    run_long_enough = now - endpoint.failing_since >= timedelta(seconds=config["WEBHOOKS_DISABLE_AFTER_S"])
    if endpoint.consecutive_failures < config["WEBHOOKS_DISABLE_AFTER_FAILURES"] or not run_long_enough:
        return
    turned_off = db.session.execute(update(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled.is_(True)).values(
        enabled=False, disabled_reason="failing")).rowcount == 1
    if turned_off:  # one sender wins: the admins are told once
        db.session.refresh(endpoint)
        audit(AuditAction.WEBHOOK_DISABLED, endpoint.workspace_id, None, webhook_id=endpoint.id, url=endpoint.url,
              failures=endpoint.consecutive_failures)
        _admin_notice(endpoint)
        _forget_lookup(endpoint.workspace_id)
        log.warning("webhook endpoint %s disabled after %s failures", endpoint.id, endpoint.consecutive_failures)


def send_due(now=None, limit=50, rng=random):
    """Attempt every due delivery once; (delivered, failed). Safe to run in several processes at once.

    now (the clock deciding what is due and when to retry) and rng (the jitter) can be given by a caller.
    """
    config = current_app.config
    now = now or utcnow()
    due_ids = db.session.scalars(
        select(WebhookDelivery.id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(*_DUE, WebhookDelivery.next_attempt_at <= now, WebhookEndpoint.enabled.is_(True),
               or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now))
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    ).all()
    db.session.rollback()  # no transaction stays open while endpoints answer
    delivered = failed = 0
    for delivery_id in due_ids:
        row = _do_claim(delivery_id, now)
        if row is None:
            continue
        outcome = _attempt(row, now, config)
        _do_record(delivery_id, row.endpoint_id, outcome, now, config, rng)
        if outcome["ok"]:
            delivered += 1
        else:
            failed += 1
            log.info("webhook delivery %s failed: %s", delivery_id, outcome["last_error"])
    return delivered, failed


def webhook_sender(app):
    """The worker that sends due deliveries inside a server process."""
    return PeriodicWorker(app, "webhook-sender", app.config["WEBHOOKS_POLL_S"], send_due)
