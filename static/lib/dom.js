// Small DOM helpers. Text always goes in as text nodes: nothing here ever parses HTML.
//
//   h("button", {class: "send", type: "submit", "aria-label": "Send", onclick: send}, "Send")
//   h("li", {dataset: {testid: "message", author: m.sender_type}}, h("p", {}, m.text), h("time", {}, formatTime(m.created_at)))

/** @typedef {string | number | Node | null | undefined | false} Child */
/** @typedef {Child | Array<Child | Child[]>} Children */

/**
 * What `h` accepts as attributes:
 * - `class`: a string or a list (falsy entries skipped); `dataset`: data-* values; `style`: property values
 *   set through element.style (never a style attribute, which a strict CSP refuses);
 * - `on<event>` (onclick, onkeydown...): a listener; `value`, `checked`, `selected`: set as properties;
 * - anything else (aria-*, role, type, hidden, disabled...): an attribute; `true` sets it empty, `false`,
 *   `null` and `undefined` leave it out.
 * @typedef {{
 *   class?: string | Array<string | false | null | undefined>,
 *   dataset?: Record<string, string | number | boolean | null | undefined>,
 *   style?: Partial<Record<string, string>>,
 *   [name: string]: unknown,
 * }} Attrs
 */

const PROPERTIES = new Set(["value", "checked", "selected", "indeterminate"]);

/**
 * Make an element in the given document.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Children} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function hIn(doc, tag, attrs, ...children) {
  const el = doc.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") {
      el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : String(value);
    } else if (name === "dataset") {
      for (const [key, item] of Object.entries(/** @type {Record<string, unknown>} */ (value))) {
        if (item !== undefined && item !== null) el.dataset[key] = String(item);
      }
    } else if (name === "style") {
      for (const [property, item] of Object.entries(/** @type {Record<string, unknown>} */ (value))) {
        if (item !== undefined && item !== null) el.style.setProperty(property.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`), String(item));
      }
    } else if (/^on[a-z]/.test(name) && typeof value === "function") {
      el.addEventListener(name.slice(2), /** @type {EventListener} */ (value));
    } else if (PROPERTIES.has(name)) {
      /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el))[name] = value;
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

/**
 * Make an element in this page's document: `h(tag, attrs, ...children)`; strings become text nodes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Attrs | null} [attrs]
 * @param {...Children} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  return hIn(document, tag, attrs, ...children);
}

/**
 * Append children (nested lists flattened; strings and numbers as text nodes; null, undefined, false skipped).
 * @param {Node} parent
 * @param {Children[]} children
 */
export function append(parent, children) {
  const doc = parent.ownerDocument ?? /** @type {Document} */ (parent);
  for (const child of /** @type {Child[]} */ (children.flat(3))) {
    if (child === null || child === undefined || child === false) continue;
    parent.appendChild(typeof child === "object" ? child : doc.createTextNode(String(child)));
  }
}

/**
 * Remove every child of an element.
 * @template {Element} E
 * @param {E} el
 * @returns {E}
 */
export function clear(el) {
  el.replaceChildren();
  return el;
}

/**
 * A timestamp for people: the time of day ("14:05") for today, with the date before it otherwise; "" when the
 * value is not a date.
 * @param {string | null | undefined} iso
 * @param {Date} [now]
 * @returns {string}
 */
export function formatTime(iso, now = new Date()) {
  if (!iso) return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (date.toDateString() === now.toDateString()) return time;
  const day = date.toLocaleDateString(undefined, {
    day: "numeric", month: "short", ...(date.getFullYear() === now.getFullYear() ? {} : { year: "numeric" }),
  });
  return `${day}, ${time}`;
}

/**
 * Have screen readers say a text: it replaces the content of an aria-live region (role=status or log), as a
 * new text node so the same words said twice are announced twice.
 * @param {Element} liveRegion
 * @param {string} text
 */
export function announce(liveRegion, text) {
  const doc = liveRegion.ownerDocument;
  liveRegion.replaceChildren(doc.createTextNode(text));
}
