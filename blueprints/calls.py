"""Video calls over REST: history, offer video, hang up, fall back to text, ICE servers.

The agent's routes live here under /api; the visitor's are declared by
blueprints/widget.py on its own blueprint, so they share its origins, CORS and
rate limits.
"""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.calls import CallHistoryArgsSchema, CallPageSchema, CallSchema, IceServersSchema
from services.calls import access_live_call, do_offer_video, list_calls
from services.core import access_conversation
from services.releases import do_fallback_to_text, do_hangup
from services.signalling import get_ice_servers

blp = Blueprint("calls", __name__, url_prefix="/api", description="Video calls, for agents and admins")

CONVERSATION = "/conversations/<id:conversation_id>"


@blp.route(CONVERSATION + "/calls")
class ConversationCalls(MethodView):
    @login_required(blp)
    @blp.arguments(CallHistoryArgsSchema, location="query")
    @blp.response(200, CallPageSchema)
    @errors(blp, 404, 422)
    def get(self, args, conversation_id):
        """List the conversation's calls, newest first: started, answered, ended, by whom, how long"""
        return list_calls(access_conversation(current_user, conversation_id), **args)

    @login_required(blp)
    @blp.response(201, CallSchema)
    @errors(blp, 404, 409)
    def post(self, conversation_id):
        """Offer video in your text chat; the visitor accepts or declines (409 capacity_full, call_in_progress)"""
        return do_offer_video(current_user, conversation_id)


@blp.route(CONVERSATION + "/call/hangup")
class ConversationCallHangup(MethodView):
    @login_required(blp)
    @blp.response(200, CallSchema)
    @errors(blp, 404, 409)
    def post(self, conversation_id):
        """Hang up the conversation's call; the chat goes on in text"""
        return do_hangup(current_user, access_live_call(current_user, conversation_id))


@blp.route(CONVERSATION + "/call/fallback-to-text")
class ConversationCallFallback(MethodView):
    @login_required(blp)
    @blp.response(200, CallSchema)
    @errors(blp, 404, 409)
    def post(self, conversation_id):
        """Leave the call and go on chatting in text"""
        return do_fallback_to_text(current_user, access_live_call(current_user, conversation_id))


@blp.route(CONVERSATION + "/call/ice-servers")
class ConversationCallIceServers(MethodView):
    @login_required(blp)
    @blp.response(200, IceServersSchema)
    @errors(blp, 404, 409)
    def get(self, conversation_id):
        """Get the STUN/TURN servers for your call, with TURN credentials that expire"""
        return get_ice_servers(current_user, conversation_id)
