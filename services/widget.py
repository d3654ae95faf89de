"""Opening the widget: the visitor, their open conversation, its flow's first components, its latest messages.

It sits above services/visitors.py and services/flow_runtime.py, so starting
the flow needs no callback passed in.
"""
from extensions import db
from models.base import utcnow
from models.conversation import Visitor
from services.conversations import list_messages
from services.core import transaction
from services.flow_runtime import start_flow
from services.visitor_identity import apply_details, check_identity, verified_visitor
from services.interfaces import availability
from services.visitors import open_conversation, visitor_token

OPEN_MESSAGES = 50  # the newest messages the widget shows at once


@transaction
def do_open_widget(interface, visitor=None, details=None):
    """Open the widget: the same visitor and conversation when they come back, else new ones.

    With a valid identity, the site's user's own visitor (from any device) and the
    details sent along are the site's (verified); without one, what was sent is the visitor's own word.
    """
    details = details or {}
    if visitor is not None and visitor.interface_id != interface.id:
        visitor = None
    verified = "identity" in details
    if verified:
        visitor = verified_visitor(interface, check_identity(interface, details["identity"]), visitor)
    new_visitor = visitor is None
    if new_visitor:
        visitor = Visitor(workspace_id=interface.workspace_id, interface_id=interface.id)
        db.session.add(visitor)
    apply_details(visitor, details, verified=verified)
    visitor.last_seen_at = utcnow()  # in the new visitor's insert
    db.session.flush()
    conversation, created = open_conversation(visitor, new_visitor=new_visitor)
    if created:
        # A new conversation holds what its flow just showed, and no file yet: nothing to read back.
        messages = sorted(start_flow(conversation), key=lambda message: message.seq)[-OPEN_MESSAGES:]
        for message in messages:
            message.attachments = []
    else:
        messages = list_messages(conversation, before=conversation.last_seq + 1, limit=OPEN_MESSAGES)["items"]
    return {"visitor_token": visitor_token(visitor), "visitor_id": visitor.id, "conversation": conversation,
            "interface": interface, "visitor": visitor, "prechat_form": interface.prechat_form,
            "business_hours": availability(interface), "messages": messages}
