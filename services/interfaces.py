"""Chat interfaces: CRUD, public key rotation, agent assignment."""
from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from errors import NotFound, ValidationFailed
from extensions import db
from models import Interface, Role, RoutingMode, User, interface_agents
from models.interface import new_public_key
from services.agents import get_in_workspace
from services.pagination import paginate


def member_clause(user_id, interface_id):
    """SQL truth of "the user is assigned to the interface" (columns or values), for use inside a query."""
    return exists().where(interface_agents.c.user_id == user_id, interface_agents.c.interface_id == interface_id)


def is_member(user_id, interface_id):
    """Whether the user is assigned to the interface: one indexed lookup, not the interface's agent list."""
    return bool(db.session.scalar(select(member_clause(user_id, interface_id))))


def serves(user, interface_id):
    """Whether the user works the interface: admins serve every interface of their workspace."""
    return user.role == Role.ADMIN or is_member(user.id, interface_id)


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
    ids = list(dict.fromkeys(user_ids))
    if not ids:
        return []
    found = db.session.scalars(
        select(User).where(User.id.in_(ids), User.workspace_id == actor.workspace_id)
    ).all()
    missing = sorted(set(ids) - {user.id for user in found})
    if missing:
        raise ValidationFailed("Unknown user", errors={"json": {"agent_ids": [f"Unknown user ids: {missing}"]}})
    by_id = {user.id: user for user in found}
    return [by_id[i] for i in ids]


def _apply(actor, interface, data):
    # Check before changing anything, so a rejected edit leaves the interface as it was.
    agents = check_agents(actor, data["agent_ids"]) if "agent_ids" in data else None
    for key in ("name", "allowed_origins", "request_timeout_s", "video_weight"):
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
    db.session.commit()
    return interface


def do_update_interface(actor, interface, data):
    """Edit a chat interface."""
    _apply(actor, interface, data)
    db.session.commit()
    return interface


def do_delete_interface(actor, interface):
    """Delete a chat interface and its agent assignments."""
    db.session.delete(interface)
    db.session.commit()


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
