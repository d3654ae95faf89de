"""WebRTC signalling between the two participants of a call, call commands from sockets, ICE servers.

Signalling is relayed, never stored: an SDP or a candidate is published as an
ephemeral frame to the other participant's own stream (user:<id> or
visitor:<id>), never to the conversation stream that admins and other agents
may follow. Replaying stale SDP to a reloaded page would only do harm; the
call's state itself travels as the durable call.updated event.

The relay holds the call row (FOR SHARE on PostgreSQL) while it publishes, so
a transaction ending the call waits for it: nothing is relayed after the end
is committed. A socket's frames are handled one after the other and each is
published before the next is read, so they reach the other side in order.
"""
import time
from datetime import datetime, timezone

from flask import current_app
from sqlalchemy import select

from errors import Forbidden
from extensions import db
from models import Call, CallSide, CallStatus, Conversation
from schemas.events import SIGNAL_COMMANDS, CommandType
from services.calls import (
    CallEnded, CallNotAccepted, access_call, access_live_call, activate, do_accept_video, do_offer_video, dump_call,
    side_of,
)
from services.core import serves_clause, transaction, valid_id
from services.events import publish_ephemeral, user_stream, visitor_stream
from services.ice import ice_servers
from services.releases import do_decline_video, do_fallback_to_text, do_hangup


@transaction
def do_signal(principal, command_type, command):
    """Relay an offer, answer or candidate to the other participant while the call is live."""
    call = None if command_type == CommandType.CALL_ANSWER else _signalling_call(principal, command["call_id"])
    if call is None:  # the long way: it tells which error, and an answer may activate the call
        call = access_call(principal, command["call_id"])
        if call.status == CallStatus.ENDED or call.agent_id is None:
            raise CallEnded()
        if call.accepted_at is None:
            raise CallNotAccepted()
        if command_type == CommandType.CALL_ANSWER and call.status == CallStatus.RINGING:
            activate(call)
        held = db.session.scalar(select(Call.id).where(Call.id == call.id, Call.status != CallStatus.ENDED)
                                 .with_for_update(read=True))
        if held is None:
            raise CallEnded()
    side = side_of(principal)
    target = visitor_stream(call.visitor_id) if side == CallSide.AGENT else user_stream(call.agent_id)
    data = {"call_id": call.id, "conversation_id": call.conversation_id, "sender": side.value}
    if command_type == CommandType.CALL_CANDIDATE:
        data["candidate"] = command["candidate"]
    else:
        data["sdp"] = command["sdp"]
    publish_ephemeral(target, {"type": SIGNAL_COMMANDS[command_type].value, "stream": target, "data": data})
    return {"call_id": call.id, "status": call.status.value}


def _signalling_call(principal, call_id):
    """The call, held FOR SHARE, when the principal may signal on it now; None otherwise.

    One statement for what access_call, the state checks and the lock read in four: the call is live and
    accepted, the principal is its participant, and they still reach its conversation (its visitor; a user
    of its workspace who serves its interface). A browser trickles a dozen candidates at once and a
    socket runs its commands one after the other, so every round trip here delays the last of them.
    """
    if not valid_id(call_id):
        return None
    conditions = [Call.id == call_id, Call.workspace_id == principal.workspace_id, Call.status != CallStatus.ENDED,
                  Call.accepted_at.is_not(None), Call.agent_id.is_not(None), Conversation.id == Call.conversation_id]
    if side_of(principal) == CallSide.AGENT:
        conditions += [Call.agent_id == principal.id, Conversation.workspace_id == principal.workspace_id,
                       serves_clause(principal, Conversation.interface_id)]
    else:
        conditions += [Call.visitor_id == principal.id, Conversation.visitor_id == principal.id]
    return db.session.execute(
        select(Call.id, Call.status, Call.visitor_id, Call.agent_id, Call.conversation_id)
        .where(*conditions).with_for_update(read=True, of=Call)).first()


_ACTIONS = {CommandType.CALL_HANGUP: do_hangup, CommandType.CALL_FALLBACK_TO_TEXT: do_fallback_to_text,
            CommandType.CALL_ACCEPT_VIDEO: do_accept_video, CommandType.CALL_DECLINE_VIDEO: do_decline_video}


def do_call_command(principal, command_type, command):
    """Run one call command from a socket; the ack carries the call (signalling: its id and status)."""
    if command_type in SIGNAL_COMMANDS:
        return do_signal(principal, command_type, command)
    if command_type == CommandType.CALL_OFFER_VIDEO:
        if side_of(principal) != CallSide.AGENT:
            raise Forbidden("Only agents can offer video")
        return {"call": dump_call(do_offer_video(principal, command["conversation_id"]))}
    call = access_call(principal, command["call_id"])
    return {"call": dump_call(_ACTIONS[command_type](principal, call))}


def get_ice_servers(principal, conversation_id):
    """STUN/TURN servers for a participant of the conversation's live call, TURN with expiring credentials."""
    call = access_live_call(principal, conversation_id)
    config = current_app.config
    side = side_of(principal)
    servers = ice_servers(stun_urls=config["STUN_URLS"], turn_urls=config["TURN_URLS"],
                          turn_secret=config["TURN_SECRET"], ttl_s=config["TURN_TTL_S"],
                          label=f"call{call.id}-{side.value}{principal.id}", now=time.time())
    expiry = servers["expires_at"]
    servers["expires_at"] = datetime.fromtimestamp(expiry, timezone.utc) if expiry else None
    return servers
