"""What a visitor is shown for a component: pure functions, no database."""
import pytest

from models.texts import BEFORE_AGENT, WITH_AGENT, unknown_placeholders
from schemas.components import MessageConfigSchema
from schemas.live_chat import LiveChatConfigSchema
from services.render import fill, render_component


def live_chat(**sections):
    """A normalised live_chat config: defaults, with the given sections merged in."""
    return LiveChatConfigSchema().load(sections)


def message(**config):
    return MessageConfigSchema().load(config)


@pytest.mark.parametrize("template, values, shown", [
    ("Hi {visitor_name}", {"visitor_name": "Ann"}, "Hi Ann"),
    ("{agent_name} and {agent_name}", {"agent_name": "Bo"}, "Bo and Bo"),
    ("You are with {agent_name}.", {}, "You are with an agent."),
    ("Hi {visitor_name}!", {"visitor_name": None}, "Hi !"),
    ("Welcome to {interface_name}", {"interface_name": "Shop"}, "Welcome to Shop"),
    ("{{agent_name}} is literal", {"agent_name": "Bo"}, "{agent_name} is literal"),
    ("{{{agent_name}}}", {"agent_name": "Bo"}, "{Bo}"),
    ("a { b } c", {}, "a { b } c"),
    # Values are plain text: never scanned again, never escaped here.
    ("Hi {visitor_name}", {"visitor_name": "{agent_name}"}, "Hi {agent_name}"),
    ("Hi {visitor_name}", {"visitor_name": "<script>alert(1)</script>"}, "Hi <script>alert(1)</script>"),
    # Nothing in a template is evaluated: attribute access, indexes and format specs stay text.
    ("{agent_name.__class__}", {"agent_name": "Bo"}, "{agent_name.__class__}"),
    ("{agent_name!r:>20}", {"agent_name": "Bo"}, "{agent_name!r:>20}"),
    ("{0}{__import__}", {"agent_name": "Bo"}, "{0}{__import__}"),
])
def test_fill_substitutes_known_placeholders_as_plain_text(template, values, shown):
    assert fill(template, values) == shown


@pytest.mark.parametrize("template, allowed, unknown", [
    ("Hi {visitor_name}", BEFORE_AGENT, []),
    ("Hi {agent_name}", BEFORE_AGENT, ["agent_name"]),
    ("Hi {agent_name}", WITH_AGENT, []),
    ("{Agent_Name} {agentname} {agentname}", WITH_AGENT, ["Agent_Name", "agentname"]),
    ("{agent_name.__class__}", WITH_AGENT, ["agent_name.__class__"]),
    ("{agent_name:>9} {0} {}", WITH_AGENT, ["agent_name:>9", "0", ""]),
    ("{{agent_name}} and { spaced }", BEFORE_AGENT, []),
])
def test_unknown_placeholders_are_those_outside_the_allowed_set(template, allowed, unknown):
    assert unknown_placeholders(template, allowed) == unknown


def button(button_id, label, style, action):
    return {"id": button_id, "label": label, "style": style, "action": action}


SKIP = button("skip", "Skip", "secondary", {"type": "skip"})
BACK = button("back", "Back", "secondary", {"type": "back"})
LIVE = button("live_chat", "Live chat", "primary", {"type": "live_chat"})
VIDEO = button("video_chat", "Video chat", "primary", {"type": "video_chat"})
DEFAULT_FORM = {
    "fields": [
        {"key": "name", "label": "Name", "type": "text", "required": True, "max_length": 200, "options": []},
        {"key": "email", "label": "E-mail", "type": "email", "required": True, "max_length": 254, "options": []},
        {"key": "phone", "label": "Phone", "type": "phone", "required": False, "max_length": 32, "options": []},
        {"key": "message", "label": "Message", "type": "textarea", "required": True, "max_length": 2000,
         "options": []},
    ],
    "submit_label": "Send",
}


@pytest.mark.parametrize("kind, config, context, shown", [
    ("message", message(), {},
     {"texts": ["Hello! How can we help you today?"], "buttons": [], "form": None}),
    ("message",
     message(text="Hi {visitor_name}, pick one", buttons=[
         {"label": "Prices"},
         {"label": "Talk to us", "style": "outline", "target": {"type": "component", "component_id": 7}}]),
     {"visitor_name": "Ann"},
     {"texts": ["Hi Ann, pick one"], "form": None, "buttons": [
         button("button_0", "Prices", "primary", {"type": "next"}),
         button("button_1", "Talk to us", "outline", {"type": "component", "component_id": 7})]}),
    ("live_chat", live_chat(), {},
     {"texts": ["Would you like to chat with one of our agents?"], "buttons": [LIVE, SKIP], "form": None}),
    ("live_chat", live_chat(), {"stage": "start"},
     {"texts": ["Would you like to chat with one of our agents?"], "buttons": [LIVE, SKIP], "form": None}),
    ("live_chat",
     live_chat(options={"live_chat": {"enabled": False}, "video_chat": {"enabled": True, "label": "Call us"}},
               chat_message={"text": "Need {interface_name}?", "show_skip": False, "show_back": True,
                             "back_label": "Go back"}),
     {"interface_name": "Help"},
     {"texts": ["Need Help?"], "form": None, "buttons": [
         button("video_chat", "Call us", "primary", {"type": "video_chat"}),
         button("back", "Go back", "secondary", {"type": "back"})]}),
    ("live_chat", live_chat(options={"video_chat": {"enabled": True}}), {},
     {"texts": ["Would you like to chat with one of our agents?"], "buttons": [LIVE, VIDEO, SKIP], "form": None}),
    ("live_chat", live_chat(), {"stage": "welcome"},
     {"texts": ["Please wait a moment while we connect you with one of our agents."], "buttons": [], "form": None}),
    ("live_chat", live_chat(), {"stage": "assigned", "agent_name": "Bo"},
     {"texts": ["You are now chatting with Bo."], "buttons": [], "form": None}),
    ("live_chat", live_chat(), {"stage": "assigned"},
     {"texts": ["You are now chatting with an agent."], "buttons": [], "form": None}),
    ("live_chat", live_chat(), {"stage": "video_chat", "agent_name": "Bo"},
     {"texts": ["Your video chat with Bo is starting."], "buttons": [], "form": None}),
    ("live_chat", live_chat(messages={"takeover": "{agent_name} here."}), {"stage": "takeover", "agent_name": "Bo"},
     {"texts": ["Bo here."], "buttons": [], "form": None}),
    ("live_chat", live_chat(), {"stage": "offline"},
     {"texts": ["Sorry, none of our agents is available right now."], "buttons": [], "form": DEFAULT_FORM}),
    ("live_chat", live_chat(offline_form={"active": False}), {"stage": "offline"},
     {"texts": ["Sorry, none of our agents is available right now."], "buttons": [], "form": None}),
    ("live_chat", live_chat(offline_form={"recipients": ["boss@example.com"],
                                          "fields": [{"key": "topic", "label": "Topic", "type": "select",
                                                      "options": ["Sales", "Support"]}]}),
     {"stage": "offline"},
     {"texts": ["Sorry, none of our agents is available right now."], "buttons": [], "form": {
         "fields": [{"key": "topic", "label": "Topic", "type": "select", "required": False, "max_length": None,
                     "options": ["Sales", "Support"]}],
         "submit_label": "Send"}}),
    ("live_chat", live_chat(offline_form={"thank_you": "Thanks {visitor_name}"}),
     {"stage": "thank_you", "visitor_name": "Ann"},
     {"texts": ["Thanks Ann"], "buttons": [], "form": None}),
])
def test_render_component_shows_texts_buttons_and_form(kind, config, context, shown):
    assert render_component(kind, config, context) == shown


def test_rendered_form_never_shows_the_recipients():
    config = live_chat(offline_form={"recipients": ["boss@example.com"]})
    shown = render_component("live_chat", config, {"stage": "offline"})
    assert "boss@example.com" not in repr(shown)


@pytest.mark.parametrize("kind, stage", [("message", "welcome"), ("message", "offline"), ("live_chat", "nope")])
def test_render_component_refuses_a_stage_the_type_does_not_have(kind, stage):
    config = message() if kind == "message" else live_chat()
    with pytest.raises(ValueError):
        render_component(kind, config, {"stage": stage})


@pytest.mark.parametrize("schema", [MessageConfigSchema, LiveChatConfigSchema])
def test_loading_a_normalised_config_again_changes_nothing(schema):
    config = schema().load({})
    assert schema().load(config) == config
