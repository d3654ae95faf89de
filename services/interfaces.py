"""Chat interfaces: CRUD, public key rotation, agent assignment, business hours."""
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from errors import NotFound, ValidationFailed
from extensions import db
from models import Attachment, AuditAction, Conversation, Interface, Role, RoutingMode, User
from models.base import utcnow
from models.interface import new_identity_secret, new_public_key
from services import business_hours
from services.attachments import do_remove_deleted_files, queue_file_deletions
from services.audit import audit
from services.core import check_in_workspace, get_in_workspace, serves
from services.pagination import paginate


def hours_now():
    """The instant business hours are judged at (tests move it)."""
    return utcnow()


def is_open_now(interface):
    """Whether the interface is within its business hours now (always, without any)."""
    return business_hours.is_open(interface.business_hours, hours_now())


def availability(interface):
    """{open, next_open_at, timezone} now, for the widget."""
    return business_hours.availability(interface.business_hours, hours_now())


def access_interface(actor, interface_id):
    """Return an interface the actor may see (any of the workspace for admins, their own for agents), or 404."""
    interface = get_in_workspace(Interface, interface_id, actor.workspace_id)
    # An agent is not told that interfaces they do not serve exist: 404, not 403.
    if interface is None or not serves(actor, interface.id):
        raise NotFound("Chat interface not found")
    return interface


def list_interfaces(actor, page, page_size):
    """List one page of interfaces: all of the workspace for admins, the ones they serve for agents."""
    stmt = (select(Interface).where(Interface.workspace_id == actor.workspace_id)
            .options(selectinload(Interface.agents)).order_by(Interface.id))
    if actor.role != Role.ADMIN:
        stmt = stmt.where(Interface.agents.any(User.id == actor.id))
    return paginate(stmt, page, page_size)


def check_agents(actor, user_ids):
    """Return the users of the actor's workspace with these ids; an unknown id is a field error."""
    return check_in_workspace(User, actor, user_ids, "agent_ids", "user")


def _apply(actor, interface, data):
    # Check before changing anything, so a rejected edit leaves the interface as it was.
    agents = check_agents(actor, data["agent_ids"]) if "agent_ids" in data else None
    schedule = data.get("business_hours")
    problems = business_hours.problems(schedule) if schedule else None
    if problems:
        raise ValidationFailed("Invalid input: see errors", errors={"json": {"business_hours": problems}})
    if "business_hours" in data:
        interface.business_hours = schedule
    for key in ("name", "allowed_origins", "request_timeout_s", "video_weight", "prechat_form",
                "transcript_auto_send"):
        if key in data:
            setattr(interface, key, data[key])
    if "routing_mode" in data:
        interface.routing_mode = RoutingMode(data["routing_mode"])
    if agents is not None:
        interface.agents = agents


def do_create_interface(actor, data):
    """Create a chat interface with a fresh public key."""
    interface = Interface(workspace_id=actor.workspace_id, public_key=new_public_key(), allowed_origins=[])
    _apply(actor, interface, data)
    db.session.add(interface)
    db.session.flush()
    if interface.business_hours is not None:
        _audit_hours(actor, interface)
    db.session.commit()
    return interface


def do_update_interface(actor, interface, data):
    """Edit a chat interface."""
    before = interface.business_hours
    _apply(actor, interface, data)
    if "business_hours" in data and data["business_hours"] != before:
        _audit_hours(actor, interface)
    db.session.commit()
    return interface


def _audit_hours(actor, interface):
    schedule = interface.business_hours
    audit(AuditAction.BUSINESS_HOURS_CHANGED, interface.workspace_id, actor, interface_id=interface.id,
          enabled=bool(schedule and schedule["enabled"]), timezone=schedule["timezone"] if schedule else None)


def do_delete_interface(actor, interface):
    """Delete a chat interface and its agent assignments; its conversations' files go after the commit."""
    queue_file_deletions(Attachment.conversation_id.in_(
        select(Conversation.id).where(Conversation.interface_id == interface.id)))
    db.session.delete(interface)
    db.session.commit()
    do_remove_deleted_files()  # a first batch now; any more, or any that failed, at the next retention run


def do_rotate_key(actor, interface):
    """Replace the public key; widgets using the old one stop working."""
    interface.public_key = new_public_key()
    db.session.commit()
    return interface


def do_set_agents(actor, interface, agent_ids):
    """Set the users who serve an interface."""
    interface.agents = check_agents(actor, agent_ids)
    db.session.commit()
    return interface


def do_rotate_identity_secret(actor, interface):
    """Replace the identity secret; identities signed with the old one stop verifying."""
    interface.identity_secret = new_identity_secret()
    audit(AuditAction.IDENTITY_SECRET_ROTATED, interface.workspace_id, actor, interface_id=interface.id)
    db.session.commit()
    return interface
