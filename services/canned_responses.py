"""Canned responses: the workspace's shared ones (admins manage them) and each user's personal ones.

A user reaches the shared responses of their workspace and their own personal
ones; another user's personal response does not exist for them (404). A
shortcut names one response of each kind (the database decides: partial
unique indexes). Admins' changes to shared responses go to the audit trail.
"""
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from errors import Conflict, Forbidden, NotFound
from extensions import db
from models import AuditAction, CannedResponse, CannedScope, ConversationStatus, Role
from models.texts import POSITION
from services.audit import audit
from services.core import access_conversation, get_in_workspace, transaction
from services.pagination import paginate
from services.queue import latest_request, queue_position
from services.render import fill


class ShortcutTaken(Conflict):
    code, message = "shortcut_taken", "A canned response with this shortcut already exists"


def _escaped(text):
    """text for a LIKE pattern, lower-cased, with its % and _ (and the escape itself) taken literally."""
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def access_canned_response(user, canned_response_id):
    """A shared response of the user's workspace or a personal one of theirs; 404 otherwise."""
    row = get_in_workspace(CannedResponse, canned_response_id, user.workspace_id)
    if row is None or row.owner_id not in (None, user.id):
        raise NotFound("Canned response not found")
    return row


def _check_may_change(user, scope):
    if scope == CannedScope.SHARED and user.role != Role.ADMIN:
        raise Forbidden("Only admins can change the workspace's shared canned responses")


def list_canned_responses(user, page, page_size, scope=None, q=None):
    """The workspace's shared responses and the user's own, by shortcut (shared first on a tie)."""
    stmt = select(CannedResponse).where(CannedResponse.workspace_id == user.workspace_id)
    if scope == CannedScope.SHARED:
        stmt = stmt.where(CannedResponse.owner_id.is_(None))
    elif scope == CannedScope.PERSONAL:
        stmt = stmt.where(CannedResponse.owner_id == user.id)
    else:
        stmt = stmt.where(or_(CannedResponse.owner_id.is_(None), CannedResponse.owner_id == user.id))
    if q:
        escaped = _escaped(q)
        stmt = stmt.where(or_(CannedResponse.shortcut.like(f"{escaped}%", escape="\\"),
                              func.lower(CannedResponse.text).like(f"%{escaped}%", escape="\\")))
    stmt = stmt.order_by(CannedResponse.shortcut, CannedResponse.owner_id.is_not(None), CannedResponse.id)
    return paginate(stmt, page, page_size)


def _store(row):
    """Write row now: a shortcut already used (the unique index decides, races too) is 409 shortcut_taken."""
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:
        raise ShortcutTaken() from None


def _audit(action, user, row):
    if row.owner_id is None:
        audit(action, user.workspace_id, user, canned_response_id=row.id, shortcut=row.shortcut)


@transaction
def do_create_canned_response(user, data):
    """Create a personal response (anyone) or a shared one (admins)."""
    scope = CannedScope(data["scope"])
    _check_may_change(user, scope)
    row = CannedResponse(workspace_id=user.workspace_id, owner_id=user.id if scope == CannedScope.PERSONAL else None,
                         shortcut=data["shortcut"], text=data["text"])
    db.session.add(row)
    _store(row)
    _audit(AuditAction.CANNED_RESPONSE_CREATED, user, row)
    return row


@transaction
def do_update_canned_response(user, row, data):
    """Change a response's shortcut or text: one's own, or a shared one as an admin."""
    _check_may_change(user, row.scope)
    for key in ("shortcut", "text"):
        if key in data:
            setattr(row, key, data[key])
    _store(row)
    _audit(AuditAction.CANNED_RESPONSE_UPDATED, user, row)
    return row


@transaction
def do_delete_canned_response(user, row):
    """Delete one's own response, or a shared one as an admin."""
    _check_may_change(user, row.scope)
    _audit(AuditAction.CANNED_RESPONSE_DELETED, user, row)
    db.session.delete(row)


def render_canned_response(user, conversation_id, canned_response_id):
    """The response's text filled for a conversation the user may see, with the user as the agent."""
    conversation = access_conversation(user, conversation_id)
    row = access_canned_response(user, canned_response_id)
    position = None
    if conversation.status == ConversationStatus.WAITING:
        request = latest_request(conversation)
        position = queue_position(request) if request is not None else None
    values = {"agent_name": user.name, "visitor_name": conversation.visitor.name,
              "interface_name": conversation.interface.name, POSITION: position}
    # Outside the queue there is no position: it shows nothing rather than the visitor-facing "?".
    text = fill(row.text, values, fallbacks={POSITION: ""})
    return {"canned_response_id": row.id, "shortcut": row.shortcut, "text": text}
