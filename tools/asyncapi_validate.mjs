#!/usr/bin/env node
// Parses the socket contract (openapi/asyncapi.json by default) with @asyncapi/parser, the parser AsyncAPI's
// own generators use, and exits 1 on any error or warning diagnostic (info and hints are printed, not fatal).
// Usage: node tools/asyncapi_validate.mjs [path]   (after `npm ci`; tests/test_asyncapi_validate.py runs it)
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = resolve(process.argv[2] ?? "openapi/asyncapi.json");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"), { source: path });

const names = { [DiagnosticSeverity.Error]: "error", [DiagnosticSeverity.Warning]: "warning",
                [DiagnosticSeverity.Information]: "info", [DiagnosticSeverity.Hint]: "hint" };
const count = { error: 0, warning: 0, info: 0, hint: 0 };
for (const d of diagnostics) {
  const severity = names[d.severity] ?? String(d.severity);
  count[severity] = (count[severity] ?? 0) + 1;
  console.log(`${severity} ${d.code} at /${(d.path ?? []).join("/")}: ${d.message}`);
}
const fatal = count.error + count.warning;
console.log(`${path}: AsyncAPI ${document?.version() ?? "(not parsed)"}, ${count.error} errors, ${count.warning} warnings, `
            + `${count.info} info, ${count.hint} hints`);
process.exit(document === undefined || fatal > 0 ? 1 : 0);
