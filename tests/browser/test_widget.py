"""The embeddable widget in Chromium, on the demo page and on a hostile customer page.

The visitor's side runs in the browser; the agent's side is played from Python over REST and the socket
(tests/staff_helpers.py), so these tests depend on the widget alone.
"""
import os
import re
import shutil
import uuid

import pytest
from sqlalchemy import select

from blueprints.widget_assets import loader_integrity
from extensions import db
from models import Component, ComponentType, Interface, User
from tests.browser.conftest import ROOT
from tests.factories import Auth, go_online
from tests.staff_helpers import user_socket

try:
    from playwright.sync_api import expect
except ImportError:  # the browser fixture skips (or fails under CI) with the reason
    expect = None

XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>"\'&amp;'
DOC_SHOT = ROOT / "docs/screenshots/widget-mid-chat.png"


# ---- helpers ---------------------------------------------------------------------------------------------------

def panel(page):
    return page.get_by_test_id("widget-panel")


def button(page, name):
    return panel(page).get_by_role("button", name=name, exact=True)


def messages(page):
    return page.locator("[data-testid=widget-messages] [data-testid=message]")


def stored(page):
    """The stored messages shown, in order: (id, author, text)."""
    return page.evaluate("""() => {
      const root = document.querySelector('[data-livechat-widget]').shadowRoot;
      return [...root.querySelectorAll('[data-testid=message]:not([data-pending])')].map(li => [
        li.dataset.id, li.dataset.author, li.querySelector('[data-testid=message-text]').textContent]);
    }""")


def open_widget(page, url):
    page.goto(url)
    launcher = page.get_by_test_id("widget-launcher")
    expect(launcher).to_be_visible()
    launcher.click()
    expect(panel(page)).to_be_visible()


def conversation_id(page):
    value = panel(page).get_attribute("data-conversation-id")
    assert value, "the widget shows no conversation yet"
    return int(value)


def demo_component(demo, kind):
    db.session.commit()  # a fresh read of what the server committed
    return db.session.scalars(select(Component).where(Component.interface_id == demo.interface_id,
                                                      Component.type == kind)).first()


def update_config(component, **changes):
    config = dict(component.config)
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    component.config = config
    db.session.commit()


def no_injected_markup(page):
    """Nothing any text created: no <img>, <script>, <b> in the widget, and no handler ran."""
    return page.evaluate("""() => {
      const root = document.querySelector('[data-livechat-widget]').shadowRoot;
      return {tags: root.querySelectorAll('img, script, b, svg, object, embed').length,
              xss: window.__xss ?? null};
    }""")


class Agent:
    """An agent played over REST (and a socket for typing), as the console would."""

    def __init__(self, client, server, person):
        self.client = client
        user = db.session.get(User, person.id)
        go_online(user)
        self.headers = Auth(client).headers(person.email)
        self.server = server
        self._socket = None

    def accept(self, conversation):
        pending = self.client.get("/api/requests", headers=self.headers).get_json()["items"]
        matching = [r for r in pending if r["conversation_id"] == conversation]
        assert len(matching) == 1, (conversation, pending)
        [request] = matching
        response = self.client.post(f"/api/requests/{request['request_id']}/accept", headers=self.headers)
        assert response.status_code == 200, response.get_json()

    def say(self, conversation, text):
        response = self.client.post(f"/api/conversations/{conversation}/messages",
                                    json={"text": text, "client_id": uuid.uuid4().hex}, headers=self.headers)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def heard(self, conversation):
        response = self.client.get(f"/api/conversations/{conversation}/messages", headers=self.headers,
                                   query_string={"limit": 200})
        return [(m["sender_type"], m["text"]) for m in response.get_json()["items"]]

    def typing(self, conversation):
        if self._socket is None:
            self._socket = user_socket(self.client, self.server, self.headers)
        self._socket.send({"type": "typing", "conversation_id": conversation, "typing": True, "ref": "t"})
        self._socket.recv_until(lambda f: f.get("ref") == "t")

    def next_frame(self, predicate):
        return self._socket.recv_until(predicate)

    def end(self, conversation):
        response = self.client.post(f"/api/conversations/{conversation}/end", headers=self.headers)
        assert response.status_code == 200, response.get_json()

    def close(self):
        if self._socket is not None:
            self._socket.close()


@pytest.fixture
def agent_of(client, server):
    agents = []

    def make(person):
        agents.append(Agent(client, server, person))
        return agents[-1]

    yield make
    for agent in agents:
        agent.close()


# ---- tests ---------------------------------------------------------------------------------------------------------

def test_flow_with_skip_and_back_then_the_offline_form(demo, new_context, shots, axe_violations):
    update_config(demo_component(demo, ComponentType.LIVE_CHAT), chat_message={"show_back": True})
    page = new_context().new_page()
    open_widget(page, demo.demo_url)
    expect(messages(page).first).to_contain_text("Would you like to talk to a person?")
    expect(messages(page).first).to_have_attribute("data-author", "bot")
    shots(page, "welcome")

    button(page, "Talk to a person").click()
    for name in ("Live chat", "Video chat", "Skip", "Back"):
        expect(button(page, name)).to_be_visible()
    assert messages(page).nth(1).get_attribute("data-author") == "visitor"  # the pressed button, as the visitor's
    shots(page, "live-chat-choices")

    button(page, "Back").click()
    expect(button(page, "Talk to a person")).to_be_visible()
    expect(button(page, "Live chat")).to_have_count(0)  # only the current step's buttons are offered
    button(page, "Talk to a person").click()
    button(page, "Skip").click()
    expect(messages(page).last).to_contain_text("Thanks for visiting the demo site!")
    authors = [author for _, author, _ in stored(page)]
    assert authors.count("visitor") == 4  # Talk to a person, Back, Talk to a person, Skip
    shots(page, "skipped-to-goodbye")

    # The keyboard reaches the launcher and the panel's controls; Escape closes the panel.
    page.keyboard.press("Escape")
    expect(panel(page)).to_be_hidden()
    launcher = page.get_by_test_id("widget-launcher")
    expect(launcher).to_be_focused()
    page.keyboard.press("Enter")
    expect(panel(page)).to_be_visible()

    # The widget's styles stay in its shadow root: a page element with the same class looks like the page's.
    look = page.evaluate("""() => {
      const b = document.createElement('button'); b.className = 'launcher'; b.textContent = 'x';
      document.body.append(b); const s = getComputedStyle(b); return [s.backgroundColor, s.borderRadius];
    }""")
    assert look[0] != "rgb(11, 87, 208)" and look[1] != "999px"

    # No agent is online: asking for a live chat on a new visit gives the offline message and form.
    page2 = new_context().new_page()
    open_widget(page2, demo.demo_url)
    button(page2, "Talk to a person").click()
    button(page2, "Live chat").click()
    form = page2.get_by_test_id("offline-form")
    expect(form).to_be_visible()
    assert axe_violations(page2, "[data-livechat-widget]") == []
    form.get_by_label("Name").fill(XSS)
    form.get_by_label("E-mail").fill("not an address")
    form.get_by_label("Message").fill("Call me back")
    form.get_by_role("button").click()
    expect(form.locator("[aria-invalid=true]")).to_have_count(1)  # the server's per-field error, shown
    shots(page2, "offline-form-invalid")
    form.get_by_label("E-mail").fill("ada@example.org")
    form.get_by_role("button").click()
    expect(messages(page2).last).to_contain_text("Thank you")
    expect(page2.get_by_test_id("offline-form")).to_have_count(0)
    shots(page2, "offline-form-sent")


def test_live_chat_both_ways_resumes_without_gap_or_duplicate(demo, new_context, agent_of, shots, axe_violations,
                                                              tmp_path):
    agent = agent_of(demo.agents[0])
    context = new_context()
    page = context.new_page()
    open_widget(page, demo.demo_url)
    button(page, "Talk to a person").click()
    button(page, "Live chat").click()
    expect(page.get_by_test_id("queue-position")).to_be_visible()
    expect(page.get_by_test_id("queue-position")).to_contain_text("number 1")
    shots(page, "waiting-in-queue")
    conversation = conversation_id(page)

    agent.accept(conversation)
    # Named the moment they accept (the conversation carries agent_name), before they type or say anything.
    expect(page.get_by_test_id("agent-name")).to_have_text(demo.agents[0].name)
    expect(page.get_by_test_id("queue-position")).to_be_hidden()
    agent.typing(conversation)
    expect(page.get_by_test_id("typing")).to_contain_text(f"{demo.agents[0].name} is typing")
    hello = agent.say(conversation, "Hello, how can I help?")
    expect(messages(page).last).to_contain_text("Hello, how can I help?")
    expect(page.get_by_test_id("typing")).to_be_hidden()
    read = agent.next_frame(lambda f: f["type"] == "conversation.read" and f["data"]["reader"] == "visitor")
    assert read["data"]["seq"] >= hello["seq"]  # the open panel showed it: the agent hears it was read

    page.get_by_test_id("widget-input").press_sequentially("I have a question")
    typing = agent.next_frame(lambda f: f["type"] == "typing" and f["data"]["sender_type"] == "visitor")
    assert typing["data"]["typing"] is True and typing["data"]["conversation_id"] == conversation
    page.get_by_test_id("widget-input").press("Enter")
    expect(messages(page).last).to_have_attribute("data-id", re.compile(r"\d+"))
    assert ("visitor", "I have a question") in agent.heard(conversation)

    # An attachment: uploaded, sent with the message, shown as a link that downloads it.
    upload = tmp_path / "invoice.txt"
    upload.write_text("total: 42")
    page.get_by_test_id("widget-file").set_input_files(str(upload))
    expect(page.get_by_test_id("pending-attachment")).to_contain_text("invoice.txt")
    page.get_by_test_id("widget-send").click()
    link = messages(page).last.get_by_test_id("attachment")
    expect(link).to_contain_text("invoice.txt")
    # The link is signed for PUBLIC_URL, this server: it downloads the file as it is.
    href = link.get_attribute("href")
    assert href.startswith(f"{demo.url}/")
    assert page.request.get(href).text() == "total: 42"
    shots(page, "mid-chat")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOC_SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shots(page, "mid-chat-doc"), DOC_SHOT)

    # A reload resumes the same chat: the same messages, each once, and the chat goes on.
    before = stored(page)
    page.reload()
    expect(panel(page)).to_be_visible()  # open again, as this tab left it
    expect(messages(page)).to_have_count(len(before))
    agent.say(conversation, "Still there after the reload?")
    expect(messages(page).last).to_contain_text("Still there after the reload?")
    after_reload = stored(page)
    assert after_reload[:len(before)] == before and len(after_reload) == len(before) + 1
    shots(page, "after-reload")

    # With the panel closed, the launcher counts the agent's new messages.
    page.get_by_test_id("widget-launcher").click()
    expect(panel(page)).to_be_hidden()
    agent.say(conversation, "Are you still with me?")
    expect(page.get_by_test_id("widget-launcher")).to_have_text("Chat with us (1 new)")
    page.get_by_test_id("widget-launcher").click()
    expect(page.get_by_test_id("widget-launcher")).to_have_text("Close chat")

    # The network drops: the agent goes on talking, the visitor writes; back online, nothing is missing or twice.
    context.set_offline(True)
    expect(page.get_by_test_id("connection")).to_be_visible()
    agent.say(conversation, "First while you were away")
    agent.say(conversation, "Second while you were away")
    page.get_by_test_id("widget-input").fill("Written offline")
    page.get_by_test_id("widget-input").press("Enter")
    shots(page, "offline")
    context.set_offline(False)
    expect(page.get_by_test_id("connection")).to_be_hidden(timeout=15_000)
    expect(messages(page).filter(has_text="Second while you were away")).to_have_count(1)
    expect(messages(page).filter(has_text="Written offline").and_(page.locator("[data-id]"))).to_have_count(1)
    shown = stored(page)
    ids = [int(i) for i, _, _ in shown]
    assert len(ids) == len(set(ids)) and ids == sorted(ids)
    heard = agent.heard(conversation)
    assert [(author, text) for _, author, text in shown] == heard  # the whole chat, in order, each once
    assert heard.count(("visitor", "Written offline")) == 1
    shots(page, "back-online")

    # After the chat: the rating and the transcript.
    agent.end(conversation)
    rating = page.get_by_test_id("rating")
    expect(rating).to_be_visible()
    assert axe_violations(page, "[data-livechat-widget]") == []
    rating.get_by_role("button", name="5 out of 5").click()
    rating.get_by_label("Comment (optional)").fill("Quick and kind")
    rating.get_by_role("button", name="Send rating").click()
    expect(page.get_by_test_id("rating-done")).to_have_text("Thank you for your rating!")
    transcript = page.get_by_test_id("transcript")
    transcript.get_by_label("E-mail me the transcript").fill("ada@example.org")
    transcript.get_by_role("button", name="Send transcript").click()
    expect(transcript).to_contain_text("on its way to ada@example.org")
    shots(page, "rated")

    # A new chat: a new conversation from the start of the flow, followed live on the same socket.
    button(page, "Start a new chat").click()
    expect(messages(page)).to_have_count(1)
    expect(messages(page).first).to_contain_text("Would you like to talk to a person?")
    assert conversation_id(page) != conversation
    button(page, "Talk to a person").click()
    expect(button(page, "Live chat")).to_be_visible()


def test_hostile_page_hides_everything_and_breaks_fetch(demo, server, new_context, shots):
    # The page is served from the other allowed origin (localhost), the widget's files from the server's.
    host_url = server.url.replace("127.0.0.1", "localhost") + "/shop"
    loader = f"{server.url}/widget/v1/loader.js"
    integrity = loader_integrity()
    html = f"""<!doctype html><html><head><title>Hostile shop</title>
<style>* {{ display: none !important }} div, section, button {{ visibility: hidden !important; }}</style>
<script>window.fetch = () => {{ throw new Error("fetch is broken on this page"); }};
window.WebSocket = function () {{ throw new Error("no sockets here"); }};</script>
</head><body><p id=content>Shop content</p>
<script src="{loader}" data-key="{demo.public_key}" integrity="{integrity}" crossorigin="anonymous" async></script>
</body></html>"""
    # A page fulfilled by the test has no address, so Chromium counts it as public and asks before it may
    # reach a loopback server (Local Network Access): granted here, as a customer's public page needs no grant
    # to reach a public chat server.
    page = new_context(permissions=["local-network-access"]).new_page()
    page.route(host_url, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    open_widget(page, host_url)
    expect(page.locator("#content")).to_be_hidden()  # the page's own CSS still rules the page
    expect(messages(page).first).to_contain_text("talk to a person")
    button(page, "Talk to a person").click()
    expect(button(page, "Live chat")).to_be_visible()
    page.get_by_test_id("widget-input").fill("Hello from a hostile page")
    page.get_by_test_id("widget-send").click()
    expect(messages(page).filter(has_text="Hello from a hostile page").and_(page.locator("[data-id]"))).to_have_count(1)
    expect(panel(page)).to_have_attribute("data-socket", "open")  # the clean realm's WebSocket, not the page's
    shots(page, "hostile-page")


def test_xss_in_every_field_renders_as_text(demo, new_context, agent_of, shots, tmp_path):
    db.session.commit()
    interface = db.session.get(Interface, demo.interface_id)
    interface.name = "Shop " + XSS
    welcome = db.session.scalars(select(Component).where(Component.interface_id == demo.interface_id)
                                 .order_by(Component.position)).first()
    update_config(welcome, text="Welcome " + XSS,
                  buttons=[{**welcome.config["buttons"][0], "label": "Talk " + XSS[:40]}])
    db.session.get(User, demo.agents[0].id).name = "Agent " + XSS[:60]
    db.session.commit()
    agent = agent_of(demo.agents[0])
    page = new_context().new_page()
    open_widget(page, demo.demo_url)
    expect(panel(page).get_by_role("heading")).to_have_text("Shop " + XSS)
    expect(messages(page).first.get_by_test_id("message-text")).to_have_text("Welcome " + XSS)
    button(page, "Talk " + XSS[:40]).click()
    button(page, "Live chat").click()
    expect(page.get_by_test_id("queue-position")).to_be_visible()
    conversation = conversation_id(page)
    agent.accept(conversation)
    agent.typing(conversation)
    expect(page.get_by_test_id("typing")).to_contain_text("Agent " + XSS[:60])
    expect(page.get_by_test_id("agent-name")).to_have_text("Agent " + XSS[:60])
    agent.say(conversation, "Agent says " + XSS)
    page.get_by_test_id("widget-input").fill("Visitor says " + XSS)
    page.get_by_test_id("widget-send").click()
    named = tmp_path / 'x"><img src=x onerror=window.__xss=3>.txt'
    named.write_text("file")
    page.get_by_test_id("widget-file").set_input_files(str(named))
    expect(page.get_by_test_id("pending-attachment")).to_be_visible()
    page.get_by_test_id("widget-send").click()
    expect(messages(page).filter(has_text="Visitor says").and_(page.locator("[data-id]"))).to_have_count(1)
    texts = [text for _, _, text in stored(page)]
    assert "Agent says " + XSS in texts
    assert "Visitor says " + XSS in texts
    expect(messages(page).last.get_by_test_id("attachment")).to_contain_text(named.name)
    assert no_injected_markup(page) == {"tags": 0, "xss": None}
    shots(page, "xss-as-text")


def test_video_chat_request_brings_the_call_into_the_widget(demo, new_context, agent_of, shots):
    if not (ROOT / "static/lib/call.js").exists():
        pytest.skip("static/lib/call.js (the video call module) is not in this tree")
    agent = agent_of(demo.agents[0])
    page = new_context().new_page()
    open_widget(page, demo.demo_url)
    button(page, "Talk to a person").click()
    button(page, "Video chat").click()
    expect(page.get_by_test_id("queue-position")).to_contain_text("video chat")
    agent.accept(conversation_id(page))
    call = page.locator("[data-testid=call-slot] [data-testid=call]")
    expect(call).to_have_attribute("data-state", "ringing")  # accepted: waiting for the agent's offer
    # The camera is the clean realm's: the fake device plays in the visitor's own preview.
    expect(call.locator("video[data-testid=local-video]")).to_be_attached()
    page.wait_for_function("""() => {
      const video = document.querySelector('[data-livechat-widget]').shadowRoot
        .querySelector('video[data-testid=local-video]');
      return video && video.srcObject && video.srcObject.getVideoTracks().some(t => t.readyState === 'live');
    }""")
    expect(call.get_by_role("button", name=re.compile("hang up", re.I))).to_be_visible()
    shots(page, "video-ringing")

    # A reload during the call brings the call back (its state comes from REST, not from a socket replay),
    # so the agent's repeated offer reconnects it.
    page.reload()
    expect(panel(page)).to_be_visible()
    expect(call).to_have_attribute("data-state", re.compile("^(ringing|active)$"))
    expect(call.get_by_role("button", name=re.compile("hang up", re.I))).to_be_visible()
    shots(page, "video-after-reload")


def test_outside_hours_after_the_pre_chat_form(demo, client, new_context, shots):
    days = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    closed = {"enabled": True, "timezone": "UTC", "weekly": {day: [] for day in days}, "exceptions": [],
              "outside_hours_message": "We are closed right now."}
    prechat = {"enabled": True, "fields": [{"key": "name", "label": "Your name", "required": True},
                                           {"key": "email", "label": "Your e-mail", "type": "email",
                                            "required": True}]}
    response = client.patch(f"/api/interfaces/{demo.interface_id}", headers=Auth(client).headers(demo.admin.email),
                            json={"business_hours": closed, "prechat_form": prechat})
    assert response.status_code == 200, response.get_json()
    page = new_context().new_page()
    open_widget(page, demo.demo_url)
    expect(page.get_by_test_id("outside-hours")).to_contain_text("outside our opening hours")
    button(page, "Talk to a person").click()
    button(page, "Live chat").click()
    prechat_form = page.get_by_test_id("prechat-form")
    expect(prechat_form).to_be_visible()
    expect(prechat_form.get_by_label("Your name")).to_be_focused()
    prechat_form.get_by_label("Your name").fill("Ada")
    prechat_form.get_by_label("Your e-mail").fill("ada@example.org")
    prechat_form.get_by_role("button", name="Continue").click()
    form = page.get_by_test_id("offline-form")
    expect(form).to_be_visible()
    expect(messages(page).filter(has_text="We are closed right now.")).to_have_count(1)
    expect(form.get_by_label("E-mail")).to_have_value("ada@example.org")  # what the visitor told already
    shots(page, "outside-hours")


def test_offline_form_keeps_typed_values_through_re_renders(demo, new_context, shots):
    page = new_context().new_page()
    open_widget(page, demo.demo_url)
    button(page, "Talk to a person").click()
    button(page, "Live chat").click()  # no agent online: the offline message and its form
    form = page.get_by_test_id("offline-form")
    expect(form).to_be_visible()
    form.get_by_label("Name").fill("Ada")
    form.get_by_label("Message").fill("Half-written question")
    form.get_by_label("Message").focus()

    # The socket drops and comes back: the widget catches up (messages, the conversation) and renders its
    # controls again, and the conversation it reads is an older snapshot, as a late frame of the request
    # (status waiting, fewer messages) would be. The form stays as the visitor left it.
    conversation = conversation_id(page)
    stale = []

    def older_snapshot(route):
        body = route.fetch().json()
        stale.append(body["status"])
        route.fulfill(json={**body, "status": "waiting", "last_seq": body["last_seq"] - 1})

    page.route(re.compile(rf"/api/widget/[^/]+/conversations/{conversation}$"), older_snapshot, times=1)
    page.context.set_offline(True)
    expect(page.get_by_test_id("connection")).to_be_visible()
    with page.expect_request_finished(lambda r: re.search(rf"/conversations/{conversation}$", r.url)):
        page.context.set_offline(False)
    # The widget has read the snapshot once the tasks queued behind its body have run.
    page.evaluate("() => new Promise(done => setTimeout(() => setTimeout(done, 0), 0))")
    expect(page.get_by_test_id("connection")).to_be_hidden(timeout=15_000)
    assert stale == ["bot"]
    expect(panel(page)).to_have_attribute("data-status", "bot")
    expect(form).to_be_visible()
    expect(form.get_by_label("Name")).to_have_value("Ada")
    expect(form.get_by_label("Message")).to_have_value("Half-written question")
    expect(form.get_by_label("Message")).to_be_focused()
    assert page.evaluate("""() => document.querySelector('[data-livechat-widget]').shadowRoot
      .querySelectorAll('[data-testid=offline-form]').length""") == 1
    shots(page, "offline-form-kept")
