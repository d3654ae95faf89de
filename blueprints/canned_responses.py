"""Canned responses: the workspace's shared ones and your personal ones, and filling one in for a conversation."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.canned_responses import (
    CannedResponseQueryArgsSchema, CannedResponseSchema, CannedResponseUpdateSchema, RenderedCannedResponseSchema,
)
from schemas.common import page_of
from services.canned_responses import (
    ShortcutTaken, access_canned_response, do_create_canned_response, do_delete_canned_response,
    do_update_canned_response, list_canned_responses, render_canned_response,
)

blp = Blueprint("canned_responses", __name__, url_prefix="/api",
                description="Canned responses: shared by the workspace (admins manage them) or personal")

CANNED = "/canned-responses/<id:canned_response_id>"


@blp.route("/canned-responses")
class CannedResponses(MethodView):
    @blp.doc(operationId="listCannedResponses")
    @login_required(blp)
    @blp.arguments(CannedResponseQueryArgsSchema, location="query")
    @blp.response(200, page_of(CannedResponseSchema))
    @errors(blp, 422)
    def get(self, args):
        """List the workspace's shared canned responses and your personal ones

        By shortcut; filter by scope, search with q (a shortcut prefix or a piece of the text); page-numbered.
        """
        return list_canned_responses(current_user, **args)

    @blp.doc(operationId="createCannedResponse")
    @login_required(blp)
    @blp.arguments(CannedResponseSchema)
    @blp.response(201, CannedResponseSchema)
    @errors(blp, 403, 409, 422, codes={409: [ShortcutTaken]})
    def post(self, data):
        """Create a personal canned response, or a shared one as an admin

        Shared ones are for admins (403 for agents). A shortcut is unique among the workspace's shared
        responses and among your personal ones (409 shortcut_taken); the text takes the placeholders
        {agent_name}, {visitor_name}, {interface_name} and {position} (422 for any other).
        """
        return do_create_canned_response(current_user, data)


@blp.route(CANNED)
class CannedResponseById(MethodView):
    @blp.doc(operationId="getCannedResponse")
    @login_required(blp)
    @blp.response(200, CannedResponseSchema)
    @errors(blp, 404)
    def get(self, canned_response_id):
        """Show a canned response

        A shared one of your workspace or a personal one of yours; anyone else's is 404.
        """
        return access_canned_response(current_user, canned_response_id)

    @blp.doc(operationId="updateCannedResponse")
    @login_required(blp)
    @blp.arguments(CannedResponseUpdateSchema)
    @blp.response(200, CannedResponseSchema)
    @errors(blp, 403, 404, 409, 422, codes={409: [ShortcutTaken]})
    def patch(self, data, canned_response_id):
        """Edit the shortcut or text of a canned response

        Your personal ones, or shared ones as an admin (403 for agents). Send only the fields to change.
        """
        return do_update_canned_response(current_user, access_canned_response(current_user, canned_response_id),
                                         data)

    @blp.doc(operationId="deleteCannedResponse")
    @login_required(blp)
    @blp.response(204)
    @errors(blp, 403, 404)
    def delete(self, canned_response_id):
        """Delete a canned response

        Your personal ones, or shared ones as an admin (403 for agents).
        """
        do_delete_canned_response(current_user, access_canned_response(current_user, canned_response_id))


@blp.route("/conversations/<id:conversation_id>" + CANNED + "/render")
class CannedResponseRender(MethodView):
    @blp.doc(operationId="renderCannedResponse")
    @login_required(blp)
    @blp.response(200, RenderedCannedResponseSchema)
    @errors(blp, 404)
    def post(self, conversation_id, canned_response_id):
        """Fill a canned response in for a conversation

        For a conversation you may see: {agent_name} is you, {visitor_name} and {interface_name} are the
        conversation's, {position} its place in the queue while it waits (empty otherwise). Nothing is sent:
        the text is yours to edit and send.
        """
        return render_canned_response(current_user, conversation_id, canned_response_id)
