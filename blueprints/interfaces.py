"""Chat interfaces: admins manage them, agents read the ones they serve."""
from flask.views import MethodView
from flask_jwt_extended import current_user

from blueprints.common import Blueprint, errors, login_required
from schemas.common import PageArgsSchema, page_of
from schemas.interfaces import InterfaceAgentsSchema, InterfaceSchema, InterfaceUpdateSchema
from schemas.visitors import IdentitySecretSchema
from services.interfaces import (
    access_interface, do_create_interface, do_delete_interface, do_rotate_identity_secret, do_rotate_key,
    do_set_agents, do_update_interface, list_interfaces,
)

blp = Blueprint("interfaces", __name__, url_prefix="/api/interfaces", description="Chat interfaces (widgets)")


@blp.route("")
class Interfaces(MethodView):
    @blp.doc(operationId="listInterfaces")
    @login_required(blp)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, page_of(InterfaceSchema))
    @errors(blp, 422)
    def get(self, args):
        """List chat interfaces: all for admins, the ones they serve for agents

        Admins see every interface of the workspace; agents the ones they serve.
        """
        return list_interfaces(current_user, **args)

    @blp.doc(operationId="createInterface")
    @login_required(blp, role="admin")
    @blp.arguments(InterfaceSchema)
    @blp.response(201, InterfaceSchema)
    @errors(blp, 422)
    def post(self, data):
        """Create a chat interface

        A public widget key is generated; allowed origins restrict which pages may open the widget.
        """
        return do_create_interface(current_user, data)


@blp.route("/<id:interface_id>")
class InterfaceById(MethodView):
    @blp.doc(operationId="getInterface")
    @login_required(blp)
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404)
    def get(self, interface_id):
        """Show a chat interface

        Agents can read the interfaces they serve.
        """
        return access_interface(current_user, interface_id)

    @blp.doc(operationId="updateInterface")
    @login_required(blp, role="admin")
    @blp.arguments(InterfaceUpdateSchema)
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404, 422)
    def patch(self, data, interface_id):
        """Edit a chat interface

        Send only the fields to change.
        """
        return do_update_interface(current_user, access_interface(current_user, interface_id), data)

    @blp.doc(operationId="deleteInterface")
    @login_required(blp, role="admin")
    @blp.response(204)
    @errors(blp, 404)
    def delete(self, interface_id):
        """Delete a chat interface

        Its agent assignments go with it; its widget key stops working.
        """
        do_delete_interface(current_user, access_interface(current_user, interface_id))


@blp.route("/<id:interface_id>/rotate-key")
class InterfaceRotateKey(MethodView):
    @blp.doc(operationId="rotateInterfaceKey")
    @login_required(blp, role="admin")
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404)
    def post(self, interface_id):
        """Replace the public widget key; the old one stops working

        Widgets still using the old key get 404 until they load the new one.
        """
        return do_rotate_key(current_user, access_interface(current_user, interface_id))


@blp.route("/<id:interface_id>/identity-secret")
class InterfaceIdentitySecret(MethodView):
    @blp.doc(operationId="getInterfaceIdentitySecret")
    @login_required(blp, role="admin")
    @blp.response(200, IdentitySecretSchema)
    @errors(blp, 404)
    def get(self, interface_id):
        """Show the secret your site signs its users' ids with (identity verification)

        user_hash = hex(HMAC-SHA256(identity_secret, user_id)), computed on your server; send user_id and
        user_hash as identity when opening the widget.
        """
        return access_interface(current_user, interface_id)

    @blp.doc(operationId="rotateInterfaceIdentitySecret")
    @login_required(blp, role="admin")
    @blp.response(200, IdentitySecretSchema)
    @errors(blp, 404)
    def post(self, interface_id):
        """Replace the identity secret; hashes made with the old one stop verifying

        Recorded in the audit trail (without the secret).
        """
        return do_rotate_identity_secret(current_user, access_interface(current_user, interface_id))


@blp.route("/<id:interface_id>/agents")
class InterfaceAgents(MethodView):
    @blp.doc(operationId="setInterfaceAgents")
    @login_required(blp, role="admin")
    @blp.arguments(InterfaceAgentsSchema)
    @blp.response(200, InterfaceSchema)
    @errors(blp, 404, 422)
    def put(self, data, interface_id):
        """Set the agents who serve this interface

        Replaces the whole list; agents removed stop being offered its requests.
        """
        return do_set_agents(current_user, access_interface(current_user, interface_id), data["agent_ids"])
