/**
 * What a frontend written against openapi/openapi.json looks like, type-checked with `tsc --strict`
 * (tests/test_clients.py). It is never run: it proves that the generated types are precise enough to
 * use every resource without casts, `!` or `any`. It names operations by path and method only
 * (openapi-typescript's `paths`, openapi-fetch), so it does not depend on operationIds.
 */
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "../../build/clients/ts/schema";

type Schemas = components["schemas"];
/** Any error body: the generic `Error` (an operation's `default` response) or one of the components below. */
type ApiError = Schemas["Error"];
/**
 * The error bodies whose `code` the spec enumerates: one component per set of codes (Error404,
 * ErrorEmailTaken, AcceptRequestError409...), picked by shape so a new one is included without naming it.
 */
type DocumentedError = {
  [K in keyof Schemas]: Schemas[K] extends { code: infer C; status: number; message: string }
    ? string extends C ? never : Schemas[K]
    : never;
}[keyof Schemas];
/** Every code an operation documents. */
type ErrorCode = DocumentedError["code"];

/** A value the compiler proves is never reached (every case handled). */
function unreachable(value: never): never {
  throw new Error(`unhandled: ${String(value)}`);
}

/**
 * The documented codes, as a value: the annotation makes tsc reject a code missing here or one the spec
 * does not have. It tells a documented code from one sent under `default` (a 500's internal_error...).
 */
const DOCUMENTED_CODES: Record<ErrorCode, true> = {
  already_submitted: true, bad_request: true, call_ended: true, call_in_progress: true,
  cannot_delete_self: true, capacity_full: true, component_in_use: true, conversation_closed: true,
  conversation_not_active: true, email_taken: true, forbidden: true, form_inactive: true,
  form_not_offered: true, input_not_expected: true, invalid_credentials: true, invalid_link: true,
  invalid_token: true, invitation_accepted: true, last_admin: true, no_live_call: true,
  no_pending_request: true, not_assigned: true, not_found: true, not_in_bot_phase: true, not_in_call: true,
  not_live_chat: true, not_offered: true, origin_not_allowed: true, precondition_failed: true,
  precondition_required: true, rate_limited: true, request_abandoned: true, request_cancelled: true,
  request_expired: true, request_pending: true, request_taken: true, target_full: true,
  target_offline: true, token_expired: true, token_revoked: true, unauthorized: true, unavailable: true,
  user_inactive: true, validation_error: true,
};

function isDocumented(code: string): code is ErrorCode {
  return Object.hasOwn(DOCUMENTED_CODES, code);
}

/** Every error code the API documents, each with what a UI would do; a code the switch misses fails tsc. */
export function describeCode(error: ApiError): string {
  const code = error.code;
  if (!isDocumented(code)) return `error ${code}`; // under `default`: a status the operation does not list
  switch (code) {
    case "bad_request":
    case "validation_error":
    case "invalid_link":
      return `fix the form: ${JSON.stringify(error.errors ?? {})}`;
    case "unauthorized":
    case "invalid_token":
    case "token_expired":
    case "token_revoked":
      return "log in again";
    case "invalid_credentials":
      return "wrong e-mail or password";
    case "forbidden":
    case "origin_not_allowed":
      return "not allowed";
    case "not_found":
    case "not_live_chat":
      return "gone";
    case "email_taken":
      return "pick another e-mail";
    case "cannot_delete_self":
    case "last_admin":
    case "invitation_accepted":
    case "user_inactive":
    case "component_in_use":
      return "not possible now";
    case "capacity_full":
    case "target_full":
    case "target_offline":
      return "no room: try later or someone else";
    case "request_abandoned":
    case "request_cancelled":
    case "request_expired":
    case "request_taken":
    case "no_pending_request":
    case "request_pending":
      return "the request moved on: reload the queue";
    case "conversation_closed":
    case "conversation_not_active":
    case "not_assigned":
    case "not_in_bot_phase":
    case "input_not_expected":
      return "the conversation moved on: reload it";
    case "call_in_progress":
    case "call_ended":
    case "no_live_call":
    case "not_in_call":
    case "not_offered":
      return "the call moved on";
    case "already_submitted":
    case "form_inactive":
    case "form_not_offered":
      return "the form is closed";
    case "precondition_failed":
    case "precondition_required":
      return "reload the component, then save again with its ETag";
    case "rate_limited":
      return "wait for Retry-After";
    case "unavailable":
      return "try later";
    default:
      return unreachable(code);
  }
}

/** The same errors narrowed by HTTP status, which the spec types as a number. */
export function describeStatus(error: ApiError): string {
  const status: number = error.status;
  const message: string = error.message;
  if (status === 401) return "log in again";
  if (status === 404) return "gone";
  if (status === 409 || status === 412) return `reload: ${message}`;
  if (status === 422) return `fix the form: ${Object.keys(error.errors ?? {}).join(", ")}`;
  if (status === 429) return "slow down";
  return message;
}

function fail(error: ApiError): never {
  throw new Error(`${describeCode(error)} / ${describeStatus(error)}`);
}

export async function story(baseUrl: string, email: string, password: string): Promise<void> {
  const api = createClient<paths>({ baseUrl });

  // Auth: log in; the token pair carries the user.
  const login = await api.POST("/api/auth/login", { body: { email, password } });
  if (login.error) fail(login.error);
  const tokens = login.data;
  const accessToken: string = tokens.access_token;
  const workspaceId: number = tokens.user.workspace_id;
  const role: string = tokens.user.role;
  const bearer: Middleware = {
    onRequest({ request }) {
      request.headers.set("Authorization", `Bearer ${accessToken}`);
      return request;
    },
  };
  api.use(bearer);
  const me = await api.GET("/api/auth/me");
  if (me.error) fail(me.error);
  const myId: number = me.data.id;
  console.log(workspaceId, role, myId);

  // Agents and availability.
  const agents = await api.GET("/api/agents", { params: { query: { page: 1, page_size: 20 } } });
  if (agents.error) fail(agents.error);
  for (const agent of agents.data.items) {
    const agentId: number = agent.id;
    const agentRole: "admin" | "agent" = agent.role;
    console.log(agentId, agent.name, agentRole);
  }
  const availability = await api.PUT("/api/availability", { body: { availability: "online" } });
  if (availability.error) fail(availability.error);
  const state: "online" | "away" | "offline" = availability.data.availability;
  console.log(state);

  // Interfaces: create one for the widget.
  const created = await api.POST("/api/interfaces", {
    body: { name: "Website", allowed_origins: ["https://www.example.com"], routing_mode: "broadcast" },
  });
  if (created.error) fail(created.error);
  const interfaceId: number = created.data.id;
  const publicKey: string = created.data.public_key;

  // Components: a live_chat component, its wizard sections, its preview.
  const component = await api.POST("/api/interfaces/{interface_id}/components", {
    params: { path: { interface_id: interfaceId } },
    body: { type: "live_chat", name: "Talk to us" },
  });
  if (component.error) fail(component.error);
  if (component.data.type !== "live_chat") throw new Error("asked for a live_chat component");
  const componentId: number = component.data.id;
  const version: number = component.data.version;
  const options = component.data.config.options;
  console.log(version, options);
  const preview = await api.GET("/api/interfaces/{interface_id}/components/{component_id}/preview", {
    params: { path: { interface_id: interfaceId, component_id: componentId } },
  });
  if (preview.error) fail(preview.error);

  // Widget: a visitor opens a session and reads the welcome.
  const session = await api.POST("/api/widget/{public_key}/sessions", {
    params: { path: { public_key: publicKey } },
  });
  if (session.error) fail(session.error);
  const visitorToken: string = session.data.visitor_token;
  const visitorConversationId: number = session.data.conversation.id;
  const visitor = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${visitorToken}` } });
  const widgetMessages = await visitor.GET("/api/widget/{public_key}/conversations/{conversation_id}/messages", {
    params: { path: { public_key: publicKey, conversation_id: visitorConversationId } },
  });
  if (widgetMessages.error) fail(widgetMessages.error);

  // Conversations and messages, as the agent sees them.
  const conversations = await api.GET("/api/conversations", { params: { query: { scope: "all" } } });
  if (conversations.error) fail(conversations.error);
  for (const conversation of conversations.data.items) {
    const conversationId: number = conversation.id;
    const status: "bot" | "waiting" | "active" | "closed" = conversation.status;
    const lastSeq: number = conversation.last_seq;
    const messages = await api.GET("/api/conversations/{conversation_id}/messages", {
      params: { path: { conversation_id: conversationId }, query: { after: 0, limit: 50 } },
    });
    if (messages.error) fail(messages.error);
    for (const message of messages.data.items) {
      const seq: number = message.seq;
      const text: string = message.text;
      const sender: "visitor" | "bot" | "agent" | "system" = message.sender_type;
      console.log(status, lastSeq, seq, text, sender, message.data);
    }
    const next: number | null | undefined = messages.data.next_before;
    console.log(next);
  }

  // Requests, notifications, sockets, audit.
  const requests = await api.GET("/api/requests");
  if (requests.error) fail(requests.error);
  const notifications = await api.GET("/api/notifications");
  if (notifications.error) fail(notifications.error);
  const ticket = await api.POST("/api/sockets/ticket");
  if (ticket.error) fail(ticket.error);
  const socketUrl = `${baseUrl.replace(/^http/, "ws")}/ws?ticket=${ticket.data.ticket}`;
  const audit = await api.GET("/api/audit");
  if (audit.error) fail(audit.error);
  console.log(requests.data.total, notifications.data.total, socketUrl, audit.data.total);

  // An expected error: narrowed by status on the response.
  const missing = await api.GET("/api/conversations/{conversation_id}", {
    params: { path: { conversation_id: 2147483647 } },
  });
  if (missing.error) {
    console.log(missing.response.status, describeCode(missing.error), describeStatus(missing.error));
  } else {
    const foundId: number = missing.data.id;
    console.log(foundId);
  }

  const logout = await api.POST("/api/auth/logout");
  if (logout.error) fail(logout.error);
}

export { unreachable };
