"""The builder's conversation flows: components of an interface, and the live_chat wizard (admin only).

Edits need the ETag of the component in If-Match: 428 without it, 412 when
someone changed the component since it was read. The wizard's agents step
reads .../live-chat/agents and assigns with PUT /api/interfaces/<id>/agents.
"""
from flask.views import MethodView
from flask_jwt_extended import current_user
from flask_smorest.exceptions import PreconditionFailed

from blueprints.common import Blueprint, errors, login_required
from errors import NotFound
from schemas.agents import AgentSchema
from schemas.components import (
    ComponentMoveSchema, ComponentPreviewArgsSchema, ComponentPreviewSchema, ComponentSchema, LiveChatComponentSchema,
    NewComponentSchema,
    document_typed_schemas,
)
from schemas.live_chat import (
    LiveChatChatMessageSchema, LiveChatMessagesSchema, LiveChatOptionsSchema, OfflineFormSchema,
)
from services.flows import (
    ComponentChanged, ComponentInUse, NotLiveChat, access_component, access_live_chat, do_add_component,
    do_delete_component, do_move_component, do_patch_component, do_replace_component, do_save_section, etag_data,
    list_component_agents, list_components, preview_component, read_component,
)
from services.interfaces import access_interface

blp = Blueprint("components", __name__, url_prefix="/api/interfaces",
                description="Conversation flows: the components of a chat interface (admin only)")

FLOW = "/<id:interface_id>/components"
COMPONENT = FLOW + "/<id:component_id>"
LIVE_CHAT = COMPONENT + "/live-chat"


@blp.record_once
def _document_component_types(state):
    api = state.app.extensions["flask-smorest"]["blp_name_to_api"][blp.name]
    document_typed_schemas(api.spec, api.ma_plugin.converter)


def _component(interface_id, component_id):
    return access_component(current_user, access_interface(current_user, interface_id), component_id)


def _check_etag(component):
    try:
        blp.check_etag(etag_data(component))
    except PreconditionFailed:
        raise ComponentChanged() from None


def _live_chat(interface_id, component_id):
    return access_live_chat(current_user, access_interface(current_user, interface_id), component_id)


@blp.route(FLOW)
class Components(MethodView):
    @blp.doc(operationId="listComponents")
    @login_required(blp, role="admin")
    @blp.response(200, ComponentSchema(many=True))
    @errors(blp, 404)
    def get(self, interface_id):
        """List the components of an interface's flow in order

        Each component with its full configuration, defaults filled in.
        """
        return list_components(current_user, access_interface(current_user, interface_id))

    @blp.doc(operationId="createComponent")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(NewComponentSchema)
    @blp.response(201, ComponentSchema)
    @errors(blp, 404, 422)
    def post(self, data, interface_id):
        """Add a component to the flow at a position (the end by default), with defaults for omitted settings

        Returns the component with an ETag to send in If-Match with the next edit.
        """
        component = do_add_component(current_user, access_interface(current_user, interface_id), data)
        blp.set_etag(etag_data(component))
        return component


@blp.route(COMPONENT)
class ComponentById(MethodView):
    @blp.doc(operationId="getComponent")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.response(200, ComponentSchema)
    @errors(blp, 404)
    def get(self, interface_id, component_id):
        """Show a component with its full configuration, defaults filled in

        The ETag header is what edits send back in If-Match.
        """
        component = read_component(current_user, _component(interface_id, component_id))
        blp.set_etag(etag_data(component))
        return component

    @blp.doc(operationId="replaceComponent")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(ComponentSchema)
    @blp.response(200, ComponentSchema)
    @errors(blp, 404, 422)
    def put(self, data, interface_id, component_id):
        """Replace a component's name and configuration; omitted settings take their defaults

        Needs If-Match: 428 without it, 412 when someone changed the component since you read it.
        """
        component = _component(interface_id, component_id)
        _check_etag(component)
        component = do_replace_component(current_user, component, data)
        blp.set_etag(etag_data(component))
        return component

    @blp.doc(operationId="updateComponent")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(ComponentSchema(partial=True))
    @blp.response(200, ComponentSchema)
    @errors(blp, 404, 422)
    def patch(self, data, interface_id, component_id):
        """Change the settings sent and keep the others (objects merge, lists are replaced)

        Needs If-Match: 428 without it, 412 when someone changed the component since you read it.
        """
        component = _component(interface_id, component_id)
        _check_etag(component)
        component = do_patch_component(current_user, component, data)
        blp.set_etag(etag_data(component))
        return component

    @blp.doc(operationId="deleteComponent")
    @login_required(blp, role="admin")
    @blp.response(204)
    @errors(blp, 404, 409, codes={409: [ComponentInUse]})
    def delete(self, interface_id, component_id):
        """Delete a component; refused while buttons of other components go to it

        409 component_in_use while buttons of other components point to it.
        """
        do_delete_component(current_user, _component(interface_id, component_id))


@blp.route(COMPONENT + "/move")
class ComponentMove(MethodView):
    @blp.doc(operationId="moveComponent")
    @login_required(blp, role="admin")
    @blp.arguments(ComponentMoveSchema)
    @blp.response(200, ComponentSchema(many=True))
    @errors(blp, 404, 422)
    def post(self, data, interface_id, component_id):
        """Move a component to another position; return the flow in its new order

        Positions start at 0; the other components shift.
        """
        return do_move_component(current_user, _component(interface_id, component_id), data["position"])


@blp.route(COMPONENT + "/preview")
class ComponentPreview(MethodView):
    @blp.doc(operationId="previewComponent")
    @login_required(blp, role="admin")
    @blp.arguments(ComponentPreviewArgsSchema, location="query")
    @blp.response(200, ComponentPreviewSchema)
    @errors(blp, 404, 422)
    def get(self, args, interface_id, component_id):
        """Show exactly what a visitor is shown for a component at one stage

        Pick the stage; agent_name and visitor_name fill {agent_name} and {visitor_name}.
        """
        return preview_component(current_user, _component(interface_id, component_id), **args)


def _save_section(section, data, interface_id, component_id):
    component = _live_chat(interface_id, component_id)
    _check_etag(component)
    component = do_save_section(current_user, component, section, data)
    blp.set_etag(etag_data(component))
    return component


@blp.route(LIVE_CHAT + "/options")
class LiveChatOptions(MethodView):
    @blp.doc(operationId="saveLiveChatOptions")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(LiveChatOptionsSchema)
    @blp.response(200, LiveChatComponentSchema)
    @errors(blp, 404, 422, codes={404: [NotFound, NotLiveChat]})
    def put(self, data, interface_id, component_id):
        """Save the options step: live chat, video chat or both, and their buttons

        Needs If-Match (428, 412). 404 not_live_chat when the component is of another type.
        """
        return _save_section("options", data, interface_id, component_id)


@blp.route(LIVE_CHAT + "/messages")
class LiveChatMessages(MethodView):
    @blp.doc(operationId="saveLiveChatMessages")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(LiveChatMessagesSchema)
    @blp.response(200, LiveChatComponentSchema)
    @errors(blp, 404, 422, codes={404: [NotFound, NotLiveChat]})
    def put(self, data, interface_id, component_id):
        """Save the live assistant messages step: welcome, offline, takeover, video chat, assigned

        Needs If-Match (428, 412). 404 not_live_chat when the component is of another type.
        """
        return _save_section("messages", data, interface_id, component_id)


@blp.route(LIVE_CHAT + "/offline-form")
class LiveChatOfflineForm(MethodView):
    @blp.doc(operationId="saveLiveChatOfflineForm")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(OfflineFormSchema)
    @blp.response(200, LiveChatComponentSchema)
    @errors(blp, 404, 422, codes={404: [NotFound, NotLiveChat]})
    def put(self, data, interface_id, component_id):
        """Save the offline form step; an active form needs a field and someone to receive it

        Needs If-Match (428, 412). 404 not_live_chat when the component is of another type.
        """
        return _save_section("offline_form", data, interface_id, component_id)


@blp.route(LIVE_CHAT + "/chat-message")
class LiveChatChatMessage(MethodView):
    @blp.doc(operationId="saveLiveChatChatMessage")
    @login_required(blp, role="admin")
    @blp.etag
    @blp.arguments(LiveChatChatMessageSchema)
    @blp.response(200, LiveChatComponentSchema)
    @errors(blp, 404, 422, codes={404: [NotFound, NotLiveChat]})
    def put(self, data, interface_id, component_id):
        """Save the chat message step: the text shown with the buttons, and Skip and Back

        Needs If-Match (428, 412). 404 not_live_chat when the component is of another type.
        """
        return _save_section("chat_message", data, interface_id, component_id)


@blp.route(LIVE_CHAT + "/agents")
class LiveChatAgents(MethodView):
    @blp.doc(operationId="listLiveChatAgents")
    @login_required(blp, role="admin")
    @blp.response(200, AgentSchema(many=True))
    @errors(blp, 404, codes={404: [NotFound, NotLiveChat]})
    def get(self, interface_id, component_id):
        """List the agents serving this interface, with every interface each one serves

        The wizard's agents step; assign them with setInterfaceAgents.
        """
        return list_component_agents(current_user, _live_chat(interface_id, component_id))
