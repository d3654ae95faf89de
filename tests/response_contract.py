"""Every JSON response the test client receives is checked against openapi/openapi.json.

Installed once for the run (tests/conftest.py): Flask's test client hands each response to `check`, which
finds the operation (rule and method), the documented status, and validates the body with jsonschema against
the committed document (JSON Schema 2020-12, as OpenAPI 3.1 says). A required property missing, a null where
the schema has no null, an unknown enum value: a violation, and the test that made the request fails.

`seen` counts, per component schema, the objects of real responses checked against it, so a test can tell
which response schemas no flow has exercised.
"""
import json
import re
import threading
from collections import Counter
from pathlib import Path

from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "openapi" / "openapi.json"
_REF = "#/components/schemas/"
_RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

seen = Counter()
_state = threading.local()


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.violations = []

    def reset(self):
        with self.lock:
            self.violations = []


ledger = Ledger()
_cache = {}


def document():
    if "doc" not in _cache:
        _cache["doc"] = json.loads(DOCUMENT.read_text())
    return _cache["doc"]


def response_schema(path, method, status):
    """The schema of a documented JSON response, or None."""
    operation = document()["paths"].get(path, {}).get(method.lower())
    if operation is None:
        return None
    response = operation.get("responses", {}).get(str(status))
    if response is None:
        return None
    return response.get("content", {}).get("application/json", {}).get("schema")


def validator(schema):
    key = json.dumps(schema, sort_keys=True)
    if key not in _cache:
        _cache[key] = Draft202012Validator({**schema, "components": document()["components"]})
    return _cache[key]


def spec_path(rule):
    return _RULE_ARG.sub(r"{\1}", rule)


def _component(ref):
    return ref[len(_REF):] if ref.startswith(_REF) else None


def walk(instance, schema, counter):
    """Count the components instance's objects are checked against (the branch that fits, for a union)."""
    schemas = document()["components"]["schemas"]
    while "$ref" in schema:
        name = _component(schema["$ref"])
        if isinstance(instance, dict):
            counter[name] += 1
        schema = schemas[name]
    for key in ("oneOf", "anyOf"):
        if key in schema:
            for branch in schema[key]:
                if not validator(branch).is_valid(instance):
                    continue
                walk(instance, branch, counter)
                break
    if isinstance(instance, dict):
        for name, value in instance.items():
            if name in schema.get("properties", {}):
                walk(value, schema["properties"][name], counter)
            elif isinstance(schema.get("additionalProperties"), dict):
                walk(value, schema["additionalProperties"], counter)
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            walk(item, schema["items"], counter)


def check(app, method, url_path, response):
    """Validate one response body; record a violation, and count what it exercised."""
    if response.mimetype != "application/json" or response.direct_passthrough:
        return
    try:
        rule, _ = app.url_map.bind("localhost").match(url_path, method, return_rule=True)
    except Exception:  # not routed (404, 405): nothing documents it
        return
    path = spec_path(rule.rule)
    schema = response_schema(path, method, response.status_code)
    if schema is None:
        return
    body = response.get_json(silent=True)
    errors = sorted(validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        with ledger.lock:
            ledger.violations.append(
                f"{method} {path} {response.status_code}: "
                + "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message[:200]}"
                            for e in errors[:5]))
        return
    counter = Counter()
    walk(body, schema, counter)
    with ledger.lock:
        seen.update(counter)


def install():
    """Check every response of flask.testing.FlaskClient."""
    from flask.testing import FlaskClient

    if getattr(FlaskClient.open, "_response_contract", False):
        return
    original = FlaskClient.open

    def open(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        request = getattr(response, "request", None)
        if request is not None:
            check(self.application, request.method, request.path, response)
        return response

    open._response_contract = True
    FlaskClient.open = open
