/**
 * What a frontend written against openapi/openapi.json looks like (tests/test_clients.py). It passes
 * `tsc --strict`, proving the generated types precise enough to use every resource without casts, `!` or
 * `any`, and it runs: the test compiles it (ES2022 modules into build/clients/ts-out/) and runs its story
 * against a live server,
 *
 *     node build/clients/ts-out/usage.js BASE_URL ADMIN_EMAIL PASSWORD
 *
 * log in as admin, create an interface, add a live_chat component, open the widget as a visitor, list
 * conversations and read their messages, and meet an expected 404 (Error404, code "not_found"). It
 * prints a JSON summary and exits 0, or prints what went wrong and exits 1. It names operations by path
 * and method only (openapi-typescript's `paths`, openapi-fetch), so it does not depend on operationIds.
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
  form_not_offered: true, identity_invalid: true, input_not_expected: true, invalid_credentials: true, invalid_link: true,
  invalid_token: true, invitation_accepted: true, last_admin: true, no_live_call: true,
  no_pending_request: true, not_assigned: true, not_found: true, not_in_bot_phase: true, not_in_call: true,
  not_live_chat: true, not_offered: true, origin_not_allowed: true, precondition_failed: true,
  precondition_required: true, prechat_required: true, rate_limited: true, request_abandoned: true, request_cancelled: true,
  request_expired: true, request_pending: true, request_taken: true, shortcut_taken: true, target_full: true,
  target_offline: true, token_expired: true, token_revoked: true, unauthorized: true, unavailable: true,
  user_inactive: true, validation_error: true,
  attachment_already_sent: true, attachment_not_found: true, conversation_storage_full: true, empty_file: true,
  file_type_mismatch: true, file_type_not_allowed: true, link_expired: true, link_invalid: true,
  payload_too_large: true, visitor_in_chat: true, webhook_disabled: true, webhook_url_invalid: true,
  webhook_url_metadata: true, webhook_url_private: true, webhook_url_unresolvable: true,
  already_rated: true, conversation_not_closed: true, rating_window_closed: true,
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
    case "shortcut_taken":
      return "pick another shortcut";
    case "webhook_url_invalid":
    case "webhook_url_metadata":
    case "webhook_url_private":
    case "webhook_url_unresolvable":
      return "pick a public http(s) URL";
    case "webhook_disabled":
      return "enable the webhook first";
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
    case "prechat_required":
      return `ask the pre-chat form's fields first: ${Object.keys(error.errors?.json ?? {}).join(", ")}`;
    case "identity_invalid":
      return "open the widget without the identity, or sign the user's id again";
    case "rate_limited":
      return "wait for Retry-After";
    case "unavailable":
      return "try later";
    case "attachment_not_found":
    case "attachment_already_sent":
      return "upload the file again";
    case "empty_file":
    case "file_type_mismatch":
    case "file_type_not_allowed":
      return "pick another file";
    case "payload_too_large":
    case "conversation_storage_full":
      return "the file is too large";
    case "link_expired":
    case "link_invalid":
      return "read the attachment again for a fresh link";
    case "visitor_in_chat":
      return "end the visitor's chat first";
    case "conversation_not_closed":
      return "wait for the chat to end";
    case "already_rated":
    case "rating_window_closed":
      return "the chat cannot be rated any more";
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

/** What the story found, printed as JSON by main(). */
export interface Summary {
  workspace_id: number;
  interface_id: number;
  component_id: number;
  conversation_id: number;
  messages: number;
  live_chat: boolean;
  not_found: "not_found";
}

function check(condition: boolean, what: string): asserts condition {
  if (!condition) throw new Error(`check failed: ${what}`);
}

/** The error body of a 404 (Error404: its code can only be "not_found"), told apart at run time. */
function isNotFound(error: ApiError): error is Schemas["Error404"] {
  return error.status === 404 && error.code === "not_found";
}

export async function story(baseUrl: string, email: string, password: string): Promise<Summary> {
  // Without credentials: logging in, and a visitor opening the widget.
  const anonymous = createClient<paths>({ baseUrl });
  const api = createClient<paths>({ baseUrl });

  // Auth: log in; the token pair carries the user.
  const login = await anonymous.POST("/api/auth/login", { body: { email, password } });
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
  check(me.data.workspace_id === workspaceId, "/api/auth/me is the user who logged in");
  console.log(workspaceId, role, myId);

  // Agents and availability.
  const agents = await api.GET("/api/agents", { params: { query: { page: 1, page_size: 20 } } });
  if (agents.error) fail(agents.error);
  for (const agent of agents.data.items) {
    const agentId: number = agent.id;
    const agentRole: "admin" | "agent" = agent.role;
    console.log(agentId, agent.name, agentRole);
  }
  check(agents.data.items.some((agent) => agent.id === myId), "the admin is among the agents");
  const availability = await api.PUT("/api/availability", { body: { availability: "online" } });
  if (availability.error) fail(availability.error);
  const state: "online" | "away" | "offline" = availability.data.availability;
  console.log(state);

  // Interfaces: create one for the widget (no allowed origins: any page may embed it).
  const created = await api.POST("/api/interfaces", {
    body: { name: "Website", allowed_origins: [], routing_mode: "broadcast" },
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
  const liveChatOn: boolean = component.data.config.options.live_chat.enabled;
  console.log(version, JSON.stringify(component.data.config.options));
  const preview = await api.GET("/api/interfaces/{interface_id}/components/{component_id}/preview", {
    params: { path: { interface_id: interfaceId, component_id: componentId } },
  });
  if (preview.error) fail(preview.error);

  // Widget: a visitor (no credential yet) opens a session and reads the welcome.
  const session = await anonymous.POST("/api/widget/{public_key}/sessions", {
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
  const seenByVisitor: number[] = widgetMessages.data.items.map((message) => message.seq);

  // Conversations and messages, as the agent sees them.
  const conversations = await api.GET("/api/conversations", { params: { query: { scope: "all" } } });
  if (conversations.error) fail(conversations.error);
  const conversationIds: number[] = conversations.data.items.map((conversation) => conversation.id);
  check(conversationIds.includes(visitorConversationId),
        `the visitor's conversation ${visitorConversationId} is listed: ${JSON.stringify(conversationIds)}`);
  let visitorMessages = 0;
  for (const conversation of conversations.data.items) {
    const conversationId: number = conversation.id;
    const status: "bot" | "waiting" | "active" | "closed" = conversation.status;
    const lastSeq: number = conversation.last_seq;
    const messages = await api.GET("/api/conversations/{conversation_id}/messages", {
      params: { path: { conversation_id: conversationId }, query: { after: 0, limit: 50 } },
    });
    if (messages.error) fail(messages.error);
    const seqs: number[] = [];
    for (const message of messages.data.items) {
      const seq: number = message.seq;
      const text: string = message.text;
      const sender: "visitor" | "bot" | "agent" | "system" = message.sender_type;
      seqs.push(seq);
      console.log(status, lastSeq, seq, text, sender, JSON.stringify(message.data));
    }
    check(seqs.every((seq, i) => i === 0 || (seqs[i - 1] ?? seq) < seq), `messages in order: ${JSON.stringify(seqs)}`);
    if (conversationId === visitorConversationId) {
      visitorMessages = seqs.length;
      check(JSON.stringify(seqs) === JSON.stringify(seenByVisitor),
            `agent and visitor read the same messages: ${JSON.stringify(seqs)} / ${JSON.stringify(seenByVisitor)}`);
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

  // An expected error: a conversation that does not exist. The 404 is its own type (Error404), whose
  // code the compiler knows is "not_found"; anything else is a failure of the story.
  const missing = await api.GET("/api/conversations/{conversation_id}/messages", {
    params: { path: { conversation_id: 2147483647 } },
  });
  if (!missing.error) throw new Error(`conversation 2147483647 exists: ${JSON.stringify(missing.data)}`);
  if (!isNotFound(missing.error)) fail(missing.error);
  const notFound: Schemas["Error404"] = missing.error;
  const notFoundCode: "not_found" = notFound.code;
  check(missing.response.status === 404, `the 404's body came with status ${missing.response.status}`);
  console.log(missing.response.status, describeCode(notFound), describeStatus(notFound));

  const logout = await api.POST("/api/auth/logout");
  if (logout.error) fail(logout.error);
  const afterLogout = await api.GET("/api/auth/me");
  check(afterLogout.response.status === 401, `a revoked token is refused: ${afterLogout.response.status}`);

  return {
    workspace_id: workspaceId, interface_id: interfaceId, component_id: componentId,
    conversation_id: visitorConversationId, messages: visitorMessages, live_chat: liveChatOn,
    not_found: notFoundCode,
  };
}

/**
 * The part of node's `process` main() uses: the tsconfig loads no @types/node (the program types against
 * the DOM's fetch, as a browser frontend would), so it is declared here.
 */
declare const process: {
  readonly argv: readonly string[];
  exitCode?: number;
};

/** `node usage.js BASE_URL ADMIN_EMAIL PASSWORD`: runs the story, prints its summary as JSON. */
export async function main(args: readonly string[]): Promise<number> {
  const [baseUrl, email, password] = args;
  if (baseUrl === undefined || email === undefined || password === undefined) {
    console.error("usage: node usage.js BASE_URL ADMIN_EMAIL PASSWORD");
    return 2;
  }
  try {
    console.log(JSON.stringify(await story(baseUrl, email, password)));
    return 0;
  } catch (error) {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    return 1;
  }
}

export { unreachable };

process.exitCode = await main(process.argv.slice(2));
