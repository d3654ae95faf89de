"""Outcome branches of the live_chat component: where the flow goes after outside hours or offline, without a form."""
from datetime import timedelta

import pytest

from extensions import db
from models.base import utcnow
from services.live_requests import sweep_expired
from tests.factories import make_component, make_interface
from tests.test_components import Flow, error_at
from tests.test_outside_hours import HOURS, act, clock, open_widget, set_hours, world  # noqa: F401 - fixtures

CLOSED = "Acme Shop is closed now; leave us a message."
NEXT_TEXT = "Anything else?"
TARGET_TEXT = "We open at nine: call us then."
OFFLINE_SECTION = "/live-chat/offline-form"


@pytest.fixture
def flow(world):
    """The world's flow (live chat, then "Anything else?") with a third component to branch to."""
    world["target"] = make_component(world["interface"], "message", {"text": TARGET_TEXT, "buttons": [{"label": "OK"}]})
    return Flow(world["client"], world["headers"], world["interface"].id)


def save_offline_form(flow, component_id, body):
    return flow.edit("PUT", component_id, body, tail=OFFLINE_SECTION)


def branch(flow, world, expect=200, **branches):
    response = save_offline_form(flow, world["live"].id, {"active": False, "branches": branches})
    assert response.status_code == expect, response.get_json()
    return response


def bot_texts(asked):
    return [m["text"] for m in asked["messages"] if m["sender_type"] == "bot"]


# -- at run time -------------------------------------------------------------------------------------------


def test_outside_hours_with_a_branch_goes_on_with_its_component(world, flow):
    saved = branch(flow, world, outside_hours=world["target"].id).get_json()
    assert saved["config"]["offline_form"]["branches"] == {"outside_hours": world["target"].id, "offline": None}
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert bot_texts(asked)[-2:] == [CLOSED, TARGET_TEXT]
    assert asked["conversation"]["component_id"] == world["target"].id
    # The visitor goes on from there: the target's button leads to what follows it (the end of the flow).
    assert act(widget, type="button", button_id="button_0")["conversation"]["component_id"] is None


def test_outside_hours_without_its_branch_goes_on_with_the_next_component(world, flow):
    branch(flow, world, offline=world["target"].id)  # another outcome's branch changes nothing here
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert bot_texts(asked)[-2:] == [CLOSED, NEXT_TEXT]
    assert asked["conversation"]["component_id"] == world["after"].id


def test_an_active_form_is_shown_and_the_branch_waits(world, flow):
    branch(flow, world, outside_hours=world["target"].id)
    assert save_offline_form(flow, world["live"].id, {
        "active": True, "recipients": ["desk@example.com"],
        "branches": {"outside_hours": world["target"].id}}).status_code == 200
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert bot_texts(asked)[-1] == CLOSED and asked["messages"][-1]["data"]["form"] is not None
    assert TARGET_TEXT not in bot_texts(asked)


def test_a_deleted_target_is_dropped_and_the_flow_goes_on_with_the_next_component(world, flow):
    branch(flow, world, outside_hours=world["target"].id, offline=world["target"].id)
    deleted = flow.client.delete(flow.url(world["target"].id), headers=flow.headers)
    assert deleted.status_code == 204
    shown = flow.get(world["live"].id).get_json()
    assert shown["config"]["offline_form"]["branches"] == {"outside_hours": None, "offline": None}
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert bot_texts(asked)[-2:] == [CLOSED, NEXT_TEXT]
    assert asked["conversation"]["component_id"] == world["after"].id


def test_a_target_gone_from_the_flow_under_a_stored_branch_carries_on_with_the_next(world, flow):
    live = world["live"]
    live.config = {**live.config, "offline_form": {**live.config["offline_form"], "active": False,
                                                     "branches": {"outside_hours": 999999, "offline": None}}}
    db.session.commit()
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert bot_texts(asked)[-2:] == [CLOSED, NEXT_TEXT]


def test_a_request_nobody_answers_takes_the_offline_branch_at_its_deadline(world, flow):
    branch(flow, world, offline=world["target"].id)
    widget, _ = open_widget(world)
    assert act(widget, type="button", button_id="live_chat")["conversation"]["status"] == "waiting"
    assert sweep_expired(now=utcnow() + timedelta(hours=1)) == 1
    items = widget.messages().get_json()["items"]
    assert [m["text"] for m in items[-2:]] == ["Sorry, none of our agents is available right now.", TARGET_TEXT]
    assert items[-2]["data"]["stage"] == "offline"
    conversation = widget.client.get(widget.url(), headers=widget.headers()).get_json()
    assert conversation["status"] == "bot" and conversation["component_id"] == world["target"].id


# -- validation --------------------------------------------------------------------------------------------


def test_a_branch_to_another_interfaces_component_is_422(world, flow):
    elsewhere = make_component(make_interface(world["workspace"]), "message")
    response = save_offline_form(flow, world["live"].id, {"active": False, "branches": {"outside_hours": elsewhere.id}})
    assert error_at(response, "json", "branches", "outside_hours") == [f"No component {elsewhere.id} in this flow."]


def test_a_branch_to_the_component_itself_is_422(world, flow):
    live = world["live"].id
    response = save_offline_form(flow, live, {"active": False, "branches": {"offline": live}})
    assert error_at(response, "json", "branches", "offline") == ["Must be another component than this one."]


def test_a_branch_to_no_component_is_422_through_patch_too(world, flow):
    response = flow.edit("PATCH", world["live"].id, {
        "type": "live_chat", "config": {"offline_form": {"branches": {"outside_hours": 999999}}}})
    assert error_at(response, "json", "config", "offline_form", "branches", "outside_hours") == [
        "No component 999999 in this flow."]
    assert flow.get(world["live"].id).get_json()["config"]["offline_form"]["branches"]["outside_hours"] is None


def test_a_new_component_cannot_branch_outside_its_flow(world, flow):
    response = flow.add(expect=422, type="live_chat", config={"offline_form": {"branches": {"offline": 999999}}})
    assert response["errors"]["json"]["config"]["offline_form"]["branches"]["offline"] == [
        "No component 999999 in this flow."]


@pytest.mark.parametrize("value", [0, -1, "1", 1.5, 2 ** 31, {"id": 1}, [1]])
def test_a_branch_that_is_no_component_id_is_422(world, flow, value):
    response = save_offline_form(flow, world["live"].id, {"active": False, "branches": {"outside_hours": value}})
    assert error_at(response, "json", "branches", "outside_hours")


def test_an_unknown_outcome_is_422(world, flow):
    response = save_offline_form(flow, world["live"].id, {"active": False, "branches": {"assigned": 1}})
    assert error_at(response, "json", "branches", "assigned")


# -- the builder ---------------------------------------------------------------------------------------------


def test_a_new_live_chat_component_branches_nowhere_by_default(world, flow):
    added = flow.add(type="live_chat")
    assert added["config"]["offline_form"]["branches"] == {"outside_hours": None, "offline": None}


def test_a_component_saved_before_branches_existed_shows_their_defaults(world, flow):
    live = world["live"]
    form = {key: value for key, value in live.config["offline_form"].items() if key != "branches"}
    live.config = {**live.config, "offline_form": form}
    db.session.commit()
    shown = flow.get(live.id).get_json()
    assert shown["config"]["offline_form"]["branches"] == {"outside_hours": None, "offline": None}
    # Saving another section keeps working, and stores the default.
    saved = flow.edit("PUT", live.id, {"offline": "Closed."}, tail="/live-chat/messages")
    assert saved.status_code == 200, saved.get_json()
    assert saved.get_json()["config"]["offline_form"]["branches"] == {"outside_hours": None, "offline": None}


def test_the_preview_says_where_the_flow_goes_on(world, flow):
    live = world["live"].id
    assert flow.preview(live, stage="outside_hours").get_json()["continues_with"] is None  # the form is shown
    branch(flow, world, outside_hours=world["target"].id)
    assert flow.preview(live, stage="outside_hours").get_json()["continues_with"] == world["target"].id
    assert flow.preview(live, stage="offline").get_json()["continues_with"] is None  # the next component
    assert flow.preview(live, stage="welcome").get_json()["continues_with"] is None
