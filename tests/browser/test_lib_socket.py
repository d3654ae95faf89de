"""static/lib/socket.js in Chromium against the live server: a visitor's LiveSocket misses nothing and gets nothing
twice, across a dropped connection and across a reload of the page (positions kept under its storageKey).

The page is a document of the server's own origin (an allowed origin of the demo interface). It imports the
modules the widget and the console use (socket.js, and api.js for the REST calls), opens a widget session and
records every durable frame it gets (stream, pos, type, text) in sessionStorage, so the record outlives the
reload like the positions do.
"""
import json
import urllib.request

STORAGE_KEY = "livechat-test:positions"

# Opens (or, after a reload, reopens) the visitor's session and a LiveSocket; resolves when the socket is open.
# window.t.hold() makes the next tickets wait (the socket stays down) until window.t.release().
SETUP = """async ({key, storageKey}) => {
  const {LiveSocket, socketUrl} = await import('/static/lib/socket.js');
  const {createApi, apiError} = await import('/static/lib/api.js');
  let session = JSON.parse(sessionStorage.getItem('test-session') || 'null');
  const api = createApi({token: () => session && session.token});
  const path = {params: {path: {public_key: key}}};
  if (!session) {
    const {data, error} = await api.POST('/api/widget/{public_key}/sessions', path);
    if (error) throw new Error(apiError(error));
    session = {token: data.visitor_token, conversation: data.conversation.id};
    sessionStorage.setItem('test-session', JSON.stringify(session));
  }
  const log = JSON.parse(sessionStorage.getItem('test-log') || '[]');
  let release = () => {};
  const t = window.t = {
    session, log, states: [], tickets: 0, gate: Promise.resolve(),
    hold() { t.gate = new Promise((resolve) => { release = resolve; }); },
    release() { release(); },
    texts() { return log.filter((f) => f.type === 'message.created').map((f) => f.text); },
    async post(text) {
      const response = await fetch(`/api/widget/${key}/conversations/${session.conversation}/messages`, {
        method: 'POST', headers: {'Content-Type': 'application/json', Authorization: `Bearer ${session.token}`},
        body: JSON.stringify({text, client_id: `rest-${text}`}),
      });
      if (response.status !== 201) throw new Error(`send ${text}: ${response.status} ${await response.text()}`);
    },
  };
  t.socket = new LiveSocket({
    url: socketUrl(), storageKey,
    async getTicket() {
      await t.gate;
      t.tickets += 1;
      const {data, error} = await api.POST('/api/widget/{public_key}/sockets/ticket', path);
      if (error) throw error;
      return data.ticket;
    },
    onFrame(frame) {
      if (!('pos' in frame)) return;
      log.push({stream: frame.stream, pos: frame.pos, type: frame.type,
                text: frame.type === 'message.created' ? frame.data.message.text : null});
      sessionStorage.setItem('test-log', JSON.stringify(log));
    },
    onState(state) { t.states.push(state); },
  });
  return session;
}"""


def _post_message(url, key, session, text):
    """A message the visitor sends from elsewhere (another tab) while this page is away."""
    request = urllib.request.Request(
        f"{url}/api/widget/{key}/conversations/{session['conversation']}/messages",
        data=json.dumps({"text": text, "client_id": f"rest-{text}"}).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {session['token']}", "Origin": url})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def _open(page, args):
    page.evaluate(SETUP, args)
    page.wait_for_function("() => t.socket.state === 'open'", timeout=10_000)


def _wait_for_text(page, text):
    page.wait_for_function("(text) => window.t && window.t.texts().includes(text)", arg=text, timeout=10_000)


def test_socket_resumes_after_a_drop_and_a_reload_without_gap_or_duplicate(demo, new_context, shots):
    page = new_context().new_page()
    # Any document the server itself serves will do (a page that Playwright fulfils counts as another network:
    # Chromium's local network access checks then refuse its WebSocket to loopback).
    page.goto(f"{demo.url}/healthz")
    args = {"key": demo.public_key, "storageKey": STORAGE_KEY}
    _open(page, args)
    page.evaluate("t.post('a1')")
    _wait_for_text(page, "a1")

    # The connection drops; while it is down, three messages go out over REST and one is sent on the socket
    # (queued: it goes out, once, on the next connection with the same client_id).
    page.evaluate("t.hold(); t.socket.ws.close()")
    page.wait_for_function("() => t.socket.state !== 'open'")
    page.evaluate("""async () => {
      for (const text of ['b1', 'b2', 'b3']) await t.post(text);
      t.socket.send('message.send', {conversation_id: t.session.conversation, client_id: 'sock-b4', text: 'b4'})
        .then((ack) => { t.ack = ack; }, (error) => { t.ack = error; });
    }""")
    assert page.evaluate("t.texts()").count("b1") == 0  # nothing arrives while it is down
    page.evaluate("t.release()")
    ack = page.wait_for_function("() => t.ack", timeout=10_000).json_value()
    assert ack["created"] is True and ack["message_id"] > 0
    _wait_for_text(page, "b4")
    assert page.evaluate("t.tickets") == 2 and page.evaluate("t.socket.state") == "open"
    shots(page, "after-drop")

    # The page reloads; meanwhile two more messages are sent. The new page resumes from the stored positions.
    session = page.evaluate("t.session")
    page.reload()
    for text in ("c1", "c2"):
        _post_message(demo.url, demo.public_key, session, text)
    _open(page, args)
    _wait_for_text(page, "c2")
    page.evaluate("t.post('d1')")
    _wait_for_text(page, "d1")

    log = page.evaluate("t.log")
    texts = [entry["text"] for entry in log if entry["type"] == "message.created"]
    sent = ["a1", "b1", "b2", "b3", "b4", "c1", "c2", "d1"]
    assert [text for text in texts if text in sent] == sent, texts  # each once, in order
    # Every durable event of the conversation's stream, from the first one seen, exactly once: no gap, no duplicate.
    conversation = [entry["pos"] for entry in log if entry["stream"] == f"conversation:{session['conversation']}"]
    assert conversation == list(range(conversation[0], conversation[0] + len(conversation))), conversation
    stored = json.loads(page.evaluate("(key) => sessionStorage.getItem(key)", STORAGE_KEY))
    assert stored["positions"][f"conversation:{session['conversation']}"] == conversation[-1]
