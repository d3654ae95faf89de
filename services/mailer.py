"""The outbox: mail is queued with its cause and sent later, with retries."""
import logging
import smtplib
import time
from datetime import timedelta

from flask import current_app
from flask_mail import Connection, Message
from sqlalchemy import or_, select, update

from errors import ValidationFailed
from extensions import db
from metrics import OUTBOX_SEND_FAILURES
from models import OutboxMail, OutboxStatus, User
from models.base import utcnow
from services.workers import PeriodicWorker

log = logging.getLogger(__name__)

LEASE_S = 120


class UnsafeMailHeader(ValidationFailed, ValueError):
    code, message = "unsafe_mail_header", "A mail header must not contain line breaks"


def _check_header(value, name):
    if not isinstance(value, str) or any(ch in value for ch in "\r\n\0"):
        raise UnsafeMailHeader(f"The mail {name} must be one line of text without line breaks")
    return value


def queue_mail(kind, recipients, subject, body_text, body_html=None, reply_to=None, workspace_id=None,
               conversation_id=None):
    """Add a mail to the outbox in the caller's transaction (the caller commits)."""
    recipients = [_check_header(address, "recipient") for address in recipients]
    if not recipients:
        raise ValueError("a mail needs at least one recipient")
    row = OutboxMail(
        kind=kind,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        recipients=recipients,
        reply_to=_check_header(reply_to, "reply_to") if reply_to else None,
        subject=_check_header(subject, "subject"),
        body_text=body_text,
        body_html=body_html,
        status=OutboxStatus.PENDING.value,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    return row


def cancel_pending(kind, workspace_id, recipient):
    """Cancel the unsent mails of a kind to one address (the caller commits); returns how many.

    For mail whose cause went away before it left: an invitation to a user
    deleted, deactivated or moved to another address, or superseded by a new link.
    """
    rows = db.session.execute(select(OutboxMail.id, OutboxMail.recipients).where(
        OutboxMail.kind == kind, OutboxMail.workspace_id == workspace_id,
        OutboxMail.status == OutboxStatus.PENDING.value)).all()
    ids = [row.id for row in rows if list(row.recipients) == [recipient]]
    if not ids:
        return 0
    return db.session.execute(update(OutboxMail).where(
        OutboxMail.id.in_(ids), OutboxMail.status == OutboxStatus.PENDING.value)
        .values(status=OutboxStatus.CANCELLED.value, locked_until=None)).rowcount


def _cause_gone(row):
    """True when what the mail is about no longer exists (checked just before sending)."""
    if row.kind != "invitation":
        return False
    invitee = db.session.scalar(select(User.id).where(
        User.workspace_id == row.workspace_id, User.email == row.recipients[0], User.is_active))
    return invitee is None


def backoff_s(attempts, config):
    """Seconds to wait after the given number of failed attempts."""
    base = config["OUTBOX_BACKOFF_BASE_S"]
    return min(base * (2 ** max(attempts - 1, 0)), config["OUTBOX_BACKOFF_MAX_S"])


def _do_claim(row_id, now):
    """Lease one row for one attempt; the database decides which sender gets it.

    The row must still be due: another sender may have read it as due too, made
    its attempt and backed it off since. Without that check both would count an
    attempt in the same round and the backoff would grow twice as fast.
    """
    result = db.session.execute(
        update(OutboxMail)
        .where(
            OutboxMail.id == row_id,
            OutboxMail.status == OutboxStatus.PENDING.value,
            OutboxMail.next_attempt_at <= now,
            or_(OutboxMail.locked_until.is_(None), OutboxMail.locked_until < now),
        )
        .values(locked_until=now + timedelta(seconds=LEASE_S), attempts=OutboxMail.attempts + 1)
    )
    db.session.commit()
    return result.rowcount == 1


def do_send_due(limit=50):
    """Send every due mail once; return (sent, failed) counts. Safe to run concurrently."""
    config = current_app.config
    now = utcnow()
    due_ids = db.session.scalars(
        select(OutboxMail.id)
        .where(
            OutboxMail.status == OutboxStatus.PENDING.value,
            OutboxMail.next_attempt_at <= now,
            or_(OutboxMail.locked_until.is_(None), OutboxMail.locked_until < now),
        )
        .order_by(OutboxMail.next_attempt_at, OutboxMail.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    sent = failed = 0
    for row_id in due_ids:
        if not _do_claim(row_id, utcnow()):
            continue
        row = db.session.get(OutboxMail, row_id)
        if row is None:  # deleted with its workspace meanwhile
            db.session.rollback()
            continue
        if row.status != OutboxStatus.PENDING.value or _cause_gone(row):
            row.status, row.locked_until = OutboxStatus.CANCELLED.value, None
            db.session.commit()
            continue
        try:
            message = _message(row)
            db.session.commit()  # no transaction stays open while the SMTP server answers
            deliver(message)
        except Exception as error:  # SMTP down, refused, timed out: retry later
            failed += 1
            OUTBOX_SEND_FAILURES.inc()
            row.last_error = f"{error.__class__.__name__}: {error}"[:500]
            row.locked_until = None
            if row.attempts >= config["OUTBOX_MAX_ATTEMPTS"]:
                row.status = OutboxStatus.FAILED.value
                log.error("outbox mail %s gave up after %s attempts", row.id, row.attempts)
            else:
                row.next_attempt_at = utcnow() + timedelta(seconds=backoff_s(row.attempts, config))
                log.warning("outbox mail %s failed (attempt %s), retrying later", row.id, row.attempts)
        else:
            sent += 1
            row.status = OutboxStatus.SENT.value
            row.sent_at = utcnow()
            row.locked_until = None
            row.last_error = None
        db.session.commit()
    return sent, failed


def _message(row):
    message = Message(
        subject=row.subject,
        recipients=list(row.recipients),
        body=row.body_text,
        html=row.body_html,
        reply_to=row.reply_to,
    )
    return message


class _Connection(Connection):
    """flask-mail's SMTP connection, bounded by MAIL_TIMEOUT_S and without debug output.

    A failed QUIT after the server accepted the message is no failure: counting
    it as one would send the mail twice.
    """

    def configure_host(self):
        smtp_class = smtplib.SMTP_SSL if self.mail.use_ssl else smtplib.SMTP
        host = smtp_class(self.mail.server, self.mail.port, timeout=current_app.config["MAIL_TIMEOUT_S"])
        try:
            if self.mail.use_tls:
                host.starttls()
            if self.mail.username and self.mail.password:
                host.login(self.mail.username, self.mail.password)
        except BaseException:
            host.close()
            raise
        return host

    def __exit__(self, exc_type, exc_value, tb):
        if self.host is None:
            return
        try:
            self.host.quit()
        except (smtplib.SMTPException, OSError):
            self.host.close()


def deliver(message):
    """Hand one message to the SMTP server (nothing leaves when MAIL_SUPPRESS_SEND is on)."""
    with _Connection(current_app.extensions["mail"]) as connection:
        connection.send(message)


def outbox_sender(app):
    """The worker that drains the outbox inside a server process."""
    return PeriodicWorker(app, "outbox-sender", app.config["OUTBOX_POLL_S"], do_send_due)


def run_sender_loop(app, rounds=None, poll_s=None):
    """Drain the outbox in the foreground (the `flask outbox send --loop` command)."""
    poll_s = poll_s or app.config["OUTBOX_POLL_S"]
    done = 0
    while rounds is None or done < rounds:
        with app.app_context():
            sent, failed = do_send_due()
        if sent or failed:
            log.info("outbox: sent %s, failed %s", sent, failed)
        done += 1
        time.sleep(poll_s)
