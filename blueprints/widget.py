"""The public widget API, addressed by an interface's public key."""
import logging

from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import current_user, decode_token, verify_jwt_in_request
from flask_limiter.util import get_remote_address
from sqlalchemy.exc import DBAPIError

from blueprints.common import Blueprint, errors
from errors import NotFound, is_database_outage, rollback_quietly, unavailable_response
from extensions import limiter
from models.conversation import Visitor
from schemas.conversations import (
    ConversationSchema, MessageCreateSchema, MessageHistoryArgsSchema, MessagePageSchema, MessageSchema,
)
from schemas.sockets import TicketSchema
from schemas.widget import WidgetOpenSchema
from services.chat import do_visitor_action, send_message_as
from services.core import access_conversation
from services.conversations import list_messages
from schemas.requests import (
    ActionResultSchema, ActionSchema, OfflineFormSubmitSchema, RequestViewSchema, SubmissionReceiptSchema,
)
from services.live_requests import do_cancel_request, get_visitor_request
from services.offline_forms import do_submit_offline_form
from services.sockets import do_issue_ticket
from services.visitors import access_widget, do_open_widget, origin_allowed

log = logging.getLogger(__name__)

blp = Blueprint("widget", __name__, url_prefix="/api/widget/<public_key:public_key>",
                description="The visitor's widget (public; a visitor token after opening)")

VISITOR_BEARER = [{"visitorToken": []}]


def _visitor_id():
    """The visitor a valid token names, else None (decoded once per request)."""
    cache = request.environ  # per request: flask.g can outlive one when an app context is already pushed
    if "livechat.widget_visitor_id" not in cache:
        cache["livechat.widget_visitor_id"] = None
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            try:
                cache["livechat.widget_visitor_id"] = str(decode_token(header[7:])["sub"])
            except Exception:  # an invalid token is nobody's: the per-address limit holds it
                pass
    return cache["livechat.widget_visitor_id"]


def _visitor_key():
    return "visitor:" + (_visitor_id() or "-")


# Two limits, each following its own setting: every request counts against its address; a request with a
# visitor token counts against that visitor too. A request without one (opening the widget) is no
# visitor's yet, so the per-visitor limit must not fall back to the address and cap opens at its rate.
limiter.limit(lambda: current_app.config["WIDGET_LIMIT_PER_ADDRESS"], key_func=get_remote_address,
              scope="widget-address")(blp)
limiter.limit(lambda: current_app.config["WIDGET_LIMIT_PER_VISITOR"], key_func=_visitor_key,
              scope="widget-visitor", exempt_when=lambda: _visitor_id() is None)(blp)


@blp.after_request
def _cors(response):
    """Allow the calling page when its origin is one of the interface's.

    This runs after the error handlers: an exception here would skip them and
    answer 500, so a database outage met here is answered as one (503).
    """
    origin = request.headers.get("Origin")
    key = (request.view_args or {}).get("public_key")
    if not (origin and key):
        return response
    if response.status_code == 503:
        # An outage answer tells nothing about the interface, and its database is most likely the one
        # away: let the page read it and its Retry-After without asking.
        return _allow(response, origin)
    from services.visitors import interface_by_key

    try:
        interface = interface_by_key(key)
    except DBAPIError as error:
        if not is_database_outage(error):
            raise
        log.warning("database unavailable: %s", error.__class__.__name__)
        rollback_quietly()
        return _allow(unavailable_response(), origin)
    if interface is not None and origin_allowed(interface, origin):
        _allow(response, origin)
    return response


def _allow(response, origin):
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers.add("Vary", "Origin")
    return response


def visitor_required(func):
    """Require the visitor token issued by this interface's widget."""
    from functools import wraps

    @wraps(func)
    def wrapper(*args, public_key, **kwargs):
        verify_jwt_in_request()
        interface = access_widget(public_key, request.headers.get("Origin"))
        if not isinstance(current_user, Visitor) or current_user.interface_id != interface.id:
            raise NotFound("Conversation not found")
        return func(*args, **kwargs)

    wrapper = blp.doc(security=VISITOR_BEARER)(wrapper)
    return errors(blp, 401, 403, 404, 429)(wrapper)


@blp.route("/sessions")
class WidgetSessions(MethodView):
    @blp.response(201, WidgetOpenSchema)
    @errors(blp, 403, 404, 429)
    @blp.doc(security=[{}, {"visitorToken": []}])
    def post(self, public_key):
        """Open the widget: a visitor token and the conversation (the same one when the token is sent)"""
        interface = access_widget(public_key, request.headers.get("Origin"))
        verify_jwt_in_request(optional=True)
        visitor = current_user if isinstance(current_user, Visitor) else None
        opened = do_open_widget(interface, visitor)
        opened["messages"] = list_messages(opened["conversation"], before=opened["conversation"].last_seq + 1,
                                           limit=50)["items"]
        return opened


@blp.route("/conversations/<id:conversation_id>")
class WidgetConversation(MethodView):
    @visitor_required
    @blp.response(200, ConversationSchema)
    def get(self, conversation_id):
        """Show the visitor's conversation"""
        return access_conversation(current_user, conversation_id)


@blp.route("/conversations/<id:conversation_id>/messages")
class WidgetMessages(MethodView):
    @visitor_required
    @blp.arguments(MessageHistoryArgsSchema, location="query")
    @blp.response(200, MessagePageSchema)
    @errors(blp, 422)
    def get(self, args, conversation_id):
        """Read the conversation's messages by cursor"""
        return list_messages(access_conversation(current_user, conversation_id), **args)

    @visitor_required
    @blp.arguments(MessageCreateSchema)
    @blp.response(201, MessageSchema)
    @errors(blp, 409, 422)
    def post(self, data, conversation_id):
        """Send a message; a retry with the same client_id returns the first one"""
        message, _ = send_message_as(current_user, conversation_id, data["text"], data["client_id"])
        return message


@blp.route("/sockets/ticket")
class WidgetSocketTicket(MethodView):
    @visitor_required
    @blp.response(201, TicketSchema)
    def post(self):
        """Get a single-use ticket that opens the WebSocket at /ws?ticket=..."""
        return do_issue_ticket(current_user)


@blp.route("/conversations/<id:conversation_id>/actions")
class WidgetActions(MethodView):
    @visitor_required
    @blp.arguments(ActionSchema)
    @blp.response(200, ActionResultSchema)
    @errors(blp, 409, 422)
    def post(self, data, conversation_id):
        """Press a button (Live chat and Video chat included), Skip or Back"""
        return do_visitor_action(current_user, conversation_id, data)


@blp.route("/conversations/<id:conversation_id>/request")
class WidgetRequest(MethodView):
    @visitor_required
    @blp.response(200, RequestViewSchema)
    def get(self, conversation_id):
        """Show the latest live request and the visitor's place in the queue"""
        return get_visitor_request(current_user, conversation_id)

    @visitor_required
    @blp.response(200, RequestViewSchema)
    @errors(blp, 409)
    def delete(self, conversation_id):
        """Cancel the waiting request; the bot leads again"""
        return do_cancel_request(current_user, conversation_id)


@blp.route("/conversations/<id:conversation_id>/offline-form")
class WidgetOfflineForm(MethodView):
    @visitor_required
    @blp.arguments(OfflineFormSubmitSchema)
    @blp.response(201, SubmissionReceiptSchema)
    @errors(blp, 409, 422)
    def post(self, data, conversation_id):
        """Send the offline form offered for a request (once per request)"""
        return do_submit_offline_form(current_user, conversation_id, data["request_id"], data["answers"])
