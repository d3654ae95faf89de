/**
 * The three notifications (new chat initiated, live chat request, video chat request): a card each, an
 * announcement for screen readers, the tab title, and a browser notification when the tab is hidden and the
 * agent allowed them. A card goes away when the notification is withdrawn (someone else accepted, the visitor
 * left...) or when this agent acts on it.
 */
import { h, formatTime, announce } from "../lib/dom.js";

/** @typedef {import("./types.js").NotificationData} NotificationData */
/** @typedef {"new_chat_initiated" | "live_chat_request" | "video_chat_request"} Kind */
/** @typedef {{data: NotificationData, el: HTMLElement, error: HTMLElement, browser: Notification | null}} Entry */

export const TITLES = {
  new_chat_initiated: "New chat initiated",
  live_chat_request: "Live chat request",
  video_chat_request: "Video chat request",
};

const REASONS = /** @type {Record<string, string>} */ ({
  claimed: "accepted by another agent",
  accepted: "accepted by another agent",
  taken_over: "taken over by another agent",
});

export class Notifications {
  /**
   * @param {{list: HTMLElement, empty: HTMLElement, count: HTMLElement, alerter: HTMLElement, focusAfterRemoval: HTMLElement,
   *   interfaceName: (id: number) => string,
   *   accept: (data: NotificationData) => Promise<string | null>,
   *   takeover: (data: NotificationData) => Promise<string | null>,
   *   sound?: (kind: string) => void}} options
   */
  constructor(options) {
    this.o = options;
    /** @type {Map<number, Entry>} */
    this.entries = new Map();
    this.baseTitle = document.title;
  }

  /** @param {NotificationData} data @param {{quiet?: boolean}} [options] */
  add(data, { quiet = false } = {}) {
    if (this.entries.has(data.notification_id)) return;
    const kind = /** @type {Kind} */ (data.notification_type);
    const title = TITLES[kind] ?? "Notification";
    const who = data.visitor_name || "A visitor";
    const error = h("p", { class: "error", role: "alert" });
    const isRequest = kind !== "new_chat_initiated" && data.request_id != null;
    const action = h("button", {
      type: "button", class: "primary",
      onclick: () => this.act(data, action, error, isRequest),
    }, isRequest ? "Accept" : "Take over");
    const dismiss = h("button", { type: "button", onclick: () => this.remove(data.notification_id) }, "Dismiss");
    const el = h("li", {
      class: quiet ? "notification" : "notification fresh",
      dataset: { testid: "notification", kind, notificationId: String(data.notification_id),
        conversationId: String(data.conversation_id) },
    },
    h("div", { class: "notification-title" }, title),
    h("div", {}, who, " · ", this.o.interfaceName(data.interface_id)),
    h("div", { class: "muted" }, h("time", { datetime: data.created_at }, formatTime(data.created_at))),
    h("div", { class: "notification-actions" }, action, dismiss),
    error);
    this.o.list.prepend(el);
    /** @type {Entry} */
    const entry = { data, el, error, browser: null };
    this.entries.set(data.notification_id, entry);
    this.render();
    if (!quiet) {
      this.o.sound?.(kind);
      announce(this.o.alerter, `${title} from ${who}`);
      entry.browser = this.browserNotification(title, `${who} · ${this.o.interfaceName(data.interface_id)}`);
    }
  }

  /**
   * @param {NotificationData} data @param {HTMLButtonElement} button @param {HTMLElement} error
   * @param {boolean} isRequest
   */
  async act(data, button, error, isRequest) {
    button.disabled = true;
    error.textContent = "";
    const failure = await (isRequest ? this.o.accept(data) : this.o.takeover(data));
    if (failure) {
      error.textContent = failure;
      button.disabled = false;
    } else {
      this.remove(data.notification_id);
    }
  }

  /** @param {number} id @param {string} [reason] */
  withdraw(id, reason) {
    const entry = this.entries.get(id);
    if (!entry) return;
    const why = reason ? REASONS[reason] ?? reason.replaceAll("_", " ") : "withdrawn";
    announce(this.o.alerter, `${TITLES[/** @type {Kind} */ (entry.data.notification_type)] ?? "Notification"} ${why}`);
    this.remove(id);
  }

  /** @param {number} id */
  remove(id) {
    const entry = this.entries.get(id);
    if (!entry) return;
    // Focus inside a card that goes away would fall to the page's start: keep it in the list's section.
    const hadFocus = entry.el.contains(document.activeElement);
    entry.el.remove();
    if (hadFocus) this.o.focusAfterRemoval.focus();
    entry.browser?.close();
    this.entries.delete(id);
    this.render();
  }

  /** Forget every notification of a conversation (it became ours, or ended). @param {number} conversationId */
  removeConversation(conversationId) {
    for (const [id, entry] of this.entries) {
      if (entry.data.conversation_id === conversationId) this.remove(id);
    }
  }

  reset() {
    for (const id of [...this.entries.keys()]) this.remove(id);
  }

  render() {
    const n = this.entries.size;
    this.o.empty.hidden = n > 0;
    this.o.count.hidden = n === 0;
    this.o.count.textContent = String(n);
    this.o.count.setAttribute("aria-label", `${n} waiting`);
    document.title = n ? `(${n}) ${this.baseTitle}` : this.baseTitle;
  }

  /** @param {string} title @param {string} body */
  browserNotification(title, body) {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return null;
    if (document.visibilityState === "visible" && document.hasFocus()) return null;
    try {
      const note = new Notification(title, { body, silent: true, tag: `console-${title}-${body}` });
      note.onclick = () => { window.focus(); note.close(); };
      return note;
    } catch {
      return null;
    }
  }
}

/** Offer the permission prompt (it needs a click) while the browser has not been asked. @param {HTMLButtonElement} button */
export function setUpPermissionButton(button) {
  if (typeof Notification === "undefined" || Notification.permission !== "default") {
    button.hidden = true;
    return;
  }
  button.hidden = false;
  button.onclick = async () => {
    await Notification.requestPermission();
    button.hidden = Notification.permission !== "default";
  };
}
