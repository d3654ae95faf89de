/**
 * Forms of the admin view: each control with its label and, right after it, the place where the API's 422 error
 * for that field shows (errors.json.<field>, nested paths such as live_chat.label or allowed_origins.1 go to the
 * closest field). The limits of the spec (maxlength, min, max, required) sit on the controls.
 */
import { h } from "../lib/dom.js";
import { apiError } from "../lib/api.js";

/** @typedef {HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement} Control */
/** @typedef {{control: Control | null, error: HTMLElement, label: string}} Field */

let counter = 0;

export class FormParts {
  /** @param {string} name what the form is for (its accessible name) @param {(form: FormParts) => void | Promise<void>} onSubmit */
  constructor(name, onSubmit) {
    this.id = `f${++counter}`;
    /** @type {Map<string, Field>} */
    this.fields = new Map();
    this.general = h("p", { class: "error", role: "alert", dataset: { testid: "form-error" } });
    this.status = h("p", { class: "muted", role: "status", dataset: { testid: "form-status" } });
    this.submitButton = h("button", { type: "submit", class: "primary" }, "Save");
    this.actions = h("div", { class: "form-actions" }, this.submitButton);
    this.form = h("form", {
      class: "admin-form", "aria-label": name,
      onsubmit: async (/** @type {Event} */ event) => {
        event.preventDefault();
        this.clearErrors();
        this.submitButton.disabled = true;
        try {
          await onSubmit(this);
        } finally {
          this.submitButton.disabled = false;
        }
      },
    });
  }

  /**
   * A labelled control with its error slot.
   * @param {string} key the field's path in the API's errors (e.g. "name", "live_chat.label")
   * @param {string} label
   * @param {"input" | "textarea" | "select" | "checkbox"} kind
   * @param {Record<string, unknown>} [attrs] attributes of the control (type, maxlength, min, max, required...)
   * @param {Array<[string, string]>} [options] a select's [value, text]
   * @param {string} [hint]
   */
  control(key, label, kind, attrs = {}, options = [], hint = "") {
    const id = `${this.id}-${key.replace(/[^A-Za-z0-9_-]/g, "-")}`;
    const errorId = `${id}-error`;
    const hintId = hint ? `${id}-hint` : null;
    const error = h("p", { class: "error field-error", id: errorId, dataset: { testid: "field-error", field: key } });
    const common = { id, name: key, "aria-describedby": [hintId, errorId].filter(Boolean).join(" "), ...attrs };
    /** @type {Control} */
    let control;
    if (kind === "textarea") control = h("textarea", { rows: "2", ...common });
    else if (kind === "select") control = h("select", common, options.map(([value, text]) => h("option", { value }, text)));
    else if (kind === "checkbox") control = h("input", { type: "checkbox", ...common });
    else control = h("input", { type: "text", ...common });
    this.fields.set(key, { control, error, label });
    const hintEl = hint ? h("p", { class: "muted hint", id: hintId }, hint) : null;
    return kind === "checkbox"
      ? h("div", { class: "field check" }, control, h("label", { for: id }, label), hintEl, error)
      : h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl, error);
  }

  /**
   * A group of checkboxes (the ids of a list) with one error slot.
   * @param {string} key @param {string} legend
   * @param {Array<{value: number, label: string, detail?: string}>} items
   * @param {number[]} checked
   */
  checkboxes(key, legend, items, checked) {
    const error = h("p", { class: "error field-error", id: `${this.id}-${key}-error`, dataset: { testid: "field-error", field: key } });
    this.fields.set(key, { control: null, error, label: legend });
    return h("fieldset", { class: "field checks", dataset: { field: key }, "aria-describedby": `${this.id}-${key}-error` },
      h("legend", {}, legend),
      items.length ? items.map((item) => {
        const id = `${this.id}-${key}-${item.value}`;
        return h("div", { class: "check" },
          h("input", { type: "checkbox", id, name: key, value: String(item.value), checked: checked.includes(item.value) }),
          h("label", { for: id }, item.label, item.detail ? h("span", { class: "muted" }, ` (${item.detail})`) : null));
      }) : h("p", { class: "muted" }, "None yet."),
      error);
  }

  /** The checked values of a checkbox group. @param {string} key @returns {number[]} */
  checked(key) {
    return [...this.form.querySelectorAll(`input[type=checkbox][name="${key}"]:checked`)]
      .map((el) => Number(/** @type {HTMLInputElement} */ (el).value));
  }

  /** @param {string} key */
  value(key) {
    const control = this.fields.get(key)?.control;
    return control ? control.value : "";
  }

  /** @param {string} key */
  isChecked(key) {
    const control = this.fields.get(key)?.control;
    return control instanceof HTMLInputElement ? control.checked : false;
  }

  /** Lines of a textarea, trimmed, the empty ones left out. @param {string} key */
  lines(key) {
    return this.value(key).split("\n").map((line) => line.trim()).filter(Boolean);
  }

  /** @param {...(Node | null)} children */
  finish(...children) {
    this.form.append(...children.filter((c) => c !== null), this.general, this.actions, this.status);
    return this.form;
  }

  /** A Cancel button next to Save. @param {() => void} onCancel */
  cancellable(onCancel) {
    this.actions.append(h("button", { type: "button", onclick: onCancel }, "Cancel"));
    return this;
  }

  clearErrors() {
    this.general.textContent = "";
    this.status.textContent = "";
    for (const { control, error } of this.fields.values()) {
      error.textContent = "";
      control?.removeAttribute("aria-invalid");
    }
  }

  /**
   * Show a failed call's errors: each 422 message next to its field, the rest above the Save button.
   * @param {unknown} body the API's error body (or an Error)
   * @param {Record<string, string>} [codeFields] a conflict code and the field it is about (email_taken → email)
   */
  showErrors(body, codeFields = {}) {
    const record = /** @type {{code?: string, message?: string, errors?: unknown}} */ (body && typeof body === "object" ? body : {});
    const errors = isRecord(record.errors) ? ("json" in record.errors ? record.errors.json : record.errors) : null;
    /** @type {string[]} */
    const leftOver = [];
    let placed = 0;
    for (const [path, messages] of flatten(errors)) {
      const parts = path.split(".");
      let key = null;
      for (let n = parts.length; n > 0 && key === null; n--) {
        const candidate = parts.slice(0, n).join(".");
        if (this.fields.has(candidate)) key = candidate;
      }
      if (key === null) { leftOver.push(`${path}: ${messages.join(" ")}`); continue; }
      const rest = parts.slice(key.split(".").length);
      const where = rest.length && /^\d+$/.test(rest[0]) ? `Line ${Number(rest[0]) + 1}: ` : "";
      this.setError(key, where + messages.join(" "));
      placed += 1;
    }
    const codeField = record.code ? codeFields[record.code] : undefined;
    if (codeField && this.fields.has(codeField)) {
      this.setError(codeField, record.message ?? apiError(body));
      placed += 1;
    }
    if (leftOver.length || !placed) {
      this.general.textContent = leftOver.length ? `${record.message ?? "Invalid input"}: ${leftOver.join("; ")}` : apiError(body);
    }
    const first = [...this.fields.values()].find((f) => f.error.textContent);
    if (first?.control) first.control.focus();
  }

  /** @param {string} key @param {string} text */
  setError(key, text) {
    const field = this.fields.get(key);
    if (!field) return;
    field.error.textContent = field.error.textContent ? `${field.error.textContent} ${text}` : text;
    field.control?.setAttribute("aria-invalid", "true");
  }
}

/**
 * [path, messages] for every list of messages in a nested error map.
 * @param {unknown} errors @param {string} [prefix]
 * @returns {Array<[string, string[]]>}
 */
function flatten(errors, prefix = "") {
  if (!isRecord(errors)) return [];
  /** @type {Array<[string, string[]]>} */
  const out = [];
  for (const [key, value] of Object.entries(errors)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) {
      const texts = value.filter((item) => typeof item === "string");
      if (texts.length) out.push([path, texts]);
      value.forEach((item, index) => { if (isRecord(item)) out.push(...flatten(item, `${path}.${index}`)); });
    } else if (typeof value === "string") {
      out.push([path, [value]]);
    } else {
      out.push(...flatten(value, path));
    }
  }
  return out;
}

/** @param {unknown} value @returns {value is Record<string, unknown>} */
function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
