"""Admins manage agents (and other admins) of their workspace."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.agents import AgentQueryArgsSchema, AgentSchema, AgentUpdateSchema
from schemas.common import page_of
from services.agents import (
    access_user, do_create_user, do_delete_user, do_resend_invitation, do_update_user, list_users,
)

blp = Blueprint("agents", __name__, url_prefix="/api/agents", description="Agents and admins (admin only)")


@blp.route("")
class Agents(MethodView):
    @login_required(blp, role="admin")
    @blp.arguments(AgentQueryArgsSchema, location="query")
    @blp.response(200, page_of(AgentSchema))
    @errors(blp, 422)
    def get(self, args):
        """List the users of the workspace with their interface assignments"""
        return list_users(current_user, **args)

    @login_required(blp, role="admin")
    @blp.arguments(AgentSchema)
    @blp.response(201, AgentSchema)
    @errors(blp, 409, 422)
    def post(self, data):
        """Create a user and e-mail them a link to set their password"""
        return do_create_user(current_user, data)


@blp.route("/<id:agent_id>")
class AgentById(MethodView):
    @login_required(blp, role="admin")
    @blp.response(200, AgentSchema)
    @errors(blp, 404)
    def get(self, agent_id):
        """Show a user"""
        return access_user(current_user, agent_id)

    @login_required(blp, role="admin")
    @blp.arguments(AgentUpdateSchema)
    @blp.response(200, AgentSchema)
    @errors(blp, 404, 409, 422)
    def patch(self, data, agent_id):
        """Edit a user; changing the role or deactivating ends their sessions"""
        return do_update_user(current_user, access_user(current_user, agent_id), data)

    @login_required(blp, role="admin")
    @blp.response(204)
    @errors(blp, 404, 409)
    def delete(self, agent_id):
        """Delete a user; their tokens stop working at once"""
        do_delete_user(current_user, access_user(current_user, agent_id))


@blp.route("/<id:agent_id>/invitation")
class AgentInvitation(MethodView):
    @login_required(blp, role="admin")
    @blp.response(202, AgentSchema)
    @errors(blp, 404, 409)
    def post(self, agent_id):
        """Send the invitation again with a fresh link"""
        return do_resend_invitation(current_user, access_user(current_user, agent_id))
