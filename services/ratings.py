"""Ratings (CSAT): a visitor rates a chat once, after it ended and within RATING_WINDOW_H.

The rating keeps the agent the chat had when it ended (a closed conversation
keeps its agent_id) and is told to that agent on their user stream. One
service function creates it: whatever else a new rating should cause belongs
there, in its transaction.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errors import Conflict
from extensions import db
from models import ConversationStatus, Rating
from models.base import utcnow
from schemas.events import EventType
from schemas.ratings import RatingSchema
from services.core import access_conversation, transaction
from services.events import emit, user_stream
from services.pagination import paginate
from services.webhooks import rating_created

_rating_schema = RatingSchema()


class NotEnded(Conflict):
    code, message = "conversation_not_closed", "The chat has not ended yet"


class AlreadyRated(Conflict):
    code, message = "already_rated", "This chat was rated already"


class RatingWindowClosed(Conflict):
    code, message = "rating_window_closed", "The time to rate this chat is over"


def dump_rating(rating):
    return _rating_schema.dump(rating)


def ended_conversation(visitor, conversation_id):
    """The visitor's own conversation, closed; 404 for another's, 409 conversation_not_closed while open."""
    conversation = access_conversation(visitor, conversation_id)
    if conversation.status != ConversationStatus.CLOSED or conversation.closed_at is None:
        raise NotEnded()
    return conversation


@transaction
def do_rate_conversation(visitor, conversation_id, score, comment=None):
    """Store the visitor's rating of their ended chat (once) and tell the agent who had it."""
    conversation = ended_conversation(visitor, conversation_id)
    now = utcnow()
    if now > conversation.closed_at + timedelta(hours=current_app.config["RATING_WINDOW_H"]):
        raise RatingWindowClosed()
    rating = Rating(workspace_id=conversation.workspace_id, interface_id=conversation.interface_id,
                    conversation_id=conversation.id, visitor_id=visitor.id, agent_id=conversation.agent_id,
                    score=score, comment=comment or None, created_at=now)
    try:
        with db.session.begin_nested():  # the unique conversation_id decides a race between two
            db.session.add(rating)
    except IntegrityError:
        raise AlreadyRated() from None
    rating_created(rating)  # the webhook
    if rating.agent_id is not None:
        emit(EventType.RATING_CREATED, {"rating": dump_rating(rating)}, [user_stream(rating.agent_id)],
             conversation.workspace_id)
    return rating


def list_ratings(admin, page, page_size, interface_id=None, agent_id=None, score_min=None, score_max=None):
    """The workspace's ratings, newest first, narrowed by the filters given."""
    stmt = select(Rating).where(Rating.workspace_id == admin.workspace_id)
    if interface_id is not None:
        stmt = stmt.where(Rating.interface_id == interface_id)
    if agent_id is not None:
        stmt = stmt.where(Rating.agent_id == agent_id)
    if score_min is not None:
        stmt = stmt.where(Rating.score >= score_min)
    if score_max is not None:
        stmt = stmt.where(Rating.score <= score_max)
    return paginate(stmt.order_by(Rating.id.desc()), page, page_size)
