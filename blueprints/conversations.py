"""The agent's side of conversations: requests, takeover, chat, transfer, hand back, end, audit."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import PageArgsSchema, page_of
from schemas.conversations import (
    ConversationSchema, MessageCreateSchema, MessageHistoryArgsSchema, MessagePageSchema, MessageSchema,
)
from schemas.dashboard import (
    AuditEntrySchema, AuditQueryArgsSchema, ConversationPageSchema, ConversationQueryArgsSchema, EndSchema,
    HandBackSchema,
    PendingRequestSchema, ReadSchema, TransferSchema,
)
from services.assignments import (
    RequestAbandoned, RequestCancelled, RequestExpired, RequestTaken, do_accept, do_takeover,
)
from services.core import CapacityFull, NotActive, NotAssigned, NotInBotPhase, access_conversation
from services.releases import TargetFull, TargetOffline, do_end, do_hand_back, do_transfer
from services.attachments import AttachmentAlreadySent, AttachmentNotFound
from services.audit import list_audit
from services.chat import do_mark_read, send_message_as
from services.conversations import ConversationClosed, list_messages
from services.dashboard import get_conversation, list_conversations, list_pending_requests

blp = Blueprint("conversations", __name__, url_prefix="/api", description="Conversations, for agents and admins")

CONVERSATION = "/conversations/<id:conversation_id>"


@blp.route("/conversations")
class Conversations(MethodView):
    @blp.doc(operationId="listConversations")
    @login_required(blp)
    @blp.arguments(ConversationQueryArgsSchema, location="query")
    @blp.response(200, ConversationPageSchema)
    @errors(blp, 422)
    def get(self, args):
        """List conversations of your interfaces: yours, waiting, with the bot, all; search them

        Scope mine (default), waiting, bot, active, closed or all; filters by status, agent, interface, creation
        time, the visitor's e-mail or name, and words of the messages (q); each with its unread_count.
        Page-numbered; a search for words found in most conversations stops counting at 100 (total_exact
        false).
        """
        return list_conversations(current_user, **args)


@blp.route(CONVERSATION)
class ConversationById(MethodView):
    @blp.doc(operationId="getConversation")
    @login_required(blp)
    @blp.response(200, ConversationSchema)
    @errors(blp, 404)
    def get(self, conversation_id):
        """Show a conversation

        A conversation of an interface you serve (any of the workspace for admins), with its unread_count.
        """
        return get_conversation(current_user, conversation_id)


@blp.route(CONVERSATION + "/messages")
class ConversationMessages(MethodView):
    @blp.doc(operationId="listMessages")
    @login_required(blp)
    @blp.arguments(MessageHistoryArgsSchema, location="query")
    @blp.response(200, MessagePageSchema)
    @errors(blp, 404, 422)
    def get(self, args, conversation_id):
        """Read the whole history, bot phase included, by cursor

        Cursor list by message seq: after for newer, before for older.
        """
        return list_messages(access_conversation(current_user, conversation_id), **args)

    @blp.doc(operationId="sendMessage")
    @login_required(blp)
    @blp.arguments(MessageCreateSchema)
    @blp.response(201, MessageSchema)
    @errors(blp, 404, 409, 422, codes={404: ["not_found", AttachmentNotFound], 409: [ConversationClosed, NotAssigned],
                                       422: ["validation_error", AttachmentAlreadySent]})
    def post(self, data, conversation_id):
        """Send a message in your chat; a retry with the same client_id returns the first one

        Only the agent of an active chat may write (409 not_assigned); a closed chat takes no message (409
        conversation_closed). attachment_ids: your uploads in this conversation (404 attachment_not_found for
        anything else, 422 attachment_already_sent); the text may then be empty.
        """
        message, _ = send_message_as(current_user, conversation_id, data["text"], data["client_id"],
                                     attachment_ids=data.get("attachment_ids"))
        return message


@blp.route(CONVERSATION + "/read")
class ConversationRead(MethodView):
    @blp.doc(operationId="markConversationRead")
    @login_required(blp)
    @blp.arguments(ReadSchema)
    @blp.response(200, ReadSchema)
    @errors(blp, 404, 422)
    def post(self, data, conversation_id):
        """Say up to which message you have read

        The read position only moves forward; the visitor sees it.
        """
        return do_mark_read(current_user, conversation_id, data["seq"])


@blp.route(CONVERSATION + "/takeover")
class ConversationTakeover(MethodView):
    @blp.doc(operationId="takeOverConversation")
    @login_required(blp)
    @blp.response(200, ConversationSchema)
    @errors(blp, 404, 409, codes={409: [CapacityFull, NotInBotPhase]})
    def post(self, conversation_id):
        """Take over a conversation the bot leads

        Only while the bot leads (409 not_in_bot_phase), within your max chats (409 capacity_full).
        """
        return do_takeover(current_user, conversation_id)


@blp.route(CONVERSATION + "/transfer")
class ConversationTransfer(MethodView):
    @blp.doc(operationId="transferConversation")
    @login_required(blp)
    @blp.arguments(TransferSchema)
    @blp.response(200, ConversationSchema)
    @errors(blp, 404, 409, 422, codes={409: [NotActive, NotAssigned, TargetFull, TargetOffline]})
    def post(self, data, conversation_id):
        """Hand your chat to another online agent of the interface with room

        The target must be online (409 target_offline) with room (409 target_full) and serve the interface
        (422).
        """
        return do_transfer(current_user, conversation_id, data["agent_id"], data.get("note"))


@blp.route(CONVERSATION + "/hand-back")
class ConversationHandBack(MethodView):
    @blp.doc(operationId="handBackConversation")
    @login_required(blp)
    @blp.arguments(HandBackSchema, required=False)  # without a body the bot goes on at the next component
    @blp.response(200, ConversationSchema)
    @errors(blp, 404, 409, 422, codes={409: [NotActive, NotAssigned]})
    def post(self, data, conversation_id):
        """Give the chat back to the bot at the next component or a chosen one

        Without a body the bot goes on at the next component; component_id picks another of the flow.
        """
        return do_hand_back(current_user, conversation_id, data["component_id"])


@blp.route(CONVERSATION + "/end")
class ConversationEnd(MethodView):
    @blp.doc(operationId="endConversation")
    @login_required(blp)
    @blp.arguments(EndSchema, required=False)  # a reason is optional, and so is the body that carries it
    @blp.response(200, ConversationSchema)
    @errors(blp, 404, 409, 422, codes={409: [NotActive, NotAssigned]})
    def post(self, data, conversation_id):
        """End the chat

        The conversation closes for good; a call going on ends with it.
        """
        return do_end(current_user, conversation_id, data.get("reason"))


@blp.route("/requests")
class PendingRequests(MethodView):
    @blp.doc(operationId="listPendingRequests")
    @login_required(blp)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(PendingRequestSchema))
    @errors(blp, 422)
    def get(self, args):
        """List requests waiting for an agent on your interfaces, in queue order

        Requests of interfaces you serve; page-numbered.
        """
        return list_pending_requests(current_user, **args)


@blp.route("/requests/<id:request_id>/accept")
class RequestAccept(MethodView):
    @blp.doc(operationId="acceptRequest")
    @login_required(blp)
    @blp.response(200, ConversationSchema)
    @errors(blp, 404, 409,
            codes={409: [CapacityFull, RequestAbandoned, RequestCancelled, RequestExpired, RequestTaken]})
    def post(self, request_id):
        """Accept a live or video request: the first agent with room wins

        The first agent with room wins: the others get 409 request_taken (or request_expired,
        request_cancelled, request_abandoned), and 409 capacity_full past your max chats.
        """
        return do_accept(current_user, request_id)


@blp.route("/audit")
class Audit(MethodView):
    @blp.doc(operationId="listAuditEntries")
    @login_required(blp, role="admin")
    @blp.arguments(AuditQueryArgsSchema, location="query")
    @blp.response(200, page_of(AuditEntrySchema))
    @errors(blp, 422)
    def get(self, args):
        """Read the audit trail: who accepted, took over, transferred, ended, and routing reasons

        Filter by action or conversation; page-numbered.
        """
        return list_audit(current_user, **args)
