/**
 * An interface's flow and the Live chat component's wizard: add the component (the API fills in its defaults),
 * then its steps, each saved alone with the component's ETag in If-Match: options (live chat and video chat,
 * their buttons), the chat message (with Skip and Back), the messages, the offline form (active or not), the
 * agents who serve the interface (with every interface each one serves), and the preview of what a visitor is
 * shown at each stage, from the API's preview endpoint.
 */
import { h, clear, announce } from "../lib/dom.js";
import { apiError } from "../lib/api.js";
import { FormParts } from "./forms.js";

/** @typedef {import("./session.js").Session} Session */
/** @typedef {import("./types.js").Interface} Interface */
/** @typedef {import("./types.js").Schemas} Schemas */
/** @typedef {Schemas["Component"]} Component */
/** @typedef {Schemas["LiveChatComponent"]} LiveChatComponent */
/** @typedef {Schemas["LiveChatConfig"]} LiveChatConfig */
/** @typedef {Schemas["ComponentPreview"]["stage"]} Stage */

const TEXT_MAX = "2000";
const LABEL_MAX = "40";
const STYLES = /** @type {Array<[string, string]>} */ ([["primary", "Primary"], ["secondary", "Secondary"], ["outline", "Outline"]]);
const STAGES = /** @type {Array<[Stage, string]>} */ ([
  ["start", "The offer (start)"], ["welcome", "Waiting (welcome)"], ["assigned", "Agent accepted"],
  ["video_chat", "Video chat starting"], ["takeover", "Taken over from the bot"], ["offline", "Nobody available (offline)"],
  ["thank_you", "After the offline form"], ["requeued", "Back in the queue"], ["outside_hours", "Outside business hours"],
]);
const MESSAGES = /** @type {Array<[keyof LiveChatConfig["messages"], string]>} */ ([
  ["welcome", "Welcome (while the visitor waits)"], ["assigned", "An agent accepted the live chat"],
  ["video_chat", "An agent accepted the video chat"], ["takeover", "An agent took over from the bot"],
  ["offline", "Nobody is available"], ["requeued", "The agent left; back in the queue"],
]);

export class Wizard {
  /** @param {Session} session @param {Interface} item @param {HTMLElement} host */
  constructor(session, item, host) {
    this.session = session;
    this.item = item;
    this.host = host;
    /** @type {LiveChatComponent | null} */
    this.component = null;
    this.etag = "";
    this.status = h("p", { class: "muted", role: "status", dataset: { testid: "wizard-status" } });
    this.preview = h("div", { class: "preview", dataset: { testid: "preview" }, "aria-live": "polite" });
    this.wizardHost = h("div", { class: "wizard", dataset: { testid: "wizard" } });
    /** @type {{stage: HTMLSelectElement, visitor: HTMLInputElement, agent: HTMLInputElement} | null} */
    this.previewControls = null;
  }

  get path() {
    return { interface_id: this.item.id, component_id: this.component?.id ?? 0 };
  }

  async load() {
    clear(this.host);
    const { data, error } = await this.session.call((api) => api.GET("/api/interfaces/{interface_id}/components",
      { params: { path: { interface_id: this.item.id } } }));
    if (!data) { this.host.append(h("p", { class: "error", role: "alert" }, apiError(error))); return; }
    const steps = h("ol", { class: "flow-steps", dataset: { testid: "flow-steps" } }, data.map((c) => h("li", {},
      c.type === "live_chat" ? "Live chat" : "Message", c.name ? ` “${c.name}”` : "",
      c.type === "message" ? h("span", { class: "muted" }, ` · ${shorten(c.config.text)}`) : "")));
    this.host.append(h("h4", {}, "Components, in order"), data.length ? steps : h("p", { class: "muted" }, "The flow is empty."), this.status);
    const live = /** @type {LiveChatComponent | undefined} */ (data.find((c) => c.type === "live_chat"));
    if (!live) {
      const add = h("button", { type: "button", class: "primary", onclick: () => this.add(add) }, "Add the Live chat component");
      this.host.append(h("p", {}, "This flow has no Live chat component yet: visitors cannot ask for an agent."), add);
      return;
    }
    await this.open(live.id);
  }

  /** @param {HTMLButtonElement} button */
  async add(button) {
    button.disabled = true;
    const { data, error, response } = await this.session.call((api) => api.POST("/api/interfaces/{interface_id}/components",
      { params: { path: { interface_id: this.item.id } }, body: { type: "live_chat" } }));
    button.disabled = false;
    if (!data) { this.status.textContent = apiError(error); return; }
    this.etag = response.headers.get("ETag") ?? "";
    await this.load();
    announce(this.status, "The Live chat component is added with its default settings.");
    /** @type {HTMLElement | null} */ (this.wizardHost.querySelector("h4"))?.focus();
  }

  /** Read the component (and its ETag) and show the wizard's steps. @param {number} id */
  async open(id) {
    const { data, error, response } = await this.session.call((api) => api.GET("/api/interfaces/{interface_id}/components/{component_id}",
      { params: { path: { interface_id: this.item.id, component_id: id } } }));
    if (!data || data.type !== "live_chat") { this.status.textContent = apiError(error); return; }
    this.component = data;
    this.etag = response.headers.get("ETag") ?? "";
    this.render();
    await this.showPreview();
  }

  render() {
    clear(this.wizardHost);
    if (!this.wizardHost.isConnected) this.host.append(this.wizardHost);
    const c = /** @type {LiveChatComponent} */ (this.component);
    this.wizardHost.append(
      h("h4", { tabindex: "-1" }, "Live chat component"),
      this.optionsStep(c.config), this.chatMessageStep(c.config), this.messagesStep(c.config),
      this.offlineFormStep(c.config), this.timeoutStep(), this.agentsStep(), this.previewStep());
  }

  /**
   * Save one step; the new ETag is kept, the preview shown again.
   * @param {FormParts} form
   * @param {(api: import("./session.js").Api, header: {"If-Match": string}) => Promise<{data?: Component, error?: unknown, response: Response}>} send
   */
  async save(form, send) {
    const { data, error, response } = await this.session.call((api) => send(api, { "If-Match": this.etag }));
    if (!data || data.type !== "live_chat") {
      if (response.status === 412) {
        await this.open(this.path.component_id);
        announce(this.status, "Someone changed this component meanwhile: it is shown again as it is now; redo your change.");
        /** @type {HTMLElement | null} */ (this.wizardHost.querySelector("h4"))?.focus();
        return;
      }
      form.showErrors(error);
      return;
    }
    this.component = data;
    this.etag = response.headers.get("ETag") ?? this.etag;
    form.status.textContent = "Saved.";
    await this.showPreview();
  }

  /** @param {LiveChatConfig} config */
  optionsStep(config) {
    const form = new FormParts("Options", (f) => this.save(f, (api, header) => api.PUT(
      "/api/interfaces/{interface_id}/components/{component_id}/live-chat/options",
      { params: { path: this.path, header }, body: {
        live_chat: { enabled: f.isChecked("live_chat.enabled"), label: f.value("live_chat.label"), style: style(f.value("live_chat.style")) },
        video_chat: { enabled: f.isChecked("video_chat.enabled"), label: f.value("video_chat.label"), style: style(f.value("video_chat.style")) },
      } })));
    /** @param {"live_chat" | "video_chat"} which @param {string} name */
    const button = (which, name) => {
      const value = config.options[which];
      return h("fieldset", { class: "group" }, h("legend", {}, name),
        form.control(`${which}.enabled`, `Offer ${name.toLowerCase()}`, "checkbox", { checked: value.enabled }),
        form.control(`${which}.label`, "Button label", "input", { maxlength: LABEL_MAX, value: value.label }, [], `Empty: “${name}”.`),
        form.control(`${which}.style`, "Button style", "select", {}, STYLES));
    };
    const el = step("Options", "wizard-options", form.finish(button("live_chat", "Live chat"), button("video_chat", "Video chat")));
    setSelect(form, "live_chat.style", config.options.live_chat.style);
    setSelect(form, "video_chat.style", config.options.video_chat.style);
    return el;
  }

  /** @param {LiveChatConfig} config */
  chatMessageStep(config) {
    const m = config.chat_message;
    const form = new FormParts("Chat message", (f) => this.save(f, (api, header) => api.PUT(
      "/api/interfaces/{interface_id}/components/{component_id}/live-chat/chat-message",
      { params: { path: this.path, header }, body: {
        text: f.value("text"), show_skip: f.isChecked("show_skip"), skip_label: f.value("skip_label"),
        show_back: f.isChecked("show_back"), back_label: f.value("back_label"),
      } })));
    return step("Chat message", "wizard-chat-message", form.finish(
      form.control("text", "Text shown with the buttons", "textarea", { required: true, maxlength: TEXT_MAX, value: m.text }, [],
        "Placeholders: {visitor_name}, {interface_name}."),
      form.control("show_skip", "Show Skip (goes on with the next component)", "checkbox", { checked: m.show_skip }),
      form.control("skip_label", "Skip label", "input", { required: true, maxlength: LABEL_MAX, value: m.skip_label }),
      form.control("show_back", "Show Back (returns to the previous component)", "checkbox", { checked: m.show_back }),
      form.control("back_label", "Back label", "input", { required: true, maxlength: LABEL_MAX, value: m.back_label })));
  }

  /** @param {LiveChatConfig} config */
  messagesStep(config) {
    const form = new FormParts("Messages", (f) => this.save(f, (api, header) => api.PUT(
      "/api/interfaces/{interface_id}/components/{component_id}/live-chat/messages",
      { params: { path: this.path, header }, body: Object.fromEntries(MESSAGES.map(([key]) => [key, f.value(key)])) })));
    return step("Messages", "wizard-messages", form.finish(
      h("p", { class: "muted" }, "Placeholders: {agent_name} (once an agent is there), {visitor_name}, {interface_name}, {position} (back in the queue)."),
      ...MESSAGES.map(([key, label]) => form.control(key, label, "textarea", { required: true, maxlength: TEXT_MAX, value: config.messages[key] }))));
  }

  /** @param {LiveChatConfig} config */
  offlineFormStep(config) {
    const o = config.offline_form;
    const form = new FormParts("Offline form", (f) => this.save(f, (api, header) => api.PUT(
      "/api/interfaces/{interface_id}/components/{component_id}/live-chat/offline-form",
      { params: { path: this.path, header }, body: {
        active: f.isChecked("active"), thank_you: f.value("thank_you"), submit_label: f.value("submit_label"),
        recipients: f.lines("recipients"), fields: o.fields, branches: o.branches,
      } })));
    return step("Offline form", "wizard-offline-form", form.finish(
      form.control("active", "Offer the offline form when nobody is available", "checkbox", { checked: o.active }, [],
        "Off: the flow goes on with the next component."),
      h("p", { class: "muted" }, `Its fields: ${o.fields.map((field) => `${field.label}${field.required ? " (required)" : ""}`).join(", ") || "none"}.`),
      form.control("submit_label", "Send button label", "input", { required: true, maxlength: LABEL_MAX, value: o.submit_label }),
      form.control("thank_you", "Thank-you message", "textarea", { required: true, maxlength: TEXT_MAX, value: o.thank_you }),
      form.control("recipients", "Recipients", "textarea", { rows: "2", value: o.recipients.join("\n") }, [],
        `One e-mail address per line, at most 20. Empty: the workspace's admins (now ${o.effective_recipients.join(", ") || "nobody"}).`)));
  }

  /** How long a request waits for an agent: a setting of the interface (PATCH), not of the component. */
  timeoutStep() {
    const form = new FormParts("Request timeout", async (f) => {
      const { data, error } = await this.session.call((api) => api.PATCH("/api/interfaces/{interface_id}",
        { params: { path: { interface_id: this.item.id } }, body: { request_timeout_s: Number(f.value("request_timeout_s")) } }));
      if (!data) { f.showErrors(error); return; }
      this.item = data;
      f.status.textContent = "Saved.";
    });
    return step("Request timeout", "wizard-timeout", form.finish(
      form.control("request_timeout_s", "Seconds a request waits for an agent", "input", {
        type: "number", required: true, min: "10", max: "3600", step: "1", value: String(this.item.request_timeout_s),
      }, [], "Then the visitor gets the offline message (and form). The same for every component of this interface.")));
  }

  agentsStep() {
    const list = h("ul", { class: "agents-step", dataset: { testid: "wizard-agents-list" } });
    const el = step("Agents", "wizard-agents", h("div", {},
      h("p", { class: "muted" }, "Who gets this interface's requests, and every interface each one serves. Change it with the interface's Edit."),
      list));
    this.session.call((api) => api.GET("/api/interfaces/{interface_id}/components/{component_id}/live-chat/agents",
      { params: { path: this.path } })).then(({ data, error }) => {
      if (!data) { list.append(h("li", { class: "error" }, apiError(error))); return; }
      if (!data.length) list.append(h("li", { class: "error" }, "Nobody serves this interface: requests go to the offline path."));
      for (const agent of data) {
        list.append(h("li", {}, h("strong", {}, agent.name), ` · ${agent.is_active ? agent.role : "deactivated"} · serves `,
          agent.interfaces.map((i) => i.name).join(", ")));
      }
    });
    return el;
  }

  previewStep() {
    const stage = h("select", { id: "preview-stage", name: "stage" }, STAGES.map(([value, text]) => h("option", { value }, text)));
    const visitor = h("input", { id: "preview-visitor", name: "visitor_name", maxlength: "120", value: "Ann" });
    const agent = h("input", { id: "preview-agent", name: "agent_name", maxlength: "120", value: "Bo" });
    this.previewControls = { stage, visitor, agent };
    const form = h("form", {
      class: "preview-form", "aria-label": "Preview settings",
      onsubmit: (/** @type {Event} */ e) => { e.preventDefault(); this.showPreview(); },
    },
    h("label", { for: "preview-stage" }, "Stage"), stage,
    h("label", { for: "preview-visitor" }, "Visitor's name"), visitor,
    h("label", { for: "preview-agent" }, "Agent's name"), agent,
    h("button", { type: "submit" }, "Show"));
    stage.addEventListener("change", () => this.showPreview());
    return step("Preview", "wizard-preview", h("div", {}, form, this.preview));
  }

  /** What a visitor is shown at the chosen stage, as the API renders it. */
  async showPreview() {
    if (!this.component || !this.previewControls) return;
    const { stage, visitor, agent } = this.previewControls;
    const query = {
      stage: /** @type {Stage} */ (stage.value),
      ...(visitor.value.trim() ? { visitor_name: visitor.value.trim() } : {}),
      ...(agent.value.trim() ? { agent_name: agent.value.trim() } : {}),
    };
    const { data, error } = await this.session.call((api) => api.GET("/api/interfaces/{interface_id}/components/{component_id}/preview",
      { params: { path: this.path, query } }));
    clear(this.preview);
    if (!data) { this.preview.append(h("p", { class: "error" }, apiError(error))); return; }
    this.preview.dataset.stage = data.stage;
    this.preview.append(
      ...data.texts.map((text) => h("p", { class: "preview-text", dataset: { testid: "preview-text" } }, text)),
      data.buttons.length ? h("ul", { class: "preview-buttons", "aria-label": "Buttons the visitor sees" },
        data.buttons.map((b) => h("li", { class: `preview-button ${b.style}`, dataset: { testid: "preview-button", id: b.id } }, b.label))) : "",
      data.form ? h("div", { class: "preview-form-fields", dataset: { testid: "preview-form" } },
        h("p", {}, "Offline form: ", data.form.fields.map((f) => `${f.label}${f.required ? " *" : ""}`).join(", ")),
        h("p", { class: "preview-button primary" }, data.form.submit_label)) : "",
      !data.texts.length && !data.buttons.length && !data.form ? h("p", { class: "muted" }, "Nothing is shown at this stage.") : "");
  }
}

/** @param {string} title @param {string} testid @param {Node} body */
function step(title, testid, body) {
  return h("section", { class: "wizard-step", dataset: { testid }, "aria-label": title }, h("h5", {}, title), body);
}

/** @param {string} value @returns {"primary" | "secondary" | "outline"} */
function style(value) {
  return value === "secondary" || value === "outline" ? value : "primary";
}

/** @param {FormParts} form @param {string} key @param {string} value */
function setSelect(form, key, value) {
  const control = form.fields.get(key)?.control;
  if (control) control.value = value;
}

/** @param {string} text */
function shorten(text) {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}
