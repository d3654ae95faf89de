"""Video calls over REST: history, offer video, hang up, fall back to text, ICE servers.

The agent's routes live here under /api; the visitor's are declared by
blueprints/widget.py on its own blueprint, so they share its origins, CORS and
rate limits.
"""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.calls import CallHistoryArgsSchema, CallPageSchema, CallSchema, IceServersSchema
from services.calls import (
    CallEnded, CallInProgress, NoLiveCall, NotInCall, NotOffered, access_live_call, do_offer_video, list_calls,
)
from services.core import CapacityFull, NotActive, NotAssigned, access_conversation
from services.releases import do_fallback_to_text, do_hangup
from services.signalling import get_ice_servers

blp = Blueprint("calls", __name__, url_prefix="/api", description="Video calls, for agents and admins")

CONVERSATION = "/conversations/<id:conversation_id>"
# What ending a live call can answer: none, not yours, over already, or only offered (hang up ends an offer too).
LIVE_CALL_ENDING = [CallEnded, NoLiveCall, NotInCall, NotOffered]


@blp.route(CONVERSATION + "/calls")
class ConversationCalls(MethodView):
    @blp.doc(operationId="listCalls")
    @login_required(blp)
    @blp.arguments(CallHistoryArgsSchema, location="query")
    @blp.response(200, CallPageSchema)
    @errors(blp, 404, 422)
    def get(self, args, conversation_id):
        """List the conversation's calls, newest first: started, answered, ended, by whom, how long

        Cursor list: pass next_before back as before for older calls.
        """
        return list_calls(access_conversation(current_user, conversation_id), **args)

    @blp.doc(operationId="offerVideoCall")
    @login_required(blp)
    @blp.response(201, CallSchema)
    @errors(blp, 404, 409, codes={409: [CallInProgress, CapacityFull, NotActive, NotAssigned]})
    def post(self, conversation_id):
        """Offer video in your text chat; the visitor accepts or declines (409 capacity_full, call_in_progress)

        The video weight of the interface must fit your max chats (409 capacity_full); one call at a time (409
        call_in_progress).
        """
        return do_offer_video(current_user, conversation_id)


@blp.route(CONVERSATION + "/call/hangup")
class ConversationCallHangup(MethodView):
    @blp.doc(operationId="hangUpCall")
    @login_required(blp)
    @blp.response(200, CallSchema)
    @errors(blp, 404, 409, codes={409: LIVE_CALL_ENDING})
    def post(self, conversation_id):
        """Hang up the conversation's call; the chat goes on in text

        Ends a ringing or active call for both sides.
        """
        return do_hangup(current_user, access_live_call(current_user, conversation_id))


@blp.route(CONVERSATION + "/call/fallback-to-text")
class ConversationCallFallback(MethodView):
    @blp.doc(operationId="fallBackCallToText")
    @login_required(blp)
    @blp.response(200, CallSchema)
    @errors(blp, 404, 409, codes={409: LIVE_CALL_ENDING})
    def post(self, conversation_id):
        """Leave the call and go on chatting in text

        Ends the call like hangUpCall, recorded as a fallback to text.
        """
        return do_fallback_to_text(current_user, access_live_call(current_user, conversation_id))


@blp.route(CONVERSATION + "/call/ice-servers")
class ConversationCallIceServers(MethodView):
    @blp.doc(operationId="getIceServers")
    @login_required(blp)
    @blp.response(200, IceServersSchema)
    @errors(blp, 404, 409, codes={409: [NoLiveCall, NotInCall]})
    def get(self, conversation_id):
        """Get the STUN/TURN servers for your call, with TURN credentials that expire

        Only for a participant of the conversation's live call (409 no_live_call, not_in_call).
        """
        return get_ice_servers(current_user, conversation_id)
