"""The Getting started of the docs (openapi/getting-started.md, in the spec's info.description) and the
contract's changelog (openapi/CHANGELOG.md) match the real API: every path and method they name exists,
every snippet body validates against its schema, and the changelog covers the current version."""
import copy
import json
import re

import pytest
from jsonschema import Draft202012Validator

from tests.live import ROOT

GUIDE = (ROOT / "openapi" / "getting-started.md").read_text()
CHANGELOG = (ROOT / "openapi" / "CHANGELOG.md").read_text()
SPEC = json.loads((ROOT / "openapi" / "openapi.json").read_text())
ASYNC = json.loads((ROOT / "openapi" / "asyncapi.json").read_text())
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def _blocks(lang):
    return re.findall(rf"```{lang}\n(.*?)```", GUIDE, re.S)


def _http_messages():
    """(start line, headers, body or None) of every ```http block."""
    messages = []
    for block in _blocks("http"):
        head, _, body = block.partition("\n\n")
        start, *headers = head.strip().splitlines()
        messages.append((start, dict(h.split(": ", 1) for h in headers), json.loads(body) if body.strip() else None))
    return messages


def _operation(method, path):
    """The spec's (template, operation) for a concrete or templated path."""
    path = path.split("?", 1)[0]
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    return None, None


def _nullable_to_31(schema):
    """OpenAPI 3.0's nullable as JSON Schema's type [X, "null"] (a 3.1 document has none)."""
    if isinstance(schema, dict):
        schema = {key: _nullable_to_31(value) for key, value in schema.items()}
        if schema.pop("nullable", False):
            if isinstance(schema.get("type"), str):
                schema["type"] = [schema["type"], "null"]
            elif "$ref" in schema or "allOf" in schema or "oneOf" in schema:
                schema = {"anyOf": [{k: v for k, v in schema.items()}, {"type": "null"}]}
        return schema
    if isinstance(schema, list):
        return [_nullable_to_31(item) for item in schema]
    return schema


def _without_required(schema):
    if isinstance(schema, dict):
        return {key: _without_required(value) if key != "properties" else
                {name: _without_required(prop) for name, prop in value.items()}
                for key, value in schema.items() if key != "required" or not isinstance(value, list)}
    if isinstance(schema, list):
        return [_without_required(item) for item in schema]
    return schema


def _validator(document, schema, trimmed=False):
    """A validator of schema, its $refs resolved in document; trimmed: no property is required anywhere."""
    root = _nullable_to_31(copy.deepcopy(document)) if document is SPEC else document
    if trimmed:
        root, schema = _without_required(root), _without_required(schema)
    return Draft202012Validator({**root, **schema})


def _read_only(document, schema, body, path=""):
    """Properties of body that the schema marks readOnly (a request must not send them)."""
    if "$ref" in schema:
        node = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        return _read_only(document, node, body, path)
    found = []
    for branch in schema.get("oneOf", []) + schema.get("allOf", []):
        found += _read_only(document, branch, body, path)
    for key, value in (body or {}).items():
        prop = schema.get("properties", {}).get(key)
        if isinstance(prop, dict) and prop.get("readOnly"):
            found.append(path + key)
    return found


ENDPOINTS = sorted(set(re.findall(rf"\b({'|'.join(METHODS)}) (/[^\s`]*)", GUIDE)))


def test_the_guide_names_the_steps_of_the_brief():
    named = {(method, _operation(method, path)[0] or path.split("?")[0]) for method, path in ENDPOINTS}
    for step in [("POST", "/api/auth/login"), ("POST", "/api/interfaces"),
                 ("POST", "/api/interfaces/{interface_id}/components"),
                 ("POST", "/api/widget/{public_key}/sessions"), ("POST", "/api/sockets/ticket"),
                 ("POST", "/api/widget/{public_key}/sockets/ticket"), ("GET", "/ws")]:
        assert step in named, step
    assert '{"type": "live_chat"}' in GUIDE


@pytest.mark.parametrize("method, path", ENDPOINTS)
def test_every_path_and_method_the_guide_names_exists(method, path):
    if path.split("?")[0] == "/ws":
        assert method == "GET"
        assert any(channel["address"] == "/ws" for channel in ASYNC["channels"].values())
        assert ASYNC["channels"]["socket"]["bindings"]["ws"]["method"] == "GET"
        assert re.match(r"^/ws\?ticket=[^&]+$", path) or path == "/ws", path
        return
    template, operation = _operation(method, path)
    assert operation is not None, f"{method} {path} is not in openapi/openapi.json"


def _exchanges():
    """(request start line, headers, body, response status, response body) of each request the guide shows."""
    messages, pairs = _http_messages(), []
    for index, (start, headers, body) in enumerate(messages):
        if start.startswith("HTTP/"):
            continue
        answer = messages[index + 1] if index + 1 < len(messages) else None
        status, response = (None, None)
        if answer and answer[0].startswith("HTTP/"):
            status, response = int(answer[0].split()[1]), answer[2]
        pairs.append((start, headers, body, status, response))
    return pairs


EXCHANGES = _exchanges()


def test_every_request_shown_has_its_answer_but_the_socket_upgrade():
    assert len(EXCHANGES) == 7
    for start, _, _, status, _ in EXCHANGES:
        assert status is not None or start.startswith("GET /ws?"), start


@pytest.mark.parametrize("start, headers, body, status, response", EXCHANGES, ids=[e[0] for e in EXCHANGES])
def test_snippets_validate_against_the_spec(start, headers, body, status, response):
    method, path = start.split(" ", 1)
    if path.startswith("/ws?"):
        assert body is None and headers.get("Upgrade") == "websocket" and "Origin" in headers
        return
    template, operation = _operation(method, path)
    request_body = operation.get("requestBody")
    if body is None:
        assert not (request_body or {}).get("required"), f"{start} needs a body"
    else:
        schema = request_body["content"]["application/json"]["schema"]
        _validator(SPEC, schema).validate(body)
        assert not _read_only(SPEC, schema, body), f"{start} sends read-only properties"
        assert headers.get("Content-Type") == "application/json"
    if operation.get("x-roles"):
        assert headers.get("Authorization", "").startswith("Bearer "), f"{start} needs a token"
    elif "x-roles" in operation:  # public: the guide sends no token
        assert "Authorization" not in headers, f"{start} is public"
    if template.startswith("/api/widget/"):
        assert headers.get("Origin") == "https://shop.example.com"
    assert str(status) in {str(code) for code in operation["responses"]}, f"{start} never answers {status}"
    content = operation["responses"].get(str(status), {}).get("content", {}).get("application/json")
    if response is not None:
        # Trimmed on purpose: every property shown must be one the schema has, with the right type.
        _validator(SPEC, content["schema"], trimmed=True).validate(response)
        _no_unknown_keys(SPEC, content["schema"], response, start)


def _resolve(document, schema):
    while "$ref" in schema:
        node = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _properties(document, schema):
    schema = _resolve(document, schema)
    props = dict(schema.get("properties", {}))
    for branch in schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", []):
        props.update(_properties(document, branch))
    return props


def _no_unknown_keys(document, schema, value, where):
    if isinstance(value, dict):
        props = _properties(document, schema)
        if not props:
            return
        for key, item in value.items():
            assert key in props, f"{where}: {key} is not a property of the response"
            _no_unknown_keys(document, props[key], item, f"{where}.{key}")
    elif isinstance(value, list):
        items = _resolve(document, schema).get("items")
        for item in value:
            if items:
                _no_unknown_keys(document, items, item, where + "[]")


def _frames():
    frames = []
    for block in _blocks("text"):
        for line in block.strip().splitlines():
            direction, _, text = line.partition(" ")
            assert direction in (">", "<"), line
            frames.append((direction, json.loads(text)))
    for inline in re.findall(r'`(\{"type": [^`]*\})`', GUIDE):
        frames.append((">", json.loads(inline)))
    return frames


def _messages_of_type(frame_type):
    for name, message in ASYNC["components"]["messages"].items():
        payload = _resolve(ASYNC, message["payload"])
        kind = payload.get("properties", {}).get("type", {})
        if kind.get("const") == frame_type or frame_type in kind.get("enum", ()):
            yield name, message


@pytest.mark.parametrize("direction, frame", _frames(), ids=lambda v: v if isinstance(v, str) else v["type"])
def test_socket_frames_validate_against_the_asyncapi_document(direction, frame):
    candidates = [(name, message) for name, message in _messages_of_type(frame["type"])
                  if name.endswith("Command") == (direction == ">")]
    assert candidates, f"no {direction} message of type {frame['type']}"
    errors = []
    for name, message in candidates:
        error = next(_validator(ASYNC, message["payload"]).iter_errors(frame), None)
        if error is None:
            break
        errors.append(f"{name}: {error.message}")
    else:
        pytest.fail(f"{frame} matches none of its messages: {errors}")
    if direction == ">":
        visitor = {ref["$ref"].rsplit("/", 1)[-1] for ref in ASYNC["operations"]["receiveVisitorCommands"]["messages"]}
        agent = {ref["$ref"].rsplit("/", 1)[-1] for ref in ASYNC["operations"]["receiveAgentCommands"]["messages"]}
        assert name in visitor | agent


def test_the_spec_carries_the_guide_in_its_description():
    assert GUIDE.strip() in SPEC["info"]["description"]


def test_the_changelog_covers_the_current_versions():
    version = SPEC["info"]["version"]
    assert re.search(rf"^## {re.escape(version)}\b", CHANGELOG, re.M), f"openapi/CHANGELOG.md has no ## {version}"
    assert ASYNC["info"]["version"] == version
    newest = re.search(r"^## (\d+\.\d+\.\d+)", CHANGELOG, re.M).group(1)
    assert newest == version, "the newest changelog entry is not the spec's version"


def test_readme_links_the_guide_and_the_changelog():
    readme = (ROOT / "README.md").read_text()
    assert "(openapi/getting-started.md)" in readme
    assert "(openapi/CHANGELOG.md)" in readme
