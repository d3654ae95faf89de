"""The queue of live requests: their rows, their outcomes and their places.

A request moves out of pending exactly once, by a conditional UPDATE
(`resolve`), so an accept, the deadline, a cancel and the visitor leaving
can race and end in one outcome. Routing a request to agents is
services/live_requests.py; giving it to one is services/assignments.py.
"""
from sqlalchemy import func, select, update

from extensions import db
from metrics import LIVE_REQUESTS, count_after_commit
from models import Component, ComponentType, LiveRequest, NotificationType, RequestKind, RequestStatus
from models.base import utcnow
from schemas.events import EphemeralType, EventType
from services.events import announce, conversation_stream, emit

NOTIFICATION_OF = {RequestKind.TEXT: NotificationType.LIVE_CHAT_REQUEST,
                   RequestKind.VIDEO: NotificationType.VIDEO_CHAT_REQUEST}


def resolve(request_id, status, *, agent_id=None, now=None):
    """Move a pending request to status if it is still pending (the database decides)."""
    now = now or utcnow()
    conditions = [LiveRequest.id == request_id, LiveRequest.status == RequestStatus.PENDING]
    if status == RequestStatus.EXPIRED:
        conditions.append(LiveRequest.deadline_at <= now)
    elif status == RequestStatus.ACCEPTED:
        conditions.append(LiveRequest.deadline_at > now)
    moved = db.session.execute(
        update(LiveRequest).where(*conditions).values(status=status, resolved_at=now, agent_id=agent_id)
    ).rowcount == 1
    if moved:
        count_after_commit(db.session, LIVE_REQUESTS, outcome=RequestStatus(status).value)
    return moved


def latest_request(conversation):
    return db.session.scalar(select(LiveRequest).where(LiveRequest.conversation_id == conversation.id)
                             .order_by(LiveRequest.id.desc()).limit(1))


def live_chat_component(interface_id, component_id=None):
    """The live chat component a conversation's messages come from."""
    if component_id is not None:
        component = db.session.get(Component, component_id)
        if component is not None and component.type == ComponentType.LIVE_CHAT:
            return component
    return db.session.scalar(select(Component).where(
        Component.interface_id == interface_id, Component.type == ComponentType.LIVE_CHAT)
        .order_by(Component.position).limit(1))


def queue_position(request):
    if request.status != RequestStatus.PENDING:
        return None
    return db.session.scalar(select(func.count()).select_from(LiveRequest).where(
        LiveRequest.interface_id == request.interface_id, LiveRequest.status == RequestStatus.PENDING,
        LiveRequest.id <= request.id))


def request_view(request):
    return {"request_id": request.id, "kind": request.kind.value, "status": request.status.value,
            "queue_position": queue_position(request), "deadline_at": request.deadline_at.isoformat()}


def emit_request_updated(request):
    """request.updated to the conversation's followers (the caller commits)."""
    emit(EventType.REQUEST_UPDATED, request_view(request), [conversation_stream(request.conversation_id)],
         request.workspace_id)


def update_queue(interface_id):
    """Tell every waiting visitor of the interface their place in the queue, once the change commits.

    Positions are announced without being stored (GET .../request reads them
    again), so a long queue costs one publish per waiting visitor, not one row.
    """
    pending = db.session.execute(select(LiveRequest.id, LiveRequest.conversation_id, LiveRequest.kind,
                                        LiveRequest.deadline_at).where(
        LiveRequest.interface_id == interface_id, LiveRequest.status == RequestStatus.PENDING)
        .order_by(LiveRequest.id)).all()
    for place, (request_id, conversation_id, kind, deadline_at) in enumerate(pending, start=1):
        announce(EphemeralType.QUEUE_POSITION, {"request_id": request_id, "kind": kind.value, "status": "pending",
                                             "queue_position": place, "deadline_at": deadline_at.isoformat()},
                 [conversation_stream(conversation_id)])
