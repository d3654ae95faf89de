"""Data protection: find a visitor, export everything about them, erase it, and erase old chats by retention.

Erasure keeps the shape of the history and drops its content, so agents' statistics stay:

- the visitor row stays as a pseudonymous shell (name, e-mail, external id and attributes nulled,
  `erased_at` set) and its `token_key` is rotated, so every token and ticket it held stops working;
- messages keep their seq, sender type, agent and times; their text becomes "" and their data null, and the
  visitor's sender name is cleared (the search index follows: PostgreSQL's is an expression index over the
  text, SQLite's FTS table is kept by a trigger on UPDATE OF text);
- attachments' stored files are queued for deletion (removed after the commit) and their rows keep only
  type, size and times (filename and hash cleared);
- offline form answers are emptied; the offline-form e-mails that carried them (reply-to or body) are
  deleted from the outbox, sent or not;
- private notes in the visitor's conversations are redacted too (staff write the visitor's name and
  details in them): a note is staff data *about* the visitor, so the export includes it and erase removes it;
- the durable events of the conversations' streams, their notes streams and the visitor's stream are
  deleted, and so are the events on users' streams that carry those conversations or the visitor. A client
  resuming past a deleted event is told to refetch (services/events.py replay), never handed a gap.

What each table loses is one eraser in ERASERS, run in order for a batch of conversation ids; a table added
later that holds visitor data joins with one `@eraser` function. A chat a human is part of (a pending
request or an agent) is refused with 409 until it ends; a conversation still with the bot is closed by the
erase. Erasing again finds nothing more to do and answers the same. Audit entries name the visitor only as
`visitor#<id>`.

Export (`export_visitor`) is bounded: at most EXPORT_CONVERSATIONS_MAX conversations (newest first) and
EXPORT_MESSAGES_MAX messages over all of them (oldest first in each); `truncated` says when a cap cut it.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import and_, delete, func, or_, select, update

from errors import Conflict, NotFound
from extensions import db
from models import (
    AuditAction,
    Conversation,
    ConversationStatus,
    Message,
    OfflineSubmission,
    OutboxMail,
    Rating,
    SenderType,
    Visitor,
    Workspace,
)
from models.attachment import Attachment
from models.base import new_token_key, utcnow
from models.call import Call
from models.event import Event
from models.live_request import LiveRequest
from models.note import Note
from models.webhook import WebhookDelivery
from services.attachments import (
    do_remove_deleted_files,
    message_views,
    queue_file_deletions,
    view,
)
from services.audit import audit
from services.core import get_in_workspace, lock_row, transaction
from services.events import conversation_stream, notes_stream, visitor_stream
from services.pagination import paginate

# How many events of users' streams one erase reads to find those that carry the visitor's conversations.
USER_EVENTS_SCAN_MAX = 20000
_SCAN_CHUNK = 500


class VisitorInChat(Conflict):
    code, message = "visitor_in_chat", "The visitor is waiting for or talking with an agent: end the chat first"


def pseudonym(visitor_id):
    """How audit entries and logs name a visitor whose data may be erased."""
    return f"visitor#{visitor_id}"


def access_visitor(actor, visitor_id):
    """A visitor of the actor's workspace; 404 otherwise."""
    visitor = get_in_workspace(Visitor, visitor_id, actor.workspace_id)
    if visitor is None:
        raise NotFound("Visitor not found")
    return visitor


def find_visitors(actor, page, page_size, email=None, external_id=None, interface_id=None):
    """The workspace's visitors, newest first: by exact e-mail (ignoring case) or the site's user id."""
    stmt = select(Visitor).where(Visitor.workspace_id == actor.workspace_id).order_by(Visitor.id.desc())
    if email is not None:
        stmt = stmt.where(func.lower(Visitor.email) == email.lower())
    if external_id is not None:
        stmt = stmt.where(Visitor.external_id == external_id)
    if interface_id is not None:
        stmt = stmt.where(Visitor.interface_id == interface_id)
    return paginate(stmt, page, page_size)


# -- export -----------------------------------------------------------------------------------------------------


def _by_conversation(model, ids, order=None):
    rows = {}
    if ids:
        for row in db.session.scalars(select(model).where(model.conversation_id.in_(ids))
                                      .order_by(order if order is not None else model.id)):
            rows.setdefault(row.conversation_id, []).append(row)
    return rows


@transaction
def do_export_visitor(actor, visitor):
    """Everything stored about the visitor, bounded (see the module's docstring); audited."""
    config = current_app.config
    conversations_max, messages_left = config["EXPORT_CONVERSATIONS_MAX"], config["EXPORT_MESSAGES_MAX"]
    conversations = db.session.scalars(select(Conversation).where(Conversation.visitor_id == visitor.id)
                                       .order_by(Conversation.id.desc()).limit(conversations_max + 1)).all()
    truncated = len(conversations) > conversations_max
    conversations = conversations[:conversations_max]
    ids = [c.id for c in conversations]
    attachments = _by_conversation(Attachment, ids)
    requests = _by_conversation(LiveRequest, ids)
    calls = _by_conversation(Call, ids)
    submissions = _by_conversation(OfflineSubmission, ids)
    notes = _by_conversation(Note, ids)
    ratings = _by_conversation(Rating, ids)
    out = []
    for conversation in conversations:
        messages = db.session.scalars(select(Message).where(Message.conversation_id == conversation.id)
                                      .order_by(Message.seq).limit(messages_left + 1)).all() if messages_left else []
        cut = len(messages) > messages_left or (not messages_left and conversation.last_seq > 0)
        messages = message_views(messages[:messages_left])
        messages_left -= len(messages)
        truncated = truncated or cut
        out.append({"conversation": conversation, "messages": messages, "messages_truncated": cut,
                    "attachments": [view(a) for a in attachments.get(conversation.id, ())],
                    "live_requests": requests.get(conversation.id, []), "calls": calls.get(conversation.id, []),
                    "offline_submissions": submissions.get(conversation.id, []),
                    "notes": notes.get(conversation.id, []),
                    "rating": next(iter(ratings.get(conversation.id, ())), None)})
    audit(AuditAction.VISITOR_EXPORTED, visitor.workspace_id, actor, visitor=pseudonym(visitor.id),
          conversations=len(out), truncated=truncated)
    return {"visitor": visitor, "conversations": out, "truncated": truncated, "exported_at": utcnow()}


# -- erase ------------------------------------------------------------------------------------------------------

# What each table loses when conversations are erased: functions of (workspace_id, conversation ids, visitor or
# None), run in order inside the erasing transaction. A visitor is given when the visitor themselves is erased.
ERASERS = []


def eraser(function):
    """Register an eraser (see ERASERS); one line for every table that holds visitor data."""
    ERASERS.append(function)
    return function


def _quiet(statement):
    return db.session.execute(statement.execution_options(synchronize_session=False))


@eraser
def _erase_messages(workspace_id, ids, visitor):
    if ids:
        _quiet(update(Message).where(Message.conversation_id.in_(ids)).values(text="", data=None))
        _quiet(update(Message).where(Message.conversation_id.in_(ids), Message.sender_type == SenderType.VISITOR)
               .values(sender_name=None))


@eraser
def _erase_attachments(workspace_id, ids, visitor):
    if ids:
        queue_file_deletions(Attachment.conversation_id.in_(ids), Attachment.filename != "")
        _quiet(update(Attachment).where(Attachment.conversation_id.in_(ids), Attachment.filename != "")
               .values(filename="", sha256=""))


def _answers(submission):
    return sorted({value for value in (submission.data or {}).values() if isinstance(value, str) and value})


def _like(value):
    """A LIKE pattern matching value anywhere, its wildcards taken literally (escape character: backslash)."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@eraser
def _erase_offline_forms(workspace_id, ids, visitor):
    if not ids:
        return
    submissions = db.session.scalars(select(OfflineSubmission).where(OfflineSubmission.conversation_id.in_(ids))).all()
    # The offline form's e-mail: the one whose body holds every answer of a submission, or whose reply-to is
    # the visitor's address (never a mail that merely shares one common answer with theirs).
    matches = [and_(*[OutboxMail.body_text.like(_like(answer), escape="\\") for answer in _answers(row)][:50])
               for row in submissions if _answers(row)]
    if visitor is not None and visitor.email:
        matches.append(func.lower(OutboxMail.reply_to) == visitor.email.lower())
    if matches:
        _quiet(delete(OutboxMail).where(OutboxMail.workspace_id == workspace_id, OutboxMail.kind == "offline_form",
                                        or_(*matches)))
    _quiet(update(OfflineSubmission).where(OfflineSubmission.conversation_id.in_(ids)).values(data={}))


@eraser
def _erase_notes(workspace_id, ids, visitor):
    if ids:
        _quiet(update(Note).where(Note.conversation_id.in_(ids)).values(text=""))


def _carries(payload, ids, visitor_id):
    """Whether an event's payload names one of the conversations (or the visitor), at any depth."""
    stack, seen = [payload], 0
    while stack and seen < 10000:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            if item.get("conversation_id") in ids or (visitor_id is not None and item.get("visitor_id") == visitor_id):
                return True
            for key in ("conversation", "visitor"):
                inner = item.get(key)
                if isinstance(inner, dict) and (inner.get("id") in ids if key == "conversation"
                                                else visitor_id is not None and inner.get("id") == visitor_id):
                    return True
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


@eraser
def _erase_events(workspace_id, ids, visitor):
    streams = [conversation_stream(i) for i in ids] + [notes_stream(i) for i in ids]
    if visitor is not None:
        streams.append(visitor_stream(visitor.id))
    if streams:
        _quiet(delete(Event).where(Event.stream.in_(streams)))
    # Users' streams carry conversations (conversation.updated), notifications and mentions: read the
    # workspace's, newest first and bounded, and delete those naming the visitor or their conversations.
    ids = set(ids)
    visitor_id = visitor.id if visitor is not None else None
    last, scanned = None, 0
    while scanned < USER_EVENTS_SCAN_MAX:
        stmt = select(Event.id, Event.payload).where(Event.workspace_id == workspace_id, Event.stream.like("user:%"))
        if last is not None:
            stmt = stmt.where(Event.id < last)
        rows = db.session.execute(stmt.order_by(Event.id.desc()).limit(_SCAN_CHUNK)).all()
        doomed = [row_id for row_id, payload in rows if _carries(payload, ids, visitor_id)]
        if doomed:
            _quiet(delete(Event).where(Event.id.in_(doomed)))
        scanned += len(rows)
        if len(rows) < _SCAN_CHUNK:
            break
        last = rows[-1][0]


@eraser
def _erase_conversations(workspace_id, ids, visitor):
    if ids:
        _quiet(update(Conversation).where(Conversation.id.in_(ids), Conversation.erased_at.is_(None))
               .values(erased_at=utcnow(), updated_at=Conversation.updated_at))


# Last: the erasers before it find the visitor's mails and events by the details this one clears. An eraser
# added later registers after it, with the conversation ids (and the visitor's id) to go by.
@eraser
def _erase_visitor(workspace_id, ids, visitor):
    if visitor is not None and visitor.erased_at is None:
        visitor.name = visitor.email = visitor.external_id = visitor.attributes = None
        visitor.email_verified = False
        visitor.token_key = new_token_key()  # every token and ticket of theirs stops working
        visitor.erased_at = utcnow()


@eraser
def _erase_ratings(workspace_id, ids, visitor):
    # The score stays for the reports; the comment is the visitor's words.
    if ids:
        _quiet(update(Rating).where(Rating.conversation_id.in_(ids)).values(comment=None))


@eraser
def _erase_conversation_mails(workspace_id, ids, visitor):
    # Transcripts and offline-form mails name their conversation (older mails are found by content above).
    if ids:
        _quiet(delete(OutboxMail).where(OutboxMail.conversation_id.in_(ids)))


@eraser
def _erase_webhook_deliveries(workspace_id, ids, visitor):
    # Payloads hold messages, names and form answers: an erased conversation's deliveries go, sent or not.
    if ids:
        _quiet(delete(WebhookDelivery).where(WebhookDelivery.workspace_id == workspace_id,
                                             WebhookDelivery.conversation_id.in_(ids)))


def erase_conversations(workspace_id, ids, visitor=None):
    """Run every eraser over these conversations (and the visitor, when given), in the caller's transaction."""
    for function in ERASERS:
        function(workspace_id, list(ids), visitor)


def do_erase_visitor(actor, visitor):
    """Erase the visitor's personal data (see the module's docstring); the erased visitor. Idempotent; audited.

    Their stored files go after the commit: a first batch now, any more (or any that failed) at the next
    retention run.
    """
    visitor = _do_erase_visitor(actor, visitor)
    do_remove_deleted_files()
    return visitor


def _lock_conversations(ids):
    """Lock the conversations' rows, in id order: a message or note written meanwhile waits for the erase."""
    for conversation_id in sorted(ids):
        lock_row(Conversation, conversation_id)


@transaction
def _do_erase_visitor(actor, visitor):
    ids = db.session.scalars(select(Conversation.id).where(Conversation.visitor_id == visitor.id)).all()
    _lock_conversations(ids)
    # Read under the locks: a request pressed meanwhile is seen. A pending request means a waiting conversation.
    if db.session.scalar(select(func.count()).select_from(Conversation).where(
            Conversation.visitor_id == visitor.id,
            Conversation.status.in_([ConversationStatus.WAITING, ConversationStatus.ACTIVE]))):
        raise VisitorInChat()
    # A conversation still with the bot ends here: nobody else is part of it.
    _quiet(update(Conversation).where(Conversation.visitor_id == visitor.id,
                                      Conversation.status == ConversationStatus.BOT)
           .values(status=ConversationStatus.CLOSED, closed_at=utcnow(), component_id=None))
    first = visitor.erased_at is None
    erase_conversations(visitor.workspace_id, ids, visitor)
    if first:
        audit(AuditAction.VISITOR_ERASED, visitor.workspace_id, actor, visitor=pseudonym(visitor.id),
              conversations=len(ids))
    db.session.flush()
    db.session.refresh(visitor)
    return visitor


# -- retention --------------------------------------------------------------------------------------------------


def _expired(now, batch_size):
    """Up to batch_size closed, unerased conversations past their workspace's retention: (workspace, id, visitor)."""
    rows = []
    for workspace_id, days in db.session.execute(select(Workspace.id, Workspace.retention_days)
                                                 .where(Workspace.retention_days.is_not(None))
                                                 .order_by(Workspace.id)).all():
        rows += db.session.execute(select(Conversation.workspace_id, Conversation.id, Conversation.visitor_id).where(
            Conversation.workspace_id == workspace_id, Conversation.erased_at.is_(None),
            Conversation.status == ConversationStatus.CLOSED, Conversation.closed_at < now - timedelta(days=days))
            .order_by(Conversation.closed_at).limit(batch_size - len(rows))).all()
        if len(rows) >= batch_size:
            break
    return rows


@transaction
def _do_erase_expired_batch(now, batch_size):
    """Erase one batch of expired conversations, then their visitors left with nothing unerased; the count."""
    rows = _expired(now, batch_size)
    _lock_conversations([conversation_id for _, conversation_id, _ in rows])
    by_workspace = {}
    for workspace_id, conversation_id, visitor_id in rows:
        ids, visitor_ids = by_workspace.setdefault(workspace_id, ([], set()))
        ids.append(conversation_id)
        visitor_ids.add(visitor_id)
    for workspace_id, (ids, visitor_ids) in by_workspace.items():
        erase_conversations(workspace_id, ids)
        audit(AuditAction.CONVERSATIONS_ERASED, workspace_id, conversations=len(ids))
        left = set(db.session.scalars(select(Conversation.visitor_id).where(
            Conversation.visitor_id.in_(visitor_ids), Conversation.erased_at.is_(None))))
        for visitor in db.session.scalars(select(Visitor).where(Visitor.id.in_(visitor_ids - left),
                                                                 Visitor.erased_at.is_(None))):
            erase_conversations(workspace_id, [], visitor)
            audit(AuditAction.VISITOR_ERASED, workspace_id, visitor=pseudonym(visitor.id), conversations=0)
    return len(rows)


def do_erase_expired(now, batch_size, max_batches):
    """Erase the conversations past their workspace's retention, batch by batch; the number erased."""
    total = 0
    for _ in range(max_batches):
        done = _do_erase_expired_batch(now, batch_size)
        total += done
        if done < batch_size:
            break
    return total
