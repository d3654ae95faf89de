// A video call between a visitor and an agent: camera and microphone, one RTCPeerConnection, and the
// signalling of openapi/asyncapi.json (info.description, "Video calls: who sends the SDP offer"):
// the agent sends the offer once the call is accepted, the visitor answers, candidates trickle as
// call.candidate with "" ending them. The call's state comes from the durable call.updated event; the
// SDP and the candidates are ephemeral, so the agent sends its offer again while nobody answered (a
// socket that dropped during ringing missed it) and the visitor answers a repeated offer again. When the media
// path breaks mid-call (connectionState "failed", or "disconnected" for a few seconds), the agent offers a new
// connection, which the visitor answers with a new peer connection.
//
//   const call = createCall({root, role, conversationId, socket, iceServers, actions});
//   call.handle(frame);   // every frame whose type starts with "call." (and conversation.updated)
//   call.destroy();
//
// DOM hooks: root [data-testid=call] with data-state (idle | ringing | active | ended) and
// data-connection-state (the peer connection's connectionState), video[data-testid=local-video],
// video[data-testid=remote-video], buttons call-accept, call-decline, call-mute, call-camera,
// call-fallback, call-hangup. root.peerConnection is the live RTCPeerConnection (null without one).

/** @typedef {import("../types/openapi").components["schemas"]["Call"]} Call */
/** @typedef {import("../types/frames").ServerFrame} ServerFrame */
/** @typedef {import("../types/frames").IceCandidate} IceCandidate */
/** @typedef {import("../types/frames").CommandType} CommandType */
/**
 * @template {CommandType} T
 * @typedef {import("./socket.js").CommandFields<T>} CommandFields
 */
/** @typedef {Pick<import("./socket.js").LiveSocket, "send">} CallSocket */

/**
 * What the app does for the call's buttons (REST or socket). Each gets the call's id; when one is
 * missing the matching socket command is sent.
 * @typedef {object} CallActions
 * @property {(callId: number) => Promise<unknown>} [accept]   visitor: accept the video the agent offered
 * @property {(callId: number) => Promise<unknown>} [decline]  visitor: decline it
 * @property {(callId: number) => Promise<unknown>} [hangup]
 * @property {(callId: number) => Promise<unknown>} [fallbackToText]
 * @property {(conversationId: number) => Promise<unknown>} [offerVideo]  agent: offer video in a text chat
 */

/**
 * @typedef {object} CallRtc
 * @property {typeof RTCPeerConnection} [RTCPeerConnection]
 * @property {MediaDevices} [mediaDevices]
 */

/**
 * @typedef {object} CallOptions
 * @property {HTMLElement} root  where the call UI renders
 * @property {"visitor" | "agent"} role
 * @property {number} conversationId
 * @property {CallSocket} socket
 * @property {() => Promise<RTCIceServer[]>} iceServers  the STUN/TURN servers for this participant
 * @property {CallActions} [actions]
 * @property {CallRtc} [rtc]
 * @property {Document} [document]
 * @property {RTCIceTransportPolicy} [iceTransportPolicy]  "relay" forces TURN
 * @property {MediaStreamConstraints} [media]
 * @property {number} [reofferMs]  how long the agent waits for an answer before offering again (5 s)
 * @property {number} [recoverMs]  how long the agent lets the connection stay "disconnected" before it offers a
 *   new one (4 s; "failed" at once)
 * @property {(text: string) => void} [onStatus]  told every status text (an app may announce it)
 * @property {boolean} [stylesheet]  false: the app styles the call itself (by default call.css is linked into
 *   the root's document or shadow root, once)
 */

/**
 * @typedef {object} CallHandle
 * @property {(frame: ServerFrame) => void} handle
 * @property {() => Promise<void>} offerVideo  agent: offer video in this text chat
 * @property {() => Promise<void>} hangup
 * @property {() => Promise<void>} fallbackToText
 * @property {(muted?: boolean) => void} mute
 * @property {(off?: boolean) => void} cameraOff
 * @property {() => Call | null} current
 * @property {() => void} destroy
 */

const TEXT = {
  idle: "",
  asked: "The agent invites you to a video call.",
  waitingConsent: "Waiting for the visitor to accept the video call…",
  starting: "Starting the camera…",
  connecting: "Connecting the video call…",
  connected: "Video call connected.",
  reconnecting: "The connection is unstable; trying again…",
  failed: "The video connection failed. You can go on in text.",
  ended: "The video call ended.",
  declined: "The video call was declined.",
  noMedia: "No camera or microphone: you can still see and hear the other side.",
};

/**
 * @param {CallOptions} options
 * @returns {CallHandle}
 */
export function createCall(options) {
  const {root, role, conversationId, socket, iceServers} = options;
  const actions = options.actions || {};
  const doc = options.document || root.ownerDocument;
  const win = doc.defaultView || globalThis;
  const RTCPeer = (options.rtc && options.rtc.RTCPeerConnection) || win.RTCPeerConnection;
  const devices = (options.rtc && options.rtc.mediaDevices) || win.navigator.mediaDevices;
  const media = options.media || {audio: true, video: {width: {ideal: 640}, height: {ideal: 480}}};
  const reofferMs = options.reofferMs ?? 5000;
  const recoverMs = options.recoverMs ?? 4000;
  // A root that is already something else (a slot with its own test id) gets the call as its child.
  const own = !root.dataset.testid || root.dataset.testid === "call";
  const rootEl = /** @type {HTMLElement & {peerConnection: RTCPeerConnection | null}} */ (
    own ? root : root.appendChild(doc.createElement("div")));

  /** @type {Call | null} */
  let call = null;
  /** @type {Session | null} */
  let session = null;
  let destroyed = false;

  // ---- the UI ----
  /**
   * @template {keyof HTMLElementTagNameMap} K
   * @param {K} tag
   * @param {Record<string, string>} attrs
   * @param {string} [text]
   * @returns {HTMLElementTagNameMap[K]}
   */
  function el(tag, attrs, text) {
    const node = doc.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    if (text) node.textContent = text;
    return node;
  }

  /** @param {string} testid @param {string} label @param {() => void} onClick */
  function button(testid, label, onClick) {
    const node = el("button", {type: "button", "data-testid": testid, class: `lc-call-btn lc-call-${testid}`}, label);
    node.addEventListener("click", onClick);
    node.hidden = true;
    return node;
  }

  if (options.stylesheet !== false) addStylesheet(rootEl, doc);
  rootEl.classList.add("lc-call");
  rootEl.dataset.testid = "call";
  rootEl.setAttribute("role", "region");
  rootEl.setAttribute("aria-label", "Video call");
  rootEl.peerConnection = null;
  const status = el("p", {class: "lc-call-status", "data-testid": "call-status", role: "status",
                          "aria-live": "polite"});
  const stage = el("div", {class: "lc-call-stage"});
  const remote = el("video", {"data-testid": "remote-video", class: "lc-call-remote", autoplay: "",
                              playsinline: "", "aria-label": "The other person's video"});
  const local = el("video", {"data-testid": "local-video", class: "lc-call-local", autoplay: "", playsinline: "",
                             "aria-label": "Your camera"});
  local.muted = true;  // never play one's own microphone back
  stage.append(remote, local);
  const bar = el("div", {class: "lc-call-controls", role: "group", "aria-label": "Call controls"});
  const acceptBtn = button("call-accept", "Accept video", () => void consent(true));
  const declineBtn = button("call-decline", "Decline", () => void consent(false));
  const muteBtn = button("call-mute", "Mute", () => mute());
  const cameraBtn = button("call-camera", "Camera off", () => cameraOff());
  const fallbackBtn = button("call-fallback", "Continue in text", () => void fallbackToText());
  const hangupBtn = button("call-hangup", "Hang up", () => void hangup());
  muteBtn.setAttribute("aria-pressed", "false");
  cameraBtn.setAttribute("aria-pressed", "false");
  bar.append(acceptBtn, declineBtn, muteBtn, cameraBtn, fallbackBtn, hangupBtn);
  rootEl.replaceChildren(status, stage, bar);

  /** @param {string} text */
  function say(text) {
    if (status.textContent === text) return;
    status.textContent = text;
    if (options.onStatus && text) options.onStatus(text);
  }

  function render() {
    const state = call ? call.status : "idle";
    rootEl.dataset.state = state;
    const live = state === "ringing" || state === "active";
    const asking = live && call !== null && call.accepted_at === null;
    rootEl.hidden = state === "idle";
    stage.hidden = !live || asking;
    acceptBtn.hidden = declineBtn.hidden = !(asking && role === "visitor");
    muteBtn.hidden = cameraBtn.hidden = !(live && !asking && session !== null && session.stream !== null);
    fallbackBtn.hidden = hangupBtn.hidden = !live || (asking && role === "visitor");
    if (!rootEl.dataset.connectionState) rootEl.dataset.connectionState = "new";
  }

  // ---- signalling ----
  /**
   * Send a command; a rate-limited one is tried again a few times. Errors are reported, not thrown.
   * @template {CommandType} T
   * @param {T} type
   * @param {CommandFields<T>} fields
   */
  async function send(type, fields) {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await socket.send(type, fields);
      } catch (error) {
        const code = error && /** @type {{code?: string}} */ (error).code;
        if (code === "rate_limited" && attempt < 6) {
          await new Promise((resolve) => win.setTimeout(resolve, 400 * (attempt + 1)));
          continue;
        }
        if (code !== "call_ended") console.warn(`${type} failed`, error);
        return null;
      }
    }
  }

  class Session {
    /** @param {Call} forCall */
    constructor(forCall) {
      this.callId = forCall.id;
      /** @type {MediaStream | null} */
      this.stream = null;
      /** @type {RTCPeerConnection | null} */
      this.pc = null;
      this.closed = false;
      /** @type {RTCIceCandidateInit[]} */
      this.remoteCandidates = [];    // waiting for the remote description
      /** @type {RTCIceCandidateInit[]} */
      this.localCandidates = [];     // all of ours, for a repeated offer or answer
      this.localEnded = false;
      this.descriptionSent = false;  // our offer/answer went out: candidates may follow it
      /** @type {string | null} */
      this.remoteOfferSdp = null;
      /** @type {string | null} */
      this.answerSdp = null;
      this.answered = false;         // agent: the visitor's answer arrived
      /** @type {number | undefined} */
      this.reofferTimer = undefined;
      /** @type {number | undefined} */
      this.recoverTimer = undefined;
      /** @type {Promise<void>} */
      this.queue = Promise.resolve();  // signalling goes out in order, one at a time
      this.ready = this.start();
    }

    /** @param {() => Promise<unknown>} job */
    enqueue(job) {
      this.queue = this.queue.then(() => (this.closed ? undefined : job())).then(() => undefined, (error) => {
        console.warn("call signalling failed", error);
      });
      return this.queue;
    }

    async start() {
      say(TEXT.starting);
      const [stream, servers] = await Promise.all([this.openMedia(), iceServers().catch((error) => {
        console.warn("no ICE servers", error);
        return /** @type {RTCIceServer[]} */ ([]);
      })]);
      if (this.closed) {
        if (stream) stream.getTracks().forEach((track) => track.stop());
        return;
      }
      this.stream = stream;
      if (stream) local.srcObject = stream;
      /** @type {RTCConfiguration} */
      const config = {iceServers: servers};
      if (options.iceTransportPolicy) config.iceTransportPolicy = options.iceTransportPolicy;
      const pc = new RTCPeer(config);
      this.pc = pc;
      rootEl.peerConnection = pc;
      rootEl.dataset.connectionState = pc.connectionState;
      pc.addEventListener("connectionstatechange", () => this.onConnectionState());
      pc.addEventListener("icecandidate", (event) => this.onLocalCandidate(event.candidate));
      pc.addEventListener("track", (event) => {
        const remoteStream = event.streams[0] || new globalThis.MediaStream([event.track]);
        if (remote.srcObject !== remoteStream) remote.srcObject = remoteStream;
        remote.play().catch(() => {});
      });
      say(stream ? TEXT.connecting : TEXT.noMedia);
      render();
      if (role === "agent") {
        this.addLocalTracks();
        for (const kind of ["audio", "video"]) {  // receive what we cannot send
          if (!pc.getTransceivers().some((t) => t.receiver.track.kind === kind)) {
            pc.addTransceiver(kind, {direction: "recvonly"});
          }
        }
      }
    }

    /** @returns {Promise<MediaStream | null>} */
    async openMedia() {
      if (!devices || !devices.getUserMedia) return null;
      try {
        return await devices.getUserMedia(media);
      } catch (error) {
        try {  // no camera (or refused): the microphone alone still makes a call
          return await devices.getUserMedia({audio: true});
        } catch {
          console.warn("no camera or microphone", error);
          return null;
        }
      }
    }

    addLocalTracks() {
      if (!this.stream || !this.pc) return;
      for (const track of this.stream.getTracks()) this.pc.addTrack(track, this.stream);
    }

    onConnectionState() {
      if (!this.pc || this.closed) return;
      const state = this.pc.connectionState;
      rootEl.dataset.connectionState = state;
      if (state === "connected") say(TEXT.connected);
      else if (state === "disconnected") say(TEXT.reconnecting);
      else if (state === "failed") say(TEXT.failed);
      // The agent starts over with a fresh offer when the media path is gone (the visitor reloaded, or the
      // network changed): a visitor answers a new offer with a new connection.
      win.clearTimeout(this.recoverTimer);
      if (role !== "agent") return;
      if (state === "failed") recover(this);
      else if (state === "disconnected") this.recoverTimer = win.setTimeout(() => recover(this), recoverMs);
    }

    /** @param {RTCIceCandidate | null} candidate */
    onLocalCandidate(candidate) {
      if (this.localEnded) return;
      /** @type {RTCIceCandidateInit} */
      let init;
      if (!candidate || !candidate.candidate) {
        this.localEnded = true;
        init = {candidate: ""};
        const first = this.pc && this.pc.getTransceivers().find((t) => t.mid !== null);
        if (first) init.sdpMid = first.mid;
      } else {
        init = candidate.toJSON();
      }
      this.localCandidates.push(init);
      if (this.descriptionSent) this.enqueue(() => sendCandidate(this.callId, init));
    }

    /** Agent: make the offer and send it, then our candidates; offer again while nobody answers. */
    async offer() {
      await this.ready;
      const pc = this.pc;
      if (!pc || this.closed || pc.signalingState !== "stable" || this.descriptionSent) return;
      await pc.setLocalDescription(await pc.createOffer());
      this.sendDescription("call.offer");
    }

    /** @param {"call.offer" | "call.answer"} type */
    sendDescription(type) {
      const pc = /** @type {RTCPeerConnection} */ (this.pc);
      const sdp = /** @type {RTCSessionDescription} */ (pc.localDescription).sdp;
      if (type === "call.answer") this.answerSdp = sdp;
      this.enqueue(() => send(type, {call_id: this.callId, sdp}));
      this.descriptionSent = true;
      for (const init of this.localCandidates) this.enqueue(() => sendCandidate(this.callId, init));
      if (type === "call.offer") this.scheduleReoffer();
    }

    scheduleReoffer() {
      win.clearTimeout(this.reofferTimer);
      this.reofferTimer = win.setTimeout(() => {
        if (this.closed || this.answered || !this.pc || !this.pc.localDescription) return;
        const sdp = this.pc.localDescription.sdp;  // the same offer: the other side may have missed it
        this.enqueue(() => send("call.offer", {call_id: this.callId, sdp}));
        for (const init of this.localCandidates) this.enqueue(() => sendCandidate(this.callId, init));
        this.scheduleReoffer();
      }, reofferMs);
    }

    /** Visitor: apply the agent's offer and answer it (a repeated offer gets the same answer again). @param {string} sdp */
    async onOffer(sdp) {
      await this.ready;
      const pc = this.pc;
      if (!pc || this.closed) return;
      if (this.remoteOfferSdp === sdp) {
        if (this.answerSdp) {
          const answer = this.answerSdp;
          this.enqueue(() => send("call.answer", {call_id: this.callId, sdp: answer}));
          for (const init of this.localCandidates) this.enqueue(() => sendCandidate(this.callId, init));
        }
        return;
      }
      if (this.remoteOfferSdp !== null) {  // a different offer: the agent started over (a reload)
        restartWith(sdp);
        return;
      }
      this.remoteOfferSdp = sdp;
      await pc.setRemoteDescription({type: "offer", sdp});
      this.addLocalTracks();  // after the offer: the tracks take the offered transceivers (sendrecv)
      await this.flushCandidates();
      await pc.setLocalDescription(await pc.createAnswer());
      this.sendDescription("call.answer");
    }

    /** Agent: the visitor's answer. @param {string} sdp */
    async onAnswer(sdp) {
      await this.ready;
      const pc = this.pc;
      if (!pc || this.closed || pc.signalingState !== "have-local-offer") return;
      this.answered = true;
      win.clearTimeout(this.reofferTimer);
      await pc.setRemoteDescription({type: "answer", sdp});
      await this.flushCandidates();
    }

    /** @param {RTCIceCandidateInit} candidate */
    async onCandidate(candidate) {
      await this.ready;
      if (!this.pc || this.closed) return;
      if (!this.pc.remoteDescription) {
        this.remoteCandidates.push(candidate);
        return;
      }
      await addCandidate(this.pc, candidate);
    }

    async flushCandidates() {
      const waiting = this.remoteCandidates.splice(0);
      for (const candidate of waiting) if (this.pc) await addCandidate(this.pc, candidate);
    }

    close() {
      if (this.closed) return;
      this.closed = true;
      win.clearTimeout(this.reofferTimer);
      win.clearTimeout(this.recoverTimer);
      if (this.pc) this.pc.close();
      if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
      this.pc = null;
      this.stream = null;
    }
  }

  /** @param {number} callId @param {RTCIceCandidateInit} init */
  function sendCandidate(callId, init) {
    /** @type {IceCandidate} */
    const candidate = {candidate: init.candidate || ""};
    if (init.sdpMid !== undefined) candidate.sdpMid = init.sdpMid;
    if (init.sdpMLineIndex !== undefined) candidate.sdpMLineIndex = init.sdpMLineIndex;
    if (init.usernameFragment !== undefined) candidate.usernameFragment = init.usernameFragment;
    return send("call.candidate", {call_id: callId, candidate});
  }

  /** @param {RTCPeerConnection} pc @param {RTCIceCandidateInit} candidate */
  async function addCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate.candidate ? candidate : {candidate: "", sdpMid: candidate.sdpMid,
                                                                  sdpMLineIndex: candidate.sdpMLineIndex});
    } catch (error) {
      console.warn("ICE candidate refused", error);  // a repeated or stale one: harmless
    }
  }

  /** @param {Call} next */
  function begin(next) {
    session = new Session(next);
    const started = session;
    started.ready.then(() => {
      if (role === "agent" && session === started) return started.offer();
      return undefined;
    }).catch((error) => {
      console.warn("the call could not start", error);
      say(TEXT.failed);
    });
  }

  /** Agent: a new connection and offer for the same call, when this one's media path is gone. @param {Session} from */
  function recover(from) {
    if (session !== from || !call || call.status === "ended" || call.accepted_at === null) return;
    if (from.pc && from.pc.connectionState === "connected") return;
    const current = call;
    teardown();
    begin(current);
    render();
  }

  /** Visitor: a fresh connection for a new offer of the same call. @param {string} sdp */
  function restartWith(sdp) {
    const current = call;
    teardown();
    if (!current) return;
    begin(current);
    const fresh = /** @type {Session} */ (session);
    fresh.onOffer(sdp).catch((error) => console.warn("call.offer could not be applied", error));
  }

  function teardown() {
    if (session) session.close();
    session = null;
    rootEl.peerConnection = null;
    rootEl.dataset.connectionState = "closed";
    local.srcObject = null;
    remote.srcObject = null;
  }

  /** @param {Call} next */
  function update(next) {
    if (next.conversation_id !== conversationId) return;
    if (call && next.id < call.id) return;  // an older call's late event
    if (call && next.id === call.id && call.status === "ended") return;  // an ended call stays ended
    if (session && session.callId !== next.id) teardown();
    call = next;
    if (next.status === "ended") {
      teardown();
      say(next.end_reason === "declined" ? TEXT.declined : TEXT.ended);
    } else if (next.accepted_at === null) {
      say(role === "visitor" ? TEXT.asked : TEXT.waitingConsent);
    } else if (!session) {
      begin(next);
    }
    render();
  }

  // ---- what the buttons do ----
  /** @param {boolean} yes */
  async function consent(yes) {
    if (!call) return;
    const id = call.id;
    acceptBtn.disabled = declineBtn.disabled = true;
    try {
      if (yes) await (actions.accept ? actions.accept(id) : send("call.accept_video", {call_id: id}));
      else await (actions.decline ? actions.decline(id) : send("call.decline_video", {call_id: id}));
    } finally {
      acceptBtn.disabled = declineBtn.disabled = false;
    }
  }

  async function hangup() {
    if (!call || call.status === "ended") return;
    const id = call.id;
    teardown();
    await (actions.hangup ? actions.hangup(id) : send("call.hangup", {call_id: id}));
  }

  async function fallbackToText() {
    if (!call || call.status === "ended") return;
    const id = call.id;
    teardown();
    await (actions.fallbackToText ? actions.fallbackToText(id)
      : send("call.fallback_to_text", {call_id: id}));
  }

  async function offerVideo() {
    await (actions.offerVideo ? actions.offerVideo(conversationId)
      : send("call.offer_video", {conversation_id: conversationId}));
  }

  /** @param {boolean} [muted] */
  function mute(muted) {
    const tracks = session && session.stream ? session.stream.getAudioTracks() : [];
    const next = muted ?? muteBtn.getAttribute("aria-pressed") !== "true";
    tracks.forEach((track) => { track.enabled = !next; });
    muteBtn.setAttribute("aria-pressed", String(next));
    muteBtn.textContent = next ? "Unmute" : "Mute";
  }

  /** @param {boolean} [off] */
  function cameraOff(off) {
    const tracks = session && session.stream ? session.stream.getVideoTracks() : [];
    const next = off ?? cameraBtn.getAttribute("aria-pressed") !== "true";
    tracks.forEach((track) => { track.enabled = !next; });
    cameraBtn.setAttribute("aria-pressed", String(next));
    cameraBtn.textContent = next ? "Camera on" : "Camera off";
  }

  /** @param {ServerFrame} frame */
  function handle(frame) {
    if (destroyed || !frame) return;
    switch (frame.type) {
      case "call.updated":
        update(frame.data.call);
        return;
      case "conversation.updated": {
        const conversation = frame.data.conversation;
        if (conversation.id === conversationId && conversation.status === "closed" && call && call.status !== "ended") {
          teardown();
          call = {...call, status: "ended"};
          say(TEXT.ended);
          render();
        }
        return;
      }
      case "call.offer":
      case "call.answer":
      case "call.candidate": {
        const data = frame.data;
        if (data.conversation_id !== conversationId || !session || data.call_id !== session.callId) return;
        /** @type {Promise<void> | null} */
        let job = null;
        if (frame.type === "call.candidate") job = session.onCandidate(frame.data.candidate);
        else if (frame.type === "call.offer" && role === "visitor") job = session.onOffer(frame.data.sdp);
        else if (frame.type === "call.answer" && role === "agent") job = session.onAnswer(frame.data.sdp);
        if (job) job.catch((error) => console.warn(`${frame.type} could not be applied`, error));
        return;
      }
      default:
    }
  }

  function destroy() {
    destroyed = true;
    teardown();
    if (!own) {
      rootEl.remove();
      return;
    }
    rootEl.replaceChildren();
    rootEl.classList.remove("lc-call");
    delete rootEl.dataset.state;
    delete rootEl.dataset.connectionState;
  }

  render();
  return {handle, offerVideo, hangup, fallbackToText, mute, cameraOff, current: () => call, destroy};
}

const STYLESHEET = new URL("./call.css", import.meta.url).href;

/**
 * Link call.css where the root lives (its shadow root, or the document's head), unless it is there already.
 * @param {HTMLElement} root
 * @param {Document} doc
 */
function addStylesheet(root, doc) {
  const home = root.getRootNode();
  const isShadow = typeof ShadowRoot !== "undefined" && home instanceof ShadowRoot
    || (home.nodeType === 11 && "host" in home);
  const container = isShadow ? /** @type {ShadowRoot} */ (home) : doc.head;
  if (!container) return;
  const links = container.querySelectorAll("link[rel=stylesheet]");
  for (const link of links) if (/** @type {HTMLLinkElement} */ (link).href === STYLESHEET) return;
  const link = doc.createElement("link");
  link.rel = "stylesheet";
  link.href = STYLESHEET;
  if (isShadow) container.prepend(link);
  else container.append(link);
}
