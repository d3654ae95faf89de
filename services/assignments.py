"""Agents and conversations: accept, take over, transfer, hand back, end, requeue.

Races are decided in the database. Locks are taken in one order everywhere:
the request row, then the conversation row, then agent rows by id, then the
event streams. A capacity check runs after the agent's row is locked (an
UPDATE of it: a row lock on PostgreSQL, the write lock on SQLite), so two
accepts by one agent are counted one after the other.
"""
from sqlalchemy import select, update

from errors import Conflict, NotFound, ValidationFailed
from extensions import db
from metrics import TIME_TO_ACCEPT, observe_after_commit
from models import (
    AuditAction, Availability, Component, ComponentType, Conversation, ConversationStatus, LiveRequest,
    Notification, NotificationStatus, RequestKind, RequestStatus, Role, SenderType, User, WithdrawReason,
)
from models.base import utcnow
from services.audit import audit
from services.conversations import add_message, emit_conversation_updated
from services.events import user_stream
from services.flow_engine import enter
from services.flow_runtime import apply, context_of, load_flow, renderer, show_stage
from services.interfaces import is_member, serves
from services.live_requests import offer_waiting, resolve, update_queue
from services.capacity import fits, load_of, open_chat_counts, weight_of
from services.notifications import withdraw, withdraw_for_request, withdraw_new_chat
from services.render import Stage, render_component


class RequestTaken(Conflict):
    code, message = "request_taken", "Another agent accepted this request first"


class RequestExpired(Conflict):
    code, message = "request_expired", "This request has expired"


class RequestCancelled(Conflict):
    code, message = "request_cancelled", "The visitor cancelled this request"


class RequestAbandoned(Conflict):
    code, message = "request_abandoned", "The visitor left before anyone accepted"


class CapacityFull(Conflict):
    code, message = "capacity_full", "You are at your max chats"


class TargetFull(Conflict):
    code, message = "target_full", "That agent is at their max chats"


class TargetOffline(Conflict):
    code, message = "target_offline", "That agent is not online"


class NotYourChat(Conflict):
    code, message = "not_assigned", "You are not the agent of this conversation"


class NotActive(Conflict):
    code, message = "conversation_not_active", "This conversation is not with an agent"


class NotInBotPhase(Conflict):
    code, message = "not_in_bot_phase", "The bot is not leading this conversation now"


def access_conversation(user, conversation_id):
    """A conversation of an interface the user serves (admins: the workspace), else 404."""
    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or conversation.workspace_id != user.workspace_id \
            or not serves(user, conversation.interface_id):
        raise NotFound("Conversation not found")
    return conversation


def access_request(user, request_id):
    request = db.session.get(LiveRequest, request_id)
    if request is None or request.workspace_id != user.workspace_id:
        raise NotFound("Request not found")
    conversation = db.session.get(Conversation, request.conversation_id)
    if not serves(user, conversation.interface_id):
        raise NotFound("Request not found")
    return request


def lock_agent(agent_id):
    """Lock the agent's row for the rest of the transaction; False when the agent is gone."""
    return db.session.execute(
        update(User).where(User.id == agent_id, User.is_active).values(updated_at=utcnow())
    ).rowcount == 1


def _has_room(agent, weight):
    return fits(agent, load_of(agent.id), weight)


def live_chat_component(interface_id, component_id=None):
    """The live chat component a conversation's messages come from."""
    if component_id is not None:
        component = db.session.get(Component, component_id)
        if component is not None and component.type == ComponentType.LIVE_CHAT:
            return component
    return db.session.scalar(select(Component).where(
        Component.interface_id == interface_id, Component.type == ComponentType.LIVE_CHAT)
        .order_by(Component.position).limit(1))


def _why_not_accepted(request_id):
    db.session.rollback()
    request = db.session.get(LiveRequest, request_id)
    if request.status == RequestStatus.ACCEPTED:
        return RequestTaken()
    if request.status == RequestStatus.CANCELLED:
        return RequestCancelled()
    if request.status == RequestStatus.ABANDONED:
        return RequestAbandoned()
    return RequestExpired()


def assign(request, conversation, agent, action, reason):
    """Give a claimed request's conversation to agent (request already resolved as accepted)."""
    kind = request.kind
    db.session.execute(update(Conversation).where(Conversation.id == conversation.id).values(
        status=ConversationStatus.ACTIVE, agent_id=agent.id, channel=kind.value,
        weight=weight_of(conversation.interface, kind)))
    db.session.refresh(conversation)
    agent.last_assigned_at = utcnow()
    if request.created_at is not None and request.resolved_at is not None:
        observe_after_commit(db.session, TIME_TO_ACCEPT, (request.resolved_at - request.created_at).total_seconds(),
                             kind=kind.value)
    withdraw_for_request(request, WithdrawReason.CLAIMED, claimed_by=agent.id)
    withdraw_new_chat(conversation, WithdrawReason.CLAIMED)
    component = live_chat_component(conversation.interface_id, request.component_id)
    if component is not None:
        stage = Stage.VIDEO_CHAT if kind == RequestKind.VIDEO else Stage.ASSIGNED
        show_stage(conversation, component, stage, agent=agent)
    if kind == RequestKind.VIDEO:
        from services.calls import start_call

        start_call(conversation, agent)
    emit_conversation_updated(conversation, [user_stream(agent.id)])
    update_queue(request.interface_id)
    audit(action, conversation.workspace_id, agent, conversation.id, request.id, **reason)


def do_accept(agent, request_id):
    """Take a pending request: the first agent with room wins, the others' notifications go."""
    request = access_request(agent, request_id)
    weight = weight_of(request.conversation.interface, request.kind)
    if not _has_room(agent, weight):  # a first look, without locks: a full agent never holds the request
        raise CapacityFull()
    if not resolve(request.id, RequestStatus.ACCEPTED, agent_id=agent.id):
        raise _why_not_accepted(request.id)
    if not lock_agent(agent.id) or not _has_room(agent, weight):
        db.session.rollback()
        raise CapacityFull()
    db.session.refresh(request)
    assign(request, request.conversation, agent, AuditAction.ACCEPTED, {"mode": "broadcast", "kind": request.kind.value})
    db.session.commit()
    return request.conversation


def auto_assign(request, conversation, candidates):
    """Least busy, round-robin on ties: give the request to an agent with room, or return None."""
    ids = sorted(agent.id for agent in candidates)
    for agent_id in ids:  # lock in id order: two auto-assignments never wait on each other in a cycle
        lock_agent(agent_id)
    agents = db.session.scalars(select(User).where(User.id.in_(ids))).all()
    counts = open_chat_counts(ids)
    weight = weight_of(conversation.interface, request.kind)
    candidates = [a for a in agents if fits(a, counts[a.id], weight) and a.availability == Availability.ONLINE]
    if not candidates:
        return None
    never = utcnow().replace(year=1970)
    chosen = min(candidates, key=lambda a: (counts[a.id], a.last_assigned_at or never, a.id))
    if not resolve(request.id, RequestStatus.ACCEPTED, agent_id=chosen.id):
        return None  # accepted, cancelled or expired meanwhile
    db.session.refresh(request)
    reason = {"mode": "least_busy", "load": counts[chosen.id], "loads": {str(a.id): counts[a.id] for a in agents}}
    assign(request, conversation, chosen, AuditAction.AUTO_ASSIGNED, reason)
    return chosen


def do_takeover(agent, conversation_id):
    """Take a bot conversation over: the bot stops at once, the visitor is told."""
    conversation = access_conversation(agent, conversation_id)
    taken = db.session.execute(update(Conversation).where(
        Conversation.id == conversation.id, Conversation.status == ConversationStatus.BOT).values(
        status=ConversationStatus.ACTIVE, agent_id=agent.id, channel=RequestKind.TEXT.value, weight=1)).rowcount
    if taken != 1:
        db.session.rollback()
        raise NotInBotPhase("Only a conversation the bot leads can be taken over")
    if not lock_agent(agent.id) or not fits(agent, load_of(agent.id), 0):  # the load counts this chat now
        db.session.rollback()
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
    db.session.commit()
    return conversation


def _my_active(user, conversation_id):
    conversation = access_conversation(user, conversation_id)
    if conversation.status != ConversationStatus.ACTIVE:
        raise NotActive()
    if conversation.agent_id != user.id and user.role != Role.ADMIN:
        raise NotYourChat()
    return conversation


def _release(conversation, **values):
    """Move the conversation off its agent if it still has that agent (conditional); its call ends."""
    from services.calls import end_on_release

    released = db.session.execute(update(Conversation).where(
        Conversation.id == conversation.id, Conversation.status == ConversationStatus.ACTIVE,
        Conversation.agent_id == conversation.agent_id).values(**values)).rowcount == 1
    if released:
        end_on_release(conversation, values.get("status"))
    return released


def do_transfer(user, conversation_id, target_id, note=None):
    """Hand an open chat to another agent of the interface who is online and has room."""
    conversation = _my_active(user, conversation_id)
    target = db.session.get(User, target_id)
    if target is None or target.workspace_id != user.workspace_id or not target.is_active \
            or not is_member(target.id, conversation.interface_id):
        raise ValidationFailed("Unknown agent", errors={"json": {"agent_id": ["Not an agent of this interface."]}})
    if target.id == conversation.agent_id:
        raise ValidationFailed("Already theirs", errors={"json": {"agent_id": ["This chat is theirs already."]}})
    if target.availability != Availability.ONLINE:
        raise TargetOffline()
    previous_id = conversation.agent_id
    if not _release(conversation, agent_id=target.id):
        db.session.rollback()
        raise NotActive()
    if not lock_agent(target.id) or not fits(target, load_of(target.id), 0):  # counts the chat already
        db.session.rollback()
        raise TargetFull()
    db.session.refresh(conversation)
    target.last_assigned_at = utcnow()
    add_message(conversation, SenderType.SYSTEM, f"{target.name} has joined the chat.",
                data={"event": "transferred", "from_agent_id": previous_id, "to_agent_id": target.id})
    emit_conversation_updated(conversation, [user_stream(previous_id), user_stream(target.id)])
    offer_waiting(previous_id)
    audit(AuditAction.TRANSFERRED, conversation.workspace_id, user, conversation.id, from_agent_id=previous_id,
          to_agent_id=target.id, note=note)
    db.session.commit()
    return conversation


def do_hand_back(user, conversation_id, component_id=None):
    """Give the chat back to the bot, at the next component or a chosen one."""
    conversation = _my_active(user, conversation_id)
    flow = load_flow(conversation.interface_id)
    ids = [c["id"] for c in flow]
    if component_id is not None:
        if component_id not in ids:
            raise ValidationFailed("Unknown component", errors={"json": {"component_id": ["Not in this flow."]}})
        index = ids.index(component_id)
    else:
        index = ids.index(conversation.component_id) + 1 if conversation.component_id in ids else len(ids)
    previous_id = conversation.agent_id
    if not _release(conversation, status=ConversationStatus.BOT, agent_id=None, weight=0):
        db.session.rollback()
        raise NotActive()
    db.session.refresh(conversation)
    add_message(conversation, SenderType.SYSTEM, "The bot has taken the conversation back.",
                data={"event": "handed_back", "agent_id": previous_id})
    apply(conversation, enter(flow, index, renderer(conversation)))
    emit_conversation_updated(conversation, [user_stream(previous_id)])
    offer_waiting(previous_id)
    audit(AuditAction.HANDED_BACK, conversation.workspace_id, user, conversation.id,
          component_id=conversation.component_id)
    db.session.commit()
    return conversation


def do_end(user, conversation_id, reason=None):
    """End a chat: the conversation closes for good."""
    conversation = _my_active(user, conversation_id)
    previous_id = conversation.agent_id
    if not _release(conversation, status=ConversationStatus.CLOSED, closed_at=utcnow()):
        db.session.rollback()
        raise NotActive()
    db.session.refresh(conversation)
    add_message(conversation, SenderType.SYSTEM, "The chat has ended.", data={"event": "ended"})
    withdraw([Notification.conversation_id == conversation.id], WithdrawReason.ENDED)
    emit_conversation_updated(conversation, [user_stream(previous_id)])
    offer_waiting(previous_id)
    audit(AuditAction.ENDED, conversation.workspace_id, user, conversation.id, reason=reason)
    db.session.commit()
    return conversation


def end_for_idle_visitor(conversation_id, threshold):
    """Close a chat whose visitor has been gone since before threshold, if that still holds; True when closed."""
    from models import Visitor

    conversation = db.session.get(Conversation, conversation_id)
    if conversation is None or conversation.status != ConversationStatus.ACTIVE:
        db.session.rollback()
        return False
    previous_id = conversation.agent_id
    if not _release(conversation, status=ConversationStatus.CLOSED, closed_at=utcnow()):
        db.session.rollback()
        return False
    # Conditional, and it holds the visitor's row to the commit: a socket coming back either wins
    # before this (nothing closes) or waits for it and finds the chat closed.
    still_gone = db.session.execute(update(Visitor).where(
        Visitor.id == conversation.visitor_id, Visitor.absent_at.is_not(None), Visitor.presence_seen_at < threshold)
        .values(absent_at=Visitor.absent_at)).rowcount == 1
    if not still_gone:
        db.session.rollback()
        return False
    db.session.refresh(conversation)
    add_message(conversation, SenderType.SYSTEM, "The chat has ended: the visitor left.",
                data={"event": "ended", "reason": "visitor_idle"})
    withdraw([Notification.conversation_id == conversation.id], WithdrawReason.ENDED)
    emit_conversation_updated(conversation, [user_stream(previous_id)] if previous_id else [])
    if previous_id is not None:
        offer_waiting(previous_id)
    audit(AuditAction.ENDED, conversation.workspace_id, None, conversation.id, reason="visitor_idle")
    db.session.commit()
    return True


def _tell_requeued(conversation, agent):
    """Tell the visitor (and the history) that their agent left and where they wait now.

    Said only while the reopened request waits: when it went to another agent
    at once, or nobody is online, the assigned or offline message says it.
    """
    from services.live_requests import latest_request, queue_position

    request = latest_request(conversation)
    if request is None or request.status != RequestStatus.PENDING:
        return
    position = queue_position(request)
    component = live_chat_component(conversation.interface_id, request.component_id)
    config = component.config if component is not None else {"messages": {}}
    context = context_of(conversation, Stage.REQUEUED, agent=agent, position=position)
    text = render_component(ComponentType.LIVE_CHAT, config, context)["texts"][0]
    add_message(conversation, SenderType.SYSTEM, text, data={
        "event": "requeued", "agent_id": agent.id, "request_id": request.id, "queue_position": position,
        "component_id": component.id if component is not None else None})


def requeue_agent(agent, reason):
    """The agent is gone (offline past the grace period, deleted): offer their chats again.

    Runs in the caller's transaction; the caller commits.
    """
    from services.live_requests import reopen_request

    withdraw([Notification.user_id == agent.id, Notification.status == NotificationStatus.PENDING], reason)
    chats = db.session.scalars(select(Conversation).where(
        Conversation.agent_id == agent.id, Conversation.status == ConversationStatus.ACTIVE)
        .order_by(Conversation.id)).all()
    for conversation in chats:
        released = _release(conversation, status=ConversationStatus.WAITING, agent_id=None, weight=0)
        if not released:
            continue
        db.session.refresh(conversation)
        reopen_request(conversation, RequestKind(conversation.channel), exclude={agent.id})
        _tell_requeued(conversation, agent)
        emit_conversation_updated(conversation, [user_stream(agent.id)])
        audit(AuditAction.REQUEUED, conversation.workspace_id, None, conversation.id, agent_id=agent.id,
              reason=reason)
    return chats
