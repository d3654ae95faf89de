"""Conversation flows: the ordered components of an interface and their configuration.

Every write locks the interface row first, so changes of one flow take
turns: positions stay dense (0..n-1), and a button never goes to a component
deleted at the same moment. Edits are optimistic on top: the row's `version`
is the ETag, and the UPDATE says WHERE version = <the version the admin
read>, so a concurrent edit surfaces as 412 instead of being overwritten.
"""
import copy

from marshmallow import ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from errors import Conflict, NotFound, PreconditionFailed, ValidationFailed
from extensions import db
from models import Component, ComponentType, Interface
from models.flow import Action, Stage
from schemas.components import CONFIG_SCHEMAS
from services.core import active_admins, get_in_workspace, lock_row
from services.render import STAGES, render_component


# The outcomes a live_chat component may send elsewhere than the next component (offline_form.branches).
BRANCH_OUTCOMES = (Stage.OUTSIDE_HOURS.value, Stage.OFFLINE.value)
NO_BRANCHES = dict.fromkeys(BRANCH_OUTCOMES)


class NotLiveChat(NotFound):
    code, message = "not_live_chat", "This component is not a live chat component"


class ComponentChanged(PreconditionFailed):
    message = "The component changed since you read it: read it again and redo your change"


class ComponentInUse(Conflict):
    code, message = "component_in_use", "Buttons of other components go to this component"


def _invalid(errors):
    return ValidationFailed("Invalid input: see errors", errors={"json": errors})


def access_component(actor, interface, component_id):
    """Return a component of the interface's flow, or raise 404."""
    component = get_in_workspace(Component, component_id, actor.workspace_id)
    if component is None or component.interface_id != interface.id:
        raise NotFound("Component not found")
    return component


def access_live_chat(actor, interface, component_id):
    """Return a live_chat component of the interface's flow, or raise 404."""
    component = access_component(actor, interface, component_id)
    if component.type != ComponentType.LIVE_CHAT:
        raise NotLiveChat()
    return component


def etag_data(component):
    """Return what a component's ETag is computed from (a model or a view)."""
    if isinstance(component, Component):
        return {"id": component.id, "version": component.version}
    return {"id": component["id"], "version": component["version"]}


def admin_emails(workspace_id):
    """Return the e-mails of the workspace's active admins, the default offline form recipients."""
    return [admin.email for admin in active_admins(workspace_id)]


def _views(components):
    """The components as the builder reads them: stored config plus who gets offline forms now."""
    admins = None
    views = []
    for component in components:
        config = component.config
        if component.type == ComponentType.LIVE_CHAT:
            form = dict(config["offline_form"])
            if not form["recipients"] and admins is None:
                admins = admin_emails(component.workspace_id)
            form["effective_recipients"] = list(form["recipients"]) or admins
            form["branches"] = {**NO_BRANCHES, **(form.get("branches") or {})}  # saved before branches existed
            config = {**config, "offline_form": form}
        views.append({
            "id": component.id, "interface_id": component.interface_id, "position": component.position,
            "type": component.type, "name": component.name, "config": config, "version": component.version,
            "created_at": component.created_at, "updated_at": component.updated_at,
        })
    return views


def flow_components(interface_id):
    """The interface's components, in flow order."""
    return db.session.scalars(
        select(Component).where(Component.interface_id == interface_id).order_by(Component.position, Component.id)
    ).all()


def list_components(actor, interface):
    """List the components of the interface's flow in order."""
    return _views(flow_components(interface.id))


def read_component(actor, component):
    """Return a component with its full configuration."""
    return _views([component])[0]


def _lock_flow(interface):
    """Take the flow's lock (the interface row) before anything is read for a write."""
    lock_row(Interface, interface.id)


def _count(interface_id):
    return db.session.scalar(select(func.count()).select_from(Component).where(Component.interface_id == interface_id))


def _shift(interface_id, delta, start, stop=None):
    """Move the components at positions start..stop (inclusive) by delta, without touching their versions."""
    stmt = update(Component).where(Component.interface_id == interface_id, Component.position >= start)
    if stop is not None:
        stmt = stmt.where(Component.position <= stop)
    db.session.execute(stmt.values(position=Component.position + delta))


def _target_errors(interface, config):
    """Field errors for buttons going to a component outside this flow."""
    wanted = {button["target"]["component_id"] for button in config["buttons"]
              if button["target"]["type"] == Action.COMPONENT}
    if not wanted:
        return {}
    found = set(db.session.scalars(
        select(Component.id).where(Component.interface_id == interface.id, Component.id.in_(wanted))
    ))
    errors = {}
    for index, button in enumerate(config["buttons"]):
        target = button["target"]
        if target["type"] == Action.COMPONENT and target["component_id"] not in found:
            errors[index] = {"target": {"component_id": [f"No component {target['component_id']} in this flow."]}}
    return {"buttons": errors} if errors else {}


def branch_target(component, stage):
    """The component a live_chat component sends the flow to after the outcome at stage; None: the next one."""
    if component is None or component.type != ComponentType.LIVE_CHAT:
        return None
    return (component.config["offline_form"].get("branches") or {}).get(str(stage))


def _branch_errors(interface, config, component):
    """Field errors for outcome branches going outside this flow, or to the component itself."""
    branches = config["offline_form"]["branches"]
    wanted = {target for target in branches.values() if target is not None}
    if not wanted:
        return {}
    found = set(db.session.scalars(
        select(Component.id).where(Component.interface_id == interface.id, Component.id.in_(wanted))
    ))
    errors = {}
    for outcome, target in branches.items():
        if target is None:
            continue
        if component is not None and target == component.id:
            errors[outcome] = ["Must be another component than this one."]
        elif target not in found:
            errors[outcome] = [f"No component {target} in this flow."]
    return {"offline_form": {"branches": errors}} if errors else {}


def _recipient_errors(interface, config):
    form = config["offline_form"]
    if form["active"] and not form["recipients"] and not admin_emails(interface.workspace_id):
        return {"offline_form": {"recipients": [
            "The workspace has no active admin to receive submissions: add at least one recipient."]}}
    return {}


def check_config(interface, kind, raw, section=None, component=None):
    """Return the full normalised config of a component of the interface, or raise 422.

    component: the component being changed (None when it is new).

    Errors are keyed like the request: under `config`, or from the root when
    the request body was one wizard section.
    """
    try:
        config = CONFIG_SCHEMAS[str(kind)]().load(raw)
    except ValidationError as error:
        errors = error.messages
    else:
        if kind == ComponentType.MESSAGE:
            errors = _target_errors(interface, config)
        else:
            errors = _recipient_errors(interface, config)
            for key, value in _branch_errors(interface, config, component).get("offline_form", {}).items():
                errors.setdefault("offline_form", {})[key] = value
        if not errors:
            return config
    if section is not None and set(errors) == {section}:
        raise _invalid(errors[section])
    raise _invalid({"config": errors})


def _check_name(interface, name, component=None):
    if name is None:
        return None
    name = name.strip()
    stmt = select(Component.id).where(Component.interface_id == interface.id, Component.name == name)
    if component is not None:
        stmt = stmt.where(Component.id != component.id)
    if db.session.scalar(stmt) is not None:
        raise _invalid({"name": ["Another component of this flow has this name."]})
    return name


def _check_type(component, kind):
    if kind != component.type:
        raise _invalid({"type": [f"This component is a {component.type}; delete it and add a new one instead."]})


def _do_commit():
    """Commit a flow edit; a lost race becomes 409 component_changed or 422 on the name."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise ComponentChanged() from None
    except IntegrityError:
        # Two admins gave the same name at once; the unique constraint decided.
        db.session.rollback()
        raise _invalid({"name": ["Another component of this flow has this name."]}) from None


def do_add_component(actor, interface, data):
    """Add a component at `position` (the end when omitted); omitted settings take their defaults."""
    _lock_flow(interface)
    count = _count(interface.id)
    position = data.get("position", count)
    if position > count:
        raise _invalid({"position": [f"Must be between 0 and {count}."]})
    kind = ComponentType(data["type"])
    config = check_config(interface, kind, data.get("config", {}))
    name = _check_name(interface, data.get("name"))
    _shift(interface.id, +1, position)
    component = Component(workspace_id=interface.workspace_id, interface_id=interface.id, position=position,
                          type=kind, name=name, config=config)
    db.session.add(component)
    _do_commit()
    return read_component(actor, component)


def do_replace_component(actor, component, data):
    """Replace a component's name and configuration; omitted settings take their defaults."""
    _check_type(component, data["type"])
    _lock_flow(component.interface)
    config = check_config(component.interface, component.type, data.get("config", {}), component=component)
    name = _check_name(component.interface, data.get("name"), component)
    component.name, component.config = name, config
    _do_commit()
    return read_component(actor, component)


def merge(base, patch):
    """Return base with patch merged in: objects merge key by key, anything else is replaced."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def do_patch_component(actor, component, data):
    """Change the name or the settings sent and keep the others (lists are replaced whole)."""
    _check_type(component, data["type"])
    _lock_flow(component.interface)
    config = name = None
    if "config" in data:
        config = check_config(component.interface, component.type, merge(component.config, data["config"]),
                              component=component)
    if "name" in data:
        name = _check_name(component.interface, data["name"], component)
    # Assign only after every check: a query would autoflush a half-checked change.
    if "config" in data:
        component.config = config
    if "name" in data:
        component.name = name
    _do_commit()
    return read_component(actor, component)


def do_save_section(actor, component, section, data):
    """Save one section of a live_chat component (a step of the wizard); the others stay."""
    _lock_flow(component.interface)
    config = check_config(component.interface, component.type, {**component.config, section: data}, section=section,
                          component=component)
    component.config = config
    _do_commit()
    return read_component(actor, component)


def do_move_component(actor, component, position):
    """Move a component to another place in its flow; return the flow in its new order."""
    interface = component.interface
    _lock_flow(interface)
    count = _count(interface.id)
    if position >= count:
        raise _invalid({"position": [f"Must be between 0 and {count - 1}."]})
    current = db.session.scalar(select(Component.position).where(Component.id == component.id))
    if position < current:
        _shift(interface.id, +1, position, current - 1)
    elif position > current:
        _shift(interface.id, -1, current + 1, position)
    db.session.execute(update(Component).where(Component.id == component.id).values(position=position))
    _do_commit()
    return list_components(actor, interface)


def _referencing(component):
    ids = []
    for other in flow_components(component.interface_id):
        if other.type != ComponentType.MESSAGE or other.id == component.id:
            continue
        if any(button["target"].get("component_id") == component.id for button in other.config["buttons"]):
            ids.append(other.id)
    return ids


def _drop_branches_to(component):
    """Outcome branches going to the component go to the next component from now on."""
    for other in flow_components(component.interface_id):
        if other.type != ComponentType.LIVE_CHAT or other.id == component.id:
            continue
        branches = other.config["offline_form"].get("branches") or {}
        if component.id in branches.values():
            kept = {outcome: None if target == component.id else target for outcome, target in branches.items()}
            other.config = {**other.config, "offline_form": {**other.config["offline_form"], "branches": kept}}


def do_delete_component(actor, component):
    """Delete a component and close the gap; refused while buttons of other components go to it."""
    interface = component.interface
    _lock_flow(interface)
    referencing = _referencing(component)
    if referencing:
        raise ComponentInUse(f"Buttons of components {referencing} go to this component; point them elsewhere first.")
    _drop_branches_to(component)
    current = db.session.scalar(select(Component.position).where(Component.id == component.id))
    # A set-based DELETE: no version check, an edit in between does not block it.
    db.session.execute(delete(Component).where(Component.id == component.id))
    _shift(interface.id, -1, current + 1)
    _do_commit()


def preview_component(actor, component, stage, agent_name=None, visitor_name=None):
    """Return exactly what a visitor is shown for the component at a stage."""
    if stage not in STAGES[component.type]:
        shown = ", ".join(STAGES[component.type])
        raise ValidationFailed("Invalid input: see errors",
                               errors={"query": {"stage": [f"A {component.type} component shows: {shown}."]}})
    context = {"stage": stage, "agent_name": agent_name, "visitor_name": visitor_name,
               "interface_name": component.interface.name, "position": 1,  # an example place in the queue
               "outside_hours_message": (component.interface.business_hours or {}).get("outside_hours_message")}
    shown = render_component(component.type, component.config, context)
    continues = stage in BRANCH_OUTCOMES and shown["form"] is None
    return {"component_id": component.id, "type": component.type, "stage": stage, **shown,
            "continues_with": branch_target(component, stage) if continues else None}


def list_component_agents(actor, component):
    """List the agents serving the component's interface, with every interface each one serves."""
    return list(component.interface.agents)
