"""A world of two interfaces and two workspaces, and a visitor's live chat taken by an agent, over HTTP."""
from tests.live import Client
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


def make_world(auth):
    """Admin and two agents of one interface, an agent of another, an admin of another workspace."""
    workspace, admin = make_workspace()
    agent, colleague, outsider = make_user(workspace), make_user(workspace), make_user(workspace)
    interface = make_interface(workspace, name="Shop", allowed_origins=[ORIGIN], agents=[agent, colleague])
    make_interface(workspace, name="Elsewhere", agents=[outsider])
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat", {})
    go_online(agent, colleague)
    _, stranger = make_workspace(name="Other")
    users = {"admin": admin, "agent": agent, "colleague": colleague, "outsider": outsider, "stranger": stranger}
    return {"workspace": workspace, "interface": interface, "users": users,
            "headers": {name: auth.headers(user) for name, user in users.items()}}


def ask_for_live_chat(client, interface):
    """A visitor who asked for a live chat: their request waits. Returns (widget, request_id)."""
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    for button in ("button_0", "live_chat"):
        response = client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                               headers=widget.headers())
        assert response.status_code == 200, response.get_json()
    request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
    return widget, request_id


def live_chat(client, interface, agent_headers):
    """A visitor's chat accepted by the agent whose headers are given. Returns the widget."""
    widget, request_id = ask_for_live_chat(client, interface)
    response = client.post(f"/api/requests/{request_id}/accept", headers=agent_headers)
    assert response.status_code == 200, response.get_json()
    return widget


def user_socket(client, server, headers):
    """A user's socket after hello and an empty resume."""
    ticket = client.post("/api/sockets/ticket", headers=headers).get_json()["ticket"]
    sock = Client(server.url, ticket)
    assert sock.recv()["type"] == "hello"
    sock.send({"type": "resume", "positions": {}, "ref": "resume"})
    sock.recv_until(lambda f: f["type"] == "ack" and f.get("ref") == "resume")
    return sock
