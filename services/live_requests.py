"""Live and video requests: asking, waiting in the queue, the offline path, the deadline.

A request goes the offline path at once when it is asked outside the
interface's business hours (outcome outside_hours: no agent is asked, the
interface's outside-hours message is shown) or when no agent of the
interface is online. When agents are online but none has room for it (max chats, video
weight), it waits in the queue until one has room (offer_waiting) or its
deadline passes.

The deadline is a column. sweep_expired() acts on requests whose deadline
passed with a conditional UPDATE, so two workers sweeping at once, or an
accept racing the deadline, end in exactly one outcome; a restart loses no
timer.
"""
from datetime import timedelta

from sqlalchemy import select, text, update
from sqlalchemy.orm import make_transient_to_detached

from errors import Conflict, NotFound
from extensions import db
from metrics import LIVE_REQUESTS, count_after_commit
from models import (
    AuditAction, Availability, Component, Conversation, ConversationStatus, Interface, LiveRequest, Notification,
    NotificationStatus, RequestKind, RequestStatus, RoutingMode, User, WithdrawReason, interface_agents,
)
from models.base import utcnow
from models.flow import Stage
from services.assignments import auto_assign
from services.audit import audit
from services.conversations import emit_conversation_updated
from services.core import (
    access_conversation, has_room, insert_on_conflict, lock_agent, lock_row, transaction, weight_of, with_room,
)
from services.flow_runtime import continue_after, show_stage
from services.flows import branch_target
from services.interfaces import is_open_now
from services.notifications import Team, notify, online_agents, withdraw_for_request
from services.queue import (
    NOTIFICATION_OF, emit_request_updated, latest_request, live_chat_component, request_view, resolve, update_queue,
)


class AlreadyWaiting(Conflict):
    code, message = "request_pending", "A request of this conversation is already waiting for an agent"


class NoPendingRequest(Conflict):
    code, message = "no_pending_request", "No request of this conversation is waiting"


def request_live(conversation, kind, component, team=None):
    """Create a live request (the caller holds the conversation in the bot phase and commits).

    `team`: the interface's Team as the caller's transaction already read it, if it did.
    """
    if not is_open_now(conversation.interface):
        return _outside_hours(conversation, RequestKind(kind), component)
    return _open(conversation, RequestKind(kind), component, exclude=set(), welcome=True, team=team)


def _outside_hours(conversation, kind, component):
    """Outside business hours: the request is recorded as such and takes the offline path; no agent is asked."""
    now = utcnow()
    request = LiveRequest(
        workspace_id=conversation.workspace_id, interface_id=conversation.interface_id,
        conversation_id=conversation.id, component_id=component.id if component is not None else None, kind=kind,
        status=RequestStatus.OUTSIDE_HOURS, deadline_at=now, created_at=now, resolved_at=now,
    )
    db.session.add(request)
    db.session.flush()
    count_after_commit(db.session, LIVE_REQUESTS, outcome="opened")
    count_after_commit(db.session, LIVE_REQUESTS, outcome=RequestStatus.OUTSIDE_HOURS.value)
    audit(AuditAction.ROUTED, conversation.workspace_id, None, conversation.id, request.id,
          mode="outside_hours", notified=[])
    return offline_path(conversation, request, component, stage=Stage.OUTSIDE_HOURS)


def reopen_request(conversation, kind, exclude):
    """Offer a conversation whose agent left to the others (the caller commits)."""
    last = latest_request(conversation)
    component = live_chat_component(conversation.interface_id, last.component_id if last else None)
    return _open(conversation, kind, component, exclude=exclude, welcome=False)


def _open(conversation, kind, component, exclude, welcome, team=None):
    interface = conversation.interface
    team = team or Team(interface.id)
    online = [agent for agent in team.online() if agent.id not in exclude]
    # Busy agents are not absent: the request waits.
    agents = with_room(online, weight_of(interface, kind), loads=team.loads())
    now = utcnow()
    request = _insert_request(
        workspace_id=conversation.workspace_id, interface_id=interface.id, conversation_id=conversation.id,
        component_id=component.id if component is not None else None, kind=kind,
        status=RequestStatus.PENDING if online else RequestStatus.OFFLINE,
        deadline_at=now + timedelta(seconds=interface.request_timeout_s), agent_id=None, created_at=now,
        resolved_at=None if online else now,
    )
    count_after_commit(db.session, LIVE_REQUESTS, outcome="opened")
    messages = []
    if welcome and component is not None:  # shown once the visitor asks, whatever comes next
        messages.append(show_stage(conversation, component, Stage.WELCOME, request_id=request.id))
    if not online:
        count_after_commit(db.session, LIVE_REQUESTS, outcome=RequestStatus.OFFLINE.value)
        return messages + offline_path(conversation, request, component)
    conversation.status = ConversationStatus.WAITING
    db.session.flush()
    if interface.routing_mode == RoutingMode.LEAST_BUSY:
        if not agents or auto_assign(request, conversation, agents) is None:
            audit(AuditAction.ROUTED, conversation.workspace_id, None, conversation.id, request.id,
                  mode="least_busy", queued=True, online=[agent.id for agent in online])
            update_queue(interface.id)
        return messages
    audit(AuditAction.ROUTED, conversation.workspace_id, None, conversation.id, request.id,
          mode="broadcast", notified=[agent.id for agent in agents], queued=not agents)
    notify(agents, NOTIFICATION_OF[kind], conversation, request)
    update_queue(interface.id)
    return messages


_PENDING_ONLY = text("status = 'pending'")  # the predicate of uq_live_requests_pending_conversation


def _insert_request(**values):
    """Insert a request; AlreadyWaiting when its conversation has a pending one (the unique index decides).

    One statement: ON CONFLICT DO NOTHING, where an insert in a savepoint cost a SAVEPOINT and its RELEASE
    on every press. The row joins the session as the persistent object it is, every column known.
    """
    table = LiveRequest.__table__
    insert = insert_on_conflict(table).values(**values) \
        .on_conflict_do_nothing(index_elements=[table.c.conversation_id], index_where=_PENDING_ONLY) \
        .returning(table.c.id)
    request_id = db.session.execute(insert).scalar()
    if request_id is None:
        raise AlreadyWaiting()
    request = LiveRequest(id=request_id, **values)
    make_transient_to_detached(request)
    db.session.add(request)
    return request


def offer_waiting(agent_id):
    """The agent may have room now: offer them what waits on their interfaces, oldest first (caller commits).

    Called when a chat leaves them (ended, transferred, handed back, its call
    ended), when they come online and when their max chats or interfaces
    change. Broadcast: they are notified of each waiting request that fits
    them, once. Least busy: each waiting request that fits goes to the least
    busy agent with room, as when it was asked.
    """
    agent = db.session.get(User, agent_id)
    if agent is None or not agent.is_active or agent.availability != Availability.ONLINE:
        return
    now = utcnow()
    waiting = db.session.scalars(select(LiveRequest).join(
        interface_agents, interface_agents.c.interface_id == LiveRequest.interface_id).where(
        interface_agents.c.user_id == agent.id, LiveRequest.status == RequestStatus.PENDING,
        LiveRequest.deadline_at > now).order_by(LiveRequest.id)).all()
    for request in waiting:
        interface = db.session.get(Interface, request.interface_id)
        weight = weight_of(interface, request.kind)
        if not has_room(agent, weight):
            continue
        conversation = db.session.get(Conversation, request.conversation_id)
        if interface.routing_mode == RoutingMode.LEAST_BUSY:
            # The request row first, as everywhere: then the agents' rows in auto_assign.
            if lock_row(LiveRequest, request.id, LiveRequest.status == RequestStatus.PENDING):
                auto_assign(request, conversation, with_room(online_agents(interface.id), weight))
            continue
        lock_agent(agent.id)  # two offers to one agent take turns: each sees the other's notification
        offered = db.session.scalar(select(Notification.id).where(
            Notification.request_id == request.id, Notification.user_id == agent.id,
            Notification.status == NotificationStatus.PENDING).limit(1))
        if offered is None:
            audit(AuditAction.ROUTED, request.workspace_id, None, request.conversation_id, request.id,
                  mode="broadcast", notified=[agent.id], room_freed=True)
            notify([agent], NOTIFICATION_OF[request.kind], conversation, request)


def offline_path(conversation, request, component, stage=Stage.OFFLINE):
    """The offline message (or the outside-hours one); then the offline form if it is active, else the next one.

    The next one is the component the live chat component names for the
    outcome (offline or outside_hours) in its offline form's branches, if any.
    """
    if conversation.status == ConversationStatus.WAITING:
        conversation.status = ConversationStatus.BOT
    form_active = bool(component and component.config["offline_form"]["active"])
    messages = []
    if component is not None:
        messages.append(show_stage(conversation, component, stage, request_id=request.id))
    if not form_active:
        messages += continue_after(conversation, request.component_id, branch_target(component, stage))
    emit_request_updated(request)
    return messages


def _do_expire(request_id, now):
    if not resolve(request_id, RequestStatus.EXPIRED, now=now):
        db.session.rollback()
        return False
    request = db.session.get(LiveRequest, request_id)
    db.session.refresh(request)
    conversation = db.session.get(Conversation, request.conversation_id)
    withdraw_for_request(request, WithdrawReason.EXPIRED)
    audit(AuditAction.EXPIRED, request.workspace_id, None, request.conversation_id, request.id)
    component = db.session.get(Component, request.component_id) if request.component_id else None
    offline_path(conversation, request, component)
    emit_conversation_updated(conversation)
    update_queue(request.interface_id)
    db.session.commit()
    return True


def sweep_expired(now=None, limit=200):
    """Expire every pending request whose deadline passed; returns how many this call expired."""
    now = now or utcnow()
    due = db.session.scalars(select(LiveRequest.id).where(
        LiveRequest.status == RequestStatus.PENDING, LiveRequest.deadline_at <= now)
        .order_by(LiveRequest.deadline_at).limit(limit)).all()
    db.session.rollback()
    return sum(1 for request_id in due if _do_expire(request_id, now))


def abandon_pending(visitor_id, now):
    """The visitor left: their waiting request is no longer offered, and the bot leads again (caller commits).

    Conditional like every outcome: an accept that won first keeps the chat.
    """
    request = db.session.scalar(select(LiveRequest).join(Conversation, Conversation.id == LiveRequest.conversation_id)
                                .where(Conversation.visitor_id == visitor_id,
                                       LiveRequest.status == RequestStatus.PENDING))
    if request is None or not resolve(request.id, RequestStatus.ABANDONED, now=now):
        return None
    db.session.refresh(request)
    withdraw_for_request(request, WithdrawReason.ABANDONED)
    conversation = db.session.get(Conversation, request.conversation_id)
    db.session.execute(update(Conversation).where(Conversation.id == conversation.id,
                                                  Conversation.status == ConversationStatus.WAITING)
                       .values(status=ConversationStatus.BOT))
    db.session.refresh(conversation)
    audit(AuditAction.ABANDONED, request.workspace_id, None, conversation.id, request.id)
    emit_request_updated(request)
    emit_conversation_updated(conversation)
    update_queue(request.interface_id)
    return request


def get_visitor_request(visitor, conversation_id):
    """The latest request of the visitor's conversation, with its place in the queue."""
    request = latest_request(access_conversation(visitor, conversation_id))
    if request is None:
        raise NotFound("This conversation has no request")
    return request_view(request)


@transaction
def do_cancel_request(visitor, conversation_id):
    """The visitor withdraws their waiting request; the bot leads again."""
    conversation = access_conversation(visitor, conversation_id)
    request = db.session.scalar(select(LiveRequest).where(
        LiveRequest.conversation_id == conversation.id, LiveRequest.status == RequestStatus.PENDING))
    if request is None or not resolve(request.id, RequestStatus.CANCELLED):
        raise NoPendingRequest()
    db.session.refresh(request)
    withdraw_for_request(request, WithdrawReason.CANCELLED)
    db.session.execute(update(Conversation).where(Conversation.id == conversation.id,
                                                  Conversation.status == ConversationStatus.WAITING)
                       .values(status=ConversationStatus.BOT))
    db.session.refresh(conversation)
    emit_request_updated(request)
    emit_conversation_updated(conversation)
    update_queue(request.interface_id)
    return request_view(request)
