"""The agent console in a real browser: an agent logs in, goes online, gets the notifications live, accepts,
chats with a visitor (driven from Python over REST and the socket, like any client), takes over a conversation
the bot leads, hands back and ends; everything people typed renders as text; axe finds nothing serious; the
page runs under its strict CSP without a single violation.
"""
import json
import os
import urllib.request

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Interface, User
from tests.browser.conftest import ROOT
from tests.live import Client
from tests.test_agent_e2e import http

XSS = '<img src=x onerror="window.__xss=1">"\'&<script>window.__xss=2</script>'
FILE_XSS = "<img src=x onerror=window.__xss=3>.txt"  # a file name keeps no path part: no slash in it

# Every securitypolicyviolation the page sees, kept for the test to read (Playwright injects this script itself,
# so the page's CSP does not apply to it).
WATCH_CSP = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI);
});
"""




def upload(url, token, origin, filename, content):
    """POST one file as multipart/form-data (the field `file`); (status, body)."""
    boundary = "console-test-boundary-7d3f"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, method="POST", data=body)
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class Visitor:
    """A visitor of the demo site, as the widget would be: REST for actions, the socket for live frames."""

    def __init__(self, demo):
        self.base, self.key, self.origin = demo.url, demo.public_key, demo.url
        status, opened = http(self.base, "POST", f"/api/widget/{self.key}/sessions", origin=self.origin)
        assert status == 201, opened
        self.token, self.conversation_id = opened["visitor_token"], opened["conversation"]["id"]
        status, ticket = http(self.base, "POST", f"/api/widget/{self.key}/sockets/ticket", token=self.token,
                              origin=self.origin)
        assert status == 201, ticket
        self.sock = Client(self.base, ticket["ticket"], origin=self.origin)
        assert self.sock.recv()["type"] == "hello"
        self.sock.send({"type": "resume", "positions": {}, "ref": "resume"})
        self.sock.recv_until(lambda f: f["type"] == "ack" and f.get("ref") == "resume")
        self.sent = 0

    def call(self, method, suffix, body=None):
        status, answer = http(self.base, method, f"/api/widget/{self.key}{suffix}", body, self.token, self.origin)
        assert status < 300, (status, answer)
        return answer

    def press(self, button_id):
        return self.call("POST", f"/conversations/{self.conversation_id}/actions",
                         {"type": "button", "button_id": button_id})

    def say(self, text):
        self.sent += 1
        return self.call("POST", f"/conversations/{self.conversation_id}/messages",
                         {"text": text, "client_id": f"v{self.sent}"})

    def typing(self, on=True):
        self.sock.send({"type": "typing", "conversation_id": self.conversation_id, "typing": on})

    def wait_for(self, predicate):
        return self.sock.recv_until(predicate)

    def wait_for_message(self, text):
        return self.wait_for(lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == text)


@pytest.fixture
def console(new_context, demo):
    """console(person, script=None, form=False): a logged-in console page, through the login form or (quicker)
    with the tokens of a login over REST already in the tab's storage, as a reload finds them;
    page.problems lists CSP violations and uncaught errors."""
    pages = []

    def open_console(person, script=None, form=False):
        page = new_context().new_page()
        if script:
            page.add_init_script(script)
        page.problems = []
        page.on("console", lambda msg: msg.type == "error" and "Content Security Policy" in msg.text
                and page.problems.append(msg.text))
        page.on("pageerror", lambda error: page.problems.append(f"uncaught: {error}"))
        page.add_init_script(WATCH_CSP)
        if not form:
            status, login = http(demo.url, "POST", "/api/auth/login", {"email": person.email,
                                                                       "password": person.password})
            assert status == 200, login
            stored = json.dumps({"access": login["access_token"], "refresh": login["refresh_token"],
                                 "user": login["user"]})
            page.add_init_script(f"if (location.pathname === '/console' && !sessionStorage.getItem('console.session')"
                                 f" && !window.name) {{ sessionStorage.setItem('console.session', {json.dumps(stored)});"
                                 " window.name = 'seeded'; }")
        page.goto(demo.console_url)
        if form:
            page.fill("input[name=email]", person.email)
            page.fill("input[name=password]", person.password)
            page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("availability")).to_have_text("Offline")
        expect(page.locator("#connection")).to_have_text("Connected")
        pages.append(page)
        return page

    yield open_console
    for page in pages:
        assert page.problems == [] and page.evaluate("window.__csp") == []


# A tab in the background with browser notifications allowed: every notification the page shows is recorded.
BACKGROUND_TAB = """
window.__notes = [];
window.Notification = class {
  static permission = 'granted';
  static requestPermission() { return Promise.resolve('granted'); }
  constructor(title, options) { this.title = title; this.body = options.body; this.closed = false; window.__notes.push(this); }
  close() { this.closed = true; }
};
document.hasFocus = () => false;
"""


def go_online(page):
    page.get_by_test_id("availability").click()
    expect(page.get_by_test_id("availability")).to_have_text("Online")
    expect(page.get_by_test_id("availability")).to_have_attribute("aria-pressed", "true")


def notification(page, kind, conversation_id):
    return page.locator(f"[data-testid=notifications] [data-testid=notification][data-kind={kind}]"
                        f"[data-conversation-id='{conversation_id}']")


def panel_of(page, conversation_id):
    return page.locator(f"[data-testid=chat-panel][data-conversation-id='{conversation_id}']")


def test_live_request_accepted_chat_both_ways_then_ended(demo, console, shots, axe_violations):
    first, second = console(demo.agents[0], form=True), console(demo.agents[1], script=BACKGROUND_TAB)
    shots(first, "logged in")
    go_online(first)
    go_online(second)
    visitor = Visitor(demo)
    visitor.call("PATCH", "/visitor", {"name": "Vera Visitor", "email": "vera@example.com"})
    chat = visitor.conversation_id

    visitor.press("button_0")  # the visitor's first action: new chat initiated
    expect(notification(first, "new_chat_initiated", chat)).to_be_visible()
    expect(notification(first, "new_chat_initiated", chat).get_by_role("button", name="Take over")).to_be_visible()
    visitor.press("live_chat")
    for page in (first, second):
        expect(notification(page, "live_chat_request", chat)).to_contain_text("Vera Visitor")
    expect(first.locator("#notification-count")).to_have_text("2")
    assert first.title().startswith("(2) ")
    shots(first, "live chat request")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        first.screenshot(path=str(ROOT / "docs/screenshots/console-notification.png"))
    assert axe_violations(first) == []

    # The other agent's tab is in the background: the browser shows its notifications (silent ones).
    assert second.evaluate("window.__notes.map(n => [n.title, n.body, n.closed])") == [
        ["New chat initiated", "Vera Visitor · Demo site", False], ["Live chat request", "Vera Visitor · Demo site", False]]

    notification(first, "live_chat_request", chat).get_by_role("button", name="Accept").click()
    # The other agent's request is withdrawn the moment this one accepts (the browser's notification too); the
    # new-chat notice goes as well.
    expect(notification(second, "live_chat_request", chat)).to_have_count(0)
    # The two withdrawals are separate frames: wait for the second rather than read between them.
    expect(notification(second, "new_chat_initiated", chat)).to_have_count(0)
    second.wait_for_function("() => window.__notes.every(n => n.closed)", timeout=5000)
    assert second.evaluate("window.__notes.map(n => n.closed)") == [True, True]
    expect(notification(first, "live_chat_request", chat)).to_have_count(0)
    expect(notification(first, "new_chat_initiated", chat)).to_have_count(0)
    expect(first.locator(f"[data-testid=chat-item][data-conversation-id='{chat}']")).to_contain_text("Vera Visitor")
    expect(second.locator(f"[data-testid=chat-item][data-conversation-id='{chat}']")).to_have_count(0)
    panel = panel_of(first, chat)
    expect(panel.locator("[data-testid=message]", has_text="You are now chatting with")).to_be_visible()
    expect(panel.locator("[data-testid=visitor-info]")).to_contain_text("vera@example.com")
    visitor.wait_for_message(f"You are now chatting with {demo.agents[0].name}.")

    # Messages and typing both ways.
    visitor.typing(True)
    expect(panel.get_by_test_id("typing")).to_contain_text("Vera Visitor is typing")
    visitor.say("Where is my parcel?")
    expect(panel.locator("[data-testid=message][data-author=visitor]", has_text="Where is my parcel?")).to_be_visible()
    expect(panel.get_by_test_id("typing")).to_have_text("")
    panel.get_by_test_id("chat-input").fill("Let me check.")
    typing = visitor.wait_for(lambda f: f["type"] == "typing" and f["data"]["sender_type"] == "agent")
    assert typing["data"]["typing"] is True
    panel.get_by_test_id("chat-send").click()
    sent = visitor.wait_for_message("Let me check.")
    expect(panel.get_by_test_id("read-receipt")).to_be_hidden()
    visitor.sock.send({"type": "read", "conversation_id": chat, "seq": sent["data"]["message"]["seq"]})
    expect(panel.get_by_test_id("read-receipt")).to_contain_text("The visitor has read your messages")
    expect(panel.locator("[data-testid=message][data-author=agent]", has_text="Let me check.")).to_be_visible()
    expect(panel.get_by_test_id("chat-input")).to_have_value("")
    # Enter sends too; what the visitor has read is told to the server (the visitor sees it).
    panel.get_by_test_id("chat-input").fill("It left the warehouse today.")
    panel.get_by_test_id("chat-input").press("Enter")
    visitor.wait_for_message("It left the warehouse today.")
    read = visitor.wait_for(lambda f: f["type"] == "conversation.read" and f["data"]["reader"] == "agent")
    assert read["data"]["seq"] >= 1
    shots(first, "chatting")
    assert axe_violations(first) == []

    # A private note stays with the agents.
    panel.get_by_label("New note").fill("Parcel 42 is late")
    panel.get_by_role("button", name="Add note").click()
    expect(panel.get_by_test_id("note")).to_contain_text("Parcel 42 is late")

    panel.get_by_role("button", name="End chat").click()
    visitor.wait_for_message("The chat has ended.")
    expect(first.locator(f"[data-testid=chat-item][data-conversation-id='{chat}']")).to_have_count(0)
    expect(panel.get_by_text("This chat has ended.")).to_be_visible()
    expect(panel.get_by_test_id("chat-input")).to_be_disabled()
    shots(first, "ended")
    visitor.sock.close()

    # The other agent finds the ended chat by its words and reads it (read-only).
    second.get_by_label("Words or visitor").fill("parcel")
    second.get_by_role("button", name="Search").click()
    second.get_by_test_id("search-result").filter(has_text="Vera Visitor").get_by_role("button", name="Open").click()
    found = panel_of(second, chat)
    expect(found.locator("[data-testid=message][data-author=visitor]", has_text="Where is my parcel?")).to_be_visible()
    expect(found.get_by_test_id("chat-input")).to_be_disabled()


def chat_item(page, conversation_id):
    return page.locator(f"[data-testid=chat-item][data-conversation-id='{conversation_id}']")


def test_take_over_from_the_bot_transfer_then_hand_back(demo, console, shots):
    page, colleague = console(demo.agents[0]), console(demo.agents[1])
    go_online(page)
    go_online(colleague)
    visitor = Visitor(demo)
    chat = visitor.conversation_id
    visitor.press("button_0")
    card = notification(page, "new_chat_initiated", chat)
    expect(card).to_be_visible()
    # The conversations the bot leads are listed; taking one over opens it.
    listed = page.locator(f"[data-testid=bot-conversation][data-conversation-id='{chat}']")
    expect(listed).to_be_visible()
    shots(page, "bot conversation listed")
    listed.get_by_role("button", name="Take over").click()
    panel = panel_of(page, chat)
    expect(panel).to_be_visible()
    expect(chat_item(page, chat)).to_be_visible()
    expect(card).to_have_count(0)
    expect(listed).to_have_count(0)
    expect(notification(colleague, "new_chat_initiated", chat)).to_have_count(0)
    expect(panel.locator("[data-testid=message][data-author=bot]").first).to_be_visible()
    panel.get_by_test_id("chat-input").fill("Hello, I am here to help.")
    panel.get_by_test_id("chat-send").click()
    visitor.wait_for_message("Hello, I am here to help.")
    shots(page, "taken over")

    # Transfer to the colleague: the chat moves from one list to the other; what the visitor writes then is
    # unread for the colleague until they open the chat.
    panel.get_by_label("Transfer to another agent").select_option(label=demo.agents[1].name)
    panel.get_by_role("button", name="Transfer").click()
    expect(chat_item(page, chat)).to_have_count(0)
    expect(panel.get_by_text("This chat is with another agent.")).to_be_visible()
    expect(chat_item(colleague, chat)).to_be_visible()
    visitor.say("Are you still there?")
    expect(chat_item(colleague, chat).get_by_test_id("unread")).to_have_text("1")
    shots(colleague, "transferred with an unread message")
    chat_item(colleague, chat).click()
    theirs = panel_of(colleague, chat)
    expect(theirs.locator("[data-testid=message][data-author=visitor]", has_text="Are you still there?")).to_be_visible()
    expect(chat_item(colleague, chat).get_by_test_id("unread")).to_have_count(0)
    expect(colleague.get_by_test_id("chat-input")).to_be_focused()

    theirs.get_by_role("button", name="Hand back").click()
    visitor.wait_for(lambda f: f["type"] == "conversation.updated" and f["data"]["conversation"]["status"] == "bot")
    expect(chat_item(colleague, chat)).to_have_count(0)
    expect(theirs.get_by_text("The bot leads this conversation again.")).to_be_visible()
    shots(colleague, "handed back")
    visitor.sock.close()


def test_capacity_full_then_a_reload_then_the_session_ends(demo, console, app):
    user = db.session.get(User, demo.agents[0].id)
    user.max_chats = 1
    db.session.commit()
    page = console(demo.agents[0])
    go_online(page)
    one, two = Visitor(demo), Visitor(demo)
    for visitor in (one, two):
        visitor.press("button_0")
    # The other visitor asks for a video chat while the agent still has room: its notification comes.
    two.press("video_chat")
    refused = notification(page, "video_chat_request", two.conversation_id)
    expect(refused).to_contain_text("Video chat request")
    # By keyboard: the notification's button takes focus and Enter presses it.
    take = notification(page, "new_chat_initiated", one.conversation_id).get_by_role("button", name="Take over")
    page.keyboard.press("Tab")  # a keyboard user: focus is drawn visibly
    take.focus()
    assert take.evaluate("el => getComputedStyle(el).outlineStyle + ' ' + getComputedStyle(el).outlineWidth") == \
        "solid 3px"
    take.press("Enter")
    expect(chat_item(page, one.conversation_id)).to_be_visible()
    # Now full: accepting the video request is refused, clearly.
    refused.get_by_role("button", name="Accept").click()
    expect(refused.get_by_role("alert")).to_contain_text("maximum of 1 chats")
    expect(chat_item(page, two.conversation_id)).to_have_count(0)

    # A reload keeps the session, the chat and the pending notification, and the socket resumes.
    page.reload()
    expect(page.locator("#connection")).to_have_text("Connected")
    expect(page.locator("#me-name")).to_have_text(demo.agents[0].name)
    expect(chat_item(page, one.conversation_id)).to_be_visible()
    expect(notification(page, "video_chat_request", two.conversation_id)).to_be_visible()
    one.say("Still here after your reload?")
    expect(panel_of(page, one.conversation_id).locator("[data-testid=message][data-author=visitor]",
                                                     has_text="Still here after your reload?")).to_be_visible()
    for visitor in (one, two):
        visitor.sock.close()

    # Logged out elsewhere (both tokens revoked): at its next call the console cannot refresh the access token,
    # says why and asks to log in again.
    token = page.evaluate("JSON.parse(sessionStorage.getItem('console.session')).access")
    assert http(demo.url, "POST", "/api/auth/logout", token=token)[0] == 204
    page.get_by_test_id("availability").click()
    expect(page.locator("#login-message")).to_contain_text("Log in again")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('console.session')") is None
    page.fill("input[name=email]", demo.agents[0].email)
    page.fill("input[name=password]", "wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-error")).not_to_be_empty()
    page.fill("input[name=password]", demo.agents[0].password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#connection")).to_have_text("Connected")
    page.get_by_role("button", name="Log out").click()
    expect(page.locator("#login-message")).to_have_text("You logged out.")


def test_start_video_and_a_video_request_reach_the_call(demo, console, shots):
    if not (ROOT / "static/lib/call.js").exists():
        pytest.skip("static/lib/call.js (the video call) is not on this branch")
    page = console(demo.agents[0])
    go_online(page)
    visitor = Visitor(demo)
    visitor.press("button_0")
    notification(page, "new_chat_initiated", visitor.conversation_id).get_by_role("button", name="Take over").click()
    panel = panel_of(page, visitor.conversation_id)
    panel.get_by_role("button", name="Start video").click()
    ringing = visitor.wait_for(lambda f: f["type"] == "call.updated")
    assert ringing["data"]["call"]["status"] == "ringing"
    call = panel.locator("[data-testid=call-slot] [data-testid=call]")
    expect(call).to_have_attribute("data-state", "ringing")
    shots(page, "video offered")
    visitor.call("POST", f"/conversations/{visitor.conversation_id}/call/decline")
    expect(call).to_have_attribute("data-state", "ended")
    visitor.sock.close()

    # A video chat request: accepted, the call is accepted with it, and the console sends the SDP offer.
    caller = Visitor(demo)
    caller.press("button_0")
    caller.press("video_chat")
    card = notification(page, "video_chat_request", caller.conversation_id)
    expect(card).to_be_visible()
    card.get_by_role("button", name="Accept").click()
    offer = caller.wait_for(lambda f: f["type"] == "call.offer")
    assert offer["data"]["sender"] == "agent" and "v=0" in offer["data"]["sdp"]
    expect(panel_of(page, caller.conversation_id).locator("[data-testid=call]")).to_have_attribute("data-state",
                                                                                                  "ringing")
    shots(page, "video request accepted")
    caller.sock.close()


def test_what_people_typed_renders_as_text(demo, console, app, shots, axe_violations):
    admin = db.session.get(User, demo.admin.id)
    admin.name = f"Admin {XSS}"
    db.session.get(Interface, demo.interface_id).name = f"Site {XSS}"
    db.session.commit()
    page = console(demo.admin)
    go_online(page)
    status, login = http(demo.url, "POST", "/api/auth/login", {"email": demo.admin.email,
                                                               "password": demo.admin.password})
    status, canned = http(demo.url, "POST", "/api/canned-responses", {"shortcut": "xss", "text": f"Canned {XSS}"},
                          token=login["access_token"])
    assert status == 201, canned

    visitor = Visitor(demo)
    chat = visitor.conversation_id
    visitor.call("PATCH", "/visitor", {"name": f"Vera {XSS}", "attributes": {"plan": f"Gold {XSS}"}})
    visitor.press("button_0")
    visitor.press("live_chat")
    card = notification(page, "live_chat_request", chat)
    expect(card).to_contain_text(f"Vera {XSS}")
    expect(card).to_contain_text(f"Site {XSS}")
    card.get_by_role("button", name="Accept").click()
    panel = panel_of(page, chat)
    expect(panel.locator("h2")).to_have_text(f"Vera {XSS}")
    expect(panel.get_by_test_id("visitor-info")).to_contain_text(f"Gold {XSS}")

    visitor.say(f"Visitor {XSS}")
    expect(panel.locator("[data-testid=message][data-author=visitor] [data-testid=message-text]").last).to_have_text(
        f"Visitor {XSS}")
    option = panel.locator(f"[data-testid=canned-select] option[value='{canned['id']}']")
    expect(option).to_contain_text("/xss — Canned <img src=x")
    panel.get_by_label("Canned response").select_option(value=str(canned["id"]))
    panel.get_by_role("button", name="Insert").click()
    expect(panel.get_by_test_id("chat-input")).to_have_value(f"Canned {XSS}")
    panel.get_by_test_id("chat-send").click()
    agent_message = panel.locator("[data-testid=message][data-author=agent]").last
    expect(agent_message.get_by_test_id("message-text")).to_have_text(f"Canned {XSS}")
    expect(agent_message).to_contain_text(f"Admin {XSS}")
    visitor.wait_for_message(f"Canned {XSS}")

    # Files with hostile names, from the visitor and from the agent; their links open them.
    status, uploaded = upload(f"{demo.url}/api/widget/{demo.public_key}/conversations/{chat}/attachments",
                              visitor.token, demo.url, FILE_XSS, b"from the visitor")
    assert status == 201, uploaded
    visitor.call("POST", f"/conversations/{chat}/messages",
                 {"text": "", "attachment_ids": [uploaded["id"]], "client_id": "file-1"})
    theirs = panel.locator("[data-testid=message][data-author=visitor] [data-testid=attachment]")
    expect(theirs).to_contain_text(FILE_XSS)
    assert page.request.get(demo.url + theirs.get_attribute("href")).body() == b"from the visitor"
    panel.get_by_test_id("chat-file").set_input_files(
        files=[{"name": FILE_XSS, "mimeType": "text/plain", "buffer": b"hello"}])
    expect(panel.get_by_test_id("pending-file")).to_contain_text(FILE_XSS)
    panel.get_by_test_id("chat-send").click()
    link = panel.locator("[data-testid=message][data-author=agent] [data-testid=attachment]").last
    expect(link).to_contain_text(FILE_XSS)
    assert link.get_attribute("href").startswith("/api/files/")
    opened = page.request.get(demo.url + link.get_attribute("href"))
    assert opened.ok and opened.body() == b"hello"

    panel.get_by_label("New note").fill(f"Note {XSS}")
    panel.get_by_role("button", name="Add note").click()
    expect(panel.get_by_test_id("note").last).to_contain_text(f"Note {XSS}")

    # The admin's view lists the agents and interfaces, names as text.
    page.get_by_role("button", name="Admin").click()
    expect(page.locator(f"[data-testid=agent-row][data-agent-id='{demo.admin.id}']")).to_contain_text(
        f"Admin {XSS}")
    expect(page.get_by_test_id("agent-row")).to_have_count(3)
    row = page.locator(f"[data-testid=interface-row][data-interface-id='{demo.interface_id}']")
    expect(row).to_contain_text(f"Site {XSS}")
    assert row.get_by_role("link").get_attribute("href") == f"/demo/{demo.public_key}"
    shots(page, "admin view")
    assert axe_violations(page) == []

    # Nothing became markup: no element from the strings, nothing ran.
    assert page.locator("#app-view img, #app-view script").count() == 0
    assert page.evaluate("window.__xss") is None
    visitor.sock.close()


# Every tone the page starts: the frequency of each OscillatorNode at start() (the console makes its sounds with
# the Web Audio API, no audio file).
COUNT_TONES = """
window.__tones = [];
const realStart = OscillatorNode.prototype.start;
OscillatorNode.prototype.start = function (...args) {
  window.__tones.push(this.frequency.value);
  return realStart.apply(this, args);
};
"""


def tones(page):
    return page.evaluate("window.__tones.slice()")


def test_sounds_of_the_notifications_mute_and_start_video_waits_for_the_call(demo, console, shots):
    page = console(demo.agents[0], script=COUNT_TONES)
    toggle = page.get_by_role("button", name="Mute sounds")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    go_online(page)  # a click: the page may play sound from now on
    assert page.evaluate("window.__tones") == []

    # A new chat: one soft note; a live chat request: a two-note chime, on other notes.
    visitor = Visitor(demo)
    visitor.press("button_0")
    expect(notification(page, "new_chat_initiated", visitor.conversation_id)).to_be_visible()
    page.wait_for_function("() => window.__tones.length === 1")
    new_chat = tones(page)
    visitor.press("live_chat")
    expect(notification(page, "live_chat_request", visitor.conversation_id)).to_be_visible()
    page.wait_for_function("() => window.__tones.length === 3")
    request = tones(page)[1:]
    assert len(request) == 2 and not set(request) & set(new_chat)

    # Withdrawn (another agent accepted it): the card goes, silently.
    status, login = http(demo.url, "POST", "/api/auth/login", {"email": demo.agents[1].email,
                                                               "password": demo.agents[1].password})
    other = login["access_token"]
    assert http(demo.url, "PUT", "/api/availability", {"availability": "online"}, token=other)[0] == 200
    status, pending = http(demo.url, "GET", "/api/requests", token=other)
    (waiting,) = [r for r in pending["items"] if r["conversation_id"] == visitor.conversation_id]
    assert http(demo.url, "POST", f"/api/requests/{waiting['request_id']}/accept", token=other)[0] == 200
    expect(notification(page, "live_chat_request", visitor.conversation_id)).to_have_count(0)
    assert len(tones(page)) == 3
    visitor.sock.close()

    # Start video is off while the offered call rings, and on again once the visitor declines.
    caller = Visitor(demo)
    caller.press("button_0")
    page.wait_for_function("() => window.__tones.length === 4")
    notification(page, "new_chat_initiated", caller.conversation_id).get_by_role("button", name="Take over").click()
    start_video = panel_of(page, caller.conversation_id).get_by_role("button", name="Start video")
    expect(start_video).to_be_enabled()
    start_video.click()
    assert caller.wait_for(lambda f: f["type"] == "call.updated")["data"]["call"]["status"] == "ringing"
    expect(start_video).to_be_disabled()
    shots(page, "video ringing, start video waits")
    caller.call("POST", f"/conversations/{caller.conversation_id}/call/decline")
    expect(start_video).to_be_enabled()
    caller.sock.close()

    # Muted (remembered over a reload): the cards come, no sound.
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    page.reload()
    expect(page.locator("#connection")).to_have_text("Connected")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("localStorage.getItem('console.sound.muted')") == "1"
    quiet = Visitor(demo)
    quiet.press("button_0")
    quiet.press("live_chat")
    expect(notification(page, "live_chat_request", quiet.conversation_id)).to_be_visible()
    assert tones(page) == []
    quiet.sock.close()
