"""The widget's side: interfaces by public key, origins, visitor tokens, conversations."""
from datetime import timedelta

from flask_jwt_extended import create_access_token
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from errors import Forbidden, NotFound
from extensions import db
from models import Interface
from models.conversation import Conversation, ConversationStatus, Visitor
from services.auth import keys_match, read_token, subject_id
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


def origin_allowed(allowed_origins, origin):
    """Whether a page of origin may use an interface allowing allowed_origins.

    Browsers always send Origin; a request without one is not from a page.
    """
    if origin is None:
        return True
    return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in allowed_origins or []}


def check_origin(interface, origin):
    if not origin_allowed(interface.allowed_origins, origin):
        raise OriginNotAllowed()


def visitor_token(visitor):
    claims = {"kind": TOKEN_KIND_VISITOR, "ws": visitor.workspace_id, "iface": visitor.interface_id,
              "key": visitor.token_key}
    return create_access_token(identity=str(visitor.id), additional_claims=claims, expires_delta=VISITOR_TOKEN_TTL)


def _holds(visitor, claims):
    if visitor is None or visitor.interface_id != claims.get("iface"):
        return False
    # The id alone could name a later visitor; the key cannot.
    return keys_match(visitor.token_key, claims.get("key"))


def load_token_visitor(claims):
    visitor_id = subject_id(claims)
    visitor = db.session.get(Visitor, visitor_id) if visitor_id is not None else None
    return visitor if _holds(visitor, claims) else None


def read_visitor_token(claims):
    """A visitor token's checks in one read: (whether its jti is revoked, the visitor it speaks for or None)."""
    visitor, revoked = read_token(Visitor, claims)
    return revoked, visitor if _holds(visitor, claims) else None


def open_conversation(visitor, new_visitor=False):
    """The visitor's open conversation, or a new one; concurrent calls make one.

    A visitor created in this transaction (new_visitor) has none to look for.
    """
    conversation = None if new_visitor else current_conversation(visitor)
    if conversation is not None:
        return conversation, False
    conversation = Conversation(workspace_id=visitor.workspace_id, interface_id=visitor.interface_id,
                                visitor_id=visitor.id, status=ConversationStatus.BOT, last_seq=0)
    if new_visitor:  # nobody else knows the visitor yet: no concurrent open to lose to, no savepoint
        db.session.add(conversation)
        db.session.flush()
        conversation_started(conversation)
        return conversation, True
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


