// LiveSocket: the one realtime connection of a page, following the protocol of openapi/asyncapi.json.
//
// - Every (re)connection takes a fresh ticket (getTicket), waits for `hello`, then sends `resume` with the last
//   position it processed on each stream (`{}` the very first time): the server replays what was missed, in
//   order, then carries on live. With `storageKey` the positions survive a reload (sessionStorage by default).
// - A durable frame (one with `pos`) at or below the last position of its stream is dropped: nothing twice.
// - `refetch` (a replay was impossible) goes to onRefetch: reload that stream over REST, then carry on.
// - `send(type, fields)` adds a `ref` and resolves with the data of the ack answering it (rejects with the
//   error frame). `message.send`, `subscribe` and `unsubscribe` still unanswered when the connection drops are
//   sent again on the next one (a message with the same client_id: the server makes no duplicate); other
//   commands are rejected, as are commands sent while disconnected.
// - A ping every 25 s; no answer in 10 s closes the connection. Reconnects with backoff (0.5 s doubling to
//   30 s, ±50 % jitter, reset after a minute up), never after close code 4401 (session revoked).
//
//   const socket = new LiveSocket({url: socketUrl(), getTicket, storageKey: "chat:positions", onFrame, onState});
//   const {message_id} = await socket.send("message.send", {conversation_id: 12, client_id: id, text});

/** @typedef {import("../types/frames").ServerFrame} ServerFrame */
/** @typedef {import("../types/frames").ClientCommand} ClientCommand */
/** @typedef {import("../types/frames").DurableFrame} DurableFrame */
/** @typedef {import("../types/frames").ErrorFrame} ErrorFrame */
/** @typedef {import("../types/frames").HelloFrame} HelloFrame */
/** @typedef {import("../types/frames").Commands} Commands */
/** @typedef {import("../types/frames").CommandType} CommandType */
/** @typedef {"connecting" | "open" | "closed" | "revoked"} SocketState */
/** @typedef {Record<string, number>} Positions */

/**
 * What the ack (or pong) answering a command of type T resolves to: its `data`, or the pong itself.
 * @template {CommandType} T
 * @typedef {Commands[T]["ack"] extends { data: infer D } ? D : Commands[T]["ack"]} AckData
 */

/**
 * The fields of a command of type T, without `type` and `ref` (LiveSocket adds them).
 * @template {CommandType} T
 * @typedef {Omit<Commands[T]["command"], "type" | "ref">} CommandFields
 */

/**
 * @typedef {object} LiveSocketOptions
 * @property {string} url The /ws URL without a ticket (socketUrl() builds it)
 * @property {() => Promise<string>} getTicket A fresh single-use ticket; a rejection with `status` 401 means
 *   the session is over (state `revoked`), any other is retried with backoff
 * @property {typeof globalThis.WebSocket} [WebSocket]
 * @property {string} [storageKey] Where the positions are kept, so a reload resumes where this page stopped
 * @property {Pick<Storage, "getItem" | "setItem" | "removeItem">} [storage] sessionStorage unless given
 * @property {(frame: ServerFrame) => void} [onFrame] Every frame but the replies to this socket's commands,
 *   `hello` and `refetch`; durable frames exactly once, in order
 * @property {(state: SocketState) => void} [onState]
 * @property {(stream: string, pos: number) => void} [onRefetch] Reload the stream over REST; positions go on from pos
 * @property {(hello: HelloFrame) => void} [onHello]
 * @property {number} [pingInterval] ms between pings (25 s)
 * @property {number} [pingTimeout] ms to wait for the pong before the connection counts as dead (10 s)
 */

/**
 * @typedef {object} Pending
 * @property {ClientCommand} frame
 * @property {(data: any) => void} resolve
 * @property {(error: ErrorFrame) => void} reject
 */

const RESENT = new Set(["message.send", "subscribe", "unsubscribe"]);
const REVOKED = 4401;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;
const STABLE_MS = 60_000;

/**
 * The /ws URL of a server: ws: or wss: like the page (or baseUrl).
 * @param {string} [baseUrl] "" for this page's origin
 * @returns {string}
 */
export function socketUrl(baseUrl = "") {
  const url = new URL("/ws", baseUrl || globalThis.location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.toString();
}

/**
 * An error frame of this socket's own (the connection, not the server, failed the command).
 * @param {string} code
 * @param {string} message
 * @returns {ErrorFrame}
 */
function localError(code, message) {
  return { type: "error", code, status: 503, message };
}

/** sessionStorage, or undefined where the page may not use it (reading the property throws then). */
function sessionStorageOrNothing() {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined;
  }
}

export class LiveSocket {
  /** @param {LiveSocketOptions} options */
  constructor({ url, getTicket, WebSocket = globalThis.WebSocket, storageKey, storage, onFrame, onState, onRefetch,
    onHello, pingInterval = 25_000, pingTimeout = 10_000 }) {
    this.url = url;
    this.getTicket = getTicket;
    this.WebSocketImpl = WebSocket;
    this.storageKey = storageKey;
    this.storage = storage ?? (storageKey ? sessionStorageOrNothing() : undefined);
    this.onFrame = onFrame ?? (() => {});
    this.onState = onState ?? (() => {});
    this.onRefetch = onRefetch ?? (() => {});
    this.onHello = onHello ?? (() => {});
    this.pingInterval = pingInterval;
    this.pingTimeout = pingTimeout;
    /** @type {SocketState} */
    this.state = "closed";
    /** @type {WebSocket | null} The current connection (open or opening), for diagnostics and tests */
    this.ws = null;
    /** @type {HelloFrame | null} */
    this.hello = null;
    /** @type {Map<string, Pending>} Commands sent and not answered yet, by ref */
    this.pending = new Map();
    this.refs = 0;
    this.attempt = 0;
    this.openedAt = 0;
    this.stopped = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.pingTimer = undefined;
    const saved = this.load();
    /** @type {string | null} Whose positions these are ("visitor:7", "user:2"): another principal's are dropped */
    this.owner = saved.owner;
    /** @type {Positions} The last position processed, per stream */
    this.positions = saved.positions;
    // Back online: try now rather than at the end of the backoff.
    this.onOnline = () => {
      if (this.state !== "closed" || this.stopped) return;
      clearTimeout(this.retryTimer);
      this.connect();
    };
    globalThis.addEventListener?.("online", this.onOnline);
    this.connect();
  }

  /**
   * Send a command; resolves with the data of its ack, rejects with the error frame answering it.
   * @template {CommandType} T
   * @param {T} type
   * @param {CommandFields<T>} fields
   * @returns {Promise<AckData<T>>}
   */
  send(type, fields) {
    const ref = `r${++this.refs}`;
    const frame = /** @type {ClientCommand} */ ({ ...fields, type, ref });
    return new Promise((resolve, reject) => {
      if (this.stopped || (this.state !== "open" && !RESENT.has(type))) {
        reject(localError("socket_closed", "Not connected; try again in a moment"));
        return;
      }
      this.pending.set(ref, { frame, resolve, reject });
      if (this.state === "open") this.transmit(frame);
    });
  }

  /**
   * Follow a stream (live, or replayed from `after`); its position is kept and resumed like the others.
   * @param {string} stream
   * @param {number | null} [after]
   */
  async subscribe(stream, after = null) {
    if (after !== null) this.setPosition(stream, after, true);
    const ack = await this.send("subscribe", { stream, after });
    if (!(stream in this.positions)) this.setPosition(stream, ack.pos, true);
    return ack;
  }

  /**
   * Stop following a stream and forget its position.
   * @param {string} stream
   */
  unsubscribe(stream) {
    delete this.positions[stream];
    this.save();
    return this.send("unsubscribe", { stream });
  }

  /** Close for good: no reconnection; unanswered commands are rejected. */
  close() {
    this.stopped = true;
    globalThis.removeEventListener?.("online", this.onOnline);
    clearTimeout(this.retryTimer);
    this.dropConnection(1000, "closed");
    this.failPending(() => true, localError("socket_closed", "The socket was closed"));
    this.setState("closed");
  }

  // -- connection -------------------------------------------------------------------------------------

  async connect() {
    if (this.stopped) return;
    this.setState("connecting");
    let ticket;
    try {
      ticket = await this.getTicket();
    } catch (error) {
      const status = /** @type {{status?: unknown}} */ (error ?? {}).status;
      if (status === 401) this.revoke();
      else this.retry();
      return;
    }
    if (this.stopped) return;
    const ws = new this.WebSocketImpl(`${this.url}${this.url.includes("?") ? "&" : "?"}ticket=${encodeURIComponent(ticket)}`);
    this.ws = ws;
    ws.onmessage = (event) => {
      if (ws === this.ws) this.receive(event.data);
    };
    ws.onclose = (event) => {
      if (ws === this.ws) this.lost(event.code);
    };
  }

  /** @param {number} code */
  lost(code) {
    this.ws = null;
    clearInterval(this.pingTimer);
    this.failPending((frame) => !RESENT.has(frame.type), localError("socket_closed", "The connection dropped"));
    if (this.stopped) return;
    if (code === REVOKED) {
      this.revoke();
      return;
    }
    if (this.openedAt && Date.now() - this.openedAt >= STABLE_MS) this.attempt = 0;
    this.openedAt = 0;
    this.retry();
  }

  retry() {
    this.setState("closed");
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** this.attempt++);
    this.retryTimer = setTimeout(() => this.connect(), base * (0.5 + Math.random()));
  }

  revoke() {
    this.stopped = true;
    globalThis.removeEventListener?.("online", this.onOnline);
    this.failPending(() => true, localError("session_revoked", "The session has ended; log in again"));
    this.setState("revoked");
  }

  /**
   * Give up on a connection that is still the current one and reconnect now: a dead link's close event
   * may come late or never, and once the connection is dropped that event is ignored anyway.
   * @param {WebSocket | null} ws
   * @param {number} code
   * @param {string} reason
   */
  abandon(ws, code, reason) {
    if (!ws || ws !== this.ws) return;
    this.dropConnection(code, reason);
    this.lost(code);
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  dropConnection(code, reason) {
    const ws = this.ws;
    this.ws = null;
    clearInterval(this.pingTimer);
    if (ws && ws.readyState <= 1) ws.close(code, reason);
  }

  /**
   * @param {(frame: ClientCommand) => boolean} which
   * @param {ErrorFrame} error
   */
  failPending(which, error) {
    for (const [ref, pending] of this.pending) {
      if (!which(pending.frame)) continue;
      this.pending.delete(ref);
      pending.reject({ ...error, ref });
    }
  }

  /** @param {ClientCommand} frame */
  transmit(frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  // -- frames ------------------------------------------------------------------------------------------

  /** @param {unknown} text */
  receive(text) {
    /** @type {ServerFrame} */
    let frame;
    try {
      frame = JSON.parse(String(text));
    } catch {
      return;
    }
    switch (frame.type) {
      case "hello":
        this.greet(frame);
        return;
      case "refetch":
        this.setPosition(frame.stream, frame.pos, true);
        this.deliver(() => this.onRefetch(frame.stream, frame.pos));
        return;
      case "ack":
      case "pong":
      case "error": {
        const pending = frame.ref === undefined ? undefined : this.pending.get(frame.ref);
        if (pending && frame.ref !== undefined) {
          this.pending.delete(frame.ref);
          if (frame.type === "error") pending.reject(frame);
          else pending.resolve(frame.type === "ack" ? frame.data : frame);
          return;
        }
        if (frame.type !== "error") return;
        break;
      }
    }
    if ("pos" in frame && "stream" in frame) {
      if (frame.pos <= (this.positions[frame.stream] ?? 0)) return;  // had it already
      this.deliver(() => this.onFrame(frame));
      this.setPosition(frame.stream, frame.pos);  // processed: a reload resumes after it
      return;
    }
    this.deliver(() => this.onFrame(frame));
  }

  /**
   * After hello: resume with the positions kept (another principal's are forgotten), then re-send what is unanswered.
   * @param {HelloFrame} hello
   */
  async greet(hello) {
    const ws = this.ws;
    this.hello = hello;
    const owner = `${hello.kind}:${hello.id}`;
    if (this.owner !== owner) {
      this.owner = owner;
      this.positions = {};
      this.save();
    }
    this.deliver(() => this.onHello(hello));
    /** @type {AckData<"resume">} */
    let ack;
    try {
      ack = await this.command("resume", { positions: { ...this.positions } });
    } catch {
      // A stream kept from before is not ours any more (403/404): start over from what the server gives.
      if (ws !== this.ws) return;
      const dropped = Object.keys(this.positions);
      this.positions = {};
      try {
        ack = await this.command("resume", { positions: {} });
      } catch {
        this.abandon(ws, 1011, "resume failed");
        return;
      }
      for (const stream of dropped) {
        if (stream in ack.positions) this.deliver(() => this.onRefetch(stream, ack.positions[stream]));
      }
    }
    if (ws !== this.ws) return;
    for (const [stream, pos] of Object.entries(ack.positions)) {
      if (!(stream in this.positions)) this.positions[stream] = pos;  // followed live from now
    }
    this.save();
    this.openedAt = Date.now();
    this.setState("open");
    for (const pending of this.pending.values()) this.transmit(pending.frame);
    this.pingTimer = setInterval(() => this.ping(ws), this.pingInterval);
  }

  /**
   * A command of the socket's own, sent at once (before the state is open).
   * @template {CommandType} T
   * @param {T} type
   * @param {CommandFields<T>} fields
   * @returns {Promise<AckData<T>>}
   */
  command(type, fields) {
    const ref = `s${++this.refs}`;
    const frame = /** @type {ClientCommand} */ ({ ...fields, type, ref });
    return new Promise((resolve, reject) => {
      this.pending.set(ref, { frame, resolve, reject });
      this.transmit(frame);
    });
  }

  /** @param {WebSocket | null} ws */
  ping(ws) {
    if (ws !== this.ws || !ws) return;
    const timer = setTimeout(() => {
      this.abandon(ws, 4000, "no pong");
    }, this.pingTimeout);
    this.command("ping", {}).then(() => clearTimeout(timer), () => clearTimeout(timer));
  }

  // -- positions and callbacks -------------------------------------------------------------------------

  /**
   * @param {string} stream
   * @param {number} pos
   * @param {boolean} [force] set it even when lower (a replay asked from there)
   */
  setPosition(stream, pos, force = false) {
    if (!force && pos <= (this.positions[stream] ?? 0)) return;
    this.positions[stream] = pos;
    this.save();
  }

  /** @returns {{owner: string | null, positions: Positions}} */
  load() {
    try {
      const saved = this.storageKey && this.storage ? JSON.parse(this.storage.getItem(this.storageKey) ?? "null") : null;
      if (saved && typeof saved.owner === "string" && saved.positions && typeof saved.positions === "object") {
        return { owner: saved.owner, positions: saved.positions };
      }
    } catch {
      // unreadable: start afresh
    }
    return { owner: null, positions: {} };
  }

  save() {
    if (!this.storageKey || !this.storage || !this.owner) return;
    try {
      this.storage.setItem(this.storageKey, JSON.stringify({ owner: this.owner, positions: this.positions }));
    } catch {
      // storage full or refused: positions still hold for this page
    }
  }

  /** @param {SocketState} state */
  setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.deliver(() => this.onState(state));
  }

  /**
   * Run an app callback; its failure is reported, never breaks the socket.
   * @param {() => void} callback
   */
  deliver(callback) {
    try {
      callback();
    } catch (error) {
      globalThis.reportError?.(error);
    }
  }
}
