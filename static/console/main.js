/**
 * The agent console: log in, availability, the notifications, my chats and the chat panel, conversations with
 * the bot to take over, and an admin view. One socket for everything live; REST for history and actions.
 * The open chat lives in the URL's hash (#/chat/12, #/admin).
 */
import { h, clear, formatTime, announce } from "../lib/dom.js";
import { apiError } from "../lib/api.js";
import { LiveSocket, socketUrl } from "../lib/socket.js";
import { Session } from "./session.js";
import { Notifications, setUpPermissionButton } from "./notifications.js";
import { ChatPanel } from "./panel.js";
import { loadAdmin, resetAdmin } from "./admin.js";
import { setUpSearch, resetSearch } from "./search.js";
import { Sound } from "./sound.js";

/** @typedef {import("./types.js").Conversation} Conversation */
/** @typedef {import("./types.js").Message} Message */
/** @typedef {import("./types.js").Me} Me */
/** @typedef {import("./types.js").Interface} Interface */
/** @typedef {import("./types.js").CannedResponse} CannedResponse */
/** @typedef {import("./types.js").NotificationData} NotificationData */
/** @typedef {import("./types.js").ServerFrame} ServerFrame */
/** @typedef {import("./types.js").Availability} Availability */

/**
 * @template {HTMLElement} [E=HTMLElement]
 * @param {string} id
 * @returns {E}
 */
function $(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing`);
  return /** @type {E} */ (el);
}

const view = {
  login: $("login-view"), app: $("app-view"), chatsView: $("chats-view"), admin: $("admin-view"),
  loginForm: /** @type {HTMLFormElement} */ ($("login-form")), loginError: $("login-error"), loginMessage: $("login-message"),
  meName: $("me-name"), availability: /** @type {HTMLButtonElement} */ ($("availability")),
  permission: /** @type {HTMLButtonElement} */ ($("enable-notifications")), connection: $("connection"),
  logout: $("logout"), navChats: $("nav-chats"), navAdmin: $("nav-admin"),
  notifications: $("notifications"), notificationsEmpty: $("notifications-empty"), notificationCount: $("notification-count"),
  chats: $("chats"), chatsEmpty: $("chats-empty"), capacity: $("chat-capacity"),
  bots: $("bots"), botsEmpty: $("bots-empty"), botsError: $("bots-error"), botsRefresh: $("bots-refresh"),
  main: $("main"), placeholder: $("panel-placeholder"), panelHost: $("panel-host"),
  searchForm: /** @type {HTMLFormElement} */ ($("search-form")), searchStatus: $("search-status"),
  searchResults: $("search-results"),
  announcer: $("announcer"), alerter: $("alerter"),
};

const sound = new Sound({ button: /** @type {HTMLButtonElement} */ ($("sound-toggle")) });

const session = new Session({ onExpired: (message) => showLogin(message) });

/**
 * Everything of one logged-in session; dropped whole at log-out.
 * @typedef {object} State
 * @property {Me} me
 * @property {LiveSocket} socket
 * @property {Map<number, Interface>} interfaces
 * @property {Map<number, {conversation: Conversation, unread: number}>} chats
 * @property {Map<number, ChatPanel>} panels
 * @property {number | null} openId
 * @property {Promise<CannedResponse[]> | null} canned
 * @property {boolean} loaded
 * @property {Availability} availability
 * @property {Map<number, import("../types/frames").CallUpdatedEvent>} lastCall  the last call.updated per chat
 */
/** @type {State | null} */
let state = null;
/** @type {Notifications | null} */
let notifications = null;

/** What call.js exports, when it is there (the console works without it). */
/** @type {Promise<any> | null} */
let callModule = null;

// ---------------------------------------------------------------------------------------------- log in / out

view.loginForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = new FormData(view.loginForm);
  const button = /** @type {HTMLButtonElement} */ (view.loginForm.querySelector("button[type=submit]"));
  view.loginError.textContent = "";
  button.disabled = true;
  try {
    const failure = await session.login(String(form.get("email") ?? "").trim(), String(form.get("password") ?? ""));
    if (failure) { view.loginError.textContent = failure; return; }
    view.loginForm.reset();
    if (session.user) start(session.user);
  } catch (error) {
    view.loginError.textContent = apiError(error);
  } finally {
    button.disabled = false;
  }
});

view.logout.addEventListener("click", async () => {
  const wasOnline = state?.availability === "online";
  stop();
  if (wasOnline) await session.call((api) => api.PUT("/api/availability", { body: { availability: "offline" } })).catch(() => undefined);
  await session.logout();
  history.replaceState(null, "", location.pathname);
  showLogin("You logged out.");
});

/** @param {string} [message] */
function showLogin(message = "") {
  stop();
  view.app.hidden = true;
  view.login.hidden = false;
  view.loginMessage.textContent = message;
  document.title = "Log in · Agent console";
  /** @type {HTMLInputElement} */ (view.loginForm.elements.namedItem("email")).focus();
}

function stop() {
  if (!state) return;
  state.socket.close();
  for (const panel of state.panels.values()) panel.destroy();
  notifications?.reset();
  resetSearch(view.searchForm, view.searchStatus, view.searchResults);
  resetAdmin();
  clear(view.chats);
  clear(view.bots);
  state = null;
}

// ---------------------------------------------------------------------------------------------- start

/** @param {Me} me */
function start(me) {
  stop();
  view.login.hidden = true;
  view.app.hidden = false;
  document.title = "Agent console";
  view.meName.textContent = me.name;
  view.navAdmin.hidden = me.role !== "admin";
  notifications = new Notifications({
    list: view.notifications, empty: view.notificationsEmpty, count: view.notificationCount, alerter: view.alerter,
    focusAfterRemoval: $("notifications-title"),
    interfaceName: (id) => state?.interfaces.get(id)?.name ?? `Interface #${id}`,
    accept, takeover: (data) => takeover(data.conversation_id),
    sound: (kind) => sound.play(kind),
  });
  notifications.render();
  setUpPermissionButton(view.permission);
  const socket = new LiveSocket({
    url: socketUrl(location.origin),
    getTicket: () => session.ticket(),
    storageKey: `console.socket.${me.id}`,
    onFrame: (/** @type {ServerFrame} */ frame) => onFrame(frame),
    onState: (/** @type {string} */ s) => onSocketState(s),
    onRefetch: (/** @type {string} */ stream) => onRefetch(stream),
  });
  state = {
    me, socket, interfaces: new Map(), chats: new Map(), panels: new Map(), openId: null, canned: null,
    loaded: false, availability: "offline", lastCall: new Map(),
  };
  loadCallModule();
  loadAvailability();
  route();
}

/** @param {string} s */
function onSocketState(s) {
  const texts = /** @type {Record<string, string>} */ ({
    connecting: "Connecting…", open: "Connected", closed: "Reconnecting…", revoked: "Signed out",
  });
  view.connection.textContent = texts[s] ?? s;
  view.connection.classList.toggle("down", s !== "open");
  if (s === "revoked") session.expire("Your session was ended. Log in again.");
  if (s === "open" && state && !state.loaded) {
    state.loaded = true;
    loadEverything();
  }
}

async function loadEverything() {
  await loadInterfaces();
  await Promise.all([loadChats(), loadNotifications(), loadBots()]);
  route();
}

async function loadInterfaces() {
  const { data } = await session.call((api) => api.GET("/api/interfaces", { params: { query: { page_size: 100 } } }));
  if (!state || !data) return;
  for (const item of data.items) state.interfaces.set(item.id, item);
}

async function loadChats() {
  const { data, error } = await session.call((api) => api.GET("/api/conversations", { params: { query: { scope: "mine", page_size: 100 } } }));
  if (!state) return;
  if (!data) { announce(view.alerter, `Could not load your chats: ${apiError(error)}`); return; }
  for (const conversation of data.items) applyConversation(conversation);
  renderChats();
}

async function loadNotifications() {
  const { data } = await session.call((api) => api.GET("/api/notifications", { params: { query: { page_size: 50 } } }));
  if (!state || !data || !notifications) return;
  for (const item of [...data.items].reverse()) {
    if (item.status !== "pending") continue;
    notifications.add({
      notification_id: item.id, notification_type: item.type, conversation_id: item.conversation_id,
      interface_id: item.interface_id, request_id: item.request_id ?? null, visitor_name: null, created_at: item.created_at,
    }, { quiet: true });
  }
}

// ---------------------------------------------------------------------------------------------- availability

async function loadAvailability() {
  const { data } = await session.call((api) => api.GET("/api/availability"));
  if (data) renderAvailability(data.availability);
}

/** @param {Availability} value */
function renderAvailability(value) {
  if (!state) return;
  state.availability = value;
  const text = value === "online" ? "Online" : value === "away" ? "Away" : "Offline";
  view.availability.textContent = text;
  view.availability.setAttribute("aria-pressed", String(value === "online"));
  view.availability.title = value === "online" ? "You receive requests. Click to go offline." : "Click to go online and receive requests.";
}

view.availability.addEventListener("click", async () => {
  if (!state) return;
  const next = state.availability === "online" ? "offline" : "online";
  view.availability.disabled = true;
  const { data, error } = await session.call((api) => api.PUT("/api/availability", { body: { availability: next } }));
  view.availability.disabled = false;
  if (data) {
    renderAvailability(data.availability);
    announce(view.announcer, `You are ${data.availability}`);
  } else {
    announce(view.alerter, `Could not change your availability: ${apiError(error)}`);
  }
});

// ---------------------------------------------------------------------------------------------- frames

/** @param {ServerFrame} frame */
function onFrame(frame) {
  if (!state) return;
  switch (frame.type) {
    case "live_chat_request":
    case "video_chat_request":
    case "new_chat_initiated":
      notifications?.add(frame.data);
      if (frame.type === "new_chat_initiated") loadBotsSoon();
      break;
    case "notification.withdrawn":
      notifications?.withdraw(frame.data.notification_id, frame.data.reason);
      loadBotsSoon();
      break;
    case "conversation.updated":
      applyConversation(frame.data.conversation);
      renderChats();
      state.panels.get(frame.data.conversation.id)?.handleCallFrame(frame);
      if (frame.data.conversation.status === "bot" || frame.data.conversation.status === "waiting") loadBotsSoon();
      break;
    case "message.created":
      onMessage(frame.data.message);
      break;
    case "typing":
      state.panels.get(frame.data.conversation_id)?.onTyping(frame.data);
      break;
    case "conversation.read":
      if (frame.data.reader === "visitor") state.panels.get(frame.data.conversation_id)?.onVisitorRead(frame.data.seq);
      break;
    case "visitor.presence":
      state.panels.get(frame.data.conversation_id)?.onPresence(frame.data.online, frame.data.last_seen_at);
      break;
    case "note.created":
      if (frame.data.note.conversation_id != null) state.panels.get(frame.data.note.conversation_id)?.addNote_(frame.data.note);
      break;
    case "session.revoked":
      session.expire("Your session was ended. Log in again.");
      break;
    default:
      if (frame.type === "call.updated") state.lastCall.set(frame.data.call.conversation_id, frame);
      if (frame.type.startsWith("call.")) {
        const data = /** @type {any} */ (frame).data;
        const id = data?.call?.conversation_id ?? data?.conversation_id;
        if (typeof id === "number") state.panels.get(id)?.handleCallFrame(frame);
      }
  }
}

/** @param {string} stream */
function onRefetch(stream) {
  if (!state) return;
  if (stream.startsWith("user:")) {
    loadChats();
    loadNotifications();
  } else if (stream.startsWith("conversation:")) {
    state.panels.get(Number(stream.split(":")[1]))?.loadMessages();
  }
}

/** @param {Conversation} conversation */
function applyConversation(conversation) {
  if (!state) return;
  const mine = conversation.status === "active" && conversation.agent_id === state.me.id;
  const known = state.chats.get(conversation.id);
  if (mine) {
    state.chats.set(conversation.id, {
      conversation: { ...known?.conversation, ...conversation },
      unread: known ? known.unread : ("unread_count" in conversation ? conversation.unread_count ?? 0 : 0),
    });
    notifications?.removeConversation(conversation.id);
  } else {
    state.chats.delete(conversation.id);
  }
  state.panels.get(conversation.id)?.update(conversation);
}

/** @param {Message} message */
function onMessage(message) {
  if (!state) return;
  const panel = state.panels.get(message.conversation_id);
  panel?.addMessage(message);
  const chat = state.chats.get(message.conversation_id);
  if (!chat || message.sender_type !== "visitor") return;
  const seen = state.openId === message.conversation_id && document.visibilityState === "visible";
  if (!seen) {
    chat.unread += 1;
    renderChats();
    if (state.openId !== message.conversation_id) {
      announce(view.announcer, `New message from ${chat.conversation.visitor?.name || "a visitor"}`);
    }
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state?.openId != null) state.panels.get(state.openId)?.markRead();
});

// ---------------------------------------------------------------------------------------------- chat list

function renderChats() {
  if (!state) return;
  const s = state;
  clear(view.chats);
  const chats = [...s.chats.values()].sort((a, b) => a.conversation.id - b.conversation.id);
  for (const { conversation, unread } of chats) {
    const name = conversation.visitor?.name || `Visitor #${conversation.visitor_id}`;
    view.chats.append(h("li", {},
      h("button", {
        type: "button", class: "chat-item",
        dataset: { testid: "chat-item", conversationId: conversation.id },
        "aria-current": s.openId === conversation.id ? "true" : null,
        onclick: () => { location.hash = `#/chat/${conversation.id}`; },
      },
      h("span", {}, name, h("span", { class: "muted" }, conversation.channel === "video" ? " · video" : "")),
      unread ? h("span", { class: "badge", dataset: { testid: "unread" }, "aria-label": `${unread} unread` }, String(unread)) : null)));
  }
  view.chatsEmpty.hidden = chats.length > 0;
  view.capacity.textContent = `(${chats.length} of ${s.me.max_chats})`;
}

/** @param {number} id */
async function openChat(id) {
  if (!state) return;
  const s = state;
  showView("chats");
  let panel = s.panels.get(id);
  if (!panel) {
    let conversation = s.chats.get(id)?.conversation;
    if (!conversation) {
      const { data } = await session.call((api) => api.GET("/api/conversations/{conversation_id}", { params: { path: { conversation_id: id } } }));
      if (!data || state !== s) return;
      conversation = data;
    }
    if (s.panels.has(id)) return openChat(id);
    panel = new ChatPanel(conversation, {
      session, socket: s.socket, me: s.me, announcer: view.announcer,
      onConversation: (c) => { applyConversation(c); renderChats(); },
      onRead: (conversationId) => {
        const chat = s.chats.get(conversationId);
        if (chat && chat.unread) { chat.unread = 0; renderChats(); }
      },
      cannedResponses: () => (s.canned ??= loadCanned()),
      colleagues: async (interfaceId) => s.interfaces.get(interfaceId)?.agents ?? [],
    });
    s.panels.set(id, panel);
    view.panelHost.append(panel.el);
    attachCall(panel);
    knowCall(panel);
    panel.load();
  }
  // Chats that are no longer ours are dropped once the agent looks elsewhere.
  for (const [otherId, other] of s.panels) {
    if (otherId !== id && !s.chats.has(otherId)) { other.destroy(); s.panels.delete(otherId); }
  }
  for (const other of s.panels.values()) other.el.hidden = other !== panel;
  s.openId = id;
  view.placeholder.hidden = true;
  renderChats();
  panel.markRead();
  panel.focus();
}

/** @returns {Promise<CannedResponse[]>} */
async function loadCanned() {
  const { data } = await session.call((api) => api.GET("/api/canned-responses", { params: { query: { page_size: 100 } } }));
  return data?.items ?? [];
}

// ---------------------------------------------------------------------------------------------- accept / take over

/** @param {NotificationData} data @returns {Promise<string | null>} */
async function accept(data) {
  if (!state || data.request_id == null) return "This notification has no request to accept.";
  const requestId = data.request_id;
  const { data: conversation, error } = await session.call((api) => api.POST("/api/requests/{request_id}/accept",
    { params: { path: { request_id: requestId } } }));
  if (!conversation) return acceptError(error);
  applyConversation(conversation);
  renderChats();
  location.hash = `#/chat/${conversation.id}`;
  return null;
}

/** @param {number} conversationId @returns {Promise<string | null>} */
async function takeover(conversationId) {
  if (!state) return null;
  const { data, error } = await session.call((api) => api.POST("/api/conversations/{conversation_id}/takeover",
    { params: { path: { conversation_id: conversationId } } }));
  if (!data) return acceptError(error);
  applyConversation(data);
  renderChats();
  loadBotsSoon();
  location.hash = `#/chat/${data.id}`;
  return null;
}

/** @param {unknown} error */
function acceptError(error) {
  const code = /** @type {{code?: string}} */ (error ?? {}).code;
  if (code === "capacity_full") {
    return `You are at your maximum of ${state?.me.max_chats} chats. End or transfer a chat before taking another.`;
  }
  if (code === "request_taken") return "Another agent accepted this request first.";
  if (code === "not_in_bot_phase") return "The bot no longer leads this conversation.";
  return apiError(error);
}

// ---------------------------------------------------------------------------------------------- bot conversations

/** @type {ReturnType<typeof setTimeout> | undefined} */
let botsTimer;
function loadBotsSoon() {
  clearTimeout(botsTimer);
  botsTimer = setTimeout(loadBots, 300);
}

async function loadBots() {
  if (!state) return;
  const { data, error } = await session.call((api) => api.GET("/api/conversations", { params: { query: { scope: "bot", page_size: 50 } } }));
  if (!state) return;
  view.botsError.textContent = data ? "" : apiError(error);
  clear(view.bots);
  for (const conversation of data?.items ?? []) {
    const name = conversation.visitor?.name || `Visitor #${conversation.visitor_id}`;
    const error = h("p", { class: "error", role: "alert" });
    const button = h("button", {
      type: "button", class: "small", "aria-label": `Take over the conversation with ${name}`,
      onclick: async () => {
        button.disabled = true;
        const failure = await takeover(conversation.id);
        if (failure) { error.textContent = failure; button.disabled = false; }
      },
    }, "Take over");
    view.bots.append(h("li", { class: "bot-item", dataset: { testid: "bot-conversation", conversationId: conversation.id } },
      h("span", {}, name, h("span", { class: "muted" }, " · ", formatTime(conversation.initiated_at ?? conversation.created_at))),
      button, error));
  }
  view.botsEmpty.hidden = Boolean(data?.items.length);
}

view.botsRefresh.addEventListener("click", () => loadBots());

setUpSearch({
  session, form: view.searchForm, status: view.searchStatus, results: view.searchResults,
  open: (id) => { location.hash = `#/chat/${id}`; },
});

// ---------------------------------------------------------------------------------------------- video

/** The call module, when static/lib/call.js is served (the console works without it). */
function loadCallModule() {
  // A computed specifier: the console must load and type-check while call.js is absent.
  callModule ??= import(new URL("../lib/call.js", import.meta.url).href).then((module) => {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL("../lib/call.css", import.meta.url).href;
    document.head.append(link);
    return module;
  }, () => null);
  return callModule;
}

/**
 * Wire the video call into a chat panel: the call UI renders into its call slot, and the call learns the
 * call's current state from the last call.updated this page saw (or, after a reload, from the REST list).
 * @param {ChatPanel} panel
 */
async function attachCall(panel) {
  const module = await loadCallModule();
  if (!module?.createCall || !state || panel.call || !panel.el.isConnected) return;
  const s = state;
  const id = panel.id;
  // The call's root lives in the slot (createCall marks its root as [data-testid=call]).
  const root = h("div", { class: "call-root" });
  panel.callSlot.append(root);
  panel.call = module.createCall({
    root, role: "agent", conversationId: id, socket: s.socket,
    iceServers: async () => {
      const { data } = await session.call((api) => api.GET("/api/conversations/{conversation_id}/call/ice-servers",
        { params: { path: { conversation_id: id } } }));
      return data?.ice_servers ?? [];
    },
    onStatus: (/** @type {string} */ text) => { if (text) announce(view.announcer, text); },
  });
  const seen = s.lastCall.get(id);
  if (seen) {
    panel.call?.handle(seen);
  } else {
    const frame = await latestCallFrame(id);
    if (frame && !s.lastCall.has(id)) panel.call?.handle(frame);
  }
  panel.flushCallFrames();
}

/**
 * The chat's running call from the REST list, as the call.updated frame that told of it (null when none runs).
 * @param {number} id
 * @returns {Promise<import("../types/frames").CallUpdatedEvent | null>}
 */
async function latestCallFrame(id) {
  const { data } = await session.call((api) => api.GET("/api/conversations/{conversation_id}/calls",
    { params: { path: { conversation_id: id }, query: { limit: 1 } } }));
  const latest = data?.items[0];
  if (!latest || latest.status === "ended") return null;
  return { type: "call.updated", stream: `conversation:${id}`, pos: 0, at: latest.created_at, data: { call: latest } };
}

/**
 * Start video waits while a call of the chat rings or runs: the panel learns the current call from the last
 * call.updated this page saw, or after a reload from the REST list.
 * @param {ChatPanel} panel
 */
async function knowCall(panel) {
  const s = state;
  const seen = s?.lastCall.get(panel.id);
  if (seen) { panel.noteCall(seen.data.call.status); return; }
  const frame = await latestCallFrame(panel.id);
  if (frame && state === s && !s?.lastCall.has(panel.id)) panel.noteCall(frame.data.call.status);
}

// ---------------------------------------------------------------------------------------------- views

/** @param {"chats" | "admin"} which */
function showView(which) {
  view.chatsView.hidden = which !== "chats";
  view.admin.hidden = which !== "admin";
  view.navChats.setAttribute("aria-current", which === "chats" ? "page" : "false");
  view.navAdmin.setAttribute("aria-current", which === "admin" ? "page" : "false");
}

// The skip link moves focus without touching the hash (the hash says which chat is open).
document.querySelector(".skip-link")?.addEventListener("click", (event) => {
  event.preventDefault();
  const target = state?.openId != null ? state.panels.get(state.openId) : null;
  if (target) target.focus(); else view.main.focus();
});

view.navChats.addEventListener("click", () => {
  location.hash = state?.openId != null ? `#/chat/${state.openId}` : "#/";
  if (!state?.openId) showView("chats");
});
view.navAdmin.addEventListener("click", () => { location.hash = "#/admin"; });

function route() {
  if (!state) return;
  const hash = location.hash;
  const chat = /^#\/chat\/(\d+)$/.exec(hash);
  if (chat) {
    openChat(Number(chat[1]));
  } else if (hash === "#/admin" && state.me.role === "admin") {
    showView("admin");
    loadAdmin(session, view.admin).then(() => view.admin.focus());
  } else {
    showView("chats");
  }
}
window.addEventListener("hashchange", route);

// ---------------------------------------------------------------------------------------------- boot

session.resume().then((me) => (me ? start(me) : showLogin()), () => showLogin());
