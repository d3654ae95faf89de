"""What a visitor, an agent and an admin see, held against the help article's story."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Conversation, Event
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agents = [make_user(workspace, max_chats=2), make_user(workspace, max_chats=2)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents, request_timeout_s=30)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    live = make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
    make_component(interface, "message", {"text": "Back with the bot.", "buttons": [{"label": "Ok"}]})
    return {"workspace": workspace, "admin": admin, "agents": agents, "interface": interface, "live": live,
            "auth": auth}


def visitor(client, world):
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    return widget


def press(client, widget, button):
    response = client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                           headers=widget.headers())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ask(client, world, button="live_chat"):
    widget = visitor(client, world)
    press(client, widget, "button_0")
    asked = press(client, widget, button)
    return widget, asked


def request_of(client, widget):
    return client.get(widget.url("/request"), headers=widget.headers()).get_json()


def events(stream, event_type):
    db.session.expire_all()
    return [row.payload for row in db.session.scalars(
        select(Event).where(Event.stream == stream, Event.type == event_type).order_by(Event.pos))]


# -- conversation.updated carries the conversation as written ------------------------------------


def _last_update_matches_rest(client, world, widget, agent):
    rest = client.get(widget.url(), headers=widget.headers()).get_json()
    for stream in (f"conversation:{widget.conversation_id}", f"user:{agent.id}"):
        last = events(stream, "conversation.updated")[-1]["conversation"]
        assert last["last_seq"] == rest["last_seq"], stream
        assert last["status"] == rest["status"]


def test_conversation_updated_after_accept_carries_the_last_seq_rest_shows(client, world):
    go_online(*world["agents"])
    widget, _ = ask(client, world)
    request_id = request_of(client, widget)["request_id"]
    agent = world["agents"][0]
    response = client.post(f"/api/requests/{request_id}/accept", headers=world["auth"].headers(agent))
    assert response.status_code == 200
    assert response.get_json()["last_seq"] == client.get(widget.url(), headers=widget.headers()).get_json()["last_seq"]
    _last_update_matches_rest(client, world, widget, agent)


def test_conversation_updated_after_takeover_transfer_and_end_carries_the_last_seq(client, world):
    go_online(*world["agents"])
    widget = visitor(client, world)
    first, second = world["agents"]
    headers = world["auth"].headers(first)
    cid = widget.conversation_id
    assert client.post(f"/api/conversations/{cid}/takeover", headers=headers).status_code == 200
    _last_update_matches_rest(client, world, widget, first)
    assert client.post(f"/api/conversations/{cid}/transfer", json={"agent_id": second.id},
                       headers=headers).status_code == 200
    _last_update_matches_rest(client, world, widget, second)
    assert client.post(f"/api/conversations/{cid}/end", json={},
                       headers=world["auth"].headers(second)).status_code == 200
    _last_update_matches_rest(client, world, widget, second)
