"""The live_chat component: defaults, the wizard's sections, validation, agents, preview; the spec."""
import json
from pathlib import Path

import pytest

from errors import ValidationFailed
from extensions import db
from models import ComponentType, Role
from services.flows import check_config
from tests.factories import make_interface, make_user, make_workspace
from tests.test_components import builder, error_at  # noqa: F401 - the builder fixture

SPEC = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"

DEFAULT_FIELDS = [
    {"key": "name", "label": "Name", "type": "text", "required": True, "max_length": 200, "options": []},
    {"key": "email", "label": "E-mail", "type": "email", "required": True, "max_length": 254, "options": []},
    {"key": "phone", "label": "Phone", "type": "phone", "required": False, "max_length": 32, "options": []},
    {"key": "message", "label": "Message", "type": "textarea", "required": True, "max_length": 2000, "options": []},
]
DEFAULTS = {
    "options": {
        "live_chat": {"enabled": True, "label": "Live chat", "style": "primary"},
        "video_chat": {"enabled": False, "label": "Video chat", "style": "primary"},
    },
    "messages": {
        "welcome": "Please wait a moment while we connect you with one of our agents.",
        "offline": "Sorry, none of our agents is available right now.",
        "takeover": "You are now chatting with {agent_name} from our team.",
        "video_chat": "Your video chat with {agent_name} is starting.",
        "assigned": "You are now chatting with {agent_name}.",
        "requeued": "{agent_name} left; you are back in the queue, position {position}.",
    },
    "offline_form": {
        "active": True,
        "fields": DEFAULT_FIELDS,
        "recipients": [],
        "thank_you": "Thank you! We will get back to you as soon as possible.",
        "submit_label": "Send",
        "branches": {"outside_hours": None, "offline": None},
    },
    "chat_message": {
        "text": "Would you like to chat with one of our agents?",
        "show_skip": True, "skip_label": "Skip", "show_back": False, "back_label": "Back",
    },
}
SECTION_URLS = {"options": "/live-chat/options", "messages": "/live-chat/messages",
                "offline_form": "/live-chat/offline-form", "chat_message": "/live-chat/chat-message"}


def without_effective(config):
    form = {k: v for k, v in config["offline_form"].items() if k != "effective_recipients"}
    return {**config, "offline_form": form}


def save(flow, cid, section, body, etag=True):
    return flow.edit("PUT", cid, body, tail=SECTION_URLS[section], etag=etag)


@pytest.fixture
def live(builder):
    builder.cid = builder.flow.add(type="live_chat")["id"]
    return builder


def test_live_chat_without_config_gets_every_default(builder):
    component = builder.flow.add(type="live_chat")
    assert without_effective(component["config"]) == DEFAULTS
    assert component["config"]["offline_form"]["effective_recipients"] == [builder.admin.email]
    assert builder.flow.get(component["id"]).get_json()["config"] == component["config"]


def test_default_recipients_are_the_workspace_active_admins_at_read_time(live):
    second = make_user(live.workspace, role=Role.ADMIN)
    make_user(live.workspace, role=Role.AGENT)
    gone = make_user(live.workspace, role=Role.ADMIN)
    gone.is_active = False
    db.session.commit()
    form = live.flow.get(live.cid).get_json()["config"]["offline_form"]
    assert form["recipients"] == []
    assert form["effective_recipients"] == [live.admin.email, second.email]


@pytest.mark.parametrize("section, body, saved", [
    ("options", {"video_chat": {"enabled": True, "label": "Call us", "style": "outline"}},
     {"live_chat": DEFAULTS["options"]["live_chat"],
      "video_chat": {"enabled": True, "label": "Call us", "style": "outline"}}),
    ("messages", {"welcome": "One moment, {visitor_name}.", "assigned": "{agent_name} is here."},
     {**DEFAULTS["messages"], "welcome": "One moment, {visitor_name}.", "assigned": "{agent_name} is here."}),
    ("offline_form", {"fields": [{"key": "email", "label": "Your e-mail", "type": "email", "required": True}],
                      "recipients": ["Sales@Example.com", "sales@example.com", "ops@example.com"]},
     {**DEFAULTS["offline_form"], "recipients": ["sales@example.com", "ops@example.com"],
      "fields": [{"key": "email", "label": "Your e-mail", "type": "email", "required": True, "max_length": 254,
                  "options": []}]}),
    ("chat_message", {"text": "Talk to a human?", "show_back": True},
     {**DEFAULTS["chat_message"], "text": "Talk to a human?", "show_back": True}),
])
def test_each_wizard_section_saves_alone_and_leaves_the_others(live, section, body, saved):
    flow = live.flow
    for other, other_body in (("messages", {"offline": "Closed now."}), ("chat_message", {"show_skip": False})):
        if other != section:
            assert save(flow, live.cid, other, other_body).status_code == 200
    before = flow.get(live.cid).get_json()
    response = save(flow, live.cid, section, body)
    assert response.status_code == 200, response.get_json()
    after = response.get_json()
    assert without_effective(after["config"])[section] == saved
    for other in DEFAULTS:
        if other != section:
            assert after["config"][other] == before["config"][other]
    assert after["version"] == before["version"] + 1
    assert response.headers["ETag"] == flow.etag(live.cid)
    assert flow.get(live.cid).get_json() == after


def test_wizard_finish_is_a_successful_save_of_each_step_in_turn(live):
    flow = live.flow
    etag = flow.etag(live.cid)
    for section, body in (("options", {"video_chat": {"enabled": True}}), ("messages", {}),
                          ("offline_form", {"active": False}), ("chat_message", {"text": "Need help?"})):
        response = save(flow, live.cid, section, body, etag=etag)
        assert response.status_code == 200
        etag = response.headers["ETag"]
    config = flow.get(live.cid).get_json()["config"]
    assert (config["options"]["video_chat"]["enabled"], config["offline_form"]["active"],
            config["chat_message"]["text"]) == (True, False, "Need help?")


def test_effective_recipients_are_the_recipients_when_set(live):
    response = save(live.flow, live.cid, "offline_form", {"recipients": ["desk@example.com"]})
    form = response.get_json()["config"]["offline_form"]
    assert form["effective_recipients"] == ["desk@example.com"]


@pytest.mark.parametrize("section, body, path, message", [
    ("options", {"live_chat": {"enabled": False}}, ("live_chat", "enabled"),
     ["Enable live chat, video chat or both."]),
    ("options", {"live_chat": {"enabled": False}, "video_chat": {"enabled": False}}, ("video_chat", "enabled"),
     ["Enable live chat, video chat or both."]),
    ("options", {"live_chat": {"label": "x" * 41}}, ("live_chat", "label"), None),
    ("options", {"live_chat": {"label": "Live\nchat"}}, ("live_chat", "label"), None),
    ("options", {"live_chat": {"style": "neon"}}, ("live_chat", "style"), None),
    ("options", {"audio_chat": {"enabled": True}}, ("audio_chat",), ["Unknown field."]),
    ("messages", {"welcome": "x" * 2001}, ("welcome",), None),
    ("messages", {"welcome": "Hello {agent_name}"}, ("welcome",), None),
    ("messages", {"offline": "Bye {agent_name}"}, ("offline",), None),
    ("messages", {"assigned": "Hi {agent.name}"}, ("assigned",), None),
    ("messages", {"takeover": "{visitor_name.__class__.__mro__}"}, ("takeover",), None),
    ("messages", {"goodbye": "Bye"}, ("goodbye",), ["Unknown field."]),
    ("offline_form", {"fields": []}, ("fields",), ["An active offline form needs at least one field."]),
    ("offline_form", {"recipients": ["not-an-address"]}, ("recipients", 0), None),
    ("offline_form", {"recipients": ["a@example.com\r\nBcc: victim@example.com"]}, ("recipients", 0), None),
    ("offline_form", {"recipients": ["a@example.com, b@example.com"]}, ("recipients", 0), None),
    ("offline_form", {"recipients": [f"r{i}@example.com" for i in range(21)]}, ("recipients",), None),
    ("offline_form", {"fields": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}, ("fields", 1, "key"),
     ["Used by field 0 already."]),
    ("offline_form", {"fields": [{"key": "Full Name", "label": "Name"}]}, ("fields", 0, "key"), None),
    ("offline_form", {"fields": [{"key": "topic", "label": "Topic", "type": "select"}]}, ("fields", 0, "options"),
     ["A select field needs at least one option."]),
    ("offline_form", {"fields": [{"key": "a", "label": "A", "options": ["x"]}]}, ("fields", 0, "options"),
     ["Only select fields have options."]),
    ("offline_form", {"fields": [{"key": "a", "label": "A", "type": "date"}]}, ("fields", 0, "type"), None),
    ("offline_form", {"fields": [{"key": "a", "label": "A", "type": "phone", "max_length": 100}]},
     ("fields", 0, "max_length"), ["A phone answer is at most 32 characters."]),
    ("offline_form", {"fields": [{"key": "a", "label": "A", "type": "checkbox", "max_length": 10}]},
     ("fields", 0, "max_length"), ["A checkbox field has no length."]),
    ("offline_form", {"fields": [{"label": "A"}]}, ("fields", 0, "key"), ["Missing data for required field."]),
    ("offline_form", {"thank_you": "Thanks {agent_name}"}, ("thank_you",), None),
    ("offline_form", {"effective_recipients": ["x@example.com"]}, ("effective_recipients",), ["Unknown field."]),
    ("chat_message", {"text": ""}, ("text",), None),
    ("chat_message", {"skip_label": "Skip\n"}, ("skip_label",), None),
    ("chat_message", {"show_skip": "sometimes"}, ("show_skip",), None),
])
def test_bad_section_is_422_on_the_wrong_field_and_saves_nothing(live, section, body, path, message):
    before = live.flow.get(live.cid).get_json()
    response = save(live.flow, live.cid, section, body)
    messages = error_at(response, "json", *path)
    if message is not None:
        assert messages == message
    assert live.flow.get(live.cid).get_json() == before


def test_inactive_offline_form_may_have_no_fields(live):
    response = save(live.flow, live.cid, "offline_form", {"active": False, "fields": []})
    assert response.status_code == 200
    assert response.get_json()["config"]["offline_form"]["fields"] == []


def test_whole_component_with_neither_option_is_422_under_config(builder):
    response = builder.flow.client.post(builder.flow.url(), headers=builder.flow.headers, json={
        "type": "live_chat", "config": {"options": {"live_chat": {"enabled": False}}}})
    assert error_at(response, "json", "config", "options", "live_chat", "enabled")
    assert builder.flow.order() == []


def test_patch_of_one_message_keeps_the_other_messages(live):
    response = live.flow.edit("PATCH", live.cid, {"type": "live_chat", "config": {"messages": {"offline": "Closed."}}})
    assert response.get_json()["config"]["messages"] == {**DEFAULTS["messages"], "offline": "Closed."}


def test_unknown_placeholder_message_names_the_allowed_ones(live):
    response = save(live.flow, live.cid, "messages", {"welcome": "Hi {agent_name}"})
    assert error_at(response, "json", "welcome") == [
        "Unknown placeholder {agent_name}: use {visitor_name}, {interface_name}, "
        "or write {{ and }} for literal braces."]


def test_active_form_with_default_recipients_and_no_active_admin_is_422(app):
    workspace, admin = make_workspace()
    interface = make_interface(workspace)
    admin.is_active = False
    db.session.commit()
    with pytest.raises(ValidationFailed) as caught:
        check_config(interface, ComponentType.LIVE_CHAT, {})
    assert caught.value.errors["json"]["config"]["offline_form"]["recipients"]
    with pytest.raises(ValidationFailed) as caught:
        check_config(interface, ComponentType.LIVE_CHAT, {"offline_form": {}}, section="offline_form")
    assert caught.value.errors["json"]["recipients"]
    config = check_config(interface, ComponentType.LIVE_CHAT, {"offline_form": {"recipients": ["a@example.com"]}})
    assert config["offline_form"]["recipients"] == ["a@example.com"]
    assert check_config(interface, ComponentType.LIVE_CHAT, {"offline_form": {"active": False}})


def test_agents_step_shows_the_interface_agents_and_all_their_assignments(live, client):
    elsewhere = make_interface(live.workspace, name="Other widget")
    both = make_user(live.workspace, interfaces=[live.interface, elsewhere], name="Both")
    only_here = make_user(live.workspace, interfaces=[live.interface], name="Here")
    make_user(live.workspace, interfaces=[elsewhere], name="Not here")
    response = client.get(live.flow.url(live.cid, "/live-chat/agents"), headers=live.flow.headers)
    assert response.status_code == 200
    agents = {agent["name"]: agent for agent in response.get_json()}
    assert set(agents) == {"Both", "Here"}
    assert agents["Both"]["id"] == both.id
    assert agents["Both"]["interfaces"] == [{"id": live.interface.id, "name": live.interface.name},
                                            {"id": elsewhere.id, "name": "Other widget"}]
    assert agents["Here"]["interface_ids"] == [live.interface.id] and agents["Here"]["id"] == only_here.id


@pytest.mark.parametrize("tail, method", [("/live-chat/agents", "GET"), ("/live-chat/options", "PUT")])
def test_live_chat_routes_of_a_message_component_are_404(builder, tail, method):
    cid = builder.flow.add(type="message")["id"]
    response = builder.flow.edit(method, cid, {} if method == "PUT" else None, tail=tail)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_live_chat"


@pytest.mark.parametrize("stage, args, texts, buttons, form", [
    ("start", {}, ["Would you like to chat with one of our agents?"], ["live_chat", "video_chat", "skip"], False),
    ("welcome", {}, ["One moment, Ann."], [], False),
    ("assigned", {"agent_name": "Bo"}, ["You are now chatting with Bo."], [], False),
    ("video_chat", {"agent_name": "Bo"}, ["Your video chat with Bo is starting."], [], False),
    ("takeover", {}, ["You are now chatting with an agent from our team."], [], False),
    ("offline", {}, ["Sorry, none of our agents is available right now."], [], True),
    ("thank_you", {}, ["Thank you! We will get back to you as soon as possible."], [], False),
])
def test_preview_of_live_chat_shows_each_stage(live, stage, args, texts, buttons, form):
    save(live.flow, live.cid, "options", {"video_chat": {"enabled": True}})
    save(live.flow, live.cid, "messages", {"welcome": "One moment, {visitor_name}."})
    response = live.flow.preview(live.cid, stage=stage, visitor_name="Ann", **args)
    assert response.status_code == 200
    shown = response.get_json()
    assert (shown["component_id"], shown["type"], shown["stage"]) == (live.cid, "live_chat", stage)
    assert shown["texts"] == texts
    assert [button["id"] for button in shown["buttons"]] == buttons
    assert (shown["form"] is not None) == form
    if form:
        assert [field["key"] for field in shown["form"]["fields"]] == ["name", "email", "phone", "message"]
        assert "recipients" not in shown["form"]


def test_preview_offline_without_an_active_form_shows_no_form(live):
    save(live.flow, live.cid, "offline_form", {"active": False})
    shown = live.flow.preview(live.cid, stage="offline").get_json()
    assert shown["form"] is None and shown["texts"] == [DEFAULTS["messages"]["offline"]]


def test_preview_start_follows_the_chat_message_step(live):
    save(live.flow, live.cid, "chat_message", {"text": "Hi!", "show_skip": False, "show_back": True,
                                               "back_label": "Return"})
    shown = live.flow.preview(live.cid).get_json()
    assert shown["texts"] == ["Hi!"]
    assert [(b["id"], b["label"], b["action"]) for b in shown["buttons"]] == [
        ("live_chat", "Live chat", {"type": "live_chat"}), ("back", "Return", {"type": "back"})]


def test_stored_text_with_html_comes_back_verbatim(live):
    text = "<b>Hi</b> & <script>x()</script>"
    save(live.flow, live.cid, "chat_message", {"text": text})
    assert live.flow.get(live.cid).get_json()["config"]["chat_message"]["text"] == text
    assert live.flow.preview(live.cid).get_json()["texts"] == [text]


def test_spec_types_each_live_chat_section():
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    config = schemas["LiveChatConfig"]["properties"]
    assert {key: value["$ref"].rsplit("/", 1)[1] for key, value in config.items()} == {
        "options": "LiveChatOptions", "messages": "LiveChatMessages", "offline_form": "OfflineForm",
        "chat_message": "LiveChatChatMessage"}
    assert schemas["LiveChatButton"]["properties"]["label"]["default"] == "Live chat"
    assert schemas["VideoChatButton"]["properties"]["label"]["default"] == "Video chat"
    assert schemas["LiveChatMessages"]["properties"]["welcome"]["maxLength"] == 2000
    form = schemas["OfflineForm"]["properties"]
    assert form["fields"]["items"] == {"$ref": "#/components/schemas/OfflineFormField"}
    assert form["recipients"]["items"]["format"] == "email"
    assert form["effective_recipients"]["readOnly"] is True
    assert schemas["OfflineFormField"]["properties"]["type"]["enum"] == [
        "text", "email", "phone", "textarea", "select", "checkbox"]


def test_spec_describes_components_as_a_oneof_discriminated_by_type():
    schemas = json.loads(SPEC.read_text())["components"]["schemas"]
    for name, variants in (("Component", ("MessageComponent", "LiveChatComponent")),
                           ("NewComponent", ("NewMessageComponent", "NewLiveChatComponent"))):
        assert schemas[name]["oneOf"] == [{"$ref": f"#/components/schemas/{v}"} for v in variants]
        assert schemas[name]["discriminator"] == {"propertyName": "type", "mapping": {
            "message": f"#/components/schemas/{variants[0]}", "live_chat": f"#/components/schemas/{variants[1]}"}}
    assert schemas["MessageComponent"]["properties"]["type"]["enum"] == ["message"]
    assert schemas["MessageComponent"]["properties"]["config"] == {"$ref": "#/components/schemas/MessageConfig"}
    assert schemas["LiveChatComponent"]["properties"]["config"] == {"$ref": "#/components/schemas/LiveChatConfig"}
    button = schemas["MessageButton"]["properties"]
    assert button["label"]["type"] == "string" and button["label"]["maxLength"] == 40
    assert schemas["ButtonTarget"]["properties"]["type"]["enum"] == ["next", "component"]


def test_spec_documents_etags_on_edits():
    paths = json.loads(SPEC.read_text())["paths"]
    item = paths["/api/interfaces/{interface_id}/components/{component_id}"]
    for method in ("put", "patch"):
        assert {"412", "428"} <= set(item[method]["responses"])
        assert {"$ref": "#/components/parameters/IF_MATCH"} in item[method]["parameters"]
    body = item["put"]["requestBody"]["content"]["application/json"]["schema"]
    # The request's shape (no id, version, timestamps), split from the response's Component (schemas/openapi.py).
    assert body == {"$ref": "#/components/schemas/ComponentInput"}
