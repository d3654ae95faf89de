// The REST client of the browser apps: openapi-fetch (vendored) typed with the paths of openapi/openapi.json.
//
//   const api = createApi({token: () => session.accessToken, onUnauthorized: () => showLogin()});
//   const {data, error} = await api.GET("/api/conversations/{conversation_id}", {params: {path: {conversation_id: 12}}});
//   if (error) status.textContent = apiError(error);
import createClient from "../vendor/openapi-fetch/index.js";

/** @typedef {import("../types/openapi").paths} paths */
/** @typedef {import("../types/openapi").components["schemas"]["Error"]} ApiErrorBody */
/** @typedef {import("../vendor/openapi-fetch/index.js").Client<paths>} Api */

/**
 * @typedef {object} ApiOptions
 * @property {string} [baseUrl] Where the API is: "" for this page's origin, or e.g. "https://chat.example.com"
 * @property {() => (string | null | undefined)} [token] The bearer token for the next request (read on every request)
 * @property {typeof globalThis.fetch} [fetch] The fetch to use (a clean one, when the page's may be patched)
 * @property {(response: Response) => void} [onUnauthorized] Called on any 401 sent with a token (expired or revoked)
 */

/**
 * A typed client of the REST API with the bearer token added to every request.
 * @param {ApiOptions} [options]
 * @returns {Api}
 */
export function createApi({ baseUrl = "", token = () => null, fetch = globalThis.fetch, onUnauthorized } = {}) {
  const api = createClient({ baseUrl, fetch: (request) => fetch(request) });
  api.use({
    onRequest({ request }) {
      const value = token();
      if (value && !request.headers.has("Authorization")) request.headers.set("Authorization", `Bearer ${value}`);
      return request;
    },
    onResponse({ request, response }) {
      if (response.status === 401 && request.headers.has("Authorization")) onUnauthorized?.(response);
      return undefined;
    },
  });
  return api;
}

/**
 * A readable sentence from what a failed call gave: the API's error body `{code, status, message, errors?}`
 * (with its per-field messages), an Error (the network failed), or anything else.
 * @param {unknown} error
 * @returns {string}
 */
export function apiError(error) {
  if (error instanceof Error) return error.message || "The request failed";
  if (typeof error === "string") return error;
  if (!isRecord(error)) return "Something went wrong";
  const message = typeof error.message === "string" && error.message ? error.message
    : typeof error.code === "string" ? error.code.replaceAll("_", " ") : "Something went wrong";
  const fields = fieldMessages(error.errors);
  return fields.length ? `${message}: ${fields.join("; ")}` : message;
}

/**
 * "field: message" for every message in a (nested) per-field error map; the location level (json, query...)
 * is left out.
 * @param {unknown} errors
 * @param {string} [prefix]
 * @param {boolean} [top]
 * @returns {string[]}
 */
function fieldMessages(errors, prefix = "", top = true) {
  if (!isRecord(errors)) return [];
  /** @type {string[]} */
  const out = [];
  for (const [key, value] of Object.entries(errors)) {
    const locations = ["json", "query", "form", "files", "headers", "path", "view_args", "cookies"];
    const name = top && locations.includes(key) ? "" : prefix ? `${prefix}.${key}` : key;
    if (Array.isArray(value)) {
      const texts = value.filter((item) => typeof item === "string");
      if (texts.length) out.push(name ? `${name}: ${texts.join(" ")}` : texts.join(" "));
      value.forEach((item, index) => { if (isRecord(item)) out.push(...fieldMessages(item, `${name}[${index}]`, false)); });
    } else if (typeof value === "string") {
      out.push(name ? `${name}: ${value}` : value);
    } else {
      out.push(...fieldMessages(value, name, false));
    }
  }
  return out;
}

/**
 * @param {unknown} value
 * @returns {value is Record<string, unknown>}
 */
function isRecord(value) {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
