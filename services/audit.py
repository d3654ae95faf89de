"""The audit trail: who accepted, took over, transferred, ended, and why routing chose whom."""
from sqlalchemy import select

from extensions import db
from models import AuditEntry
from services.pagination import paginate


def audit(action, workspace_id, actor=None, conversation_id=None, request_id=None, **details):
    """Record an entry in the caller's transaction."""
    db.session.add(AuditEntry(workspace_id=workspace_id, action=str(action), actor_id=getattr(actor, "id", None),
                              actor_name=getattr(actor, "name", None), conversation_id=conversation_id,
                              request_id=request_id, details=details))


def list_audit(actor, page, page_size, conversation_id=None, action=None):
    """The workspace's audit trail, newest first."""
    stmt = select(AuditEntry).where(AuditEntry.workspace_id == actor.workspace_id).order_by(AuditEntry.id.desc())
    if conversation_id is not None:
        stmt = stmt.where(AuditEntry.conversation_id == conversation_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return paginate(stmt, page, page_size)
