"""Chat interfaces: admins manage them, agents read the ones they serve."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import PageArgsSchema, page_of
from schemas.interfaces import InterfaceAgentsSchema, InterfaceSchema, InterfaceUpdateSchema
from services.interfaces import (
    access_interface, do_create_interface, do_delete_interface, do_rotate_key, do_set_agents,
    do_update_interface, list_interfaces,
)

blp = Blueprint("interfaces", __name__, url_prefix="/api/interfaces", description="Chat interfaces (widgets)")


@blp.route("")
class Interfaces(MethodView):
    @login_required(blp)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(InterfaceSchema))
    @errors(blp, 422)
    def get(self, args):
        """List chat interfaces: all for admins, the ones they serve for agents"""
        return list_interfaces(current_user, **args)

    @login_required(blp, role="admin")
    @blp.arguments(InterfaceSchema)
    @blp.response(201, InterfaceSchema)
    @errors(blp, 422)
    def post(self, data):
        """Create a chat interface"""
        return do_create_interface(current_user, data)


@blp.route("/<id:interface_id>")
class InterfaceById(MethodView):
    @login_required(blp)
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404)
    def get(self, interface_id):
        """Show a chat interface"""
        return access_interface(current_user, interface_id)

    @login_required(blp, role="admin")
    @blp.arguments(InterfaceUpdateSchema)
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404, 422)
    def patch(self, data, interface_id):
        """Edit a chat interface"""
        return do_update_interface(current_user, access_interface(current_user, interface_id), data)

    @login_required(blp, role="admin")
    @blp.response(204)
    @errors(blp, 404)
    def delete(self, interface_id):
        """Delete a chat interface"""
        do_delete_interface(current_user, access_interface(current_user, interface_id))


@blp.route("/<id:interface_id>/rotate-key")
class InterfaceRotateKey(MethodView):
    @login_required(blp, role="admin")
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404)
    def post(self, interface_id):
        """Replace the public widget key; the old one stops working"""
        return do_rotate_key(current_user, access_interface(current_user, interface_id))


@blp.route("/<id:interface_id>/agents")
class InterfaceAgents(MethodView):
    @login_required(blp, role="admin")
    @blp.arguments(InterfaceAgentsSchema)
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404, 422)
    def put(self, data, interface_id):
        """Set the agents who serve this interface"""
        return do_set_agents(current_user, access_interface(current_user, interface_id), data["agent_ids"])
