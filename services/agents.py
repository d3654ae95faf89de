"""Admins manage the users (agents and admins) of their workspace."""
from html import escape

from sqlalchemy import func, select

from errors import Conflict, Forbidden, NotFound, ValidationFailed
from extensions import db
from models import Interface, Role, User
from services.auth import new_password_link, normalise_email
from services.mailer import queue_mail
from services.pagination import paginate


class EmailTaken(Conflict):
    code, message = "email_taken", "A user with this e-mail already exists"


class LastAdmin(Conflict):
    code, message = "last_admin", "A workspace keeps at least one admin"


def require_admin(actor):
    if actor.role != Role.ADMIN:
        raise Forbidden("Only admins can do this")


def access_user(actor, user_id):
    """A user of the actor's workspace, or 404."""
    user = db.session.get(User, user_id)
    if user is None or user.workspace_id != actor.workspace_id:
        raise NotFound("User not found")
    return user


def list_users(actor, page, page_size, role=None, interface_id=None, q=None):
    """Users of the workspace with their interface assignments."""
    stmt = select(User).where(User.workspace_id == actor.workspace_id).order_by(User.id)
    if role:
        stmt = stmt.where(User.role == Role(role))
    if interface_id is not None:
        stmt = stmt.where(User.interfaces.any(Interface.id == interface_id))
    if q:
        pattern = f"%{q.lower()}%"
        stmt = stmt.where(func.lower(User.name).like(pattern) | User.email.like(pattern))
    return paginate(stmt, page, page_size)


def check_interfaces(actor, interface_ids):
    """The actor's interfaces with these ids; an unknown id is a field error."""
    ids = list(dict.fromkeys(interface_ids))
    if not ids:
        return []
    found = db.session.scalars(
        select(Interface).where(Interface.id.in_(ids), Interface.workspace_id == actor.workspace_id)
    ).all()
    missing = sorted(set(ids) - {interface.id for interface in found})
    if missing:
        raise ValidationFailed(
            "Unknown chat interface", errors={"json": {"interface_ids": [f"Unknown interface ids: {missing}"]}}
        )
    by_id = {interface.id: interface for interface in found}
    return [by_id[i] for i in ids]


def _check_email_free(email, exclude_id=None):
    stmt = select(User.id).where(User.email == email)
    if exclude_id is not None:
        stmt = stmt.where(User.id != exclude_id)
    if db.session.scalar(stmt) is not None:
        raise EmailTaken()


def _queue_invitation(user, link, expires_at, inviter_name):
    workspace = user.workspace.name
    text = (
        f"Hello {user.name},\n\n"
        f"{inviter_name} invited you to {workspace} as {user.role.value}.\n\n"
        f"Your login: {user.email}\n"
        f"Set your password here (the link works once, until {expires_at:%Y-%m-%d %H:%M} UTC):\n"
        f"{link}\n"
    )
    html = (
        f"<p>Hello {escape(user.name)},</p>"
        f"<p>{escape(inviter_name)} invited you to {escape(workspace)} as {escape(user.role.value)}.</p>"
        f"<p>Your login: <b>{escape(user.email)}</b></p>"
        f'<p><a href="{escape(link)}">Set your password</a> (the link works once, until '
        f"{expires_at:%Y-%m-%d %H:%M} UTC).</p>"
    )
    queue_mail("invitation", [user.email], f"Your {workspace} live chat login", text, html,
               workspace_id=user.workspace_id)


def do_create_user(actor, data):
    """Create a user and queue their invitation in the same transaction."""
    email = normalise_email(data["email"])
    _check_email_free(email)
    interfaces = check_interfaces(actor, data.get("interface_ids", []))
    user = User(
        workspace_id=actor.workspace_id,
        name=data["name"].strip(),
        email=email,
        role=Role(data.get("role", Role.AGENT.value)),
        max_chats=data.get("max_chats", 3),
        token_version=1,
        is_active=True,
    )
    user.interfaces = interfaces
    db.session.add(user)
    db.session.flush()
    link, expires_at = new_password_link(user)
    _queue_invitation(user, link, expires_at, actor.name)
    db.session.commit()
    return user


def _admins_left(workspace_id, excluding):
    return db.session.scalar(
        select(func.count()).select_from(User).where(
            User.workspace_id == workspace_id, User.role == Role.ADMIN, User.is_active, User.id != excluding.id
        )
    )


def do_update_user(actor, user, data):
    """Edit a user; a change of role or a deactivation ends their sessions at once."""
    if user.id == actor.id and ("role" in data or "is_active" in data):
        raise ValidationFailed(
            "You cannot change your own role or deactivate yourself",
            errors={"json": {key: ["Cannot be changed on your own account"] for key in ("role", "is_active") if key in data}},
        )
    if "email" in data:
        email = normalise_email(data["email"])
        if email != user.email:
            _check_email_free(email, exclude_id=user.id)
            user.email = email
    if "name" in data:
        user.name = data["name"].strip()
    if "max_chats" in data:
        user.max_chats = data["max_chats"]
    if "interface_ids" in data:
        user.interfaces = check_interfaces(actor, data["interface_ids"])
    ends_sessions = False
    if "role" in data and Role(data["role"]) != user.role:
        if user.role == Role.ADMIN and _admins_left(user.workspace_id, user) == 0:
            raise LastAdmin()
        user.role = Role(data["role"])
        ends_sessions = True
    if "is_active" in data and data["is_active"] != user.is_active:
        if not data["is_active"] and user.role == Role.ADMIN and _admins_left(user.workspace_id, user) == 0:
            raise LastAdmin()
        user.is_active = data["is_active"]
        ends_sessions = True
    if ends_sessions:
        user.token_version += 1
    db.session.commit()
    return user


def do_delete_user(actor, user):
    """Delete a user; their tokens stop working on the next request."""
    if user.id == actor.id:
        raise Conflict("You cannot delete your own account", code="cannot_delete_self")
    if user.role == Role.ADMIN and _admins_left(user.workspace_id, user) == 0:
        raise LastAdmin()
    db.session.delete(user)
    db.session.commit()


def do_resend_invitation(actor, user):
    """A fresh set-password link; earlier links stop working."""
    if user.has_password:
        raise Conflict("This user has already set a password", code="invitation_accepted")
    if not user.is_active:
        raise Conflict("This user is deactivated", code="user_inactive")
    link, expires_at = new_password_link(user)
    _queue_invitation(user, link, expires_at, actor.name)
    db.session.commit()
    return user
