"""Workspaces (tenants) and their first admin."""
from sqlalchemy import select

from errors import NotFound
from extensions import db
from models import AuditAction, PasswordTokenPurpose, Role, User, Workspace
from services.agents import EmailTaken
from services.audit import audit
from services.auth import new_password_link, normalise_email
from services.core import transaction


def do_create_workspace(name, admin_email, admin_name):
    """A workspace with its first admin; returns (workspace, admin, set-password link)."""
    email = normalise_email(admin_email)
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise EmailTaken()
    workspace = Workspace(name=name.strip())
    db.session.add(workspace)
    db.session.flush()
    admin = User(workspace_id=workspace.id, name=admin_name.strip(), email=email, role=Role.ADMIN,
                 max_chats=3, token_version=1, is_active=True)
    db.session.add(admin)
    db.session.flush()
    link, _ = new_password_link(admin)
    db.session.commit()
    return workspace, admin, link


def first_workspace():
    return db.session.scalar(select(Workspace).order_by(Workspace.id).limit(1))


def do_admin_link(email=None):
    """A fresh single-use set-password link for an active admin; the admin's older links stop working.

    Without an e-mail: the first admin of the first workspace (the one `make run` created).
    """
    query = select(User).where(User.role == Role.ADMIN, User.is_active.is_(True))
    if email:
        query = query.where(User.email == normalise_email(email))
    admin = db.session.scalars(query.order_by(User.workspace_id, User.id).limit(1)).first()
    if admin is None:
        raise NotFound("No active admin with this e-mail" if email else "No active admin yet")
    link, expires_at = new_password_link(admin, PasswordTokenPurpose.RESET)
    db.session.commit()
    return admin, link, expires_at


def get_workspace(user):
    return db.session.get(Workspace, user.workspace_id)


@transaction
def do_update_workspace(admin, data):
    """Change the workspace's name, time zone (its reports' days are that zone's) or retention_days (audited
    when it changes: the retention worker erases closed conversations older than that)."""
    workspace = get_workspace(admin)
    if "name" in data:
        workspace.name = data["name"].strip()
    if "timezone" in data:
        workspace.timezone = data["timezone"]
    if "retention_days" in data and data["retention_days"] != workspace.retention_days:
        audit(AuditAction.RETENTION_CHANGED, workspace.id, admin, before=workspace.retention_days,
              after=data["retention_days"])
        workspace.retention_days = data["retention_days"]
    return workspace
