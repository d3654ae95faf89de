"""Retention: old rows of the growing tables are deleted in bounded batches.

Each table is pruned by its own RETENTION_*_DAYS (0 keeps it forever). Every
batch is one DELETE of at most RETENTION_BATCH_SIZE rows, committed on its own,
and a table gets at most RETENTION_MAX_BATCHES of them a run: a large backlog
is worked off over several runs instead of holding locks for minutes.

Events: a client resumes from a position, and replay() answers `refetch` when
an event after that position is gone (the next one, or all of them while the
stream's position is further), so any event past its retention may go: a client
whose position was pruned is told to refetch, never handed a silent gap, and
one that saw the recent events resumes. The streams rows are never deleted:
positions never go back.

Conversations: a workspace with retention_days erases its closed conversations older than that
(services/data_protection.py), and visitors left with nothing unerased.

Attachments: uploads no message carries are deleted after ATTACHMENT_UNSENT_TTL_H,
and stored files whose rows are gone are removed (services/attachments.py).
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from extensions import db
from models.audit import AuditEntry
from models.base import utcnow
from models.event import Event
from models.live_request import Notification, NotificationStatus
from models.outbox import OutboxMail, OutboxStatus
from models.webhook import WebhookDelivery
from services.attachments import do_prune_unsent, do_remove_deleted_files, unsent_cutoff
from services.auth import do_purge_expired
from services.data_protection import do_erase_expired

# Outbox rows that will never be sent again.
_OUTBOX_DONE = (OutboxStatus.SENT.value, OutboxStatus.FAILED.value, OutboxStatus.CANCELLED.value)


def _prunable_events(cutoff):
    return select(Event.id).where(Event.created_at < cutoff)


def _prunable_notifications(cutoff):
    # Every resolution sets resolved_at; a pending one has none.
    return select(Notification.id).where(Notification.resolved_at < cutoff,
                                         Notification.status != NotificationStatus.PENDING)


def _prunable_audit(cutoff):
    return select(AuditEntry.id).where(AuditEntry.created_at < cutoff)


def _prunable_outbox(cutoff):
    return select(OutboxMail.id).where(OutboxMail.status.in_(_OUTBOX_DONE),
                                       func.coalesce(OutboxMail.sent_at, OutboxMail.created_at) < cutoff)


def _prunable_webhook_deliveries(cutoff):
    return select(WebhookDelivery.id).where(WebhookDelivery.created_at < cutoff)


# table label: (model, setting of its retention in days, the ids that may go given a cutoff)
TABLES = {
    "events": (Event, "RETENTION_EVENTS_DAYS", _prunable_events),
    "notifications": (Notification, "RETENTION_NOTIFICATIONS_DAYS", _prunable_notifications),
    "audit entries": (AuditEntry, "RETENTION_AUDIT_DAYS", _prunable_audit),
    "outbox mails": (OutboxMail, "RETENTION_OUTBOX_DAYS", _prunable_outbox),
    "webhook deliveries": (WebhookDelivery, "RETENTION_WEBHOOK_DELIVERIES_DAYS", _prunable_webhook_deliveries),
}


def do_prune_table(model, prunable, batch_size, max_batches):
    """Delete the rows `prunable` selects, batch by batch; the number deleted."""
    total = 0
    for _ in range(max_batches):
        ids = prunable.limit(batch_size).scalar_subquery()
        deleted = db.session.execute(
            delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)).rowcount
        db.session.commit()
        total += deleted
        if deleted < batch_size:
            break
    return total


def prune_once(now=None):
    """One retention run over every table; {what: rows deleted}."""
    config = current_app.config
    now = now or utcnow()
    batch_size, max_batches = config["RETENTION_BATCH_SIZE"], config["RETENTION_MAX_BATCHES"]
    done = {}
    for label, (model, setting, prunable) in TABLES.items():
        days = config[setting]
        done[label] = do_prune_table(model, prunable(now - timedelta(days=days)), batch_size, max_batches) if days else 0
    done["revoked tokens"], done["password links"] = do_purge_expired()
    # Conversations past their workspace's retention_days are erased (files queued, removed just below).
    done["erased conversations"] = do_erase_expired(now, config["RETENTION_ERASE_BATCH_SIZE"], max_batches)
    # Uploads no message took within the day, and then every stored file whose row is gone (a removal that
    # failed right after its commit is retried here).
    done["unsent attachments"] = do_prune_unsent(unsent_cutoff(now), batch_size, max_batches)
    done["stored files"] = do_remove_deleted_files(max_batches)
    return done
