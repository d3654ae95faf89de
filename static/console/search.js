/**
 * Search the conversations of my interfaces: by the words of their messages (full-text) or by the visitor's
 * name or e-mail. A result opens in the chat panel (read-only unless the chat is mine).
 */
import { h, clear, formatTime } from "../lib/dom.js";
import { apiError } from "../lib/api.js";

/** @typedef {import("./session.js").Session} Session */

/**
 * @param {{session: Session, form: HTMLFormElement, status: HTMLElement, results: HTMLElement,
 *   open: (conversationId: number) => void}} options
 */
export function setUpSearch({ session, form, status, results, open }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const text = String(data.get("text") ?? "").trim();
    const where = data.get("where") === "visitor" ? "visitor" : "q";
    if (!text) return;
    status.textContent = "Searching…";
    const query = { scope: /** @type {const} */ ("all"), page_size: 20, ...(where === "q" ? { q: text } : { visitor: text }) };
    const { data: page, error } = await session.call((api) => api.GET("/api/conversations", { params: { query } }));
    clear(results);
    if (!page) { status.textContent = apiError(error); return; }
    status.textContent = page.total ? `${page.total}${page.total_exact === false ? "+" : ""} found` : "Nothing found.";
    for (const conversation of page.items) {
      const name = conversation.visitor?.name || conversation.visitor?.email || `Visitor #${conversation.visitor_id}`;
      results.append(h("li", { class: "bot-item", dataset: { testid: "search-result", conversationId: conversation.id } },
        h("span", {}, name, h("span", { class: "muted" }, ` · ${conversation.status} · ${formatTime(conversation.created_at)}`)),
        h("button", {
          type: "button", class: "small", "aria-label": `Open the conversation with ${name}`,
          onclick: () => open(conversation.id),
        }, "Open")));
    }
  });
}

/** Forget the last search (log out). @param {HTMLFormElement} form @param {HTMLElement} status @param {HTMLElement} results */
export function resetSearch(form, status, results) {
  form.reset();
  status.textContent = "";
  clear(results);
}
