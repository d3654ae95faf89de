"""Admins manage the users (agents and admins) of their workspace."""
from contextlib import contextmanager
from html import escape

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from errors import Conflict, NotFound, ValidationFailed
from extensions import db
from models import Interface, Role, SessionEndReason, User, Workspace, WithdrawReason
from schemas.events import EventType
from services.auth import new_password_link, normalise_email
from services.core import check_in_workspace, get_in_workspace, lock_row
from services.events import emit, user_stream
from services.live_requests import offer_waiting
from services.mailer import cancel_pending, queue_mail
from services.pagination import paginate
from services.releases import requeue_agent


class EmailTaken(Conflict):
    code, message = "email_taken", "A user with this e-mail already exists"


class LastAdmin(Conflict):
    code, message = "last_admin", "A workspace keeps at least one admin"


def access_user(actor, user_id):
    """Return a user of the actor's workspace, or raise 404."""
    user = get_in_workspace(User, user_id, actor.workspace_id)
    if user is None:
        raise NotFound("User not found")
    return user


def _contains(text):
    """A LIKE pattern matching text literally anywhere (its % and _ are not wildcards)."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def list_users(actor, page, page_size, role=None, interface_id=None, q=None):
    """List one page of the workspace's users with their interface assignments."""
    stmt = (select(User).where(User.workspace_id == actor.workspace_id)
            .options(selectinload(User.interfaces)).order_by(User.id))
    if role:
        stmt = stmt.where(User.role == Role(role))
    if interface_id is not None:
        stmt = stmt.where(User.interfaces.any(Interface.id == interface_id))
    if q:
        pattern = _contains(q)
        stmt = stmt.where(func.lower(User.name).like(pattern, escape="\\") | User.email.like(pattern, escape="\\"))
    return paginate(stmt, page, page_size)


def check_interfaces(actor, interface_ids):
    """Return the actor's interfaces with these ids; an unknown id is a field error."""
    return check_in_workspace(Interface, actor, interface_ids, "interface_ids", "interface", "Unknown chat interface")


def _email_in_use(email, exclude_id=None):
    stmt = select(User.id).where(User.email == email)
    if exclude_id is not None:
        stmt = stmt.where(User.id != exclude_id)
    return db.session.scalar(stmt) is not None


@contextmanager
def _unique_email(email):
    """Turn losing a race for an address (the unique index decides) into 409 email_taken."""
    try:
        yield
    except IntegrityError:
        db.session.rollback()
        if _email_in_use(email):
            raise EmailTaken() from None
        raise


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
    if _email_in_use(email):
        raise EmailTaken()
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
    with _unique_email(email):
        db.session.flush()
        link, expires_at = new_password_link(user)
        _queue_invitation(user, link, expires_at, actor.name)
        db.session.commit()
    return user


def _other_active_admins(user):
    """Count the active admins of user's workspace besides user, holding the workspace's lock.

    The lock (a no-op UPDATE of the workspace row) makes two admins removing
    each other at once take turns, so the second one sees the first's change.
    """
    lock_row(Workspace, user.workspace_id)
    return db.session.scalar(
        select(func.count()).select_from(User).where(
            User.workspace_id == user.workspace_id, User.role == Role.ADMIN, User.is_active, User.id != user.id
        )
    )


def _check_keeps_an_admin(user, role, is_active):
    """Raise 409 last_admin when user stops being an active admin and no other is left."""
    stops_being_admin = user.role == Role.ADMIN and user.is_active and (role != Role.ADMIN or not is_active)
    if stops_being_admin and _other_active_admins(user) == 0:
        raise LastAdmin()


def do_update_user(actor, user, data):
    """Edit a user; a change of role or a deactivation ends their sessions at once."""
    own = [key for key in ("role", "is_active") if key in data]
    if user.id == actor.id and own:
        raise ValidationFailed(
            "You cannot change your own role or deactivate yourself",
            errors={"json": {key: ["Cannot be changed on your own account"] for key in own}},
        )
    # Every check runs before the first change, so a rejected edit leaves the user as it was.
    email = normalise_email(data["email"]) if "email" in data else user.email
    if email != user.email and _email_in_use(email, exclude_id=user.id):
        raise EmailTaken()
    interfaces = check_interfaces(actor, data["interface_ids"]) if "interface_ids" in data else None
    role = Role(data["role"]) if "role" in data else user.role
    is_active = data.get("is_active", user.is_active)
    _check_keeps_an_admin(user, role, is_active)

    if role != user.role or is_active != user.is_active:
        user.token_version += 1
        end_sessions(user, SessionEndReason.DEACTIVATED if not is_active else SessionEndReason.ROLE_CHANGED)
    if email != user.email or not is_active:
        cancel_pending("invitation", user.workspace_id, user.email)
    user.role, user.is_active, user.email = role, is_active, email
    if "name" in data:
        user.name = data["name"].strip()
    if "max_chats" in data:
        user.max_chats = data["max_chats"]
    if interfaces is not None:
        user.interfaces = interfaces
    with _unique_email(email):
        db.session.flush()
        if "max_chats" in data or interfaces is not None:
            offer_waiting(user.id)  # more room, or more interfaces: what waits may fit now
        db.session.commit()
    return user


def do_delete_user(actor, user):
    """Delete a user; their tokens stop working on the next request."""
    _check_keeps_an_admin(user, role=Role.AGENT, is_active=False)
    if user.id == actor.id:
        raise Conflict("You cannot delete your own account", code="cannot_delete_self")
    end_sessions(user, SessionEndReason.DELETED)
    cancel_pending("invitation", user.workspace_id, user.email)
    db.session.flush()
    db.session.delete(user)
    db.session.commit()


def end_sessions(user, reason):
    """Close the user's sockets and offer their chats and requests to others (caller commits)."""
    reason = SessionEndReason(reason)
    requeue_agent(user, WithdrawReason(f"agent_{reason.value}"))
    emit(EventType.SESSION_REVOKED, {"reason": reason.value}, [user_stream(user.id)], user.workspace_id)


def do_resend_invitation(actor, user):
    """Queue a fresh set-password link; earlier links stop working."""
    if user.has_password:
        raise Conflict("This user has already set a password", code="invitation_accepted")
    if not user.is_active:
        raise Conflict("This user is deactivated", code="user_inactive")
    cancel_pending("invitation", user.workspace_id, user.email)  # its link stops working now
    link, expires_at = new_password_link(user)
    _queue_invitation(user, link, expires_at, actor.name)
    db.session.commit()
    return user
