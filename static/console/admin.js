/**
 * The admin's view: the workspace's agents (add, edit, deactivate, delete, send the invitation again) and chat
 * interfaces (add, rename, allowed origins, request timeout, agents), each with a link to its demo page, and
 * the Live chat component's wizard of an interface's flow (wizard.js). The API refuses all of it to agents;
 * the console only shows it to admins.
 */
import { h, clear, announce } from "../lib/dom.js";
import { apiError } from "../lib/api.js";
import { FormParts } from "./forms.js";
import { Wizard } from "./wizard.js";

/** @typedef {import("./session.js").Session} Session */
/** @typedef {import("./types.js").Agent} Agent */
/** @typedef {import("./types.js").Interface} Interface */

/** Limits of the spec (AgentInput, InterfaceInput). */
const NAME_MAX = 120;
const EMAIL_MAX = 254;
const ORIGIN_MAX = 255;
const ORIGINS_MAX = 50;

/**
 * @template {HTMLElement} E
 * @param {HTMLElement} root @param {string} selector @returns {E}
 */
function find(root, selector) {
  const el = root.querySelector(selector);
  if (!el) throw new Error(`${selector} is missing`);
  return /** @type {E} */ (el);
}

class Admin {
  /** @param {Session} session @param {HTMLElement} root */
  constructor(session, root) {
    this.session = session;
    this.root = root;
    this.error = find(root, "#admin-error");
    this.status = find(root, "#admin-status");
    this.agentsBody = find(root, "#agents-table tbody");
    this.interfacesBody = find(root, "#interfaces-table tbody");
    this.agentFormHost = find(root, "#agent-form-host");
    this.interfaceFormHost = find(root, "#interface-form-host");
    this.flowSection = find(root, "#flow-section");
    this.flowTitle = find(root, "#flow-title");
    this.flowHost = find(root, "#flow-host");
    /** @type {Agent[]} */
    this.agents = [];
    /** @type {Interface[]} */
    this.interfaces = [];
    /** @type {Wizard | null} */
    this.wizard = null;
    find(root, "#agent-new").addEventListener("click", () => this.editAgent(null));
    find(root, "#interface-new").addEventListener("click", () => this.editInterface(null));
  }

  reset() {
    clear(this.agentsBody);
    clear(this.interfacesBody);
    clear(this.agentFormHost);
    clear(this.interfaceFormHost);
    clear(this.flowHost);
    this.flowSection.hidden = true;
    this.wizard = null;
    this.error.textContent = "";
    this.status.textContent = "";
  }

  async load() {
    const [agents, interfaces] = await Promise.all([
      this.session.call((api) => api.GET("/api/agents", { params: { query: { page_size: 100 } } })),
      this.session.call((api) => api.GET("/api/interfaces", { params: { query: { page_size: 100 } } })),
    ]);
    this.error.textContent = [agents, interfaces].map((r) => (r.data ? "" : apiError(r.error))).filter(Boolean).join(" ");
    this.agents = agents.data?.items ?? this.agents;
    this.interfaces = interfaces.data?.items ?? this.interfaces;
    this.render();
  }

  /** @param {string} text */
  say(text) {
    announce(this.status, text);
  }

  render() {
    clear(this.agentsBody);
    for (const agent of this.agents) {
      const actions = h("div", { class: "row-actions" });
      this.agentsBody.append(h("tr", { dataset: { testid: "agent-row", agentId: agent.id } },
        h("td", {}, agent.name, agent.is_active ? "" : " (deactivated)", agent.has_password ? "" : h("span", { class: "muted" }, " · invited")),
        h("td", {}, agent.email),
        h("td", { class: "short" }, agent.role ?? "agent"),
        h("td", { class: "short", dataset: { testid: "agent-max-chats" } }, String(agent.max_chats ?? "")),
        h("td", {}, (agent.interfaces ?? []).map((i) => i.name).join(", ") || "None"),
        h("td", {}, actions)));
      this.agentActions(agent, actions);
    }
    clear(this.interfacesBody);
    for (const item of this.interfaces) {
      this.interfacesBody.append(h("tr", { dataset: { testid: "interface-row", interfaceId: item.id } },
        h("td", {}, item.name),
        h("td", {}, (item.agents ?? []).map((a) => a.name).join(", ") || "None"),
        h("td", {}, h("code", {}, item.public_key)),
        h("td", {}, h("a", { href: `/demo/${encodeURIComponent(item.public_key)}`, target: "_blank", rel: "noopener" },
          "Open the demo page", h("span", { class: "visually-hidden" }, ` of ${item.name}`))),
        h("td", {}, h("div", { class: "row-actions" },
          h("button", { type: "button", class: "small", "aria-label": `Edit ${item.name}`, onclick: () => this.editInterface(item) }, "Edit"),
          h("button", { type: "button", class: "small", "aria-label": `Flow of ${item.name}`, onclick: () => this.openFlow(item) }, "Flow")))));
    }
  }

  /** @param {Agent} agent @param {HTMLElement} cell */
  agentActions(agent, cell) {
    clear(cell);
    const who = agent.name;
    const edit = h("button", { type: "button", class: "small", "aria-label": `Edit ${who}`, onclick: () => this.editAgent(agent) }, "Edit");
    const active = h("button", {
      type: "button", class: "small", "aria-label": `${agent.is_active ? "Deactivate" : "Reactivate"} ${who}`,
      onclick: () => this.patchAgent(agent, { is_active: !agent.is_active }, agent.is_active ? `${who} is deactivated.` : `${who} is active again.`),
    }, agent.is_active ? "Deactivate" : "Reactivate");
    const invite = !agent.has_password && agent.is_active ? h("button", {
      type: "button", class: "small", "aria-label": `Resend invitation to ${who}`, onclick: () => this.resendInvitation(agent),
    }, "Resend invitation") : null;
    const remove = h("button", {
      type: "button", class: "small danger", "aria-label": `Delete ${who}`,
      onclick: () => {
        // Ask once more in the row itself (no blocking dialog).
        clear(cell);
        const yes = h("button", { type: "button", class: "small danger", onclick: () => this.deleteAgent(agent) }, `Yes, delete ${who}`);
        cell.append(h("span", {}, "Delete for good? "), yes,
          h("button", { type: "button", class: "small", onclick: () => this.agentActions(agent, cell) }, "Cancel"));
        yes.focus();
      },
    }, "Delete");
    cell.append(edit, active, invite ?? "", remove);
  }

  /** @param {Agent} agent @param {import("./types.js").Schemas["AgentUpdate"]} body @param {string} done */
  async patchAgent(agent, body, done) {
    this.error.textContent = "";
    const { data, error } = await this.session.call((api) => api.PATCH("/api/agents/{agent_id}",
      { params: { path: { agent_id: agent.id } }, body }));
    if (!data) { this.error.textContent = apiError(error); return; }
    this.say(done);
    await this.load();
    // The row is drawn again: focus goes back to the same place in it.
    const row = this.agentsBody.querySelector(`[data-agent-id="${agent.id}"]`);
    /** @type {HTMLElement | undefined} */ ([...(row?.querySelectorAll("button") ?? [])]
      .find((b) => /activate/i.test(b.textContent ?? "")))?.focus();
  }

  /** @param {Agent} agent */
  async resendInvitation(agent) {
    this.error.textContent = "";
    const { data, error } = await this.session.call((api) => api.POST("/api/agents/{agent_id}/invitation",
      { params: { path: { agent_id: agent.id } } }));
    if (!data) { this.error.textContent = apiError(error); return; }
    this.say(`The invitation went to ${data.email} again.`);
  }

  /** @param {Agent} agent */
  async deleteAgent(agent) {
    this.error.textContent = "";
    const { response, error } = await this.session.call((api) => api.DELETE("/api/agents/{agent_id}",
      { params: { path: { agent_id: agent.id } } }));
    if (!response.ok) this.error.textContent = apiError(error);
    else this.say(`${agent.name} is deleted.`);
    await this.load();
    /** @type {HTMLElement} */ (this.root.querySelector("#agent-new")).focus();
  }

  /** The form to add an agent (null) or edit one. @param {Agent | null} agent */
  editAgent(agent) {
    clear(this.agentFormHost);
    const title = agent ? `Edit ${agent.name}` : "Add an agent";
    const parts = new FormParts(title, async (form) => {
      const fields = {
        name: form.value("name").trim(), email: form.value("email").trim(), max_chats: Number(form.value("max_chats")),
        role: /** @type {"admin" | "agent"} */ (form.value("role") === "admin" ? "admin" : "agent"), interface_ids: form.checked("interface_ids"),
      };
      if (agent) {
        /** @type {import("./types.js").Schemas["AgentUpdate"]} */
        const body = {};
        if (fields.name !== agent.name) body.name = fields.name;
        if (fields.email.toLowerCase() !== agent.email.toLowerCase()) body.email = fields.email;
        if (fields.max_chats !== agent.max_chats) body.max_chats = fields.max_chats;
        if (fields.role !== agent.role) body.role = fields.role;
        const sorted = (/** @type {number[]} */ ids) => [...ids].sort((a, b) => a - b).join();
        if (sorted(fields.interface_ids) !== sorted(agent.interface_ids)) body.interface_ids = fields.interface_ids;
        if (!Object.keys(body).length) { form.status.textContent = "Nothing changed."; return; }
        const { data, error } = await this.session.call((api) => api.PATCH("/api/agents/{agent_id}",
          { params: { path: { agent_id: agent.id } }, body }));
        if (!data) { form.showErrors(error, { email_taken: "email", last_admin: "role" }); return; }
        this.say(`${data.name} is saved.`);
      } else {
        const { data, error } = await this.session.call((api) => api.POST("/api/agents", { body: fields }));
        if (!data) { form.showErrors(error, { email_taken: "email" }); return; }
        this.say(`${data.name} is added; the invitation is on its way to ${data.email}.`);
      }
      clear(this.agentFormHost);
      await this.load();
      /** @type {HTMLElement} */ (this.root.querySelector("#agent-new")).focus();
    });
    parts.cancellable(() => { clear(this.agentFormHost); /** @type {HTMLElement} */ (this.root.querySelector("#agent-new")).focus(); });
    const form = parts.finish(
      h("h4", {}, title),
      parts.control("name", "Name", "input", { required: true, maxlength: String(NAME_MAX), value: agent?.name ?? "", autocomplete: "off" }),
      parts.control("email", "E-mail", "input", { type: "email", required: true, maxlength: String(EMAIL_MAX), value: agent?.email ?? "", autocomplete: "off" }),
      parts.control("max_chats", "Max chats at once", "input", { type: "number", required: true, min: "1", max: "50", step: "1", value: String(agent?.max_chats ?? 3) }),
      parts.control("role", "Role", "select", {}, [["agent", "Agent"], ["admin", "Admin"]]),
      parts.checkboxes("interface_ids", "Interfaces served", this.interfaces.map((i) => ({
        value: i.id, label: i.name,
        detail: (i.agents ?? []).length ? `served by ${(i.agents ?? []).map((a) => a.name).join(", ")}` : "nobody serves it yet",
      })), agent?.interface_ids ?? []));
    /** @type {HTMLSelectElement} */ (parts.fields.get("role")?.control).value = agent?.role ?? "agent";
    form.dataset.testid = "agent-form";
    this.agentFormHost.append(form);
    parts.fields.get("name")?.control?.focus();
  }

  /** The form to add an interface (null) or edit one. @param {Interface | null} item */
  editInterface(item) {
    clear(this.interfaceFormHost);
    const title = item ? `Edit ${item.name}` : "Add a chat interface";
    const parts = new FormParts(title, async (form) => {
      const fields = {
        name: form.value("name").trim(), allowed_origins: form.lines("allowed_origins"),
        request_timeout_s: Number(form.value("request_timeout_s")), agent_ids: form.checked("agent_ids"),
      };
      if (fields.allowed_origins.length > ORIGINS_MAX) { form.setError("allowed_origins", `At most ${ORIGINS_MAX} origins.`); return; }
      const long = fields.allowed_origins.findIndex((o) => o.length > ORIGIN_MAX);
      if (long >= 0) { form.setError("allowed_origins", `Line ${long + 1}: at most ${ORIGIN_MAX} characters.`); return; }
      const result = item
        ? await this.session.call((api) => api.PATCH("/api/interfaces/{interface_id}", { params: { path: { interface_id: item.id } }, body: fields }))
        : await this.session.call((api) => api.POST("/api/interfaces", { body: fields }));
      if (!result.data) { form.showErrors(result.error); return; }
      this.say(`${result.data.name} is saved.`);
      clear(this.interfaceFormHost);
      await this.load();
      /** @type {HTMLElement} */ (this.root.querySelector("#interface-new")).focus();
    });
    parts.cancellable(() => { clear(this.interfaceFormHost); /** @type {HTMLElement} */ (this.root.querySelector("#interface-new")).focus(); });
    const form = parts.finish(
      h("h4", {}, title),
      parts.control("name", "Name", "input", { required: true, maxlength: String(NAME_MAX), value: item?.name ?? "", autocomplete: "off" }),
      parts.control("allowed_origins", "Allowed origins", "textarea", { rows: "3", value: (item?.allowed_origins ?? []).join("\n") }, [],
        "One per line, like https://www.example.com: the pages that may open the widget."),
      parts.control("request_timeout_s", "Request timeout (seconds)", "input", {
        type: "number", required: true, min: "10", max: "3600", step: "1", value: String(item?.request_timeout_s ?? 60),
      }, [], "How long a live request waits for an agent before the offline path."),
      parts.checkboxes("agent_ids", "Agents who serve it", this.agents.map((a) => ({
        value: a.id, label: a.name,
        detail: [a.is_active ? "" : "deactivated",
          (a.interfaces ?? []).length ? `serves ${(a.interfaces ?? []).map((i) => i.name).join(", ")}` : "serves no interface yet"]
          .filter(Boolean).join("; "),
      })), item?.agent_ids ?? []));
    form.dataset.testid = "interface-form";
    this.interfaceFormHost.append(form);
    parts.fields.get("name")?.control?.focus();
  }

  /** Show the flow of an interface, with the Live chat component's wizard. @param {Interface} item */
  async openFlow(item) {
    this.flowSection.hidden = false;
    this.flowTitle.textContent = `Flow of ${item.name}`;
    this.wizard = new Wizard(this.session, item, this.flowHost);
    await this.wizard.load();
    this.flowTitle.focus();
  }
}

/** @type {Admin | null} */
let admin = null;

/** Show the admin view's lists (made once per page). @param {Session} session @param {HTMLElement} root */
export async function loadAdmin(session, root) {
  admin ??= new Admin(session, root);
  await admin.load();
}

/** Forget what the last admin saw (log out). */
export function resetAdmin() {
  admin?.reset();
}
