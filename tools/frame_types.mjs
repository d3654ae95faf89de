#!/usr/bin/env node
// TypeScript types of the socket's frames and commands, from openapi/asyncapi.json (no dependencies).
//
//   node tools/frame_types.mjs [openapi/asyncapi.json] > static/types/frames.d.ts
//
// Every message of the document becomes a named type, named after its key in PascalCase
// (messageCreatedEvent -> MessageCreatedEvent), an alias of its payload schema; every component schema becomes
// a type of its own name. A schema whose name is taken by a message with another payload gets the suffix
// "Data" (the message's name is the one clients use). Then:
//   ServerFrame     every frame the server sends (the `send` operations), a union discriminated by `type`
//   ClientCommand   every command a client sends (the `receive` operations)
//   DurableFrame    the server frames that carry a stream position (`pos`): stored and replayed
//   Commands        per command type: {command, ack}, the ack (or pong) that answers it under its `ref`
// The output depends on the document only, so regenerating it from an unchanged spec changes nothing.
import { readFileSync } from "node:fs";

const specPath = process.argv[2] ?? "openapi/asyncapi.json";
const spec = JSON.parse(readFileSync(specPath, "utf8"));
const schemas = spec.components?.schemas ?? {};
const messages = spec.components?.messages ?? {};

const pascal = (key) => key.charAt(0).toUpperCase() + key.slice(1);
const refName = (ref, kind) => {
  const prefix = `#/components/${kind}/`;
  if (!ref.startsWith(prefix)) throw new Error(`unsupported $ref ${ref}`);
  return ref.slice(prefix.length);
};
// A message given by reference to the channel or to components.messages: its key.
const messageKey = (ref) => ref.split("/").pop();

// Names: messages first, then schemas (renamed when a message with another payload holds their name).
const payloadOf = (message) => message.payload;
const messageNames = new Map(Object.keys(messages).map((key) => [key, pascal(key)]));
const takenByMessage = new Map();
for (const [key, name] of messageNames) takenByMessage.set(name, key);
const schemaNames = new Map();
for (const name of Object.keys(schemas)) {
  const owner = takenByMessage.get(name);
  const sameType = owner && payloadOf(messages[owner]).$ref && refName(payloadOf(messages[owner]).$ref, "schemas") === name;
  let typeName = name;
  if (owner && !sameType) {
    typeName = `${name}Data`;
    if (takenByMessage.has(typeName) || typeName in schemas) throw new Error(`no free name for schema ${name}`);
  }
  schemaNames.set(name, typeName);
}

const literal = (value) => JSON.stringify(value);
const identifier = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const propertyKey = (key) => (identifier.test(key) ? key : literal(key));
const union = (parts) => {
  const unique = [...new Set(parts)];
  return unique.length ? unique.join(" | ") : "never";
};
const wrap = (type) => (/[|&]/.test(type) && !/^[{(]/.test(type) ? `(${type})` : type);

function comment(schema, indent) {
  const lines = [];
  if (schema.description) lines.push(...String(schema.description).split("\n"));
  if (schema.deprecated) lines.push("@deprecated");
  if (!lines.length) return "";
  const body = lines.map((line) => line.replaceAll("*/", "*\\/"));
  if (body.length === 1) return `${indent}/** ${body[0]} */\n`;
  return `${indent}/**\n${body.map((line) => `${indent} * ${line}`.trimEnd()).join("\n")}\n${indent} */\n`;
}

function typeOf(schema, indent = "") {
  if (schema === true || schema === undefined) return "unknown";
  if (schema === false) return "never";
  if (schema.$ref) return schemaNames.get(refName(schema.$ref, "schemas")) ?? fail(schema.$ref);
  if ("const" in schema) return literal(schema.const);
  if (schema.enum) return union(schema.enum.map(literal));
  if (schema.oneOf || schema.anyOf) return union((schema.oneOf ?? schema.anyOf).map((s) => typeOf(s, indent)));
  if (schema.allOf) return schema.allOf.map((s) => wrap(typeOf(s, indent))).join(" & ");
  const types = Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : [];
  if (!types.length) return schema.properties ? objectType(schema, indent) : "unknown";
  return union(types.map((type) => {
    switch (type) {
      case "null": return "null";
      case "string": return "string";
      case "integer": case "number": return "number";
      case "boolean": return "boolean";
      case "array": return `${wrap(typeOf(schema.items ?? true, indent))}[]`;
      case "object": return objectType(schema, indent);
      default: return fail(`type ${type}`);
    }
  }));
}

function objectType(schema, indent) {
  const inner = `${indent}  `;
  const required = new Set(schema.required ?? []);
  const members = Object.entries(schema.properties ?? {}).map(([key, property]) =>
    `${comment(property, inner)}${inner}${propertyKey(key)}${required.has(key) ? "" : "?"}: ${typeOf(property, inner)};`);
  const extra = schema.additionalProperties;
  if (extra !== undefined && extra !== false) {
    members.push(`${inner}[key: string]: ${typeOf(extra, inner)}${members.length ? " | undefined" : ""};`);
  } else if (extra === undefined && !schema.properties) {
    members.push(`${inner}[key: string]: unknown;`);
  }
  return members.length ? `{\n${members.join("\n")}\n${indent}}` : "Record<string, never>";
}

function fail(what) {
  throw new Error(`frame_types: unsupported ${what}`);
}

const out = [
  "// Generated by tools/frame_types.mjs from openapi/asyncapi.json (`make types`). Do not edit.",
  `// ${spec.info?.title ?? "AsyncAPI"} ${spec.info?.version ?? ""}`.trimEnd(),
  "",
];

// Messages: each an alias of its payload (or the payload itself when the names agree).
const messageTypeOf = new Map();
for (const key of Object.keys(messages).sort()) {
  const message = messages[key];
  const name = messageNames.get(key);
  const payload = payloadOf(message);
  messageTypeOf.set(key, name);
  if (payload.$ref && schemaNames.get(refName(payload.$ref, "schemas")) === name) continue;
  const doc = { description: [message.title, message.summary].filter(Boolean).join(": ") };
  out.push(`${comment(doc, "")}export type ${name} = ${typeOf(payload)};`, "");
}

// Component schemas.
for (const name of Object.keys(schemas).sort()) {
  const schema = schemas[name];
  const typeName = schemaNames.get(name);
  const messageKeyForName = takenByMessage.get(typeName);
  const doc = messageKeyForName
    ? { description: [messages[messageKeyForName].title, schema.description ?? messages[messageKeyForName].summary].filter(Boolean).join(": ") }
    : schema;
  out.push(`${comment(doc, "")}export type ${typeName} = ${typeOf(schema)};`, "");
}

// Unions by direction, from the operations.
const byAction = { send: new Set(), receive: new Set() };
for (const operation of Object.values(spec.operations ?? {})) {
  for (const message of operation.messages ?? []) byAction[operation.action]?.add(messageKey(message.$ref));
}
const names = (keys) => [...keys].sort().map((key) => messageTypeOf.get(key) ?? fail(`message ${key}`));
const unionLines = (keys) => names(keys).map((name) => `\n  | ${name}`).join("");

const resolvedPayload = (key) => {
  const payload = payloadOf(messages[key]);
  return payload.$ref ? schemas[refName(payload.$ref, "schemas")] : payload;
};
const durable = [...byAction.send].filter((key) => (resolvedPayload(key).required ?? []).includes("pos")
  && resolvedPayload(key).properties?.type?.const !== "refetch");

out.push(
  "/** Every frame the server sends: durable events, ephemeral frames, replies (ack, error, pong), hello and refetch. */",
  `export type ServerFrame =${unionLines(byAction.send)};`,
  "",
  "/** Every command a client may send (hello.commands says which ones this principal may). */",
  `export type ClientCommand =${unionLines(byAction.receive)};`,
  "",
  "/** The server frames stored in a stream's log, each with its position `pos`: replayed after a resume. */",
  `export type DurableFrame =${unionLines(durable)};`,
  "",
);

// Commands and the replies that answer them: `<command>Ack`, and pong for ping.
const commandLines = [];
for (const key of [...byAction.receive].sort()) {
  const type = resolvedPayload(key).properties?.type?.const ?? fail(`command ${key} without a const type`);
  const base = key.replace(/Command$/, "");
  const ackKey = messages[`${base}Ack`] ? `${base}Ack` : type === "ping" ? "pongFrame" : fail(`reply of ${key}`);
  commandLines.push(`  ${literal(type)}: { command: ${messageTypeOf.get(key)}; ack: ${messageTypeOf.get(ackKey)} };`);
}
out.push(
  "/** Per command type: the command and the reply (ack, or pong for ping) that answers it with the same `ref`. */",
  `export interface Commands {\n${commandLines.sort().join("\n")}\n}`,
  "",
  "export type CommandType = keyof Commands;",
  "",
);

process.stdout.write(out.join("\n"));
