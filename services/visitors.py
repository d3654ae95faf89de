"""The widget's side: interfaces by public key, origins, visitor tokens, conversations."""
from datetime import timedelta

from flask_jwt_extended import create_access_token
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errors import Forbidden, NotFound
from extensions import db
from models import Interface
from models.conversation import Conversation, ConversationStatus, Visitor
from services.auth import keys_match
from services.webhooks import conversation_started

TOKEN_KIND_VISITOR = "visitor"
VISITOR_TOKEN_TTL = timedelta(days=30)


class OriginNotAllowed(Forbidden):
    code, message = "origin_not_allowed", "This page's origin may not use this chat interface"


def interface_by_key(public_key):
    return db.session.scalar(select(Interface).where(Interface.public_key == public_key))


def access_widget(public_key, origin):
    """The interface behind a public key, if the calling page's origin is allowed."""
    interface = interface_by_key(public_key)
    if interface is None:
        raise NotFound("Chat interface not found")
    check_origin(interface, origin)
    return interface


def origin_allowed(interface, origin):
    """Browsers always send Origin; a request without one is not from a page."""
    if origin is None:
        return True
    return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in interface.allowed_origins or []}


def check_origin(interface, origin):
    if not origin_allowed(interface, origin):
        raise OriginNotAllowed()


def visitor_token(visitor):
    claims = {"kind": TOKEN_KIND_VISITOR, "ws": visitor.workspace_id, "iface": visitor.interface_id,
              "key": visitor.token_key}
    return create_access_token(identity=str(visitor.id), additional_claims=claims, expires_delta=VISITOR_TOKEN_TTL)


def load_token_visitor(claims):
    try:
        visitor = db.session.get(Visitor, int(claims["sub"]))
    except (TypeError, ValueError):
        return None
    if visitor is None or visitor.interface_id != claims.get("iface"):
        return None
    # The id alone could name a later visitor; the key cannot.
    if not keys_match(visitor.token_key, claims.get("key")):
        return None
    return visitor


def open_conversation(visitor):
    """The visitor's open conversation, or a new one; concurrent calls make one."""
    conversation = current_conversation(visitor)
    if conversation is not None:
        return conversation, False
    conversation = Conversation(workspace_id=visitor.workspace_id, interface_id=visitor.interface_id,
                                visitor_id=visitor.id, status=ConversationStatus.BOT, last_seq=0)
    try:
        with db.session.begin_nested():
            db.session.add(conversation)
    except IntegrityError:
        # Another request opened it first: the partial unique index decided.
        existing = current_conversation(visitor)
        if existing is None:
            raise
        return existing, False
    conversation_started(conversation)
    return conversation, True


def current_conversation(visitor):
    return db.session.scalar(select(Conversation).where(
        Conversation.visitor_id == visitor.id, Conversation.status != ConversationStatus.CLOSED))


