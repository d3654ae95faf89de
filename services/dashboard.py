"""What an agent's dashboard reads: conversations and requests of the interfaces they serve."""
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from models import Conversation, ConversationStatus, Interface, LiveRequest, RequestStatus, Role, User
from services.queue import request_view
from services.pagination import paginate


def _interfaces_of(user):
    stmt = select(Interface.id).where(Interface.workspace_id == user.workspace_id)
    if user.role != Role.ADMIN:
        stmt = stmt.where(Interface.agents.any(User.id == user.id))
    return stmt


def list_conversations(user, scope, page, page_size, interface_id=None):
    """Conversations by scope: mine (open with me), waiting, bot, active, closed or all, newest first."""
    # Each row shows its visitor: loaded by the same query, not one more per row.
    stmt = (select(Conversation).where(Conversation.interface_id.in_(_interfaces_of(user)))
            .options(joinedload(Conversation.visitor)))
    if interface_id is not None:
        stmt = stmt.where(Conversation.interface_id == interface_id)
    if scope == "mine":
        stmt = stmt.where(Conversation.agent_id == user.id, Conversation.status == ConversationStatus.ACTIVE)
    elif scope != "all":
        stmt = stmt.where(Conversation.status == ConversationStatus(scope))
    return paginate(stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc()), page, page_size)


def list_pending_requests(user, page, page_size):
    """Requests waiting for an agent on the user's interfaces, oldest first (queue order)."""
    stmt = select(LiveRequest).where(LiveRequest.interface_id.in_(_interfaces_of(user)),
                                     LiveRequest.status == RequestStatus.PENDING).order_by(LiveRequest.id)
    result = paginate(stmt, page, page_size)
    result["items"] = [{**request_view(r), "conversation_id": r.conversation_id, "interface_id": r.interface_id,
                        "created_at": r.created_at} for r in result["items"]]
    return result
