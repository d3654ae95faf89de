"""Capacity: how much of their max chats an agent uses, and whether a chat of a kind fits.

One rule for every question about room (who is offered a request, who may
accept it, who is auto-assigned, who may take a transfer): a chat weighs 1,
a video chat the interface's video weight, and it fits when the agent's load
plus its weight stays within their max chats. Imports nothing above models.
"""
from sqlalchemy import func, select

from extensions import db
from models import Conversation, ConversationStatus, RequestKind


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


def load_of(agent_id):
    return open_chat_counts([agent_id])[agent_id]


def weight_of(interface, kind):
    """What a chat of this kind counts against max chats on this interface."""
    return interface.video_weight if RequestKind(kind) == RequestKind.VIDEO else 1


def fits(agent, load, weight=1):
    """True when a chat of this weight fits in the agent's max chats on top of their load."""
    return load + weight <= agent.max_chats


def with_room(agents, weight=1, counts=None):
    """The agents a chat of this weight fits (counts: their loads, read now when not given)."""
    if counts is None:
        counts = open_chat_counts([agent.id for agent in agents])
    return [agent for agent in agents if fits(agent, counts.get(agent.id, 0), weight)]
