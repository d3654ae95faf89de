"""Workspaces (tenants) and their first admin."""
from sqlalchemy import select

from extensions import db
from models import Role, User, Workspace
from services.agents import EmailTaken
from services.auth import new_password_link, normalise_email


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
