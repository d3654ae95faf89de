/**
 * What a frontend written against openapi/openapi.json looks like, type-checked with `tsc --strict`
 * (tests/test_clients.py). It is never run: it proves that the generated types are precise enough to
 * use every resource without casts, `!` or `any`. It names operations by path and method only
 * (openapi-typescript's `paths`, openapi-fetch), so it does not depend on operationIds.
 */
import createClient, { type Middleware } from "openapi-fetch";

import type { components, paths } from "../../build/clients/ts/schema";

type Schemas = components["schemas"];
type ApiError = Schemas["Error"];
type ErrorCode = ApiError["code"];

/** A value the compiler proves is never reached (every case handled). */
function unreachable(value: never): never {
  throw new Error(`unhandled: ${String(value)}`);
}

/**
 * The default branch of a switch over `code`. While the spec leaves `code` a plain string this takes
 * any string; once it enumerates the codes, it takes `never`, so a code the switch misses fails tsc.
 */
function unknownCode(code: string extends ErrorCode ? string : never): string {
  return `error ${code}`;
}

/** Every error code the API documents, each with what a UI would do. */
export function describeCode(error: ApiError): string {
  const code = error.code;
  switch (code) {
    case "bad_request":
    case "validation_error":
      return `fix the form: ${JSON.stringify(error.errors ?? {})}`;
    case "unauthorized":
      return "log in again";
    case "forbidden":
      return "not allowed";
    case "not_found":
      return "gone";
    case "method_not_allowed":
    case "unsupported_media_type":
    case "payload_too_large":
    case "uri_too_long":
    case "header_fields_too_large":
      return "client bug";
    case "conflict":
    case "cannot_delete_self":
    case "invitation_accepted":
    case "user_inactive":
      return "reload and retry";
    case "precondition_failed":
    case "precondition_required":
      return "reload the component, then save again with its ETag";
    case "rate_limited":
      return "wait for Retry-After";
    case "unavailable":
    case "internal_error":
    case "error":
      return "try later";
    default:
      return unknownCode(code);
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
