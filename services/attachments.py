"""Files in a conversation: upload, the messages that carry them, signed download links, removal.

- An upload is read up to ATTACHMENT_MAX_BYTES and no further. Its type is
  decided from its content (`filetype`, or plain text: UTF-8 without NULs),
  never from its name or the type the client claims; a claim of another
  allowed type than the content's is refused as a mismatch, and HTML and SVG
  are never accepted. The file is stored under a generated key; its shown name
  is the client's, stripped of path parts and control characters.
- An upload belongs to its uploader until a message of theirs in the same
  conversation carries it (`link_to_message`, inside the message's transaction).
- Download links sign (attachment id, expiry) with the app's secret: whoever
  may read an attachment is handed a fresh one, and the link alone serves the
  file until it expires, so <img> tags work without a token.
- A stored file goes after the commit that removed its row: the keys are queued
  in stored_file_deletions in that same transaction, removed right after it, and
  whatever failed is retried by the retention worker (`do_remove_deleted_files`).
"""
import base64
import functools
import hashlib
import hmac
import logging
import mimetypes
import posixpath
import re
import time
import unicodedata
from datetime import datetime, timedelta, timezone

import filetype
from flask import current_app
from sqlalchemy import delete, func, insert, literal, select, update

from errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from extensions import db
from models.attachment import FILENAME_MAX_LEN, Attachment, StoredFileDeletion, UploaderType
from models.base import ID_MAX, utcnow
from models.conversation import Conversation, ConversationStatus, SenderType
from models.user import User
from schemas.events import EventType
from services.core import access_conversation, lock_row, transaction, valid_id
from services.storage import StoredFileMissing, new_key, storage

log = logging.getLogger(__name__)

# Never accepted, whatever ATTACHMENT_TYPES says: a browser would run what they contain.
NEVER_TYPES = frozenset({"text/html", "image/svg+xml", "application/xhtml+xml", "text/xml", "application/xml"})
# Shown in the browser (Content-Disposition: inline); anything else is downloaded.
INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"})
# What a claimed type that says nothing looks like.
_GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/unknown"})
# Text that a browser would take for markup, whatever it is served as elsewhere.
_MARKUP = re.compile(rb"^\s*<(?:!doctype|html|head|body|svg|\?xml|script|iframe|!--)", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_READ_CHUNK = 64 * 1024
_TOKEN = re.compile(r"^([1-9][0-9]{0,9})\.([1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})$")
TOKEN_MAX_LEN = 80
# Stored files removed after a commit, or by one retention run, at most this many at a time.
DELETION_BATCH = 100


class FileTooLarge(DomainError):
    status, code = 413, "payload_too_large"

    def __init__(self, limit):
        super().__init__(f"The file is larger than {limit} bytes")


class ConversationStorageFull(DomainError):
    status, code, message = 413, "conversation_storage_full", "This conversation holds as many files as it may"


class EmptyFile(ValidationFailed):
    code, message = "empty_file", "The file is empty"


class FileTypeNotAllowed(ValidationFailed):
    code = "file_type_not_allowed"


class FileTypeMismatch(ValidationFailed):
    code = "file_type_mismatch"


class UploadClosed(Conflict):
    code, message = "conversation_closed", "This conversation is closed"


class AttachmentNotFound(NotFound):
    code, message = "attachment_not_found", "Attachment not found"


class AttachmentAlreadySent(ValidationFailed):
    code, message = "attachment_already_sent", "A message already carries this attachment"


class LinkInvalid(Forbidden):
    code, message = "link_invalid", "This download link is not valid"


class LinkExpired(Forbidden):
    code, message = "link_expired", "This download link has expired; ask for the attachment again"


# -- names and types --------------------------------------------------------------------------------------


def clean_filename(name):
    """The name shown for a file: its last path part, without control characters, at most 255 characters."""
    name = str(name or "").encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes "?"
    name = unicodedata.normalize("NFC", name)
    name = posixpath.basename(name.replace("\\", "/"))
    name = _CONTROL.sub("", name).strip().lstrip(".").strip()
    if not name:
        return "file"
    if len(name) > FILENAME_MAX_LEN:
        stem, dot, extension = name.rpartition(".")
        if dot and 0 < len(extension) <= 16 and stem:
            name = stem[:FILENAME_MAX_LEN - len(extension) - 1] + "." + extension
        else:
            name = name[:FILENAME_MAX_LEN]
    return name


def _is_text(data):
    if b"\x00" in data:
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def detect_type(data):
    """The type the content is (None: not one we can name)."""
    kind = filetype.guess(data[:8192])
    if kind is not None:
        return kind.mime
    if _is_text(data):
        return "text/html" if _MARKUP.match(data[:512]) else "text/plain"
    return None


def _claims(filename, claimed_type):
    """The types the client's Content-Type and the filename's extension claim."""
    claims = set()
    claimed = (claimed_type or "").split(";")[0].strip().lower()
    if claimed not in _GENERIC_TYPES:
        claims.add(claimed)
    guessed, _ = mimetypes.guess_type(filename or "", strict=False)
    if guessed:
        claims.add(guessed.lower())
    return {_ALIASES.get(claim, claim) for claim in claims}


def decide_type(data, filename, claimed_type, allowed):
    """The content type to store the file as; FileTypeNotAllowed or FileTypeMismatch otherwise."""
    allowed = set(allowed) - NEVER_TYPES
    claims = _claims(filename, claimed_type)
    detected = detect_type(data)
    if claims & NEVER_TYPES or detected in NEVER_TYPES and not claims & allowed:
        raise FileTypeNotAllowed(f"Files of this type are not accepted (accepted: {', '.join(sorted(allowed))})")
    wrong = sorted(claim for claim in claims & allowed if claim != detected)
    if wrong:
        raise FileTypeMismatch(f"The file claims to be {wrong[0]} but its content is "
                               f"{detected or 'of an unknown type'}")
    if detected not in allowed:
        raise FileTypeNotAllowed(f"Files of this type are not accepted (accepted: {', '.join(sorted(allowed))})")
    return detected


def read_bounded(stream, limit):
    """The whole stream, or FileTooLarge as soon as it holds more than limit bytes."""
    chunks, size = [], 0
    while True:
        chunk = stream.read(min(_READ_CHUNK, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(limit)
        chunks.append(chunk)


# -- signed links -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _link_key_for(secret):
    return hmac.new(secret.encode(), b"livechat attachment download links", hashlib.sha256).digest()


def _link_key():
    return _link_key_for(current_app.config["JWT_SECRET_KEY"])


def _signature(attachment_id, expires):
    digest = hmac.new(_link_key(), f"{attachment_id}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_link(attachment_id, now=None, ttl_s=None):
    """A download token for the attachment and when it expires (ATTACHMENT_URL_TTL_S unless ttl_s)."""
    now = now if now is not None else time.time()
    expires = int(now) + (ttl_s if ttl_s is not None else current_app.config["ATTACHMENT_URL_TTL_S"])
    return f"{attachment_id}.{expires}.{_signature(attachment_id, expires)}", expires


def check_link(token, now=None):
    """The attachment id a token names; LinkInvalid or LinkExpired otherwise."""
    match = _TOKEN.match(token or "") if isinstance(token, str) and len(token) <= TOKEN_MAX_LEN else None
    if match is None:
        raise LinkInvalid()
    attachment_id, expires, signature = int(match[1]), int(match[2]), match[3]
    if not hmac.compare_digest(signature, _signature(attachment_id, expires)) or attachment_id > ID_MAX:
        raise LinkInvalid()
    if expires < (now if now is not None else time.time()):
        raise LinkExpired()
    return attachment_id


def link(attachment_id, now=None, ttl_s=None):
    """A fresh download link for the attachment, and when it expires (see sign_link)."""
    token, expires = sign_link(attachment_id, now, ttl_s)
    return f"{current_app.config['PUBLIC_URL']}/api/files/{token}", datetime.fromtimestamp(expires, timezone.utc)


def view(attachment, now=None):
    """What a reader is shown of an attachment, with a fresh download link."""
    url, expires_at = link(attachment.id, now)
    return {
        "id": attachment.id, "conversation_id": attachment.conversation_id, "message_id": attachment.message_id,
        "uploader_type": attachment.uploader_type.value, "filename": attachment.filename,
        "content_type": attachment.content_type, "size": attachment.size, "sha256": attachment.sha256,
        "created_at": attachment.created_at,
        "url": url, "url_expires_at": expires_at,
    }


def with_fresh_links(events):
    """Replayed events as a socket sends them: a message's files get links signed now (copies of those frames).

    An event was stored with links that expire; whoever follows the conversation may read its files, so a
    replay hands out fresh ones, without a query (a link signs only the id). Live frames need none: their
    links were signed as they were sent.
    """
    now = time.time()
    return [_fresh(frame, now) if frame["type"] == EventType.MESSAGE_CREATED and frame["data"]["message"].get(
        "attachments") else frame for frame in events]


def _fresh(frame, now):
    message = frame["data"]["message"]
    attachments = []
    for attachment in message["attachments"]:
        url, expires_at = link(attachment["id"], now)
        attachments.append({**attachment, "url": url, "url_expires_at": expires_at.isoformat()})
    return {**frame, "data": {**frame["data"], "message": {**message, "attachments": attachments}}}


# -- upload ---------------------------------------------------------------------------------------------


def uploader_of(principal):
    if isinstance(principal, User):
        return UploaderType.AGENT, principal.id
    return UploaderType.VISITOR, principal.id


def do_upload(principal, conversation_id, stream, filename, claimed_type):
    """Store an upload into a conversation the principal reaches; its view. Nothing stays of a refused one."""
    config = current_app.config
    conversation = access_conversation(principal, conversation_id)
    if conversation.status == ConversationStatus.CLOSED:
        raise UploadClosed()
    data = read_bounded(stream, config["ATTACHMENT_MAX_BYTES"])
    if not data:
        raise EmptyFile()
    content_type = decide_type(data, filename, claimed_type, config["ATTACHMENT_TYPES"])
    if _stored_in(conversation.id) + len(data) > config["ATTACHMENT_CONVERSATION_MAX_BYTES"]:
        raise ConversationStorageFull()  # checked again under the lock; this spares storing a file bound to go
    key = new_key()
    storage().put(key, data)
    uploader_type, uploader_id = uploader_of(principal)
    try:
        attachment = _do_record_upload(conversation, uploader_type, uploader_id, key, data, clean_filename(filename),
                                       content_type, config["ATTACHMENT_CONVERSATION_MAX_BYTES"])
    except BaseException:
        _remove_quietly(key)
        raise
    return view(attachment)


def _stored_in(conversation_id):
    """Bytes of the conversation's files, sent or not."""
    return db.session.scalar(select(func.coalesce(func.sum(Attachment.size), 0))
                             .where(Attachment.conversation_id == conversation_id))


@transaction
def _do_record_upload(conversation, uploader_type, uploader_id, key, data, filename, content_type, quota):
    # The conversation's row lock makes concurrent uploads count one after the other against the quota.
    lock_row(Conversation, conversation.id)
    if _stored_in(conversation.id) + len(data) > quota:
        raise ConversationStorageFull()
    attachment = Attachment(workspace_id=conversation.workspace_id, conversation_id=conversation.id,
                            uploader_type=uploader_type, uploader_id=uploader_id, filename=filename,
                            content_type=content_type, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                            storage_key=key, created_at=utcnow())
    db.session.add(attachment)
    db.session.flush()
    return attachment


def _remove_quietly(key):
    try:
        storage().delete(key)
    except Exception:  # an orphan file is harmless; it must not hide the error being raised
        log.warning("could not remove a refused upload's file", exc_info=True)


# -- reading ----------------------------------------------------------------------------------------------


def access_attachment(principal, conversation_id, attachment_id):
    """An attachment of a conversation the principal reaches: sent in a message, or their own upload; 404 otherwise."""
    conversation = access_conversation(principal, conversation_id)
    attachment = db.session.get(Attachment, attachment_id) if valid_id(attachment_id) else None
    if attachment is None or attachment.conversation_id != conversation.id:
        raise AttachmentNotFound()
    if attachment.message_id is None and (attachment.uploader_type, attachment.uploader_id) != uploader_of(principal):
        raise AttachmentNotFound()
    return attachment


def get_attachment(principal, conversation_id, attachment_id):
    return view(access_attachment(principal, conversation_id, attachment_id))


def open_download(token):
    """The attachment a download token names and its stored file, opened (the caller closes it)."""
    attachment = db.session.get(Attachment, check_link(token))
    if attachment is None:
        raise AttachmentNotFound()
    try:
        return attachment, storage().open(attachment.storage_key)
    except StoredFileMissing:
        raise AttachmentNotFound() from None


def attachments_by_message(message_ids):
    """{message id: the files it carries, in upload order}: one query for all of them."""
    by_message = {}
    if message_ids:
        for attachment in db.session.scalars(select(Attachment).where(Attachment.message_id.in_(message_ids))
                                             .order_by(Attachment.id)):
            by_message.setdefault(attachment.message_id, []).append(attachment)
    return by_message


def message_views(messages):
    """Set each message's `attachments` to the views of the files it carries: one query for all of them."""
    if not messages:
        return messages
    by_message = attachments_by_message([message.id for message in messages])
    now = time.time()
    for message in messages:
        message.attachments = [view(a, now) for a in by_message.get(message.id, ())]
    return messages


# -- messages carry them --------------------------------------------------------------------------------


def link_to_message(message, conversation, sender_type, sender_id, attachment_ids):
    """Hand unsent uploads of the sender in this conversation to the message (in its transaction); their views.

    A message shows its files in the order they were uploaded, here as in the history.
    One conditional UPDATE takes them: two messages racing for one upload cannot both get it.
    """
    ids = list(dict.fromkeys(attachment_ids))
    if SenderType(sender_type) not in (SenderType.VISITOR, SenderType.AGENT):
        raise AttachmentNotFound()
    uploader_type = UploaderType.AGENT if sender_type == SenderType.AGENT else UploaderType.VISITOR
    mine = (Attachment.id.in_(ids), Attachment.conversation_id == conversation.id,
            Attachment.uploader_type == uploader_type, Attachment.uploader_id == sender_id)
    taken = db.session.scalars(update(Attachment).where(*mine, Attachment.message_id.is_(None))
                               .values(message_id=message.id).returning(Attachment)
                               .execution_options(synchronize_session=False, populate_existing=True)).all()
    if len(taken) != len(ids):
        sent = db.session.scalar(select(func.count()).select_from(Attachment).where(*mine))
        raise AttachmentAlreadySent() if sent > len(taken) else AttachmentNotFound()
    now = time.time()
    return [view(attachment, now) for attachment in sorted(taken, key=lambda attachment: attachment.id)]


# -- removal ---------------------------------------------------------------------------------------------


def queue_file_deletions(*conditions):
    """Queue the stored files of the attachments matching conditions for removal (in the caller's transaction).

    Call it before the rows go (a cascade, a delete); after the commit, do_remove_deleted_files removes them.
    """
    rows = select(Attachment.storage_key, literal(utcnow(), StoredFileDeletion.created_at.type)).where(*conditions)
    db.session.execute(insert(StoredFileDeletion).from_select(["storage_key", "created_at"], rows))


def do_remove_deleted_files(batches=1):
    """Remove the queued stored files; what failed stays queued for the next run. The number removed.

    Never raises: a file that outlives its row is only space, and the next run tries again.
    """
    removed = 0
    try:
        for _ in range(batches):
            queued = db.session.execute(select(StoredFileDeletion.id, StoredFileDeletion.storage_key)
                                        .order_by(StoredFileDeletion.id).limit(DELETION_BATCH)).all()
            done = []
            for row_id, key in queued:
                try:
                    storage().delete(key)
                except Exception:  # the storage is away: the rest waits for the next run rather than for it
                    log.warning("could not remove a stored file; retried later", exc_info=True)
                    break
                done.append(row_id)
            if done:
                db.session.execute(delete(StoredFileDeletion).where(StoredFileDeletion.id.in_(done)))
            db.session.commit()
            removed += len(done)
            if len(queued) < DELETION_BATCH or len(done) < len(queued):
                break
    except Exception:
        db.session.rollback()
        log.warning("removing stored files failed; retried later", exc_info=True)
    return removed


def do_prune_unsent(cutoff, batch_size, max_batches):
    """Delete uploads no message took before cutoff, queueing their files; the number deleted."""
    total = 0
    for _ in range(max_batches):
        ids = db.session.scalars(select(Attachment.id).where(Attachment.message_id.is_(None),
                                                             Attachment.created_at < cutoff)
                                 .order_by(Attachment.id).limit(batch_size)).all()
        if ids:
            queue_file_deletions(Attachment.id.in_(ids), Attachment.message_id.is_(None))
            db.session.execute(delete(Attachment).where(Attachment.id.in_(ids), Attachment.message_id.is_(None))
                               .execution_options(synchronize_session=False))
        db.session.commit()
        total += len(ids)
        if len(ids) < batch_size:
            break
    return total


def unsent_cutoff(now):
    return now - timedelta(hours=current_app.config["ATTACHMENT_UNSENT_TTL_H"])
