/**
 * One chat, opened in the panel: its history (REST) and live messages (socket), typing both ways, read
 * positions, attachments, canned responses, private notes, the visitor's details, and the chat's actions (end,
 * hand back to the bot, transfer, start video). Every text a visitor or an agent wrote goes in as text nodes.
 */
import { h, clear, formatTime, announce } from "../lib/dom.js";
import { apiError } from "../lib/api.js";

/** @typedef {import("./types.js").Conversation} Conversation */
/** @typedef {import("./types.js").Message} Message */
/** @typedef {import("./types.js").Note} Note */
/** @typedef {import("./types.js").Me} Me */
/** @typedef {import("./types.js").CannedResponse} CannedResponse */
/** @typedef {import("./types.js").AgentRef} AgentRef */
/** @typedef {import("./session.js").Session} Session */
/** @typedef {import("../lib/socket.js").LiveSocket} LiveSocket */

const TYPING_IDLE_MS = 3000;
const TYPING_SHOWN_MS = 8000;
const AUTHORS = { visitor: "Visitor", agent: "Agent", bot: "Bot", system: "System" };

/**
 * @typedef {object} PanelContext
 * @property {Session} session
 * @property {LiveSocket} socket
 * @property {Me} me
 * @property {HTMLElement} announcer
 * @property {(conversation: Conversation) => void} onConversation  the chat changed (ended, handed back...)
 * @property {(conversationId: number) => void} onRead  the agent read the chat up to its end
 * @property {() => Promise<CannedResponse[]>} cannedResponses
 * @property {(interfaceId: number) => Promise<AgentRef[]>} colleagues
 */

/**
 * A download link on this page's server: the API the console talks to is the page's own origin, so a signed file
 * link is followed here even when the server names itself by another host (127.0.0.1 or localhost).
 * @param {string} url
 */
function fileHref(url) {
  const parsed = new URL(url, location.href);
  return parsed.pathname.startsWith("/api/files/") ? parsed.pathname + parsed.search : parsed.href;
}

export class ChatPanel {
  /** @param {Conversation} conversation @param {PanelContext} ctx */
  constructor(conversation, ctx) {
    this.conversation = conversation;
    this.id = conversation.id;
    this.ctx = ctx;
    /** @type {Map<number, HTMLElement>} */
    this.messageEls = new Map();
    this.lastSeq = 0;
    this.readSent = conversation.agent_read_seq ?? 0;
    /** @type {number[]} */
    this.pendingFiles = [];
    this.typingSent = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.typingTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.typingShownTimer = undefined;
    this.clientCounter = 0;
    /** @type {{handle: (frame: any) => void, destroy: () => void} | null} The video call, once call.js is wired in */
    this.call = null;
    /** @type {any[]} call frames that came before the call was wired in */
    this.callFrames = [];
    /** whether a call of this chat is ringing or running (Start video waits until it ends) */
    this.callRunning = false;
    this.offering = false;
    const id = this.id;
    this.title = h("h2", { id: `chat-title-${id}` });
    this.status = h("p", { class: "muted", role: "status" });
    this.error = h("p", { class: "error", role: "alert" });
    this.messages = h("ul", {
      class: "messages", "aria-live": "polite", "aria-relevant": "additions",
      "aria-label": "Messages", tabindex: "0", dataset: { testid: "messages" },
    });
    this.typing = h("p", { class: "typing", dataset: { testid: "typing" }, "aria-live": "polite" });
    this.receipt = h("p", { class: "receipt muted", dataset: { testid: "read-receipt" } });
    /** @type {string} whether the visitor is on the page now (visitor.presence); "" until told */
    this.presence = "";
    this.input = h("textarea", {
      id: `chat-input-${id}`, name: "message", dataset: { testid: "chat-input" }, rows: "3",
      maxlength: "4000", oninput: () => this.onInput(),
      onkeydown: (/** @type {KeyboardEvent} */ event) => {
        if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); this.send(); }
      },
    });
    this.sendButton = h("button", { type: "submit", class: "primary", dataset: { testid: "chat-send" } }, "Send");
    this.fileInput = h("input", {
      type: "file", id: `chat-file-${id}`, class: "visually-hidden", dataset: { testid: "chat-file" },
      onchange: () => this.upload(),
    });
    this.pendingList = h("ul", { class: "pending-files", "aria-label": "Files to send" });
    this.cannedSelect = h("select", { id: `canned-${id}`, dataset: { testid: "canned-select" } },
      h("option", { value: "" }, "Canned response…"));
    this.composer = h("form", {
      class: "composer", "aria-label": "Reply", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.send(); },
    },
    h("label", { for: `chat-input-${id}` }, "Message"),
    this.input,
    this.pendingList,
    h("div", { class: "composer-row" },
      this.sendButton,
      this.fileInput,
      h("label", { for: `chat-file-${id}`, class: "file-label" },
        h("span", { class: "button-like" }, "Attach a file")),
      h("label", { for: `canned-${id}`, class: "visually-hidden" }, "Canned response"),
      this.cannedSelect,
      h("button", { type: "button", onclick: () => this.insertCanned() }, "Insert")));

    this.endButton = h("button", { type: "button", class: "danger", onclick: () => this.end() }, "End chat");
    this.handBackButton = h("button", { type: "button", onclick: () => this.handBack() }, "Hand back");
    this.videoButton = h("button", { type: "button", onclick: () => this.offerVideo() }, "Start video");
    this.transferSelect = h("select", { id: `transfer-${id}` }, h("option", { value: "" }, "Transfer to…"));
    this.transferButton = h("button", { type: "button", onclick: () => this.transfer() }, "Transfer");
    this.actions = h("div", { class: "panel-actions" },
      this.videoButton, this.handBackButton, this.endButton,
      h("label", { for: `transfer-${id}`, class: "visually-hidden" }, "Transfer to another agent"),
      this.transferSelect, this.transferButton);
    this.closedBanner = h("p", { class: "closed-banner", hidden: true });
    this.callSlot = h("div", { class: "call-slot", dataset: { testid: "call-slot" } });

    this.visitorInfo = h("dl", { dataset: { testid: "visitor-info" } });
    this.notes = h("ul", { class: "notes", "aria-label": "Private notes", "aria-live": "polite", dataset: { testid: "notes" } });
    this.noteInput = h("textarea", { id: `note-${id}`, name: "note", maxlength: "4000", rows: "2" });
    this.noteError = h("p", { class: "error", role: "alert" });

    this.el = h("section", {
      class: "panel", dataset: { testid: "chat-panel", conversationId: id }, "aria-labelledby": `chat-title-${id}`,
    },
    h("div", { class: "conversation card" },
      h("div", { class: "panel-head" }, h("div", {}, this.title, this.status), this.actions),
      this.closedBanner, this.error, this.callSlot, this.messages, this.receipt, this.typing, this.composer),
    h("div", { class: "side" },
      h("section", { class: "card", "aria-labelledby": `visitor-title-${id}` },
        h("h3", { id: `visitor-title-${id}` }, "Visitor"), this.visitorInfo),
      h("section", { class: "card", "aria-labelledby": `notes-title-${id}` },
        h("h3", { id: `notes-title-${id}` }, "Private notes"),
        h("p", { class: "muted" }, "Only agents see these."),
        this.notes,
        h("form", { class: "notes-form", onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.addNote(); } },
          h("label", { for: `note-${id}` }, "New note"), this.noteInput, this.noteError,
          h("button", { type: "submit" }, "Add note")))));
    this.renderConversation();
  }

  /** Load what the chat needs over REST: messages, notes, canned responses, colleagues. */
  async load() {
    await Promise.all([this.loadMessages(), this.loadNotes(), this.loadCanned(), this.loadColleagues()]);
  }

  async loadMessages() {
    let after = 0;
    for (let page = 0; page < 20; page++) {
      const { data, error } = await this.ctx.session.call((api) => api.GET("/api/conversations/{conversation_id}/messages",
        { params: { path: { conversation_id: this.id }, query: { after, limit: 200 } } }));
      if (!data) { this.error.textContent = apiError(error); return; }
      for (const message of data.items) this.addMessage(message, { quiet: true });
      if (data.next_after == null || !data.items.length) break;
      after = data.next_after;
    }
    this.scrollToEnd();
    this.markRead();
  }

  async loadNotes() {
    const { data } = await this.ctx.session.call((api) => api.GET("/api/conversations/{conversation_id}/notes",
      { params: { path: { conversation_id: this.id }, query: { page_size: 100 } } }));
    for (const note of data?.items ?? []) this.addNote_(note);
  }

  async loadCanned() {
    const responses = await this.ctx.cannedResponses();
    for (const response of responses) {
      const preview = response.text.length > 40 ? `${response.text.slice(0, 40)}…` : response.text;
      this.cannedSelect.append(h("option", { value: String(response.id) }, `/${response.shortcut} — ${preview}`));
    }
  }

  async loadColleagues() {
    const agents = await this.ctx.colleagues(this.conversation.interface_id);
    for (const agent of agents) {
      if (agent.id !== this.ctx.me.id) this.transferSelect.append(h("option", { value: String(agent.id) }, agent.name));
    }
  }

  /** The chat's state changed (conversation.updated, an ack). @param {Conversation} conversation */
  update(conversation) {
    this.conversation = { ...this.conversation, ...conversation };
    this.renderConversation();
  }

  get mine() {
    return this.conversation.status === "active" && this.conversation.agent_id === this.ctx.me.id;
  }

  renderConversation() {
    const c = this.conversation;
    const visitor = c.visitor;
    this.title.textContent = visitor?.name || `Visitor #${c.visitor_id}`;
    this.status.textContent = `Chat #${c.id} · ${c.status}${c.channel === "video" ? " · video" : ""}`;
    const mine = this.mine;
    for (const el of [this.input, this.sendButton, this.endButton, this.handBackButton, this.videoButton,
      this.transferSelect, this.transferButton, this.fileInput, this.cannedSelect]) {
      el.disabled = !mine;
    }
    this.renderVideoButton();
    this.closedBanner.hidden = mine;
    this.closedBanner.textContent = c.status === "closed" ? "This chat has ended."
      : c.status === "bot" ? "The bot leads this conversation again."
        : c.status === "waiting" ? "This chat is waiting for an agent." : "This chat is with another agent.";
    if (!mine) this.typing.textContent = "";

    clear(this.visitorInfo);
    const rows = /** @type {Array<[string, string]>} */ ([
      ["Name", visitor?.name || "Not given"],
      ["E-mail", visitor?.email ? `${visitor.email}${visitor.email_verified ? " (verified)" : ""}` : "Not given"],
    ]);
    if (visitor?.external_id) rows.push(["Site user id", visitor.external_id]);
    rows.push(["Identity", visitor?.verified ? "Verified by the site" : "Not verified"]);
    if (this.presence) rows.push(["On the page", this.presence]);
    for (const [key, value] of Object.entries(visitor?.attributes ?? {})) rows.push([key, String(value)]);
    rows.push(["Started", formatTime(c.created_at)]);
    for (const [term, value] of rows) this.visitorInfo.append(h("dt", {}, term), h("dd", {}, value));
  }

  /** @param {Message} message @param {{quiet?: boolean}} [options] */
  addMessage(message, { quiet = false } = {}) {
    if (message.conversation_id !== this.id || this.messageEls.has(message.seq)) return;
    const author = message.sender_type;
    const name = message.sender_name || (author === "visitor" ? this.conversation.visitor?.name : null)
      || AUTHORS[author] || author;
    const el = h("li", {
      class: "message", dataset: { testid: "message", author, seq: message.seq },
    },
    h("span", { class: "message-meta" }, name, " · ",
      h("time", { datetime: message.created_at }, formatTime(message.created_at))),
    message.text ? h("span", { class: "message-text", dataset: { testid: "message-text" } }, message.text) : null,
    (message.attachments ?? []).map((file) => h("a", {
      class: "attachment-link", href: file.url ? fileHref(file.url) : null, target: "_blank", rel: "noopener noreferrer",
      dataset: { testid: "attachment" },
    }, `Open ${file.filename} (${Math.max(1, Math.round((file.size ?? 0) / 1024))} KB)`)));
    // In order of seq, whatever order they came in.
    const list = this.messages;
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    const later = [...this.messageEls.entries()].filter(([seq]) => seq > message.seq).sort((a, b) => a[0] - b[0])[0];
    if (later) list.insertBefore(el, later[1]); else list.append(el);
    this.messageEls.set(message.seq, el);
    this.lastSeq = Math.max(this.lastSeq, message.seq);
    if (atBottom) this.scrollToEnd();
    if (author === "visitor") this.showTyping(false);
    if (!quiet && author !== "agent") {
      announce(this.ctx.announcer, `${name}: ${message.text || "sent a file"}`);
    }
    if (!quiet) this.markRead();
  }

  scrollToEnd() {
    this.messages.scrollTop = this.messages.scrollHeight;
  }

  /** Tell the server what the agent has seen, when the page is in front. */
  markRead() {
    if (!this.mine || this.lastSeq <= this.readSent || document.visibilityState !== "visible") return;
    const seq = this.lastSeq;
    this.readSent = seq;
    this.ctx.socket.send("read", { conversation_id: this.id, seq }).catch(() => { this.readSent = 0; });
    this.ctx.onRead(this.id);
  }

  /** The visitor read up to `seq`: say so under the agent's messages it covers. @param {number} seq */
  onVisitorRead(seq) {
    const mine = [...this.messageEls.entries()].filter(([n, el]) => n <= seq && el.dataset.author === "agent");
    if (!mine.length) return;
    const last = mine.sort((a, b) => b[0] - a[0])[0];
    const time = last[1].querySelector("time")?.textContent ?? "";
    this.receipt.textContent = `The visitor has read your messages${time ? ` up to ${time}` : ""}.`;
  }

  /** @param {boolean} online @param {string | null | undefined} lastSeen */
  onPresence(online, lastSeen) {
    this.presence = online ? "Yes" : lastSeen ? `Left at ${formatTime(lastSeen)}` : "No";
    this.renderConversation();
  }

  /** @param {any} data typing frame data */
  onTyping(data) {
    if (data.sender_type !== "visitor") return;
    this.showTyping(Boolean(data.typing), data.sender_name);
  }

  /** @param {boolean} on @param {string | null} [name] */
  showTyping(on, name) {
    clearTimeout(this.typingShownTimer);
    this.typing.textContent = on ? `${name || this.conversation.visitor?.name || "The visitor"} is typing…` : "";
    if (on) this.typingShownTimer = setTimeout(() => this.showTyping(false), TYPING_SHOWN_MS);
  }

  onInput() {
    if (!this.mine) return;
    if (!this.typingSent) {
      this.typingSent = true;
      this.ctx.socket.send("typing", { conversation_id: this.id, typing: true }).catch(() => undefined);
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingTimer);
    if (!this.typingSent) return;
    this.typingSent = false;
    this.ctx.socket.send("typing", { conversation_id: this.id, typing: false }).catch(() => undefined);
  }

  async send() {
    const text = this.input.value.trim();
    if (!text && !this.pendingFiles.length) return;
    this.error.textContent = "";
    const attachmentIds = this.pendingFiles;
    const clientId = `c${Date.now().toString(36)}-${(++this.clientCounter).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    this.input.value = "";
    this.pendingFiles = [];
    clear(this.pendingList);
    this.stopTyping();
    try {
      // The message itself comes back as message.created on the chat's stream, like the visitor's.
      await this.ctx.socket.send("message.send", {
        conversation_id: this.id, client_id: clientId, text,
        ...(attachmentIds.length ? { attachment_ids: attachmentIds } : {}),
      });
    } catch (error) {
      this.error.textContent = apiError(error);
      if (!this.input.value) this.input.value = text;
    }
    this.input.focus();
  }

  async upload() {
    const file = this.fileInput.files?.[0];
    if (!file) return;
    this.error.textContent = "";
    const form = new FormData();
    form.append("file", file);
    const { data, error } = await this.ctx.session.call((api) => api.POST("/api/conversations/{conversation_id}/attachments", {
      params: { path: { conversation_id: this.id } },
      body: /** @type {any} */ (form),
      bodySerializer: (/** @type {any} */ body) => body,
    }));
    this.fileInput.value = "";
    if (!data) { this.error.textContent = apiError(error); return; }
    this.pendingFiles.push(data.id);
    const chip = h("li", { dataset: { testid: "pending-file" } }, `${data.filename} `,
      h("button", {
        type: "button", class: "small", "aria-label": `Remove ${data.filename}`,
        onclick: () => { this.pendingFiles = this.pendingFiles.filter((x) => x !== data.id); chip.remove(); },
      }, "Remove"));
    this.pendingList.append(chip);
    announce(this.ctx.announcer, `${data.filename} attached; it goes with your next message`);
  }

  async insertCanned() {
    const id = Number(this.cannedSelect.value);
    if (!id) return;
    const { data, error } = await this.ctx.session.call((api) => api.POST(
      "/api/conversations/{conversation_id}/canned-responses/{canned_response_id}/render",
      { params: { path: { conversation_id: this.id, canned_response_id: id } } }));
    if (!data) { this.error.textContent = apiError(error); return; }
    const { selectionStart: start, selectionEnd: end, value } = this.input;
    this.input.value = value.slice(0, start) + data.text + value.slice(end);
    this.input.focus();
    this.input.selectionStart = this.input.selectionEnd = start + data.text.length;
    this.cannedSelect.value = "";
  }

  /** @param {Note} note */
  addNote_(note) {
    if (note.conversation_id !== this.id || this.notes.querySelector(`[data-note-id="${note.id}"]`)) return;
    this.notes.append(h("li", { class: "note", dataset: { testid: "note", noteId: note.id } },
      h("span", { class: "message-meta" }, note.author_name || "A former agent", " · ", formatTime(note.created_at)),
      note.text));
  }

  async addNote() {
    const text = this.noteInput.value.trim();
    if (!text) return;
    this.noteError.textContent = "";
    const { data, error } = await this.ctx.session.call((api) => api.POST("/api/conversations/{conversation_id}/notes",
      { params: { path: { conversation_id: this.id } }, body: { text } }));
    if (!data) { this.noteError.textContent = apiError(error); return; }
    this.noteInput.value = "";
    this.addNote_(data);
  }

  /** @param {string} what @param {() => Promise<{data?: {conversation?: Conversation} | Conversation, error?: unknown}>} fn */
  async act(what, fn) {
    this.error.textContent = "";
    try {
      const { data, error } = await fn();
      if (!data) { this.error.textContent = `${what}: ${apiError(error)}`; return; }
      const conversation = "conversation" in data && data.conversation ? data.conversation : /** @type {Conversation} */ (data);
      if (conversation && typeof conversation.status === "string") this.ctx.onConversation(conversation);
    } catch (error) {
      this.error.textContent = `${what}: ${apiError(error)}`;
    }
  }

  end() {
    return this.act("End chat", () => this.ctx.session.call((api) => api.POST("/api/conversations/{conversation_id}/end",
      { params: { path: { conversation_id: this.id } } })));
  }

  handBack() {
    return this.act("Hand back", () => this.ctx.session.call((api) => api.POST("/api/conversations/{conversation_id}/hand-back",
      { params: { path: { conversation_id: this.id } }, body: {} })));
  }

  transfer() {
    const agentId = Number(this.transferSelect.value);
    if (!agentId) { this.error.textContent = "Choose the agent to transfer the chat to."; return Promise.resolve(); }
    return this.act("Transfer", () => this.ctx.session.call((api) => api.POST("/api/conversations/{conversation_id}/transfer",
      { params: { path: { conversation_id: this.id } }, body: { agent_id: agentId } })));
  }

  renderVideoButton() {
    const running = this.callRunning || this.offering;
    this.videoButton.disabled = !this.mine || running;
    this.videoButton.title = running ? "A video call is under way in this chat." : "";
  }

  /** What the latest call of this chat is now. @param {string} status ringing | active | ended */
  noteCall(status) {
    this.callRunning = status !== "ended";
    this.renderVideoButton();
  }

  async offerVideo() {
    this.error.textContent = "";
    this.offering = true;
    this.renderVideoButton();
    try {
      await this.ctx.socket.send("call.offer_video", { conversation_id: this.id });
      announce(this.ctx.announcer, "Video offered; waiting for the visitor to accept");
    } catch (error) {
      this.error.textContent = `Start video: ${apiError(error)}`;
    } finally {
      this.offering = false;
      this.renderVideoButton();
    }
  }

  /** @param {any} frame */
  handleCallFrame(frame) {
    if (frame?.type === "call.updated" && typeof frame.data?.call?.status === "string") this.noteCall(frame.data.call.status);
    if (this.call) this.call.handle(frame);
    else if (this.callFrames.length < 200) this.callFrames.push(frame);
  }

  flushCallFrames() {
    const frames = this.callFrames;
    this.callFrames = [];
    for (const frame of frames) this.call?.handle(frame);
  }

  focus() {
    this.input.disabled ? this.messages.focus() : this.input.focus();
  }

  destroy() {
    this.stopTyping();
    clearTimeout(this.typingShownTimer);
    this.call?.destroy();
    this.call = null;
    this.el.remove();
  }
}
