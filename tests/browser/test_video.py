"""Video calls between two real browsers through static/lib/call.js: a visitor and an agent, each in their own
browser context on a minimal page of this server that imports /static/lib/call.js and /static/lib/socket.js,
with Chromium's fake camera. Both peer connections reach `connected` and each side decodes the other's video
(framesDecoded rising in getStats). Relay-only through coturn (relay pairs on both sides), an offer lost while
the visitor's socket was down during ringing is sent again, and a broken media path is offered a new connection.
"""
import os
import re

import pytest
from playwright.sync_api import expect

from extensions import db
from models import Call
from tests.turn_helpers import TURNSERVER, turnserver

TEST_PAGE = "/__test__/call.html"
CONNECT_MS = 15_000
RISE_MS = 8_000
RISE_FRAMES = 10  # about half a second of Chromium's fake camera: the video keeps decoding

# The page: the two modules and nothing else. It is served by page.route on the server's own origin, so its
# requests and its socket are same-origin like the console's, and the demo interface allows it like a site.
PAGE_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Video call</title>
<link rel="stylesheet" href="/static/lib/call.css"></head>
<body><main><h1>Video call</h1><div id="call"></div></main>
<script type="module">
import { createCall } from "/static/lib/call.js";
import { LiveSocket, socketUrl } from "/static/lib/socket.js";

async function json(method, url, token, body) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {method, headers, body: body === undefined ? undefined : JSON.stringify(body)});
  if (!response.ok) throw new Error(`${method} ${url}: ${response.status} ${await response.text()}`);
  return response.status === 204 ? null : response.json();
}

// One person's socket: every frame is kept (tests look at them) and call frames go to the call, if any.
function open(getTicket) {
  const person = {frames: [], call: null, socket: null};
  return new Promise((resolve, reject) => {
    setTimeout(() => reject(new Error("the socket did not open in 10 s")), 10000);
    person.socket = new LiveSocket({
      url: socketUrl(location.origin), getTicket,
      onFrame(frame) {
        person.frames.push(frame);
        if (person.call && (frame.type.startsWith("call.") || frame.type === "conversation.updated")) {
          person.call.handle(frame);
        }
      },
      onState(state) { if (state === "open") resolve(person); },
    });
  });
}

window.visitor = async ({key, button, policy}) => {
  const base = `/api/widget/${key}`;
  const session = await json("POST", `${base}/sessions`);
  const token = session.visitor_token, conversationId = session.conversation.id;
  const chat = `${base}/conversations/${conversationId}`;
  const person = await open(async () => (await json("POST", `${base}/sockets/ticket`, token)).ticket);
  person.call = createCall({
    root: document.getElementById("call"), role: "visitor", conversationId, socket: person.socket,
    iceServers: async () => (await json("GET", `${chat}/call/ice-servers`, token)).ice_servers,
    actions: {
      accept: () => json("POST", `${chat}/call/accept`, token),
      decline: () => json("POST", `${chat}/call/decline`, token),
      hangup: () => json("POST", `${chat}/call/hangup`, token),
    },
    iceTransportPolicy: policy || undefined,
  });
  await json("POST", `${chat}/actions`, token, {type: "button", button_id: "button_0"});  // Talk to a person
  await json("POST", `${chat}/actions`, token, {type: "button", button_id: button});
  window.me = person;
  return conversationId;
};

window.agent = async ({email, password}) => {
  const token = (await json("POST", "/api/auth/login", undefined, {email, password})).access_token;
  await json("PUT", "/api/availability", token, {availability: "online"});
  const person = await open(async () => (await json("POST", "/api/sockets/ticket", token)).ticket);
  person.token = token;
  window.me = person;
};

// The agent accepts the visitor's request (the notification of the given kind) and joins the call.
window.accept = async ({kind, policy, reofferMs}) => {
  const person = window.me;
  const note = person.frames.find((frame) => frame.type === kind);
  const conversationId = note.data.conversation_id, chat = `/api/conversations/${conversationId}`;
  person.call = createCall({
    root: document.getElementById("call"), role: "agent", conversationId, socket: person.socket,
    iceServers: async () => (await json("GET", `${chat}/call/ice-servers`, person.token)).ice_servers,
    actions: {
      hangup: () => json("POST", `${chat}/call/hangup`, person.token),
      fallbackToText: () => json("POST", `${chat}/call/fallback-to-text`, person.token),
      offerVideo: () => json("POST", `${chat}/calls`, person.token),
    },
    iceTransportPolicy: policy || undefined,
    reofferMs: reofferMs || undefined, recoverMs: reofferMs || undefined,
  });
  await json("POST", `/api/requests/${note.data.request_id}/accept`, person.token);
  return conversationId;
};
window.ready = true;
</script></body></html>"""

# The call's peer connection as getStats sees it: video frames decoded, and the selected pair's candidate types.
STATS_JS = """async (root) => {
  const pc = root.peerConnection;
  if (!pc) return null;
  const stats = await pc.getStats(), byId = new Map();
  stats.forEach((report) => byId.set(report.id, report));
  let frames = 0, pair = null;
  stats.forEach((report) => {
    if (report.type === "inbound-rtp" && report.kind === "video") frames += report.framesDecoded || 0;
    if (report.type === "transport" && report.selectedCandidatePairId) pair = byId.get(report.selectedCandidatePairId);
  });
  const type = (id) => (byId.get(id) || {}).candidateType || null;
  return {frames, state: pc.connectionState, local: pair ? type(pair.localCandidateId) : null,
          remote: pair ? type(pair.remoteCandidateId) : null};
}"""

# Bounded poll of the stats until the decoded frames passed `above` (or the time is up): what it saw last.
RISE_JS = """async (root, [above, ms]) => {
  const stats = STATS_JS;
  const end = Date.now() + ms;
  let seen = await stats(root);
  while ((!seen || seen.frames <= above) && Date.now() < end) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    seen = await stats(root);
  }
  return seen;
}""".replace("STATS_JS", STATS_JS)


def call_root(page):
    return page.locator("[data-testid=call]")


def assert_video_flows(roots, relay=False):
    """Both calls' peer connections connected, each side's decoded video frames rising; the pairs' candidate types.

    roots: the locators of the two call roots ([data-testid=call]).
    """
    for root in roots:
        expect(root).to_have_attribute("data-connection-state", "connected", timeout=CONNECT_MS)
    pairs = []
    for root in roots:
        first = root.evaluate(STATS_JS)
        assert first["state"] == "connected", first
        later = root.evaluate(RISE_JS, [first["frames"] + RISE_FRAMES, RISE_MS])
        assert later["frames"] > first["frames"] + RISE_FRAMES, (first, later)
        pairs.append((later["local"], later["remote"]))
    if relay:
        assert pairs == [("relay", "relay"), ("relay", "relay")], pairs
    return pairs


# A page that page.route fulfils has no address of its own, so Chromium's Local Network Access checks treat it as
# public and block its socket to loopback: the person allows it, as one would allow a page on the intranet.
PERMISSIONS = ["camera", "microphone", "notifications", "local-network-access"]


def open_page(new_context, server_url, before=None):
    context = new_context(permissions=PERMISSIONS)
    page = context.new_page()
    if before:
        before(page)
    page.route(f"{server_url}{TEST_PAGE}", lambda route: route.fulfill(
        status=200, content_type="text/html; charset=utf-8", body=PAGE_HTML))
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    if os.environ.get("DEBUG_CONSOLE"):
        page.on("console", lambda message: print("console:", message.type, message.text, flush=True))
        page.on("pageerror", lambda error: print("pageerror:", error, flush=True))
    page.goto(f"{server_url}{TEST_PAGE}")
    page.wait_for_function("() => window.ready === true")
    page.errors = errors
    return page


def start_call(new_context, demo, button="video_chat", kind="video_chat_request", policy=None, link=None,
               before_accept=None, reoffer_ms=None):
    """An agent online, a visitor asking (video by default), the agent accepting: (visitor page, agent page)."""
    agent = open_page(new_context, demo.url)
    visitor = open_page(new_context, demo.url, before=link.install if link else None)
    agent.evaluate("(who) => window.agent(who)", {"email": demo.admin.email, "password": demo.admin.password})
    conversation_id = visitor.evaluate("(args) => window.visitor(args)",
                                       {"key": demo.public_key, "button": button, "policy": policy})
    agent.wait_for_function("(kind) => window.me.frames.some((frame) => frame.type === kind)", arg=kind)
    if before_accept:
        before_accept()
    accepted = agent.evaluate("(args) => window.accept(args)", {"kind": kind, "policy": policy, "reofferMs": reoffer_ms})
    assert accepted == conversation_id
    return visitor, agent, conversation_id


class Link:
    """The visitor's socket, routed through Playwright to the server: cut() drops it (and refuses new connections)
    until restore(), like a network that goes away for a while."""

    def __init__(self):
        self.down = False
        self.connections = []

    def install(self, page):
        page.route_web_socket(re.compile(r"/ws\?ticket="), self._route)

    def _route(self, ws):
        if self.down:
            ws.close(code=4000, reason="network down")
            return
        server = ws.connect_to_server()
        self.connections.append((ws, server))

    def cut(self):
        assert self.connections, "the visitor's socket is not routed through the link"
        self.down = True
        for ws, server in self.connections:
            server.close()
            ws.close(code=4000, reason="network down")
        self.connections.clear()

    def restore(self):
        self.down = False


def calls_of(conversation_id):
    db.session.expire_all()
    return db.session.query(Call).filter_by(conversation_id=conversation_id).order_by(Call.id).all()


@pytest.fixture
def app_config(request):
    """The app's TURN settings point at a private coturn for the tests that use `turn` (the relay-only call)."""
    if "turn" not in request.fixturenames:
        return {}
    if TURNSERVER is None:
        pytest.skip("coturn is not installed: no turnserver on PATH (.ci/run installs it)")
    turn = request.getfixturevalue("turn")
    return {"TURN_URLS": [turn.url], "TURN_SECRET": turn.secret, "TURN_TTL_S": 300, "STUN_URLS": []}


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    with turnserver(tmp_path_factory.mktemp("turn")) as running:
        yield running


def test_an_agent_offers_video_in_a_text_chat_the_visitor_declines_then_accepts(new_context, demo, shots):
    visitor, agent, conversation_id = start_call(new_context, demo, button="live_chat", kind="live_chat_request")
    agent.evaluate("() => window.me.call.offerVideo()")
    expect(visitor.locator("[data-testid=call-accept]")).to_be_visible()
    expect(agent.locator("[data-testid=call-accept]")).to_be_hidden()  # only the visitor consents
    shots(visitor, "visitor-asked")
    visitor.locator("[data-testid=call-decline]").click()
    for page in (visitor, agent):
        expect(call_root(page)).to_have_attribute("data-state", "ended")
    expect(visitor.locator("[data-testid=call-status]")).to_contain_text("declined")

    agent.evaluate("() => window.me.call.offerVideo()")
    expect(visitor.locator("[data-testid=call-accept]")).to_be_visible()
    visitor.locator("[data-testid=call-accept]").click()
    pairs = assert_video_flows([call_root(visitor), call_root(agent)])
    assert pairs == [("host", "host"), ("host", "host")], pairs  # no STUN/TURN configured: loopback host pairs
    for page in (visitor, agent):
        expect(call_root(page)).to_have_attribute("data-state", "active")
        expect(page.locator("video[data-testid=local-video]")).to_be_visible()
        expect(page.locator("video[data-testid=remote-video]")).to_be_visible()
    shots(visitor, "visitor-connected")
    shots(agent, "agent-connected")

    visitor.get_by_role("button", name="Mute").click()
    expect(visitor.get_by_role("button", name="Unmute")).to_have_attribute("aria-pressed", "true")
    assert call_root(visitor).evaluate(
        "(root) => root.peerConnection.getSenders().find((s) => s.track && s.track.kind === 'audio').track.enabled"
    ) is False

    for page in (visitor, agent):
        call_root(page).evaluate("(root) => { window.sent = root.peerConnection.getSenders().map((s) => s.track); }")
    agent.locator("[data-testid=call-fallback]").click()  # back to text
    for page in (visitor, agent):  # both sides tear down: state ended, no peer connection, camera released
        expect(call_root(page)).to_have_attribute("data-state", "ended")
        expect(call_root(page)).to_have_attribute("data-connection-state", "closed")
        assert call_root(page).evaluate("(root) => root.peerConnection") is None
        assert page.locator("video[data-testid=local-video]").evaluate("(video) => video.srcObject") is None
        assert page.evaluate("() => window.sent.length > 0 && window.sent.every((t) => t.readyState === 'ended')")
    shots(agent, "agent-after-fallback")
    declined, fallen = calls_of(conversation_id)
    assert (declined.initiated_by.value, declined.end_reason, declined.answered_at) == ("agent", "declined", None)
    assert (fallen.initiated_by.value, fallen.end_reason, fallen.ended_by.value) == \
        ("agent", "fallback_to_text", "agent")
    assert fallen.answered_at is not None
    assert not visitor.errors and not agent.errors


def test_relay_only_through_coturn_an_offer_missed_while_the_socket_was_down_and_a_broken_path_recover(
        new_context, demo, turn, shots):
    """Relay-only (the app's TURN credentials, coturn): the visitor's socket drops during ringing and misses the
    offer, which the agent sends again; later the media path breaks and the agent offers a new connection."""
    link = Link()
    visitor, agent, conversation_id = start_call(new_context, demo, policy="relay", link=link, before_accept=link.cut,
                                                 reoffer_ms=1000)  # sooner than the apps' 5 s / 4 s: a shorter test
    # The agent's offer went out while the visitor was away: it is lost (signalling is never replayed).
    agent.wait_for_function("""() => {
      const pc = document.querySelector('[data-testid=call]').peerConnection;
      return pc && pc.signalingState === 'have-local-offer';
    }""")
    expect(call_root(visitor)).to_have_attribute("data-state", "idle")  # it missed the call.updated too
    link.restore()
    # The socket comes back and resumes: the call's state is replayed, and the agent, unanswered, offers again.
    assert_video_flows([call_root(visitor), call_root(agent)], relay=True)
    for page in (visitor, agent):  # every local candidate was a relay one
        types = call_root(page).evaluate("""async (root) => {
          const types = [];
          (await root.peerConnection.getStats()).forEach((r) => { if (r.type === "local-candidate") types.push(r.candidateType); });
          return types;
        }""")
        assert types and set(types) == {"relay"}, types
    shots(visitor, "connected after the socket came back")

    # The media path breaks mid-call (the visitor's connection is gone, the call is not): the agent offers a
    # new connection, the visitor answers it, and both see each other again.
    for page in (visitor, agent):
        call_root(page).evaluate("(root) => { root.peerConnection.broken = true; }")
    call_root(visitor).evaluate("(root) => root.peerConnection.close()")
    for page in (agent, visitor):  # each has a new peer connection, and it connects
        page.wait_for_function("""() => {
          const pc = document.querySelector('[data-testid=call]').peerConnection;
          return pc && !pc.broken;
        }""", timeout=15_000)
    assert_video_flows([call_root(visitor), call_root(agent)], relay=True)
    shots(agent, "connected again after the path broke")
    agent.locator("[data-testid=call-hangup]").click()
    expect(call_root(visitor)).to_have_attribute("data-state", "ended")
    log = turn.log.read_text()
    assert log.count("incoming packet ALLOCATE processed, success") >= 4, log[-2000:]  # two each time
    [call] = calls_of(conversation_id)
    assert call.ended_by.value == "agent" and call.answered_at is not None
