"""The flow engine, table-driven, without a database."""
import pytest

from services.flow_engine import InvalidInput, advance, start


def render(component):
    """A minimal renderer: what the engine needs from services/render.py."""
    if component["type"] == "live_chat":
        buttons = [{"id": "live_chat", "action": {"type": "live_chat"}},
                   {"id": "video_chat", "action": {"type": "video_chat"}},
                   {"id": "skip", "action": {"type": "skip"}}, {"id": "back", "action": {"type": "back"}}]
    else:
        buttons = [{"id": f"b{i}", "action": b} for i, b in enumerate(component.get("buttons", []))]
    return {"component_id": component["id"], "buttons": buttons}


FLOW = [
    {"id": 10, "type": "message"},                                                  # greeting, no buttons
    {"id": 11, "type": "message", "buttons": [{"type": "next"}, {"type": "component", "component_id": 14}]},
    {"id": 12, "type": "live_chat"},
    {"id": 13, "type": "message"},                                                  # after the live chat
    {"id": 14, "type": "message", "buttons": [{"type": "next"}]},
]


def shown(step):
    return [s["component_id"] for s in step.shows]


def test_start_shows_components_until_one_waits():
    step = start(FLOW, render)
    assert shown(step) == [10, 11] and step.component_id == 11 and step.effect is None


def test_empty_flow_starts_ended():
    step = start([], render)
    assert step.shows == [] and step.component_id is None


@pytest.mark.parametrize("component_id,user_input,expected_shown,expected_component_id,effect", [
    (11, {"type": "button", "button_id": "b0"}, [12], 12, None),                  # to the next component
    (11, {"type": "button", "button_id": "b1"}, [14], 14, None),                  # to a named component
    (12, {"type": "button", "button_id": "live_chat"}, [], 12, {"type": "request", "kind": "text"}),
    (12, {"type": "button", "button_id": "video_chat"}, [], 12, {"type": "request", "kind": "video"}),
    (12, {"type": "button", "button_id": "skip"}, [13, 14], 14, None),            # skip: next, then on
    (12, {"type": "skip"}, [13, 14], 14, None),
    (12, {"type": "button", "button_id": "back"}, [11], 11, None),                # back: the one before
    (12, {"type": "back"}, [11], 11, None),
    (11, {"type": "text", "text": "hello"}, [], 11, None),                        # free text does not move
    (12, {"type": "continue"}, [13, 14], 14, None),                               # offline, form inactive
    (14, {"type": "button", "button_id": "b0"}, [], None, None),                  # past the end
    (None, {"type": "text", "text": "hi"}, [], None, None),                       # ended flow: just chat
])
def test_advance(component_id, user_input, expected_shown, expected_component_id, effect):
    step = advance(FLOW, component_id, user_input, render)
    assert shown(step) == expected_shown
    assert step.component_id == expected_component_id
    assert step.effect == effect


def test_back_at_the_first_waiting_component_shows_the_first_again():
    flow = [{"id": 1, "type": "live_chat"}, {"id": 2, "type": "message"}]
    step = advance(flow, 1, {"type": "back"}, render)
    assert shown(step) == [1] and step.component_id == 1


def test_button_to_a_deleted_component_carries_on_with_the_next():
    flow = [{"id": 1, "type": "message", "buttons": [{"type": "component", "component_id": 99}]},
            {"id": 2, "type": "live_chat"}]
    assert advance(flow, 1, {"type": "button", "button_id": "b0"}, render).component_id == 2


@pytest.mark.parametrize("component_id,user_input", [
    (11, {"type": "button", "button_id": "nope"}),       # a button not offered here
    (12, {"type": "button", "button_id": "b0"}),         # a button of another component
    (11, {"type": "dance"}),
    (None, {"type": "button", "button_id": "b0"}),       # buttons after the end
])
def test_invalid_input_is_refused(component_id, user_input):
    with pytest.raises(InvalidInput):
        advance(FLOW, component_id, user_input, render)


def test_a_long_chain_without_buttons_stops():
    flow = [{"id": i, "type": "message"} for i in range(200)]
    step = start(flow, render)
    assert step.component_id is None and len(step.shows) == 50
