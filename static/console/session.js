/**
 * The agent's session: log in, keep the tokens for this tab (sessionStorage), refresh the access token when the
 * API says 401, and end the session (expired, revoked, logged out).
 */
import { createApi, apiError } from "../lib/api.js";

/** @typedef {import("./types.js").Me} Me */
/** @typedef {{access: string, refresh: string, user: Me}} Stored */
/** @typedef {ReturnType<typeof createApi>} Api */

const KEY = "console.session";

/** @returns {Stored | null} */
function load() {
  try {
    const raw = sessionStorage.getItem(KEY);
    const value = raw ? JSON.parse(raw) : null;
    return value && typeof value.access === "string" && typeof value.refresh === "string" ? value : null;
  } catch {
    return null;
  }
}

/** @param {Stored | null} value */
function save(value) {
  if (value) sessionStorage.setItem(KEY, JSON.stringify(value));
  else sessionStorage.removeItem(KEY);
}

export class Session {
  /** @param {{onExpired: (message: string) => void}} options */
  constructor({ onExpired }) {
    /** @type {Stored | null} */
    this.stored = load();
    this.onExpired = onExpired;
    this.api = createApi({ token: () => this.stored?.access ?? null });
    this.refresher = createApi({ token: () => this.stored?.refresh ?? null });
    /** @type {Promise<boolean> | null} */
    this.refreshing = null;
  }

  get user() { return this.stored?.user ?? null; }

  /**
   * Log in; returns an error text, or null when the session started.
   * @param {string} email @param {string} password
   * @returns {Promise<string | null>}
   */
  async login(email, password) {
    const { data, error } = await this.api.POST("/api/auth/login", { body: { email, password } });
    if (!data) return apiError(error);
    this.stored = { access: data.access_token, refresh: data.refresh_token, user: data.user };
    save(this.stored);
    return null;
  }

  /** A new access token from the refresh token; false when the session is over. */
  refresh() {
    if (!this.stored) return Promise.resolve(false);
    this.refreshing ??= this.refresher.POST("/api/auth/refresh").then(({ data }) => {
      if (!data || !this.stored) return false;
      this.stored = { ...this.stored, access: data.access_token };
      save(this.stored);
      return true;
    }, () => false).finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  /**
   * Run one API call; on 401 refresh once and retry; when that fails too the session has expired.
   * @template {{response: Response}} T
   * @param {(api: Api) => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async call(fn) {
    let result = await fn(this.api);
    if (result.response.status === 401 && this.stored) {
      if (await this.refresh()) result = await fn(this.api);
      if (result.response.status === 401) this.expire("Your session expired. Log in again.");
    }
    return result;
  }

  /** Check the stored session (a reload): the user, or null. */
  async resume() {
    if (!this.stored) return null;
    const { data } = await this.call((api) => api.GET("/api/auth/me"));
    if (!data || !this.stored) return null;
    this.stored = { ...this.stored, user: data };
    save(this.stored);
    return data;
  }

  /** A single-use socket ticket. */
  async ticket() {
    const { data, error } = await this.call((api) => api.POST("/api/sockets/ticket"));
    if (!data) throw new Error(apiError(error));
    return data.ticket;
  }

  async logout() {
    if (this.stored) await this.api.POST("/api/auth/logout").catch(() => undefined);
    this.clear();
  }

  /** @param {string} message */
  expire(message) {
    if (!this.stored) return;
    this.clear();
    this.onExpired(message);
  }

  clear() {
    this.stored = null;
    save(null);
  }
}
