"""The typing indicator: an ephemeral frame, never stored, never replayed.

It leaves through publish_ephemeral at once (there is no transaction to wait
for); a lost one is corrected by the next, or by the message that follows.
"""
from models import User
from schemas.events import EphemeralType
from services.chat import access_conversation_as
from services.events import conversation_stream, publish_ephemeral


def do_typing(principal, conversation_id, typing):
    """Tell the conversation's live sockets that the principal started or stopped typing."""
    conversation = access_conversation_as(principal, conversation_id)
    stream = conversation_stream(conversation.id)
    publish_ephemeral(stream, {
        "type": EphemeralType.TYPING.value, "stream": stream,
        "data": {"conversation_id": conversation.id,
                 "sender_type": "agent" if isinstance(principal, User) else "visitor",
                 "sender_name": getattr(principal, "name", None), "typing": typing},
    })
    return {}
