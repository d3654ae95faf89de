"""A pytest plugin that watches real HTTP traffic against openapi/openapi.json: `pytest -p tests.contract_recorder ...`.

Every answer of an in-process app (Flask's request_finished signal, whichever app or thread) is matched to
its operation. At the end of the run:

- each error answered, (operationId, status, code), must be documented: the status among the operation's
  responses with the code in its enum (statuses every operation may answer, in ALWAYS_POSSIBLE, are left
  to `default`); one that is not fails the run and is listed;
- an operation answered with X-RateLimit-* headers must document its 429;
- with CONTRACT_EXAMPLES_OUT=path, the first JSON request and answer of each operation (and the first
  error of each status) are written there as examples (tokens, tickets and passwords replaced), for
  blueprints/contract.py to put in the spec; entries already in the file are kept unless
  CONTRACT_EXAMPLES_REFRESH=1. After a schema change that breaks an example (tests/test_contract.py says
  which), record them again and regenerate the spec:

      CONTRACT_EXAMPLES_OUT=openapi/examples.json CONTRACT_EXAMPLES_REFRESH=1 \
          .venv/bin/python -m pytest -q -p tests.contract_recorder tests/test_agents.py tests/test_auth.py \
          tests/test_interfaces.py tests/test_handover.py tests/test_calls.py tests/test_components.py \
          tests/test_dashboard.py tests/test_visitor_story.py tests/test_live_chat_component.py \
          tests/test_takeover_and_presence.py tests/test_errors.py tests/test_tenancy.py tests/test_admin_story.py \
          tests/test_token_binding.py tests/test_story_fixes.py tests/test_health.py

  (the files that recorded the committed examples, every operation included; about 8 minutes).
      FLASK_APP=wsgi:app .venv/bin/flask spec write
- with CONTRACT_REPORT=path, what was seen is written there as JSON (tests/test_contract.py reads it).
"""
import json
import os
import re
import threading
from pathlib import Path

import pytest
from flask import request, request_finished

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "openapi.json"
# Answers any operation can give that the spec leaves to its `default` response: no such method, a body or
# header too large, the server's own failure, an outage.
ALWAYS_POSSIBLE = {405, 413, 415, 431, 500, 503}
REDACT = re.compile(r"^eyJ[\w-]+\.[\w-]+\.[\w-]+$")  # JWTs: never store a real token in the spec
SECRET_KEYS = {"password", "token", "ticket", "credential"}


def _template(rule):
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _redact(value, key=None):
    if isinstance(value, dict):
        return {k: _redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, str):
        if REDACT.match(value):
            return "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
        if key in SECRET_KEYS or (key or "").endswith(("_token", "_secret")):
            return "correct horse battery" if key == "password" else "s3cr3t-" + key.replace("_", "-")
    return value


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.operations = {}
        spec = json.loads(SPEC.read_text())
        self.schemas = spec.get("components", {}).get("schemas", {})
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                if isinstance(operation, dict) and "responses" in operation:
                    self.operations[(path, method)] = operation
        self.errors = {}  # (operationId, status, code) -> count
        self.rate_limited = set()  # operationIds answered with X-RateLimit-*
        self.examples = {}
        self.seen = set()

    def on_response(self, sender, response, **extra):
        rule = request.url_rule
        if rule is None:
            return
        operation = self.operations.get((_template(rule.rule), request.method.lower()))
        if operation is None:
            return
        op_id = operation.get("operationId") or f"{request.method} {rule.rule}"
        status = response.status_code
        body = response.get_json(silent=True) if response.is_json else None
        with self.lock:
            self.seen.add(op_id)
            if "X-RateLimit-Limit" in response.headers:
                self.rate_limited.add(op_id)
            if status >= 400:
                code = body.get("code") if isinstance(body, dict) else None
                key = (op_id, status, code)
                self.errors[key] = self.errors.get(key, 0) + 1
            example = self.examples.setdefault(op_id, {"responses": {}})
            if str(status) in example["responses"] or body is None:
                return
            if status < 400 and "request" not in example and request.is_json:
                sent = request.get_json(silent=True)
                if sent is not None:
                    example["request"] = _redact(sent)
            example["responses"][str(status)] = _redact(body)

    def undocumented(self):
        """(operationId, status, code, why) of every answer the spec does not promise."""
        by_id = {op.get("operationId"): op for op in self.operations.values()}
        found = []
        for (op_id, status, code) in sorted(self.errors, key=str):
            responses = (by_id.get(op_id) or {}).get("responses", {})
            response = responses.get(str(status))
            if response is None:
                if status not in ALWAYS_POSSIBLE:
                    found.append((op_id, status, code, "status not documented"))
                continue
            if code not in error_codes(response, self.schemas):
                found.append((op_id, status, code, "code not in the enum"))
        for op_id in sorted(self.rate_limited):
            if "429" not in (by_id.get(op_id) or {}).get("responses", {}):
                found.append((op_id, 429, None, "sends X-RateLimit-* but documents no 429"))
        return found

    def report(self):
        return {
            "errors": [[op, status, code, count] for (op, status, code), count in sorted(self.errors.items(), key=str)],
            "rate_limited": sorted(self.rate_limited),
            "seen": sorted(self.seen),
            "undocumented": [list(item) for item in self.undocumented()],
        }


def error_codes(response, schemas):
    """The enum of `code` in an error response of the spec (empty when it has none).

    The body is a component (blueprints/contract.py names one per code set), resolved through schemas.
    """
    schema = ((response.get("content") or {}).get("application/json") or {}).get("schema") or {}
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        schema = schemas.get(ref.rsplit("/", 1)[-1], {})
    return set(schema.get("properties", {}).get("code", {}).get("enum") or ())


_recorder = None


def pytest_configure(config):
    global _recorder
    _recorder = Recorder()
    request_finished.connect(_recorder.on_response, weak=False)


def pytest_sessionfinish(session, exitstatus):
    report = _recorder.report()
    if os.environ.get("CONTRACT_REPORT"):
        Path(os.environ["CONTRACT_REPORT"]).write_text(json.dumps(report, indent=1))
    out = os.environ.get("CONTRACT_EXAMPLES_OUT")
    if out:
        path = Path(out)
        kept = {} if os.environ.get("CONTRACT_EXAMPLES_REFRESH") or not path.exists() else json.loads(path.read_text())
        for op_id, example in sorted(_recorder.examples.items()):
            if " " in op_id:
                continue
            entry = kept.setdefault(op_id, {"responses": {}})
            if "request" in example:
                entry.setdefault("request", example["request"])
            for status, body in example["responses"].items():
                entry["responses"].setdefault(status, body)
        path.write_text(json.dumps(kept, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    if report["undocumented"] and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    report = _recorder.report()
    terminalreporter.write_line(f"contract: {len(report['seen'])} operations seen, "
                                f"{len(report['errors'])} distinct (operation, status, code) errors")
    for op_id, status, code, why in report["undocumented"]:
        terminalreporter.write_line(f"contract: UNDOCUMENTED {op_id} {status} {code}: {why}")
