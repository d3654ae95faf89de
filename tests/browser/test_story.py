"""The help article's story (shared/reference/live-chat-help-article.txt) played through the real widget on the demo
page and the real agent console, each person in their own browser context: the flow's buttons with Skip and Back,
the offline form while nobody is online, the three notifications (new chat initiated, live chat request, video chat
request), a bot conversation taken over, a live chat accepted with messages both ways, and a video call whose two
peer connections connect and decode each other's fake camera; once more relay-only through coturn.
"""
import os
import re
import shutil

from playwright.sync_api import expect
from sqlalchemy import select

from extensions import db
from models import Component, ComponentType
from tests.browser import test_video
from tests.browser.conftest import ROOT
from tests.browser.test_video import assert_video_flows, call_root

DOC_SHOT = ROOT / "docs/screenshots/video-call-connected.png"

# The relay-only run's coturn, and the app's TURN settings pointing at it for the tests that use `turn`.
app_config, turn = test_video.app_config, test_video.turn

# Chromium gathers only relay candidates when the page's peer connections say so; the apps take the ICE policy from
# the server's configuration, so the relay-only run forces it in every frame of both pages (the widget creates its
# peer connection in a clean about:blank frame of its own).
RELAY_ONLY = """(() => {
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  function RelayOnly(config, ...rest) {
    return new Native({...(config || {}), iceTransportPolicy: "relay"}, ...rest);
  }
  RelayOnly.prototype = Native.prototype;
  Object.setPrototypeOf(RelayOnly, Native);
  window.RTCPeerConnection = RelayOnly;
})();"""


def show_back_button(demo):
    """The admin's choice in the Live chat component's chat message step: Skip and Back buttons both shown."""
    component = db.session.scalars(select(Component).where(Component.interface_id == demo.interface_id,
                                                           Component.type == ComponentType.LIVE_CHAT)).one()
    component.config = {**component.config, "chat_message": {**component.config.get("chat_message", {}),
                                                             "show_skip": True, "show_back": True}}
    db.session.commit()


# ---- the visitor: the widget on the demo page ---------------------------------------------------------------------

def widget(new_context, demo, init_script=None):
    page = new_context().new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
    if init_script:
        page.add_init_script(init_script)
    page.goto(demo.demo_url)
    page.get_by_test_id("widget-launcher").click()
    expect(page.get_by_test_id("widget-panel")).to_be_visible()
    expect(messages(page).first).to_have_attribute("data-author", "bot")
    return page


def press(page, name):
    page.get_by_test_id("widget-panel").get_by_role("button", name=name, exact=True).click()


def messages(page):
    return page.locator("[data-testid=widget-messages] [data-testid=message]")


def conversation_of(page):
    expect(page.get_by_test_id("widget-panel")).to_have_attribute("data-conversation-id", re.compile(r"^\d+$"))
    return int(page.get_by_test_id("widget-panel").get_attribute("data-conversation-id"))


def visitor_says(page, text):
    page.get_by_test_id("widget-input").fill(text)
    page.get_by_test_id("widget-send").click()


# ---- the agent: the console ----------------------------------------------------------------------------------------

def console(new_context, demo, person, init_script=None):
    page = new_context().new_page()
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
    if init_script:
        page.add_init_script(init_script)
    page.goto(demo.console_url)
    page.fill("input[name=email]", person.email)
    page.fill("input[name=password]", person.password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("availability")).to_contain_text("Offline")
    return page


def go_online(page):
    page.get_by_test_id("availability").click()
    expect(page.get_by_test_id("availability")).to_contain_text("Online")


def notification(page, kind, conversation_id):
    return page.locator(f"[data-testid=notifications] [data-testid=notification][data-kind={kind}]"
                        f"[data-conversation-id='{conversation_id}']")


def chat_panel(page, conversation_id):
    return page.locator(f"[data-testid=chat-panel][data-conversation-id='{conversation_id}']")


def agent_says(panel, text):
    panel.get_by_test_id("chat-input").fill(text)
    panel.get_by_test_id("chat-send").click()


def video_call(new_context, demo, agent, shots, init_script=None, relay=False, axe=None):
    """A visitor asks for a video chat; the agent accepts the notification; both see each other, then hang up."""
    caller = widget(new_context, demo, init_script)
    press(caller, "Talk to a person")
    press(caller, "Video chat")
    chat = conversation_of(caller)
    card = notification(agent, "video_chat_request", chat)
    expect(card).to_be_visible()
    shots(agent, "video chat request")
    card.get_by_role("button", name="Accept").click()
    panel = chat_panel(agent, chat)
    expect(panel).to_be_visible()
    calls = [call_root(caller), panel.locator("[data-testid=call]")]
    pairs = assert_video_flows(calls, relay=relay)
    if axe:  # the call's UI on both sides: no serious or critical accessibility violation
        assert axe(caller, "[data-livechat-widget]") == []
        assert axe(agent, "[data-testid=chat-panel] [data-testid=call]") == []
    shots(caller, "visitor in the video call")
    agent_shot = shots(agent, "agent in the video call")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" and not relay:
        DOC_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(agent_shot, DOC_SHOT)
    caller.locator("[data-testid=call-hangup]").click()
    for root in calls:
        expect(root).to_have_attribute("data-state", "ended")
        expect(root).to_have_attribute("data-connection-state", "closed")
    return caller, pairs


# ---- the story -----------------------------------------------------------------------------------------------------

def test_the_help_article_story_from_both_sides(demo, new_context, shots, axe_violations):
    show_back_button(demo)
    agent = console(new_context, demo, demo.admin)
    shots(agent, "console, offline")

    # Nobody is online: the visitor walks the flow (Back, then on), asks for a live chat and gets the offline form.
    late = widget(new_context, demo)
    shots(late, "welcome")
    press(late, "Talk to a person")
    for name in ("Live chat", "Video chat", "Skip"):
        expect(late.get_by_test_id("widget-panel").get_by_role("button", name=name, exact=True)).to_be_visible()
    shots(late, "live chat choices")
    press(late, "Back")
    expect(messages(late).last).to_have_attribute("data-author", "bot")
    press(late, "Talk to a person")
    press(late, "Live chat")
    form = late.get_by_test_id("offline-form")
    expect(form).to_be_visible()
    form.get_by_label("Name").fill("Olga Offline")
    form.get_by_label("E-mail").fill("olga@example.org")
    form.get_by_label("Message").fill("Please call me back tomorrow.")
    shots(late, "offline form")
    form.get_by_role("button").click()
    expect(messages(late).last).to_contain_text("Thank you")
    expect(late.get_by_test_id("offline-form")).to_have_count(0)
    shots(late, "offline form sent")

    go_online(agent)
    shots(agent, "console, online")

    # New chat initiated: a visitor's first action. They Skip the live chat; the agent takes the bot chat over.
    browsing = widget(new_context, demo)
    press(browsing, "Talk to a person")
    bot_chat = conversation_of(browsing)
    card = notification(agent, "new_chat_initiated", bot_chat)
    expect(card).to_be_visible()
    shots(agent, "new chat initiated")
    press(browsing, "Skip")
    expect(messages(browsing).last).to_have_attribute("data-author", "bot")
    shots(browsing, "skipped")
    card.get_by_role("button", name="Take over").click()
    taken = chat_panel(agent, bot_chat)
    expect(taken).to_be_visible()
    agent_says(taken, "Hello, I saw you browsing. Can I help?")
    expect(messages(browsing).filter(has_text="Can I help?")).to_have_attribute("data-author", "agent")
    visitor_says(browsing, "Yes, which size fits me?")
    expect(taken.locator("[data-testid=message][data-author=visitor]", has_text="which size")).to_be_visible()
    shots(browsing, "taken over")
    shots(agent, "taken over")

    # Live chat request: accepted; messages both ways, with the agent's name shown to the visitor.
    talker = widget(new_context, demo)
    press(talker, "Talk to a person")
    press(talker, "Live chat")
    live_chat = conversation_of(talker)
    card = notification(agent, "live_chat_request", live_chat)
    expect(card).to_be_visible()
    shots(agent, "live chat request")
    card.get_by_role("button", name="Accept").click()
    expect(talker.get_by_test_id("agent-name")).to_be_visible()
    live = chat_panel(agent, live_chat)
    visitor_says(talker, "Where is my parcel?")
    expect(live.locator("[data-testid=message][data-author=visitor]", has_text="Where is my parcel?")).to_be_visible()
    agent_says(live, "It left the warehouse today.")
    expect(messages(talker).filter(has_text="It left the warehouse today.")).to_have_attribute("data-author", "agent")
    expect(talker.get_by_test_id("agent-name")).to_have_text(demo.admin.name)  # named by their message
    shots(talker, "live chat")
    shots(agent, "two chats at once")

    # Video chat request: accepted; each side decodes the other's camera; the visitor hangs up.
    caller, pairs = video_call(new_context, demo, agent, shots, axe=axe_violations)
    assert pairs == [("host", "host"), ("host", "host")], pairs
    for page in (agent, late, browsing, talker, caller):
        assert page.problems == [], page.problems


def test_the_video_chat_relay_only_through_coturn(demo, new_context, turn, shots):
    agent = console(new_context, demo, demo.admin, RELAY_ONLY)
    go_online(agent)
    caller, _ = video_call(new_context, demo, agent, shots, RELAY_ONLY, relay=True)
    log = turn.log.read_text()
    assert log.count("incoming packet ALLOCATE processed, success") >= 2, log[-2000:]
    assert agent.problems == [] and caller.problems == []
