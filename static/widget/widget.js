// The embeddable visitor widget: a launcher and a chat panel in an open shadow root on a customer's page.
//
// loader.js imports this module and calls mount({key, identity, base}). Everything the visitor sees comes
// from the widget API (/api/widget/{public_key}/...) and the socket; text from visitors and agents only ever
// becomes text nodes. Requests, sockets and calls use primitives from a clean realm (realm.js), so a page
// that patches window.fetch or WebSocket does not break the chat.
import { createApi, apiError } from "../lib/api.js";
import { LiveSocket, socketUrl } from "../lib/socket.js";
import { h, clear, formatTime, announce } from "../lib/dom.js";
import { cleanRealm } from "./realm.js";
import { createHost } from "./host.js";
import { CSS } from "./styles.js";

/** @typedef {import("../types/openapi").components["schemas"]} Schemas */
/** @typedef {Schemas["Message"]} Message */
/** @typedef {Schemas["Conversation"]} Conversation */
/** @typedef {Schemas["WidgetOpen"]} WidgetOpen */
/** @typedef {Schemas["RequestView"]} RequestView */
/** @typedef {Schemas["BotShowData"]} BotShowData */
/** @typedef {Schemas["PreviewButton"]} PreviewButton */
/** @typedef {Schemas["OfflineFormField"]} OfflineFormField */
/** @typedef {Schemas["PrechatForm"]} PrechatForm */
/** @typedef {Schemas["Attachment"]} Attachment */
/** @typedef {Schemas["MessageAttachment"]} MessageAttachment */
/** @typedef {Schemas["WidgetAvailability"]} WidgetAvailability */
/** @typedef {Schemas["Identity"]} Identity */
/** @typedef {import("../types/frames").ServerFrame} ServerFrame */
/** @typedef {import("../types/frames").RequestUpdatedEvent["data"]} RequestUpdated */

/**
 * @typedef {object} MountOptions
 * @property {string} key the interface's public key
 * @property {string | null} [identity] "USER_ID:USER_HASH" (or its JSON), signed by the site's server
 * @property {string} base the URL of /widget/v1/ (where the loader came from)
 */

const TYPING_IDLE_MS = 4000;
const TYPING_SHOWN_MS = 6000;
const SEND_RETRY_MAX_MS = 10_000;

/**
 * Mount the widget once on this page.
 * @param {MountOptions} options
 */
export function mount(options) {
  const present = document.documentElement.querySelector(":scope > [data-livechat-widget]");
  if (present) return;
  const widget = new Widget(options);
  widget.start();
  return widget;
}

/**
 * "USER_ID:USER_HASH" or '{"user_id": ..., "user_hash": ...}' → the API's identity, or null.
 * @param {string | null | undefined} value
 * @returns {Identity | null}
 */
export function parseIdentity(value) {
  if (!value) return null;
  const text = value.trim();
  try {
    if (text.startsWith("{")) {
      const parsed = JSON.parse(text);
      if (typeof parsed.user_id === "string" && typeof parsed.user_hash === "string") {
        return { user_id: parsed.user_id, user_hash: parsed.user_hash };
      }
      return null;
    }
  } catch {
    return null;
  }
  const cut = text.lastIndexOf(":");
  if (cut <= 0) return null;
  return { user_id: text.slice(0, cut), user_hash: text.slice(cut + 1) };
}

class Widget {
  /** @param {MountOptions} options */
  constructor({ key, identity, base }) {
    this.key = key;
    this.identity = parseIdentity(identity);
    this.origin = new URL(base).origin;
    this.base = base;
    const { host, root } = createHost();
    this.host = host;
    this.root = root;
    this.realm = cleanRealm(root);
    const who = this.identity ? `u:${this.identity.user_id}` : "anonymous";
    this.tokenKey = `livechat:${key}:${who}:token`;
    this.positionsKey = `livechat:${key}:${who}:positions`;
    this.openKey = `livechat:${key}:open`;
    /** @type {string | null} */
    this.token = this.load(this.tokenKey);
    this.api = createApi({ baseUrl: this.origin, token: () => this.token, fetch: this.realm.fetch });
    /** @type {Conversation | null} */
    this.conversation = null;
    /** @type {Map<number, {message: Message, el: HTMLLIElement}>} */
    this.messages = new Map();
    /** @type {Map<string, HTMLLIElement>} */
    this.pending = new Map();
    /** @type {RequestUpdated | RequestView | null} */
    this.request = null;
    /** @type {string | null} */
    this.agentName = null;
    /** @type {WidgetAvailability | null} */
    this.hours = null;
    /** @type {PrechatForm | null} */
    this.prechat = null;
    /** @type {Schemas["Visitor"] | null} */
    this.visitor = null;
    /** @type {LiveSocket | null} */
    this.socket = null;
    /** @type {{handle(frame: unknown): void, destroy(): void} | null} */
    this.call = null;
    /** @type {unknown[] | null} */
    this.callBacklog = [];
    /** @type {Attachment[]} */
    this.attachments = [];
    this.opened = false;
    this.busy = false;
    this.typingSentAt = 0;
    /** @type {number | undefined} */
    this.typingIdle = undefined;
    /** @type {number | undefined} */
    this.typingShown = undefined;
    this.rated = false;
    this.callWiring = false;
    this.readSeq = 0;
    /** @type {number | undefined} */
    this.readTimer = undefined;
    this.unread = 0;
    /** @type {Set<() => void>} */
    this.wakers = new Set();
    if ("adoptedStyleSheets" in this.root && typeof CSSStyleSheet === "function") {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      this.root.adoptedStyleSheets = [sheet];
    }
    this.launcher = h("button", {
      class: "launcher", type: "button", dataset: { testid: "widget-launcher" }, "aria-expanded": "false",
      "aria-controls": "livechat-panel", onclick: () => this.toggle(),
    }, "Chat with us");
    this.title = h("h2", { id: "livechat-title" }, "Chat");
    this.agentEl = h("span", { class: "agent", dataset: { testid: "agent-name" }, hidden: true });
    this.hoursEl = h("p", { class: "note", dataset: { testid: "outside-hours" }, hidden: true });
    this.connectionEl = h("p", { class: "note offline", role: "status", dataset: { testid: "connection" }, hidden: true });
    this.list = h("ol", {
      class: "messages", dataset: { testid: "widget-messages" }, "aria-live": "polite", "aria-relevant": "additions",
      "aria-label": "Messages", tabindex: "0",
    });
    this.queueEl = h("p", { class: "status", dataset: { testid: "queue-position" } });
    this.cancelButton = h("button", { class: "btn", type: "button", onclick: () => this.cancelRequest() }, "Cancel request");
    this.queueBox = h("div", { class: "after", hidden: true }, this.queueEl, this.cancelButton);
    this.typingEl = h("p", { class: "typing", dataset: { testid: "typing" }, hidden: true });
    this.afterEl = h("div", { class: "after", hidden: true });
    this.prechatEl = h("div", { class: "after", hidden: true });
    this.callSlot = h("div", { class: "call-slot", dataset: { testid: "call-slot" } });
    this.input = h("textarea", {
      id: "livechat-input", rows: "1", dataset: { testid: "widget-input" }, "aria-label": "Message",
      placeholder: "Write a message…", maxlength: "4000",
      onkeydown: (/** @type {KeyboardEvent} */ event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
          event.preventDefault();
          this.sendFromComposer();
        }
      },
      oninput: () => this.typed(),
    });
    this.fileInput = h("input", {
      type: "file", class: "sr-only", id: "livechat-file", tabindex: "-1", "aria-hidden": "true",
      dataset: { testid: "widget-file" }, onchange: () => this.upload(),
    });
    this.attachButton = h("button", {
      class: "attach", type: "button", onclick: () => this.fileInput.click(),
    }, "Attach");
    this.sendButton = h("button", { class: "send", type: "submit", dataset: { testid: "widget-send" } }, "Send");
    this.filesEl = h("ul", { class: "files", "aria-label": "Files to send", hidden: true });
    this.composer = h("form", {
      class: "composer", "aria-label": "Write a message",
      onsubmit: (/** @type {Event} */ event) => { event.preventDefault(); this.sendFromComposer(); },
    }, this.fileInput, this.attachButton, this.input, this.sendButton);
    this.announcer = h("p", { class: "sr-only", role: "status", "aria-live": "polite", dataset: { testid: "announcer" } });
    this.panel = h("section", {
      class: "panel", id: "livechat-panel", role: "dialog", "aria-labelledby": "livechat-title",
      dataset: { testid: "widget-panel" }, hidden: true,
      onkeydown: (/** @type {KeyboardEvent} */ event) => {
        if (event.key === "Escape") { event.preventDefault(); this.toggle(false); }
      },
    },
      h("header", { class: "head" }, this.title, this.agentEl,
        h("button", { type: "button", "aria-label": "Minimise the chat", onclick: () => this.toggle(false) }, "–")),
      this.hoursEl, this.connectionEl, this.list, this.typingEl, this.queueBox, this.prechatEl, this.callSlot, this.afterEl,
      this.filesEl, this.composer, this.announcer);
    this.root.append(h("div", { class: "widget" }, this.panel, this.launcher));
  }

  /** @param {string} name */
  load(name) {
    try {
      return this.realm.localStorage?.getItem(name) ?? null;
    } catch {
      return null;
    }
  }

  /** @param {string} name @param {string | null} value */
  store(name, value) {
    try {
      if (value === null) this.realm.localStorage?.removeItem(name);
      else this.realm.localStorage?.setItem(name, value);
    } catch {
      /* storage refused (private mode): the chat still works for this page view */
    }
  }

  path() {
    return { public_key: this.key };
  }

  /** @returns {{public_key: string, conversation_id: number}} */
  convPath() {
    return { public_key: this.key, conversation_id: /** @type {Conversation} */ (this.conversation).id };
  }

  start() {
    // A returning visitor's chat resumes at once (their messages, their place in the queue), with the panel
    // as this tab left it; a new visitor's conversation starts only when they open the launcher.
    if (!this.token) return;
    this.open().catch((error) => this.problem(error));
    if (this.wasOpen()) this.toggle(true, false);
  }

  wasOpen() {
    try {
      return window.sessionStorage.getItem(this.openKey) === "1";
    } catch {
      return false;
    }
  }

  /** @param {boolean} open */
  rememberOpen(open) {
    try {
      if (open) window.sessionStorage.setItem(this.openKey, "1");
      else window.sessionStorage.removeItem(this.openKey);
    } catch {
      /* no storage: the panel starts closed after a reload */
    }
  }

  /**
   * @param {boolean} [show] open (true), close (false) or switch (undefined)
   * @param {boolean} [focus] move the focus into the panel or back to the launcher
   */
  toggle(show, focus = true) {
    const visible = show ?? this.panel.hidden;
    this.panel.hidden = !visible;
    this.launcher.setAttribute("aria-expanded", String(visible));
    if (visible) this.unread = 0;
    this.showLauncher();
    this.rememberOpen(visible);
    if (visible) {
      if (!this.opened) this.open().catch((error) => this.problem(error));
      if (focus) this.focusNext();
      this.scrollDown();
    } else if (focus) {
      this.launcher.focus();
    }
  }

  /** The launcher's label: open or close, and how many agent messages came while the panel was closed. */
  showLauncher() {
    const open = !this.panel.hidden;
    const unread = this.unread ? ` (${this.unread} new)` : "";
    this.launcher.textContent = open ? "Close chat" : `Chat with us${unread}`;
    this.launcher.dataset.unread = String(this.unread);
  }

  /** @param {unknown} error */
  problem(error) {
    this.connectionEl.hidden = false;
    this.connectionEl.textContent = apiError(error);
  }

  async open() {
    if (this.opened) return;
    this.opened = true;
    try {
      await this.openSession();
    } catch (error) {
      this.opened = false;
      throw error;
    }
  }

  async openSession() {
    const body = this.identity ? { identity: this.identity } : undefined;
    let result = await this.api.POST("/api/widget/{public_key}/sessions", { params: { path: this.path() }, body });
    if (result.response.status === 401 && this.token) {
      this.token = null;  // expired or revoked: start as a new visitor
      this.store(this.tokenKey, null);
      this.store(this.positionsKey, null);
      result = await this.api.POST("/api/widget/{public_key}/sessions", { params: { path: this.path() }, body });
    }
    if (!result.data) throw result.error ?? new Error("The chat could not be opened");
    this.applyOpen(result.data);
  }

  /** @param {WidgetOpen} opened */
  applyOpen(opened) {
    this.token = opened.visitor_token;
    this.store(this.tokenKey, opened.visitor_token);
    this.visitor = opened.visitor;
    this.title.textContent = opened.interface.name;
    this.hours = opened.business_hours;
    this.prechat = opened.prechat_form;
    this.showHours();
    const replaced = this.conversation !== null && this.conversation.id !== opened.conversation.id;
    if (replaced) this.reset();
    this.setConversation(opened.conversation);
    if (replaced && this.socket) {
      // The socket follows the visitor's latest conversation from its next hello; this one follows it now.
      this.socket.subscribe(`conversation:${opened.conversation.id}`, 0).catch(() => this.catchUp());
    }
    for (const message of opened.messages) this.addMessage(message);
    this.renderControls();
    this.startSocket();
    if (!this.call && !this.callWiring) this.wireCall();
    if (opened.conversation.status === "waiting") this.loadRequest();
  }

  reset() {
    for (const { el } of this.messages.values()) el.remove();
    this.messages.clear();
    this.request = null;
    this.agentName = null;
    this.rated = false;
    this.readSeq = 0;
    this.call?.destroy();
    this.call = null;
    this.callBacklog = [];
    this.callWiring = false;
    clear(this.callSlot);
  }

  showHours() {
    const hours = this.hours;
    if (hours && !hours.open) {
      const next = hours.next_open_at ? ` We are back ${formatTime(hours.next_open_at)}.` : "";
      this.hoursEl.textContent = `We are outside our opening hours: leave a message and we will answer.${next}`;
      this.hoursEl.hidden = false;
    } else {
      this.hoursEl.hidden = true;
    }
  }

  // ---- the socket -----------------------------------------------------------------------------------

  startSocket() {
    if (this.socket) return;
    this.socket = new LiveSocket({
      url: socketUrl(this.origin),
      getTicket: async () => {
        const { data, error } = await this.api.POST("/api/widget/{public_key}/sockets/ticket", { params: { path: this.path() } });
        if (!data) throw error ?? new Error("No ticket");
        return data.ticket;
      },
      WebSocket: this.trackedWebSocket(),
      storageKey: this.positionsKey,
      onFrame: (/** @type {ServerFrame} */ frame) => this.onFrame(frame),
      onState: (/** @type {string} */ state) => this.onState(state),
      onRefetch: () => this.catchUp(),
    });
  }

  /**
   * The clean WebSocket, with its open sockets kept: when the browser says the network is gone, they are
   * closed at once (the socket then reconnects with backoff and resumes) instead of waiting for a ping to
   * time out, and when it is back, waiting sends retry at once.
   * @returns {typeof WebSocket}
   */
  trackedWebSocket() {
    const Base = this.realm.WebSocket;
    /** @type {Set<WebSocket>} */
    const open = new Set();
    class Tracked extends Base {
      /** @param {string | URL} url @param {string | string[]} [protocols] */
      constructor(url, protocols) {
        super(url, protocols);
        open.add(this);
        this.addEventListener("close", () => open.delete(this));
      }
    }
    window.addEventListener("offline", () => {
      for (const ws of open) ws.close(4000, "offline");
      this.onState("closed");
    });
    window.addEventListener("online", () => {
      for (const wake of this.wakers) wake();
      this.wakers.clear();
    });
    return Tracked;
  }

  /** @param {string} state */
  onState(state) {
    this.panel.dataset.socket = state;
    if (state === "open") {
      this.connectionEl.hidden = true;
      this.catchUp();
    } else if (state === "connecting" || state === "closed") {
      this.connectionEl.hidden = false;
      this.connectionEl.textContent = "Reconnecting…";
    } else if (state === "revoked") {
      this.connectionEl.hidden = false;
      this.connectionEl.textContent = "This chat session ended. Reload the page to start again.";
    }
  }

  /** @param {ServerFrame} frame */
  onFrame(frame) {
    if (frame.type.startsWith("call.") || frame.type === "conversation.updated") this.feedCall(frame);
    switch (frame.type) {
      case "message.created": {
        const sent = frame.data.message;
        // The frame carries the REST shape (frames.d.ts marks the server-filled fields optional).
        const message = /** @type {Message} */ (/** @type {unknown} */ ({ ...sent, attachments: sent.attachments ?? [] }));
        if (message.conversation_id === this.conversation?.id) {
          if (this.panel.hidden && message.sender_type === "agent" && !this.messages.has(message.id)) {
            this.unread += 1;
            this.showLauncher();
          }
          this.addMessage(message);
          this.renderControls();
        }
        break;
      }
      case "conversation.updated":
        if (frame.data.conversation.id === this.conversation?.id) {
          this.setConversation(/** @type {Conversation} */ (/** @type {unknown} */ (frame.data.conversation)));
        }
        break;
      case "request.updated":
      case "queue.position":
        if (frame.stream === `conversation:${this.conversation?.id}`) this.setRequest(frame.data);
        break;
      case "typing":
        if (frame.data.conversation_id === this.conversation?.id && frame.data.sender_type !== "visitor") {
          this.showTyping(frame.data.typing, frame.data.sender_name ?? null);
        }
        break;
      case "rating.created":
        this.rated = true;
        this.renderAfter();
        break;
      default:
        break;
    }
  }

  /** Fill any gap over REST: every message after the newest one shown, the conversation, the request. */
  async catchUp() {
    try {
      await this.fillGap();
    } catch {
      /* the network is gone again: the next reconnection catches up */
    }
  }

  async fillGap() {
    if (!this.conversation) return;
    const path = this.convPath();
    let after = this.lastSeq();
    for (let page = 0; page < 20; page += 1) {
      const { data } = await this.api.GET("/api/widget/{public_key}/conversations/{conversation_id}/messages", {
        params: { path, query: { after, limit: 200 } },
      });
      if (!data) break;
      for (const message of data.items) this.addMessage(message);
      if (!data.next_after || data.items.length === 0) break;
      after = data.next_after;
    }
    this.renderControls();
    const { data } = await this.api.GET("/api/widget/{public_key}/conversations/{conversation_id}", { params: { path } });
    if (data && data.id === this.conversation?.id) {
      this.setConversation(data);
      if (data.status === "waiting") await this.loadRequest();  // queue positions are not replayed
    }
  }

  lastSeq() {
    let seq = 0;
    for (const { message } of this.messages.values()) seq = Math.max(seq, message.seq);
    return seq;
  }

  // ---- conversation state ----------------------------------------------------------------------------

  /** @param {Conversation} conversation */
  setConversation(conversation) {
    // Snapshots race: a socket frame sent before an action's answer may arrive after it (PostgreSQL + Redis).
    // An older state of the same conversation (fewer messages) is dropped, else it would take the current
    // prompt away for a moment and rebuild its form empty. The server's own answer then settles any doubt
    // (a change made by a request that read the conversation before a message came in also looks older).
    const current = this.conversation;
    if (current && current.id === conversation.id && conversation.last_seq < current.last_seq) {
      this.catchUp();
      return;
    }
    const before = current?.status;
    this.conversation = conversation;
    // The API names the agent as soon as they accept, before they say or type anything.
    if (conversation.agent_name) this.agentName = conversation.agent_name;
    this.panel.dataset.status = conversation.status;
    this.panel.dataset.conversationId = String(conversation.id);
    if (conversation.rating) this.rated = true;
    if (conversation.status === "waiting" && before !== "waiting" && before !== undefined) this.loadRequest();
    if (conversation.status !== "waiting") this.setRequest(null);
    if (conversation.status === "active" && before !== "active" && before !== undefined) {
      this.say(this.agentName ? `${this.agentName} joined the chat.` : "An agent joined the chat.");
    }
    if (conversation.status !== "active") this.showTyping(false, null);
    this.showAgent();
    this.renderControls();
    this.renderAfter();
    const closed = conversation.status === "closed";
    this.input.disabled = closed;
    this.sendButton.disabled = closed;
    this.attachButton.disabled = closed;
  }

  async loadRequest() {
    if (!this.conversation) return;
    try {
      const { data } = await this.api.GET("/api/widget/{public_key}/conversations/{conversation_id}/request", {
        params: { path: this.convPath() },
      });
      if (data) this.setRequest(data);
    } catch {
      /* offline: queue.position frames and the next catch-up bring it */
    }
  }

  /** @param {RequestUpdated | RequestView | null} request */
  setRequest(request) {
    this.request = request;
    const waiting = request && request.status === "pending" && this.conversation?.status === "waiting";
    this.queueBox.hidden = !waiting;
    if (waiting && request) {
      const kind = request.kind === "video" ? "video chat" : "chat";
      const text = request.queue_position
        ? `You are number ${request.queue_position} in the queue for a ${kind}.`
        : `Waiting for an agent to accept your ${kind}…`;
      if (this.queueEl.textContent !== text) {
        this.queueEl.textContent = text;
        this.say(text);
      }
    }
  }

  async cancelRequest() {
    if (!this.conversation) return;
    this.cancelButton.disabled = true;
    const { error } = await this.api.DELETE("/api/widget/{public_key}/conversations/{conversation_id}/request", {
      params: { path: this.convPath() },
    });
    this.cancelButton.disabled = false;
    if (error) this.say(apiError(error));
    await this.catchUp();
  }

  showAgent() {
    const active = this.conversation?.status === "active";
    this.agentEl.hidden = !active;
    this.agentEl.textContent = active ? (this.agentName ?? "Agent") : "";
  }

  /**
   * @param {boolean} typing
   * @param {string | null} name
   */
  showTyping(typing, name) {
    if (name) this.setAgentName(name);
    this.realm.clearTimeout(/** @type {number} */ (this.typingShown));
    this.typingEl.hidden = !typing;
    this.typingEl.textContent = typing ? `${name ?? this.agentName ?? "The agent"} is typing…` : "";
    if (typing) this.typingShown = this.realm.setTimeout(() => this.showTyping(false, null), TYPING_SHOWN_MS);
  }

  /** @param {string} name */
  setAgentName(name) {
    if (this.agentName === name) return;
    this.agentName = name;
    this.showAgent();
  }

  // ---- messages -----------------------------------------------------------------------------------------

  /** @param {Message} message */
  addMessage(message) {
    if (this.messages.has(message.id)) return;
    if (message.sender_type === "agent" && message.sender_name) this.setAgentName(message.sender_name);
    if (message.sender_type === "agent") this.showTyping(false, null);
    const el = this.renderMessage(message);
    const pending = message.client_id ? this.pending.get(message.client_id) : undefined;
    if (pending) {
      pending.remove();
      this.pending.delete(/** @type {string} */ (message.client_id));
    }
    this.messages.set(message.id, { message, el });
    // In order of seq; pending (unsent) messages stay last.
    let next = null;
    for (const child of this.list.children) {
      const li = /** @type {HTMLLIElement} */ (child);
      if (li.dataset.pending !== undefined || Number(li.dataset.seq) > message.seq) { next = li; break; }
    }
    this.list.insertBefore(el, next);
    this.scrollDown();
  }

  /**
   * @param {Message} message
   * @returns {HTMLLIElement}
   */
  renderMessage(message) {
    const author = message.sender_type;
    const who = author === "agent" ? (message.sender_name ?? "Agent") : author === "bot" ? "Bot" : author === "visitor" ? "You" : "";
    return h("li", {
      class: "message", dataset: { testid: "message", author, seq: message.seq, id: message.id },
    },
      who ? h("span", { class: "who" }, who) : null,
      h("span", { class: "text", dataset: { testid: "message-text" } }, message.text),
      message.attachments.length ? h("ul", { class: "attachments", "aria-label": "Attachments" },
        message.attachments.map((attachment) => h("li", {}, this.attachmentLink(attachment)))) : null,
      h("time", { class: "meta", datetime: message.created_at }, formatTime(message.created_at)));
  }

  /** @param {MessageAttachment} attachment */
  attachmentLink(attachment) {
    const link = h("a", {
      href: attachment.url, target: "_blank", rel: "noopener noreferrer", dataset: { testid: "attachment" },
      download: attachment.filename,
    }, `${attachment.filename} (${formatSize(attachment.size)})`);
    let expires = Date.parse(attachment.url_expires_at);
    link.addEventListener("click", async (event) => {
      if (Date.now() < expires - 5000 || !this.conversation) return;
      event.preventDefault();  // the link expired: get a fresh one, then follow it
      const { data } = await this.api.GET(
        "/api/widget/{public_key}/conversations/{conversation_id}/attachments/{attachment_id}",
        { params: { path: { ...this.convPath(), attachment_id: attachment.id } } });
      if (data) {
        link.href = data.url;
        expires = Date.parse(data.url_expires_at);
        link.click();
      }
    });
    return link;
  }

  scrollDown() {
    this.list.scrollTop = this.list.scrollHeight;
    this.markRead();
  }

  /** Tell the agent what the visitor has seen: up to the newest message, while the panel is open. */
  markRead() {
    if (this.panel.hidden || !this.conversation || this.conversation.status !== "active") return;
    const seq = this.lastSeq();
    if (seq <= this.readSeq || this.readTimer !== undefined) return;
    this.readTimer = this.realm.setTimeout(() => {
      this.readTimer = undefined;
      const upTo = this.lastSeq();
      if (!this.conversation || upTo <= this.readSeq) return;
      this.readSeq = upTo;
      this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/read", {
        params: { path: this.convPath() }, body: { seq: upTo },
      }).catch(() => { this.readSeq = 0; });
    }, 500);
  }

  /** @param {string} text */
  say(text) {
    announce(this.announcer, text);
  }

  // ---- flow: buttons, Skip, Back, the offline form --------------------------------------------------------

  /** The last bot message, when it asks something of the visitor (buttons or a form) and the bot leads. */
  activePrompt() {
    if (this.conversation?.status !== "bot") return null;
    let last = null;
    for (const entry of this.messages.values()) {
      if (entry.message.sender_type === "bot" && (!last || entry.message.seq > last.message.seq)) last = entry;
    }
    if (!last) return null;
    const data = /** @type {BotShowData | null} */ (last.message.data);
    if (!data || !("buttons" in data)) return null;
    if (!data.buttons.length && !data.form) return null;
    return { entry: last, data };
  }

  /**
   * Show the buttons (and form) of the current prompt. The same prompt keeps its elements: a re-render
   * under the visitor's pointer would swallow a click, and one in a form would lose what they typed.
   */
  renderControls() {
    const prompt = this.activePrompt();
    const key = prompt ? String(prompt.entry.message.id) : "";
    const shown = /** @type {HTMLElement | null} */ (this.list.querySelector(".controls"));
    if (shown && shown.dataset.key === key) {
      // The same prompt: only the busy state changes, in place (a rebuilt form would lose what was typed).
      for (const el of shown.querySelectorAll(".buttons button")) /** @type {HTMLButtonElement} */ (el).disabled = this.busy;
      return;
    }
    for (const old of this.list.querySelectorAll(".controls")) old.remove();
    if (!prompt) return;
    const { entry, data } = prompt;
    const controls = h("div", { class: "controls", dataset: { key } });
    if (data.buttons.length) {
      controls.append(h("div", { class: "buttons", role: "group", "aria-label": "Choices" },
        data.buttons.map((button) => h("button", {
          type: "button", dataset: { style: button.style, buttonId: button.id }, disabled: this.busy,
          onclick: () => this.press(button),
        }, button.label))));
    }
    if (data.form && data.request_id !== undefined) {
      controls.append(this.offlineForm(data.form, data.request_id));
    }
    entry.el.append(controls);
  }

  /** Focus what the visitor needs next: the current choices, else the input. */
  focusNext() {
    const target = /** @type {HTMLElement | null} */ (this.list.querySelector(".controls button, .controls input"));
    (target ?? this.input).focus();
  }

  /** @param {PreviewButton} button */
  async press(button) {
    if (!this.conversation || this.busy) return;
    this.busy = true;
    for (const el of this.list.querySelectorAll(".controls button")) /** @type {HTMLButtonElement} */ (el).disabled = true;
    /** @type {Schemas["Action"]} */
    const action = button.action.type === "skip" ? { type: "skip" }
      : button.action.type === "back" ? { type: "back" } : { type: "button", button_id: button.id };
    try {
      const { data, error } = await this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/actions", {
        params: { path: this.convPath() }, body: action,
      });
      if (data) {
        for (const message of data.messages) this.addMessage(message);
        this.setConversation(data.conversation);
      } else if (error && "code" in error && error.code === "prechat_required") {
        this.showPrechat(button, error);
        return;
      } else {
        this.say(apiError(error));
        await this.catchUp();
      }
    } catch (error) {
      this.say(`No connection: ${apiError(error)}. Try again in a moment.`);
    } finally {
      this.busy = false;
      this.renderControls();
      if (this.prechatEl.hidden) this.focusNext();
      this.scrollDown();
    }
  }

  /**
   * The pre-chat form, asked for before a live or video request: the visitor's details, then the request again.
   * @param {PreviewButton} button the request to press again
   * @param {unknown} refusal the 422 prechat_required (its errors name the missing fields)
   */
  showPrechat(button, refusal) {
    const missing = new Set(Object.keys(/** @type {{errors?: {json?: object}}} */ (refusal).errors?.json ?? {}));
    const fields = (this.prechat?.fields ?? []).filter((field) => missing.size === 0 || missing.has(field.key) || !field.required);
    /** @type {Map<string, HTMLInputElement | HTMLTextAreaElement>} */
    const inputs = new Map();
    const status = h("p", { class: "error", role: "alert" });
    const rows = fields.map((field) => {
      const id = `livechat-prechat-${field.key}`;
      const input = field.type === "textarea" ? h("textarea", { id, rows: "2", required: field.required })
        : h("input", { id, type: field.type === "email" ? "email" : "text", required: field.required,
          autocomplete: field.key === "email" ? "email" : field.key === "name" ? "name" : undefined });
      inputs.set(field.key, input);
      return h("div", { class: "field" }, h("label", { for: id }, field.label + (field.required ? " *" : "")), input);
    });
    clear(this.prechatEl);
    this.prechatEl.hidden = false;
    this.prechatEl.append(h("form", {
      class: "card", dataset: { testid: "prechat-form" }, "aria-label": "Before we connect you",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        /** @type {Schemas["VisitorUpdate"]} */
        const body = {};
        /** @type {Record<string, string>} */
        const attributes = {};
        for (const [key, input] of inputs) {
          const value = input.value.trim();
          if (!value) continue;
          if (key === "name") body.name = value;
          else if (key === "email") body.email = value;
          else attributes[key] = value;
        }
        if (Object.keys(attributes).length) body.attributes = attributes;
        const { data, error } = await this.api.PATCH("/api/widget/{public_key}/visitor", { params: { path: this.path() }, body });
        if (!data) { status.textContent = apiError(error); return; }
        this.visitor = data;
        clear(this.prechatEl);
        this.prechatEl.hidden = true;
        await this.press(button);
      },
    }, h("p", {}, "Please tell us a little about you first."), rows, status,
      h("button", { type: "submit", class: "btn primary" }, "Continue")));
    const first = this.prechatEl.querySelector("input, textarea");
    if (first) /** @type {HTMLElement} */ (first).focus();
  }

  /**
   * @param {Schemas["PreviewForm"]} form
   * @param {number} requestId
   */
  offlineForm(form, requestId) {
    /** @type {Map<string, {field: OfflineFormField, input: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement, error: HTMLElement}>} */
    const inputs = new Map();
    const status = h("p", { class: "error", role: "alert" });
    const rows = form.fields.map((field) => {
      const id = `livechat-offline-${field.key}`;
      const error = h("p", { class: "error", id: `${id}-error` });
      const common = {
        id, name: field.key, required: field.required, "aria-describedby": `${id}-error`,
        maxlength: field.max_length ? String(field.max_length) : undefined,
      };
      /** @type {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} */
      let input;
      if (field.type === "textarea") input = h("textarea", { ...common, rows: "3" });
      else if (field.type === "select") {
        input = h("select", common, h("option", { value: "" }, "—"),
          field.options.map((option) => h("option", { value: option }, option)));
      } else if (field.type === "checkbox") input = h("input", { ...common, type: "checkbox" });
      else {
        // What the visitor already told (the pre-chat form, a signed identity) fills the form in.
        const known = field.key === "name" ? this.visitor?.name : field.key === "email" ? this.visitor?.email : null;
        input = h("input", { ...common, type: field.type === "email" ? "email" : field.type === "phone" ? "tel" : "text",
          value: known ?? undefined });
      }
      inputs.set(field.key, { field, input, error });
      return h("div", { class: "field" }, h("label", { for: id }, field.label + (field.required ? " *" : "")), input, error);
    });
    const submit = h("button", { type: "submit", class: "btn primary" }, form.submit_label);
    const el = h("form", {
      class: "card", dataset: { testid: "offline-form" }, "aria-label": "Leave us a message", novalidate: true,
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        /** @type {Record<string, string | boolean>} */
        const answers = {};
        for (const [key, { field, input, error }] of inputs) {
          error.textContent = "";
          input.removeAttribute("aria-invalid");
          if (field.type === "checkbox") answers[key] = /** @type {HTMLInputElement} */ (input).checked;
          else if (input.value.trim()) answers[key] = input.value.trim();
        }
        submit.disabled = true;
        const { data, error } = await this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/offline-form", {
          params: { path: this.convPath() }, body: { request_id: requestId, answers },
        });
        submit.disabled = false;
        if (data) {
          this.say("Thank you! Your message was sent.");
          await this.catchUp();
          this.input.focus();
          return;
        }
        const perField = fieldErrors(error);
        let first = null;
        for (const [key, messages] of Object.entries(perField)) {
          const entry = inputs.get(key);
          if (!entry) continue;
          entry.error.textContent = messages;
          entry.input.setAttribute("aria-invalid", "true");
          first ??= entry.input;
        }
        status.textContent = apiError(error);
        (first ?? submit).focus();
      },
    }, rows, status, submit);
    return el;
  }

  // ---- sending ---------------------------------------------------------------------------------------------

  sendFromComposer() {
    const text = this.input.value.trim();
    const attachments = this.attachments;
    if (!text && !attachments.length) return;
    if (!this.conversation) {
      this.open().then(() => this.sendFromComposer()).catch((error) => this.problem(error));
      return;
    }
    this.input.value = "";
    this.attachments = [];
    this.renderFiles();
    this.stopTyping();
    this.send(text || attachments.map((a) => a.filename).join(", "), attachments.map((a) => a.id));
  }

  /**
   * Send one message over REST until it is stored: retries keep the same client_id, so a retry after a
   * lost answer never makes a second message.
   * @param {string} text
   * @param {number[]} attachmentIds
   */
  async send(text, attachmentIds) {
    const clientId = newId();
    const li = h("li", {
      class: "message", dataset: { testid: "message", author: "visitor", pending: "" },
    }, h("span", { class: "who" }, "You"), h("span", { class: "text", dataset: { testid: "message-text" } }, text),
      h("span", { class: "meta" }, "Sending…"));
    this.pending.set(clientId, li);
    this.list.append(li);
    this.scrollDown();
    /** @type {Schemas["MessageCreate"]} */
    const body = { text, client_id: clientId };
    if (attachmentIds.length) body.attachment_ids = attachmentIds;
    let wait = 500;
    for (;;) {
      try {
        const { data, error, response } = await this.api.POST(
          "/api/widget/{public_key}/conversations/{conversation_id}/messages", { params: { path: this.convPath() }, body });
        if (data) {
          this.addMessage(data);
          this.renderControls();
          return;
        }
        if (response.status < 500 && response.status !== 408 && response.status !== 429) {
          const meta = li.querySelector(".meta");
          if (meta) meta.textContent = `Not sent: ${apiError(error)}`;
          this.say(`Your message was not sent: ${apiError(error)}`);
          return;
        }
      } catch {
        /* offline: try again */
      }
      await new Promise((resolve) => {
        const wake = () => { this.wakers.delete(wake); resolve(undefined); };
        this.wakers.add(wake);
        this.realm.setTimeout(wake, wait);
      });
      wait = Math.min(wait * 2, SEND_RETRY_MAX_MS);
    }
  }

  typed() {
    if (!this.socket || this.conversation?.status !== "active") return;
    const now = Date.now();
    if (now - this.typingSentAt > 3000) {
      this.typingSentAt = now;
      this.sendTyping(true);
    }
    this.realm.clearTimeout(/** @type {number} */ (this.typingIdle));
    this.typingIdle = this.realm.setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    this.realm.clearTimeout(/** @type {number} */ (this.typingIdle));
    if (this.typingSentAt) {
      this.typingSentAt = 0;
      this.sendTyping(false);
    }
  }

  /** @param {boolean} typing */
  sendTyping(typing) {
    if (!this.socket || !this.conversation) return;
    this.socket.send("typing", { conversation_id: this.conversation.id, typing }).catch(() => undefined);
  }

  async upload() {
    const files = this.fileInput.files ? [...this.fileInput.files] : [];
    this.fileInput.value = "";
    if (!files.length) return;
    try {
      if (!this.conversation) await this.open();
    } catch (error) {
      this.problem(error);
      return;
    }
    for (const file of files) {
      const form = new FormData();
      form.append("file", file, file.name);
      const { data, error } = await this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/attachments", {
        params: { path: this.convPath() },
        body: /** @type {any} */ (form),
        bodySerializer: (/** @type {unknown} */ value) => /** @type {FormData} */ (value),
      });
      if (data) this.attachments.push(data);
      else this.say(`${file.name} was not uploaded: ${apiError(error)}`);
    }
    this.renderFiles();
    this.input.focus();
  }

  renderFiles() {
    clear(this.filesEl);
    this.filesEl.hidden = !this.attachments.length;
    for (const attachment of this.attachments) {
      this.filesEl.append(h("li", { dataset: { testid: "pending-attachment" } }, `${attachment.filename} (${formatSize(attachment.size)}) `,
        h("button", {
          type: "button", class: "btn", "aria-label": `Remove ${attachment.filename}`,
          onclick: () => { this.attachments = this.attachments.filter((a) => a !== attachment); this.renderFiles(); this.input.focus(); },
        }, "Remove")));
    }
  }

  // ---- after the chat: rating and transcript -------------------------------------------------------------

  renderAfter() {
    clear(this.afterEl);
    const ended = this.conversation?.status === "closed" && this.conversation.agent_id !== null;
    this.afterEl.hidden = !ended;
    if (!ended) return;
    this.afterEl.append(this.rated ? h("p", { dataset: { testid: "rating-done" } }, "Thank you for your rating!") : this.ratingForm(),
      this.transcriptForm(),
      h("button", { type: "button", class: "btn", onclick: () => this.restart() }, "Start a new chat"));
  }

  ratingForm() {
    let score = 0;
    const error = h("p", { class: "error", role: "alert" });
    const stars = [1, 2, 3, 4, 5].map((n) => h("button", {
      type: "button", "aria-pressed": "false", "aria-label": `${n} out of 5`,
      onclick: () => {
        score = n;
        for (const [i, star] of stars.entries()) star.setAttribute("aria-pressed", String(i + 1 === n));
      },
    }, String(n)));
    const comment = h("textarea", { id: "livechat-rating-comment", rows: "2", maxlength: "2000" });
    return h("form", {
      class: "card", dataset: { testid: "rating" }, "aria-label": "Rate this chat",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        if (!score) { error.textContent = "Choose a score from 1 to 5."; return; }
        /** @type {Schemas["RatingCreate"]} */
        const body = { score };
        if (comment.value.trim()) body.comment = comment.value.trim();
        const { data, error: failed } = await this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/rating", {
          params: { path: this.convPath() }, body,
        });
        if (data) {
          this.rated = true;
          this.say("Thank you for your rating!");
          this.renderAfter();
        } else {
          error.textContent = apiError(failed);
        }
      },
    }, h("p", { id: "livechat-rating-label" }, "How was this chat?"),
      h("div", { class: "stars buttons", role: "group", "aria-labelledby": "livechat-rating-label" }, stars),
      h("label", { for: "livechat-rating-comment" }, "Comment (optional)"), comment, error,
      h("button", { type: "submit", class: "btn primary" }, "Send rating"));
  }

  transcriptForm() {
    const status = h("p", { role: "status" });
    const email = h("input", {
      id: "livechat-transcript-email", type: "email", required: true, autocomplete: "email",
      value: this.visitor?.email ?? "",
    });
    return h("form", {
      class: "card", dataset: { testid: "transcript" }, "aria-label": "Get the transcript",
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        const { data, error } = await this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/transcript", {
          params: { path: this.convPath() }, body: { email: email.value.trim() },
        });
        status.textContent = data ? `The transcript is on its way to ${data.email}.` : apiError(error);
      },
    }, h("label", { for: "livechat-transcript-email" }, "E-mail me the transcript"), email, status,
      h("button", { type: "submit", class: "btn" }, "Send transcript"));
  }

  async restart() {
    this.opened = false;
    await this.open();
    this.focusNext();
  }

  // ---- video: static/lib/call.js renders the call in the call slot -------------------------------------------

  wireCall() {
    this.callWiring = true;
    const url = new URL("lib/call.js", this.base).href;
    import(url).then(async (/** @type {{createCall?: Function}} */ module) => {
      if (typeof module.createCall !== "function" || !this.socket || !this.conversation) return;
      const conversationId = this.conversation.id;
      const callPath = () => ({ params: { path: this.convPath() } });
      // A call already under way (the page was reloaded mid-call): its state is not replayed by the socket,
      // so the latest call comes from REST. Fed first, then the frames that came meanwhile (newer or equal).
      /** @type {Schemas["Call"] | null} */
      let latest = null;
      try {
        const { data } = await this.api.GET("/api/widget/{public_key}/conversations/{conversation_id}/calls", {
          params: { path: this.convPath(), query: { limit: 1 } },
        });
        latest = data?.items[0] ?? null;
      } catch {
        /* offline: the agent's next call.updated brings the call */
      }
      // A new conversation started while this one was loading: its own wiring takes over.
      if (!this.socket || this.conversation?.id !== conversationId || this.call) return;
      const rtc = this.realm.RTCPeerConnection ? { RTCPeerConnection: this.realm.RTCPeerConnection, mediaDevices: this.realm.mediaDevices } : undefined;
      this.call = module.createCall({
        root: this.callSlot,
        role: "visitor",
        conversationId,
        socket: this.socket,
        iceServers: async () => {
          const { data } = await this.api.GET("/api/widget/{public_key}/conversations/{conversation_id}/call/ice-servers", callPath());
          return data ? data.ice_servers : [];
        },
        actions: {
          accept: () => this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/call/accept", callPath()),
          decline: () => this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/call/decline", callPath()),
          hangup: () => this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/call/hangup", callPath()),
          fallbackToText: () => this.api.POST("/api/widget/{public_key}/conversations/{conversation_id}/call/fallback-to-text", callPath()),
        },
        rtc,
        document,
        onStatus: (/** @type {string} */ text) => { if (text) this.say(text); },
      });
      this.callWiring = false;
      const backlog = this.callBacklog ?? [];
      this.callBacklog = null;
      if (latest && latest.status !== "ended") {
        // The agent re-offers an unanswered or failed call every few seconds: this brings the call back.
        /** @type {import("../types/frames").CallUpdatedEvent} */
        const frame = { type: "call.updated", stream: `conversation:${conversationId}`, pos: 0, at: latest.created_at, data: { call: latest } };
        this.call?.handle(frame);
      }
      for (const frame of backlog) this.call?.handle(frame);
    }).catch(() => {
      this.callBacklog = null;  // no video module on this server: the chat stays text
    });
  }

  /** @param {ServerFrame} frame */
  feedCall(frame) {
    if (this.call) this.call.handle(frame);
    else if (this.callBacklog) this.callBacklog.push(frame);
  }
}

/** @param {number} bytes */
function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function newId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Per-field messages of a 422 for the offline form's answers: {key: "message"}.
 * @param {unknown} error
 * @returns {Record<string, string>}
 */
function fieldErrors(error) {
  /** @type {Record<string, string>} */
  const out = {};
  const body = /** @type {{errors?: {json?: {answers?: Record<string, unknown>}}}} */ (error ?? {});
  const answers = body.errors?.json?.answers;
  if (answers && typeof answers === "object") {
    for (const [key, value] of Object.entries(answers)) {
      out[key] = Array.isArray(value) ? value.join(" ") : String(value);
    }
  }
  return out;
}
