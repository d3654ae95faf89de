"""Agent notifications: who is offered what, and withdrawing what no longer needs them."""
from sqlalchemy import func, select

from extensions import db
from models import (
    Availability, Conversation, ConversationStatus, Notification, NotificationStatus, NotificationType, User,
    interface_agents,
)
from models.base import utcnow
from schemas.events import EventType
from services.events import emit, user_stream


def open_chat_counts(user_ids):
    """How much of their max chats each user uses now (a video chat may weigh more than one)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(Conversation.agent_id, func.sum(Conversation.weight)).where(
            Conversation.agent_id.in_(user_ids), Conversation.status == ConversationStatus.ACTIVE)
        .group_by(Conversation.agent_id)
    ).all()
    counts = dict.fromkeys(user_ids, 0)
    counts.update({agent_id: int(count or 0) for agent_id, count in rows})
    return counts


def interface_agents_of(interface_id):
    return db.session.scalars(
        select(User).join(interface_agents, interface_agents.c.user_id == User.id)
        .where(interface_agents.c.interface_id == interface_id, User.is_active).order_by(User.id)
    ).all()


def has_room(user, counts):
    return counts.get(user.id, 0) < user.max_chats


def eligible_agents(interface_id):
    """Agents of the interface who are online and under their max chats."""
    agents = [a for a in interface_agents_of(interface_id) if a.availability == Availability.ONLINE]
    counts = open_chat_counts([a.id for a in agents])
    return [agent for agent in agents if has_room(agent, counts)]


def notification_data(notification, visitor_name=None):
    return {
        "notification_id": notification.id, "notification_type": notification.type.value,
        "conversation_id": notification.conversation_id, "interface_id": notification.interface_id,
        "request_id": notification.request_id, "visitor_name": visitor_name,
        "created_at": notification.created_at.isoformat(),
    }


_EVENT_OF = {
    NotificationType.NEW_CHAT_INITIATED: EventType.NEW_CHAT_INITIATED,
    NotificationType.LIVE_CHAT_REQUEST: EventType.LIVE_CHAT_REQUEST,
    NotificationType.VIDEO_CHAT_REQUEST: EventType.VIDEO_CHAT_REQUEST,
}


def notify(users, notification_type, conversation, request=None):
    """Create a pending notification for each user and tell their dashboards (caller commits)."""
    now = utcnow()
    rows = []
    for user in users:
        row = Notification(workspace_id=conversation.workspace_id, user_id=user.id, type=notification_type,
                           interface_id=conversation.interface_id, conversation_id=conversation.id,
                           request_id=getattr(request, "id", None), status=NotificationStatus.PENDING,
                           created_at=now)
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    visitor_name = conversation.visitor.name if conversation.visitor else None
    for row in rows:
        emit(_EVENT_OF[notification_type], notification_data(row, visitor_name), [user_stream(row.user_id)],
             conversation.workspace_id)
    return rows


def withdraw(where, reason, claimed_by=None):
    """Resolve pending notifications matching `where`; the claimer's is claimed, others withdrawn."""
    pending = db.session.scalars(
        select(Notification).where(Notification.status == NotificationStatus.PENDING, *where)
        .order_by(Notification.id).with_for_update()
    ).all()
    now = utcnow()
    for row in pending:
        row.status = NotificationStatus.CLAIMED if row.user_id == claimed_by else NotificationStatus.WITHDRAWN
        row.reason = reason
        row.resolved_at = now
        emit(EventType.NOTIFICATION_WITHDRAWN, {"notification_id": row.id, "reason": reason},
             [user_stream(row.user_id)], row.workspace_id)
    return pending


def withdraw_for_request(request, reason, claimed_by=None):
    return withdraw([Notification.request_id == request.id], reason, claimed_by)


def withdraw_new_chat(conversation, reason):
    return withdraw([Notification.conversation_id == conversation.id,
                     Notification.type == NotificationType.NEW_CHAT_INITIATED], reason)


def pending_for(user, page, page_size):
    """A user's pending notifications, newest first."""
    from services.pagination import paginate

    stmt = select(Notification).where(Notification.user_id == user.id,
                                      Notification.status == NotificationStatus.PENDING) \
        .order_by(Notification.id.desc())
    return paginate(stmt, page, page_size)


