"""Agent notifications: who is offered what, and withdrawing what no longer needs them."""
import functools
from types import SimpleNamespace

from sqlalchemy import Integer, and_, bindparam, case, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import ARRAY

from extensions import db
from models import (
    Availability, Conversation, ConversationStatus, Notification, NotificationStatus, NotificationType, User,
    WithdrawReason, interface_agents,
)
from models.base import utcnow
from schemas.events import EventType
from services.events import emit, user_stream
from services.pagination import paginate


def online_agents(interface_id):
    """Agents of the interface who are online, with room or not (rows of Team.all)."""
    return Team(interface_id).online()


class Team:
    """An interface's active agents, read when first asked and then kept for the caller's unit of work.

    A Live chat press tells the whole team of the new chat, then asks those
    online with room: one read serves all three, each agent's load with them.
    The loads only choose whom to offer the request; an accept checks its
    agent's room again under the lock of their row.
    """

    def __init__(self, interface_id):
        self.interface_id = interface_id
        self._agents = None

    def all(self):
        if self._agents is None:
            load = select(func.coalesce(func.sum(Conversation.weight), 0)).where(
                Conversation.agent_id == User.id, Conversation.status == ConversationStatus.ACTIVE) \
                .correlate(User).scalar_subquery()
            self._agents = db.session.execute(
                select(User.id, User.availability, User.max_chats, load.label("load"))
                .join(interface_agents, interface_agents.c.user_id == User.id)
                .where(interface_agents.c.interface_id == self.interface_id, User.is_active).order_by(User.id)
            ).all()
        return self._agents

    def online(self):
        return [a for a in self.all() if a.availability == Availability.ONLINE]

    def loads(self):
        """{agent id: how much of their max chats they use}, as read with the team."""
        return {agent.id: int(agent.load) for agent in self.all()}


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


@functools.cache
def _insert_for_users_pg():
    """One notification per user id of an array: one short statement whatever the number of users.

    A VALUES list of 50 rows is 400 parameters and a new statement text for every
    team size, which the driver converts again each time and never prepares.
    """
    table = Notification.__table__
    user_id = func.unnest(bindparam("user_ids", type_=ARRAY(Integer))).column_valued("user_id")
    columns = ["workspace_id", "type", "interface_id", "conversation_id", "request_id", "status", "created_at"]
    values = [bindparam(name, type_=table.c[name].type) for name in columns]
    return insert(table).from_select([*columns, "user_id"], select(*values, user_id)) \
        .returning(table.c.id, table.c.user_id)


def notify(users, notification_type, conversation, request=None):
    """Create a pending notification for each user and tell their dashboards (caller commits).

    One insert for all the users: a live request reaches every agent of the
    interface, and a press must not cost a statement per agent.
    """
    if not users:
        return []
    table = Notification.__table__
    fields = {"workspace_id": conversation.workspace_id, "type": notification_type,
              "interface_id": conversation.interface_id, "conversation_id": conversation.id,
              "request_id": getattr(request, "id", None), "status": NotificationStatus.PENDING, "created_at": utcnow()}
    if db.session.get_bind().dialect.name == "postgresql":
        rows = db.session.execute(_insert_for_users_pg(), {**fields, "user_ids": [user.id for user in users]}).all()
    else:
        rows = db.session.execute(insert(table).returning(table.c.id, table.c.user_id),
                                  [{**fields, "user_id": user.id} for user in users]).all()
    visitor_name = conversation.visitor.name if conversation.visitor else None
    for notification_id, user_id in rows:
        emit(_EVENT_OF[notification_type],
             notification_data(SimpleNamespace(id=notification_id, user_id=user_id, **fields), visitor_name),
             [user_stream(user_id)], conversation.workspace_id)
    return [notification_id for notification_id, _ in rows]


def withdraw(where, reason, claimed_by=None, claimable=None):
    """Resolve pending notifications matching `where`; the claimer's is claimed, others withdrawn.

    One statement: the rows are locked in id order (two resolvers never wait
    on each other in a cycle) by the sub-select, then changed, each to its
    outcome, and returned. `claimable` narrows which of the claimer's rows are
    claimed (the rest of theirs are withdrawn).
    """
    reason = WithdrawReason(reason).value  # only what the specs list goes out
    table = Notification.__table__
    pending = select(table.c.id).where(table.c.status == NotificationStatus.PENDING, *where) \
        .order_by(table.c.id).with_for_update()
    status = literal(NotificationStatus.WITHDRAWN, table.c.status.type)
    if claimed_by is not None:
        claimed = table.c.user_id == claimed_by if claimable is None else and_(table.c.user_id == claimed_by, claimable)
        status = case((claimed, literal(NotificationStatus.CLAIMED, table.c.status.type)), else_=status)
    rows = db.session.execute(
        update(table).where(table.c.id.in_(pending.scalar_subquery()))
        .values(status=status, reason=reason, resolved_at=utcnow())
        .returning(table.c.id, table.c.user_id, table.c.workspace_id, table.c.request_id)).all()
    # The request's notifications are told first, then the rest (a new chat's notice), each in id order.
    rows.sort(key=lambda row: (row.request_id is None, row.id))
    for row in rows:
        emit(EventType.NOTIFICATION_WITHDRAWN, {"notification_id": row.id, "reason": reason},
             [user_stream(row.user_id)], row.workspace_id)
    return [row.id for row in rows]


def withdraw_for_request(request, reason, claimed_by=None):
    return withdraw([Notification.request_id == request.id], reason, claimed_by)


def withdraw_on_accept(request, conversation, claimed_by):
    """An accepted request's notifications (the accepter's claimed) and its chat's new-chat notices: one statement."""
    return withdraw([or_(Notification.request_id == request.id,
                         and_(Notification.conversation_id == conversation.id,
                              Notification.type == NotificationType.NEW_CHAT_INITIATED))],
                    WithdrawReason.CLAIMED, claimed_by, claimable=Notification.request_id == request.id)


def withdraw_new_chat(conversation, reason):
    return withdraw([Notification.conversation_id == conversation.id,
                     Notification.type == NotificationType.NEW_CHAT_INITIATED], reason)


def pending_for(user, page, page_size):
    """A user's pending notifications, newest first."""
    stmt = select(Notification).where(Notification.user_id == user.id,
                                      Notification.status == NotificationStatus.PENDING) \
        .order_by(Notification.id.desc())
    return paginate(stmt, page, page_size)


