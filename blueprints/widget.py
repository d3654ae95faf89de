"""The public widget API, addressed by an interface's public key."""
import logging
from functools import wraps

from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import current_user, decode_token, verify_jwt_in_request
from flask_limiter.util import get_remote_address

from blueprints.attachments import UPLOAD_ERRORS, upload
from blueprints.common import USER_TOKEN_CODES, Blueprint, errors, roles, upload_body
from errors import DATABASE_ERRORS, NotFound, is_database_outage, rollback_quietly, unavailable_response
from extensions import limiter
from models.conversation import Visitor
from schemas.attachments import AttachmentSchema, AttachmentUploadSchema
from schemas.calls import CallHistoryArgsSchema, CallPageSchema, CallSchema, IceServersSchema
from schemas.conversations import (
    ConversationSchema, MessageCreateSchema, MessageHistoryArgsSchema, MessagePageSchema, MessageSchema,
)
from schemas.dashboard import ReadSchema
from schemas.requests import (
    ActionResultSchema, ActionSchema, OfflineFormSubmitSchema, RequestViewSchema, SubmissionReceiptSchema,
)
from schemas.ratings import RatingCreateSchema, RatingSchema, TranscriptReceiptSchema, TranscriptRequestSchema
from schemas.sockets import TicketSchema
from schemas.visitors import VisitorSchema, VisitorUpdateSchema, WidgetOpenArgsSchema
from schemas.widget import WidgetAvailabilitySchema, WidgetOpenSchema
from services.attachments import AttachmentAlreadySent, AttachmentNotFound, get_attachment
from services.calls import (
    CallEnded, NoLiveCall, NotInCall, NotOffered, access_live_call, do_accept_video, list_calls,
)
from services.chat import InputNotExpected, do_mark_read, do_visitor_action, send_message_as
from services.conversations import ConversationClosed, list_messages
from services.core import NotInBotPhase, access_conversation
from services.releases import do_decline_video, do_fallback_to_text, do_hangup
from services.live_requests import AlreadyWaiting, NoPendingRequest, do_cancel_request, get_visitor_request
from services.offline_forms import AlreadySubmitted, FormInactive, FormNotOffered, do_submit_offline_form
from services.ratings import AlreadyRated, NotEnded, RatingWindowClosed, do_rate_conversation
from services.signalling import get_ice_servers
from services.sockets import do_issue_ticket
from services.transcripts import do_send_transcript
from services.interfaces import availability
from services.visitors import OriginNotAllowed, access_widget, interface_by_key, origin_allowed
from services.visitor_identity import IdentityInvalid, PrechatRequired, do_update_visitor
from services.widget import do_open_widget

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
    known = request.environ.get(_ALLOWED_ORIGINS)
    if known is not None and known[0] == key:
        allowed = known[1]
    else:
        try:
            interface = interface_by_key(key)
        except DATABASE_ERRORS as error:
            if not is_database_outage(error):
                raise
            log.warning("database unavailable: %s", error.__class__.__name__)
            rollback_quietly()
            return _allow(unavailable_response(), origin)
        allowed = interface.allowed_origins if interface is not None else []
    if allowed and origin_allowed(allowed, origin):
        _allow(response, origin)
    return response


# Where a request keeps (public key, allowed origins) of the interface it read, for _cors: read again after
# the commit, the interface would cost the request one more statement.
_ALLOWED_ORIGINS = "livechat.widget_allowed_origins"


def _access_widget(public_key):
    """access_widget for this request's page; what the interface allows is kept for the CORS answer."""
    interface = access_widget(public_key, request.headers.get("Origin"))
    request.environ[_ALLOWED_ORIGINS] = (public_key, list(interface.allowed_origins or []))
    return interface


def _allow(response, origin):
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, PATCH, DELETE, OPTIONS"
    response.headers["Access-Control-Expose-Headers"] = "Retry-After"
    response.headers["Access-Control-Max-Age"] = "600"
    response.headers.add("Vary", "Origin")
    return response


def visitor_required(func):
    """Require the visitor token issued by this interface's widget."""
    @wraps(func)
    def wrapper(*args, public_key, **kwargs):
        verify_jwt_in_request()
        interface = _access_widget(public_key)
        if not isinstance(current_user, Visitor) or current_user.interface_id != interface.id:
            raise NotFound("Conversation not found")
        return func(*args, **kwargs)

    wrapper = blp.doc(security=VISITOR_BEARER)(wrapper)
    wrapper = roles(blp, "visitor")(wrapper)
    return errors(blp, 401, 403, 404, 429, codes={401: USER_TOKEN_CODES, 403: [OriginNotAllowed]})(wrapper)


@blp.route("/sessions")
class WidgetSessions(MethodView):
    @blp.doc(operationId="openWidget")
    @blp.arguments(WidgetOpenArgsSchema, required=False)
    @blp.response(201, WidgetOpenSchema)
    @errors(blp, 401, 403, 404, 422, 429,
            codes={401: USER_TOKEN_CODES, 403: [IdentityInvalid, OriginNotAllowed]})
    @blp.doc(security=[{}, {"visitorToken": []}])
    def post(self, data, public_key):
        """Open the widget: a visitor token and the conversation (the same one when the token is sent)

        Without a token a new visitor and conversation are created; with a valid visitor token the same ones
        are returned. The calling page's Origin must be allowed (403 origin_not_allowed). The body is optional:
        name, email and attributes describe the visitor (unverified); identity, signed with the interface's
        identity secret, opens as the site's user's own visitor on any device, with their open conversation,
        and makes the details sent with it verified (403 identity_invalid when the hash does not match).
        """
        interface = _access_widget(public_key)
        verify_jwt_in_request(optional=True)
        visitor = current_user if isinstance(current_user, Visitor) else None
        return do_open_widget(interface, visitor, data)


@blp.route("/visitor")
class WidgetVisitor(MethodView):
    @blp.doc(operationId="updateVisitor")
    @visitor_required
    @blp.arguments(VisitorUpdateSchema)
    @blp.response(200, VisitorSchema)
    @errors(blp, 422)
    def patch(self, data):
        """Give your name, e-mail or attributes (the pre-chat form)

        Send only what changes; attributes merge a key at a time (at most 20 in all). An e-mail given here is
        stored as unverified contact data.
        """
        return do_update_visitor(current_user, data)


@blp.route("/availability")
class WidgetAvailability(MethodView):
    @blp.doc(operationId="getWidgetAvailability")
    @blp.response(200, WidgetAvailabilitySchema)
    @errors(blp, 403, 404, 429, codes={403: [OriginNotAllowed]})
    @blp.doc(security=[{}])
    def get(self, public_key):
        """Whether live and video requests reach agents now, and when they next do

        Follows the interface's business hours; without any it is always open. Public, for a page that polls.
        """
        return availability(_access_widget(public_key))


@blp.route("/conversations/<id:conversation_id>")
class WidgetConversation(MethodView):
    @blp.doc(operationId="getVisitorConversation")
    @visitor_required
    @blp.response(200, ConversationSchema)
    def get(self, conversation_id):
        """Show the visitor's conversation

        The conversation the visitor token belongs to.
        """
        return access_conversation(current_user, conversation_id)


@blp.route("/conversations/<id:conversation_id>/messages")
class WidgetMessages(MethodView):
    @blp.doc(operationId="listVisitorMessages")
    @visitor_required
    @blp.arguments(MessageHistoryArgsSchema, location="query")
    @blp.response(200, MessagePageSchema)
    @errors(blp, 422)
    def get(self, args, conversation_id):
        """Read the conversation's messages by cursor

        Cursor list by message seq: after for newer, before for older.
        """
        return list_messages(access_conversation(current_user, conversation_id), **args)

    @blp.doc(operationId="sendVisitorMessage")
    @visitor_required
    @blp.arguments(MessageCreateSchema)
    @blp.response(201, MessageSchema)
    @errors(blp, 404, 409, 422, codes={404: ["not_found", AttachmentNotFound], 409: [ConversationClosed],
                                       422: ["validation_error", AttachmentAlreadySent]})
    def post(self, data, conversation_id):
        """Send a message; a retry with the same client_id returns the first one

        409 conversation_closed once the chat has ended. attachment_ids: your uploads in this conversation
        (404 attachment_not_found for anything else, 422 attachment_already_sent); the text may then be empty.
        """
        message, _ = send_message_as(current_user, conversation_id, data["text"], data["client_id"],
                                     attachment_ids=data.get("attachment_ids"))
        return message


@blp.route("/conversations/<id:conversation_id>/read")
class WidgetRead(MethodView):
    @blp.doc(operationId="markVisitorConversationRead")
    @visitor_required
    @blp.arguments(ReadSchema)
    @blp.response(200, ReadSchema)
    @errors(blp, 422)
    def post(self, data, conversation_id):
        """Say up to which message the visitor has read

        The read position only moves forward; the agent sees it (conversation.read, visitor_read_seq).
        """
        return do_mark_read(current_user, conversation_id, data["seq"])
def _visitor_upload_limit():
    return current_app.config["ATTACHMENT_UPLOAD_LIMIT_PER_VISITOR"]


@blp.route("/conversations/<id:conversation_id>/attachments")
class WidgetAttachments(MethodView):
    decorators = [limiter.limit(_visitor_upload_limit, key_func=_visitor_key, scope="widget-upload")]

    @upload_body("ATTACHMENT_MAX_BYTES")
    @blp.doc(operationId="uploadVisitorAttachment")
    @visitor_required
    @blp.arguments(AttachmentUploadSchema, location="files")
    @blp.response(201, AttachmentSchema)
    @errors(blp, 409, 413, 422, codes={status: UPLOAD_ERRORS[status] for status in (409, 413, 422)})
    def post(self, data, conversation_id):
        """Upload a file into the conversation; send it with a message's attachment_ids

        Multipart form with one `file` part, at most ATTACHMENT_MAX_BYTES (10 MiB by default; 413); the
        conversation's files together at most ATTACHMENT_CONVERSATION_MAX_BYTES (413
        conversation_storage_full). The type is decided from the content (422 file_type_not_allowed, or
        file_type_mismatch when the filename or the part's type claims another). Uploads are limited per
        visitor (429). Unsent uploads are deleted after a day.
        """
        return upload(current_user, conversation_id, data)


@blp.route("/conversations/<id:conversation_id>/attachments/<id:attachment_id>")
class WidgetAttachment(MethodView):
    @blp.doc(operationId="getVisitorAttachment")
    @visitor_required
    @blp.response(200, AttachmentSchema)
    @errors(blp, 404, codes={404: ["not_found", AttachmentNotFound]})
    def get(self, conversation_id, attachment_id):
        """Show an attachment with a fresh download link

        A file a message of the conversation carries, or your own unsent upload.
        """
        return get_attachment(current_user, conversation_id, attachment_id)


@blp.route("/sockets/ticket")
class WidgetSocketTicket(MethodView):
    @blp.doc(operationId="createVisitorSocketTicket")
    @visitor_required
    @blp.response(201, TicketSchema)
    def post(self):
        """Get a single-use ticket that opens the WebSocket at /ws?ticket=...

        The ticket is single-use and short-lived; the socket checks it and the Origin before the upgrade.
        """
        return do_issue_ticket(current_user)


@blp.route("/conversations/<id:conversation_id>/actions")
class WidgetActions(MethodView):
    @blp.doc(operationId="performVisitorAction")
    @visitor_required
    @blp.arguments(ActionSchema)
    @blp.response(200, ActionResultSchema)
    @errors(blp, 409, 422, codes={409: [AlreadyWaiting, InputNotExpected, NotInBotPhase],
                                  422: ["validation_error", PrechatRequired]})
    def post(self, data, conversation_id):
        """Press a button (Live chat and Video chat included), Skip or Back

        Answers with the conversation and the messages the step produced; 409 input_not_expected for a button
        not shown now; 422 prechat_required for Live chat or Video chat while the interface's enabled pre-chat
        form misses a required field (errors name them; nothing changes, press again after updateVisitor).
        """
        return do_visitor_action(current_user, conversation_id, data)


@blp.route("/conversations/<id:conversation_id>/request")
class WidgetRequest(MethodView):
    @blp.doc(operationId="getVisitorRequest")
    @visitor_required
    @blp.response(200, RequestViewSchema)
    def get(self, conversation_id):
        """Show the latest live request and the visitor's place in the queue

        Includes the position in the queue while the request waits.
        """
        return get_visitor_request(current_user, conversation_id)

    @blp.doc(operationId="cancelVisitorRequest")
    @visitor_required
    @blp.response(200, RequestViewSchema)
    @errors(blp, 409, codes={409: [NoPendingRequest]})
    def delete(self, conversation_id):
        """Cancel the waiting request; the bot leads again

        409 no_pending_request when nothing waits.
        """
        return do_cancel_request(current_user, conversation_id)


@blp.route("/conversations/<id:conversation_id>/offline-form")
class WidgetOfflineForm(MethodView):
    @blp.doc(operationId="submitOfflineForm")
    @visitor_required
    @blp.arguments(OfflineFormSubmitSchema)
    @blp.response(201, SubmissionReceiptSchema)
    @errors(blp, 409, 422, codes={409: [AlreadySubmitted, FormInactive, FormNotOffered]})
    def post(self, data, conversation_id):
        """Send the offline form offered for a request (once per request)

        Once per request (409 already_submitted), only when the form was offered (409 form_not_offered) and is
        active (409 form_inactive).
        """
        return do_submit_offline_form(current_user, conversation_id, data["request_id"], data["answers"])


# -- once the chat ended: its transcript and its rating ---------------------------


def _transcript_conversation_key():
    # The visitor's too: nobody else can use up the limit of a conversation that is not theirs.
    return f"{_visitor_key()}:conversation:{(request.view_args or {}).get('conversation_id', '-')}"


def _queued(response):
    return response.status_code == 202


@blp.route("/conversations/<id:conversation_id>/transcript")
class WidgetTranscript(MethodView):
    # Only mail queued counts: a refused request sends nothing (the widget's own limits hold those).
    decorators = [
        limiter.limit(lambda: current_app.config["TRANSCRIPT_LIMIT_PER_VISITOR"], key_func=_visitor_key,
                      scope="widget-transcript-visitor", deduct_when=_queued),
        limiter.limit(lambda: current_app.config["TRANSCRIPT_LIMIT_PER_CONVERSATION"],
                      key_func=_transcript_conversation_key, scope="widget-transcript-conversation",
                      deduct_when=_queued),
    ]

    @blp.doc(operationId="sendVisitorTranscript")
    @visitor_required
    @blp.arguments(TranscriptRequestSchema)
    @blp.response(202, TranscriptReceiptSchema)
    @errors(blp, 409, 422, codes={409: [NotEnded]})
    def post(self, data, conversation_id):
        """Mail the transcript of your ended chat to an address

        Only once the chat has ended (409 conversation_not_closed). The mail holds the chat's messages and
        links to its files that work for TRANSCRIPT_LINK_TTL_S (a week by default). Limited per visitor
        (TRANSCRIPT_LIMIT_PER_VISITOR) and per conversation (TRANSCRIPT_LIMIT_PER_CONVERSATION): 429.
        """
        return do_send_transcript(current_user, conversation_id, data["email"])


@blp.route("/conversations/<id:conversation_id>/rating")
class WidgetRating(MethodView):
    @blp.doc(operationId="rateVisitorConversation")
    @visitor_required
    @blp.arguments(RatingCreateSchema)
    @blp.response(201, RatingSchema)
    @errors(blp, 409, 422, codes={409: [AlreadyRated, NotEnded, RatingWindowClosed]})
    def post(self, data, conversation_id):
        """Rate your ended chat from 1 to 5, with a comment if you like (once)

        Only once the chat has ended (409 conversation_not_closed), within RATING_WINDOW_H hours of its end
        (72 by default; 409 rating_window_closed), and once (409 already_rated). The agent who had the chat
        sees it.
        """
        return do_rate_conversation(current_user, conversation_id, data["score"], data.get("comment"))


# -- video calls: the visitor's side of blueprints/calls.py -----------------------


@blp.route("/conversations/<id:conversation_id>/calls")
class WidgetCalls(MethodView):
    @blp.doc(operationId="listVisitorCalls")
    @visitor_required
    @blp.arguments(CallHistoryArgsSchema, location="query")
    @blp.response(200, CallPageSchema)
    @errors(blp, 422)
    def get(self, args, conversation_id):
        """List the conversation's calls, newest first

        Cursor list: pass next_before back as before for older calls.
        """
        return list_calls(access_conversation(current_user, conversation_id), **args)


@blp.route("/conversations/<id:conversation_id>/call/accept")
class WidgetCallAccept(MethodView):
    @blp.doc(operationId="acceptVideoCall")
    @visitor_required
    @blp.response(200, CallSchema)
    @errors(blp, 409, codes={409: [CallEnded, NoLiveCall, NotInCall, NotOffered]})
    def post(self, conversation_id):
        """Accept the video call the agent offered

        Only a call the agent offered and that still rings (409 not_offered, call_ended).
        """
        return do_accept_video(current_user, access_live_call(current_user, conversation_id))


@blp.route("/conversations/<id:conversation_id>/call/decline")
class WidgetCallDecline(MethodView):
    @blp.doc(operationId="declineVideoCall")
    @visitor_required
    @blp.response(200, CallSchema)
    @errors(blp, 409, codes={409: [CallEnded, NoLiveCall, NotInCall, NotOffered]})
    def post(self, conversation_id):
        """Decline the video call the agent offered; the chat goes on in text

        Only a call the agent offered and that still rings (409 not_offered, call_ended).
        """
        return do_decline_video(current_user, access_live_call(current_user, conversation_id))


@blp.route("/conversations/<id:conversation_id>/call/hangup")
class WidgetCallHangup(MethodView):
    @blp.doc(operationId="hangUpVisitorCall")
    @visitor_required
    @blp.response(200, CallSchema)
    @errors(blp, 409, codes={409: [CallEnded, NoLiveCall, NotInCall, NotOffered]})
    def post(self, conversation_id):
        """Hang up the call; the chat goes on in text

        Ends a ringing or active call for both sides.
        """
        return do_hangup(current_user, access_live_call(current_user, conversation_id))


@blp.route("/conversations/<id:conversation_id>/call/fallback-to-text")
class WidgetCallFallback(MethodView):
    @blp.doc(operationId="fallBackVisitorCallToText")
    @visitor_required
    @blp.response(200, CallSchema)
    @errors(blp, 409, codes={409: [CallEnded, NoLiveCall, NotInCall, NotOffered]})
    def post(self, conversation_id):
        """Leave the video call and go on chatting in text

        Ends the call like hangUpVisitorCall, recorded as a fallback to text.
        """
        return do_fallback_to_text(current_user, access_live_call(current_user, conversation_id))


@blp.route("/conversations/<id:conversation_id>/call/ice-servers")
class WidgetCallIceServers(MethodView):
    @blp.doc(operationId="getVisitorIceServers")
    @visitor_required
    @blp.response(200, IceServersSchema)
    @errors(blp, 409, codes={409: [NoLiveCall, NotInCall]})
    def get(self, conversation_id):
        """Get the STUN/TURN servers for your call, with TURN credentials that expire

        Only for a participant of the conversation's live call (409 no_live_call, not_in_call).
        """
        return get_ice_servers(current_user, conversation_id)
