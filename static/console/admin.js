/**
 * The admin's view: the workspace's agents and chat interfaces, with a link to each interface's demo page.
 */
import { h, clear } from "../lib/dom.js";
import { apiError } from "../lib/api.js";

/** @typedef {import("./session.js").Session} Session */

/** @param {Session} session @param {HTMLElement} root */
export async function loadAdmin(session, root) {
  const error = /** @type {HTMLElement} */ (root.querySelector("[role=alert]"));
  const agentsBody = /** @type {HTMLElement} */ (root.querySelector("#agents-table tbody"));
  const interfacesBody = /** @type {HTMLElement} */ (root.querySelector("#interfaces-table tbody"));
  const [agents, interfaces] = await Promise.all([
    session.call((api) => api.GET("/api/agents", { params: { query: { page_size: 100 } } })),
    session.call((api) => api.GET("/api/interfaces", { params: { query: { page_size: 100 } } })),
  ]);
  error.textContent = [agents, interfaces].map((r) => (r.data ? "" : apiError(r.error))).filter(Boolean).join(" ");
  clear(agentsBody);
  for (const agent of agents.data?.items ?? []) {
    agentsBody.append(h("tr", { dataset: { testid: "agent-row", agentId: agent.id } },
      h("td", {}, agent.name, agent.is_active ? "" : " (deactivated)"),
      h("td", {}, agent.email),
      h("td", {}, agent.role ?? "agent"),
      h("td", {}, String(agent.max_chats ?? "")),
      h("td", {}, (agent.interfaces ?? []).map((i) => i.name).join(", ") || "None")));
  }
  clear(interfacesBody);
  for (const item of interfaces.data?.items ?? []) {
    interfacesBody.append(h("tr", { dataset: { testid: "interface-row", interfaceId: item.id } },
      h("td", {}, item.name),
      h("td", {}, (item.agents ?? []).map((a) => a.name).join(", ") || "None"),
      h("td", {}, h("code", {}, item.public_key)),
      h("td", {}, h("a", { href: `/demo/${encodeURIComponent(item.public_key)}`, target: "_blank", rel: "noopener" },
        "Open the demo page", h("span", { class: "visually-hidden" }, ` of ${item.name}`)))));
  }
}
