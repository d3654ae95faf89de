"""The flow at run time: applies the engine's answers to a conversation.

Bot messages are stored like any other message. Every function here works in
the caller's transaction; the visitor's own actions (services/chat.py) commit.
"""
from sqlalchemy import update

from extensions import db
from models import Conversation, ConversationStatus, NotificationType, SenderType
from models.base import utcnow
from models.flow import Stage
from services.conversations import add_message, emit_conversation_updated
from services.core import NotInBotPhase, access_conversation, valid_id
from services.flow_engine import InvalidInput, advance, start
from services.flows import flow_components
from services.notifications import Team, notify
from services.render import render_component


def load_flow(interface_id):
    """The interface's components in order, as the engine reads them."""
    return [{"id": c.id, "type": c.type.value, "name": c.name, "config": c.config}
            for c in flow_components(interface_id)]


def context_of(conversation, stage=Stage.START, agent=None, position=None):
    visitor = conversation.visitor
    return {"stage": stage, "visitor_name": visitor.name if visitor else None,
            "interface_name": conversation.interface.name, "agent_name": agent.name if agent else None,
            "position": position, "outside_hours_message": outside_hours_message(conversation.interface)}


def outside_hours_message(interface):
    """The interface's own message for requests outside its business hours, or None."""
    return (interface.business_hours or {}).get("outside_hours_message")


def renderer(conversation):
    """A render function for the engine, with this conversation's placeholder values."""
    context = context_of(conversation)

    def render(component):
        return {"component_id": component["id"], "component_type": component["type"], "stage": Stage.START.value,
                **render_component(component["type"], component["config"], context)}

    return render


def show(conversation, shown):
    """Store one rendered component as a bot message."""
    data = {key: shown.get(key) for key in ("component_id", "component_type", "stage", "buttons", "form")}
    data.update(shown.get("extra", {}))
    return add_message(conversation, SenderType.BOT, "\n\n".join(t for t in shown["texts"] if t), data=data)


def show_stage(conversation, component, stage, agent=None, **extra):
    """Store what a component shows at a stage (welcome, offline, assigned...) as a bot message."""
    rendered = render_component(component.type, component.config, context_of(conversation, stage, agent))
    return show(conversation, {"component_id": component.id, "component_type": component.type.value,
                               "stage": stage.value, **rendered, "extra": extra})


def apply(conversation, step):
    """Show what the engine said and move the conversation to its new position."""
    messages = [show(conversation, shown) for shown in step.shows]
    conversation.component_id = step.component_id
    return messages


def start_flow(conversation):
    """Show the first components of the flow to a new conversation."""
    db.session.flush()
    return apply(conversation, start(load_flow(conversation.interface_id), renderer(conversation)))


def continue_after(conversation, component_id, target_id=None):
    """Go on with target_id, or the component after component_id (the offline path without a form).

    A target deleted meanwhile is passed over: the flow goes on with the next component.
    """
    flow = load_flow(conversation.interface_id)
    try:
        step = advance(flow, component_id, {"type": "continue", "component_id": target_id}, renderer(conversation))
    except InvalidInput:  # the component was deleted meanwhile: nothing to go on from
        return []
    return apply(conversation, step)


def hold_bot_phase(conversation):
    """Lock the conversation row if the bot leads it; False once an agent has it.

    A takeover changes the status with a conditional UPDATE of the same row, so
    it waits for this transaction, and this one sees the new status: no bot
    message can follow a committed takeover.
    """
    locked = _lock_in_bot_phase(Conversation.id == conversation.id)
    if locked is None:
        db.session.refresh(conversation)  # an agent has it: what changed, for the caller
    return locked is not None


def _lock_in_bot_phase(*conditions):
    """The lock (a no-op write, as lock_row) of the conversation the conditions name while the bot leads it,
    and its row read again under it, in one statement; None when there is none."""
    return db.session.scalars(
        update(Conversation).where(*conditions, Conversation.status == ConversationStatus.BOT)
        .values(updated_at=Conversation.updated_at).returning(Conversation)
        .execution_options(populate_existing=True, synchronize_session=False)).first()


def lock_visitors_bot_phase(visitor, conversation_id):
    """The visitor's conversation, held in the bot phase (hold_bot_phase); 404 when it is not theirs, 409 when
    the bot does not lead it. The visitor's access and the lock are one statement; the row is read for the
    error only."""
    if valid_id(conversation_id):
        locked = _lock_in_bot_phase(Conversation.id == conversation_id, Conversation.visitor_id == visitor.id)
        if locked is not None:
            return locked
    access_conversation(visitor, conversation_id)
    raise NotInBotPhase()


def mark_initiated(conversation, team=None):
    """The visitor's first action: tell the interface's agents (a Team, read if not given) once."""
    first = db.session.execute(
        update(Conversation).where(Conversation.id == conversation.id, Conversation.initiated_at.is_(None))
        .values(initiated_at=utcnow())
    ).rowcount
    if first == 1:  # the ORM's UPDATE set initiated_at and updated_at on the object as well
        team = team or Team(conversation.interface_id)
        notify(team.all(), NotificationType.NEW_CHAT_INITIATED, conversation)
        emit_conversation_updated(conversation)
    return first == 1


def on_visitor_text(conversation, message):
    """A visitor wrote while the bot leads: it counts as an action, and the engine hears it."""
    if not hold_bot_phase(conversation):
        return []
    mark_initiated(conversation)
    flow = load_flow(conversation.interface_id)
    return apply(conversation, advance(flow, conversation.component_id, {"type": "text", "text": message.text},
                                       renderer(conversation)))
