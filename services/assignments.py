"""Giving a chat to an agent: accepting a request, auto-assignment, taking over a bot conversation.

Races are decided in the database, with locks in the order of services/core.py.
A capacity check runs after the agent's row is locked, so two accepts by one
agent are counted one after the other. What a chat does once it has its agent
ends in services/releases.py.
"""
from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from errors import Conflict, NotFound
from extensions import db
from metrics import TIME_TO_ACCEPT, observe_after_commit
from models import (
    AuditAction, Availability, Component, Conversation, ConversationStatus, Interface, LiveRequest, RequestKind,
    RequestStatus, SenderType, User, Visitor, WithdrawReason,
)
from models.base import utcnow
from models.flow import Stage
from services.audit import audit
from services.calls import start_call
from services.conversations import add_message, emit_conversation_updated
from services.core import (
    CapacityFull, NotInBotPhase, access_conversation, agent_loads, fits, has_room, lock_agent, lock_row,
    serves_clause, transaction, valid_id, weight_of,
)
from services.events import user_stream
from services.flow_runtime import show_stage
from services.notifications import withdraw_new_chat, withdraw_on_accept
from services.queue import live_chat_component, resolve, update_queue
from services.webhooks import conversation_assigned


class RequestTaken(Conflict):
    code, message = "request_taken", "Another agent accepted this request first"


class RequestExpired(Conflict):
    code, message = "request_expired", "This request has expired"


class RequestCancelled(Conflict):
    code, message = "request_cancelled", "The visitor cancelled this request"


class RequestAbandoned(Conflict):
    code, message = "request_abandoned", "The visitor left before anyone accepted"


def access_request(user, request_id):
    """A request of the user's workspace on an interface they serve, or 404.

    One statement reads it with what an accept needs next: its conversation,
    interface, visitor and component (they stay in the session's identity
    map), and whether the user serves the interface.
    """
    if not valid_id(request_id):
        raise NotFound("Request not found")
    serving = serves_clause(user, Conversation.interface_id)
    row = db.session.execute(
        select(LiveRequest, Conversation, Interface, Visitor, Component, serving)
        .join(Conversation, Conversation.id == LiveRequest.conversation_id)
        .join(Interface, Interface.id == Conversation.interface_id)
        .join(Visitor, Visitor.id == Conversation.visitor_id)
        .outerjoin(Component, Component.id == LiveRequest.component_id)
        .where(LiveRequest.id == request_id, LiveRequest.workspace_id == user.workspace_id)).first()
    if row is None or not row[-1]:
        raise NotFound("Request not found")
    return row[0]


def _why_not_accepted(request_id):
    db.session.rollback()  # to read the outcome that beat this accept
    request = db.session.get(LiveRequest, request_id)
    if request.status == RequestStatus.ACCEPTED:
        return RequestTaken()
    if request.status == RequestStatus.CANCELLED:
        return RequestCancelled()
    if request.status == RequestStatus.ABANDONED:
        return RequestAbandoned()
    return RequestExpired()


def assign(request, conversation, agent, action, reason, assigned=False):
    """Give a claimed request's conversation to agent (request already resolved as accepted).

    `assigned`: the caller wrote the agent's last_assigned_at already (with the lock it took on their row).
    """
    kind = request.kind
    db.session.execute(update(Conversation).where(Conversation.id == conversation.id).values(
        status=ConversationStatus.ACTIVE, agent_id=agent.id, channel=kind.value,
        weight=weight_of(conversation.interface, kind)))
    if not assigned:
        agent.last_assigned_at = utcnow()
    if request.created_at is not None and request.resolved_at is not None:
        observe_after_commit(db.session, TIME_TO_ACCEPT, (request.resolved_at - request.created_at).total_seconds(),
                             kind=kind.value)
    withdraw_on_accept(request, conversation, agent.id)
    component = live_chat_component(conversation.interface_id, request.component_id)
    if component is not None:
        stage = Stage.VIDEO_CHAT if kind == RequestKind.VIDEO else Stage.ASSIGNED
        show_stage(conversation, component, stage, agent=agent)
    if kind == RequestKind.VIDEO:
        start_call(conversation, agent)
    emit_conversation_updated(conversation, [user_stream(agent.id)])
    update_queue(request.interface_id)
    audit(action, conversation.workspace_id, agent, conversation.id, request.id, **reason)
    conversation_assigned(conversation)


@transaction
def do_accept(agent, request_id):
    """Take a pending request: the first agent with room wins, the others' notifications go."""
    request = access_request(agent, request_id)
    weight = weight_of(request.conversation.interface, request.kind)
    if not resolve(request.id, RequestStatus.ACCEPTED, agent_id=agent.id):
        raise _why_not_accepted(request.id)
    # The agent's row is locked by the write that records this assignment; without room the whole transaction
    # goes, the request's resolve with it. (A first look at their room before the request's lock cost a
    # statement on every accept to spare a full agent's rare one a moment's hold on the request.)
    assigned_at = utcnow()
    if not lock_row(User, agent.id, User.is_active, values={"last_assigned_at": assigned_at}) \
            or not has_room(agent, weight):
        raise CapacityFull()
    set_committed_value(agent, "last_assigned_at", assigned_at)
    # resolve's UPDATE set status, agent and resolved_at on the request object too (the ORM's evaluate)
    assign(request, request.conversation, agent, AuditAction.ACCEPTED,
           {"mode": "broadcast", "kind": request.kind.value}, assigned=True)
    return request.conversation


def auto_assign(request, conversation, candidates):
    """Least busy, round-robin on ties: give the request to an agent with room, or return None."""
    ids = sorted(agent.id for agent in candidates)
    for agent_id in ids:  # lock in id order: two auto-assignments never wait on each other in a cycle
        lock_agent(agent_id)
    agents = db.session.scalars(select(User).where(User.id.in_(ids))).all()
    loads = agent_loads(ids)
    weight = weight_of(conversation.interface, request.kind)
    candidates = [a for a in agents if fits(a, loads[a.id], weight) and a.availability == Availability.ONLINE]
    if not candidates:
        return None
    never = utcnow().replace(year=1970)
    chosen = min(candidates, key=lambda a: (loads[a.id], a.last_assigned_at or never, a.id))
    if not resolve(request.id, RequestStatus.ACCEPTED, agent_id=chosen.id):
        return None  # accepted, cancelled or expired meanwhile
    db.session.refresh(request)
    reason = {"mode": "least_busy", "load": loads[chosen.id], "loads": {str(a.id): loads[a.id] for a in agents}}
    assign(request, conversation, chosen, AuditAction.AUTO_ASSIGNED, reason)
    return chosen


@transaction
def do_takeover(agent, conversation_id):
    """Take a bot conversation over: the bot stops at once, the visitor is told."""
    conversation = access_conversation(agent, conversation_id)
    taken = db.session.execute(update(Conversation).where(
        Conversation.id == conversation.id, Conversation.status == ConversationStatus.BOT).values(
        status=ConversationStatus.ACTIVE, agent_id=agent.id, channel=RequestKind.TEXT.value, weight=1)).rowcount
    if taken != 1:
        raise NotInBotPhase("Only a conversation the bot leads can be taken over")
    if not lock_agent(agent.id) or not has_room(agent, 0):  # the load counts this chat now
        raise CapacityFull()
    db.session.refresh(conversation)
    agent.last_assigned_at = utcnow()
    withdraw_new_chat(conversation, WithdrawReason.TAKEN_OVER)
    component = live_chat_component(conversation.interface_id)
    if component is not None:
        show_stage(conversation, component, Stage.TAKEOVER, agent=agent)
    else:
        add_message(conversation, SenderType.SYSTEM, f"You are now chatting with {agent.name}.")
    emit_conversation_updated(conversation, [user_stream(agent.id)])
    audit(AuditAction.TOOK_OVER, conversation.workspace_id, agent, conversation.id)
    conversation_assigned(conversation)
    return conversation
