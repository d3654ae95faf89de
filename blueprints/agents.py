"""Admins manage agents (and other admins) of their workspace."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.agents import AgentQueryArgsSchema, AgentSchema, AgentUpdateSchema
from schemas.common import page_of
from services.agents import (
    EmailTaken, LastAdmin, access_user, do_create_user, do_delete_user, do_resend_invitation, do_update_user,
    list_users,
)

blp = Blueprint("agents", __name__, url_prefix="/api/agents", description="Agents and admins (admin only)")


@blp.route("")
class Agents(MethodView):
    @blp.doc(operationId="listAgents")
    @login_required(blp, role="admin")
    @blp.arguments(AgentQueryArgsSchema, location="query")
    @blp.response(200, page_of(AgentSchema))
    @errors(blp, 422)
    def get(self, args):
        """List the users of the workspace with their interface assignments

        Filter by role, interface or a text in the name or e-mail; page-numbered.
        """
        return list_users(current_user, **args)

    @blp.doc(operationId="createAgent")
    @login_required(blp, role="admin")
    @blp.arguments(AgentSchema)
    @blp.response(201, AgentSchema)
    @errors(blp, 409, 422, codes={409: [EmailTaken]})
    def post(self, data):
        """Create a user and e-mail them a link to set their password

        The user gets an e-mail with their login and a single-use link to set their password (no password is
        ever mailed). 409 email_taken when the address is in use.
        """
        return do_create_user(current_user, data)


@blp.route("/<id:agent_id>")
class AgentById(MethodView):
    @blp.doc(operationId="getAgent")
    @login_required(blp, role="admin")
    @blp.response(200, AgentSchema)
    @errors(blp, 404)
    def get(self, agent_id):
        """Show a user

        A user of your workspace, with the interfaces they serve.
        """
        return access_user(current_user, agent_id)

    @blp.doc(operationId="updateAgent")
    @login_required(blp, role="admin")
    @blp.arguments(AgentUpdateSchema)
    @blp.response(200, AgentSchema)
    @errors(blp, 404, 409, 422, codes={409: [EmailTaken, LastAdmin]})
    def patch(self, data, agent_id):
        """Edit a user; changing the role or deactivating ends their sessions

        Send only the fields to change. A workspace keeps at least one active admin (409 last_admin); a new
        address must be free (409 email_taken).
        """
        return do_update_user(current_user, access_user(current_user, agent_id), data)

    @blp.doc(operationId="deleteAgent")
    @login_required(blp, role="admin")
    @blp.response(204)
    @errors(blp, 404, 409, codes={409: [LastAdmin, "cannot_delete_self"]})
    def delete(self, agent_id):
        """Delete a user; their tokens stop working at once

        Their chats go back to the queue. You cannot delete yourself (409 cannot_delete_self) or the last
        admin (409 last_admin).
        """
        do_delete_user(current_user, access_user(current_user, agent_id))


@blp.route("/<id:agent_id>/invitation")
class AgentInvitation(MethodView):
    @blp.doc(operationId="resendAgentInvitation")
    @login_required(blp, role="admin")
    @blp.response(202, AgentSchema)
    @errors(blp, 404, 409, codes={409: ["invitation_accepted", "user_inactive"]})
    def post(self, agent_id):
        """Send the invitation again with a fresh link

        The older links stop working. 409 invitation_accepted once they set a password, user_inactive for a
        deactivated user.
        """
        return do_resend_invitation(current_user, access_user(current_user, agent_id))
