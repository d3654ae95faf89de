"""The OpenAPI contract a client generator relies on: ids, descriptions, roles, error codes, examples, limits.

The roles each operation documents (`x-roles`) are checked against what the server does, operation by
operation; the error codes against the errors the suite provokes (tests/contract_recorder.py, run over
CONTRACT_FILES in a child pytest); the examples against their schemas.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator, OAS31Validator

from models import Role
from models.base import ID_MAX
from services.attachments import sign_link
from tests.factories import Auth, make_interface, make_user, make_workspace

ROOT = Path(__file__).resolve().parent.parent
SPEC = json.loads((ROOT / "openapi" / "openapi.json").read_text())
METHODS = ("get", "post", "put", "patch", "delete")
OPERATIONS = [(path, method, operation) for path, item in SPEC["paths"].items()
              for method, operation in item.items() if method in METHODS]
OPERATION_ID = re.compile(r"^[a-z][A-Za-z]+$")
PRINCIPALS = ("admin", "agent", "visitor", "anonymous")
# Files whose error answers the child run checks against the spec: the REST error cases of the suite.
CONTRACT_FILES = ("tests/test_handover.py", "tests/test_errors.py", "tests/test_calls.py")


def _ids(operations):
    return [operation.get("operationId") or f"{method} {path}" for path, method, operation in operations]


def test_every_operation_has_a_unique_camel_case_operation_id():
    ids = [operation.get("operationId") for _, _, operation in OPERATIONS]
    assert all(ids), [f"{m} {p}" for p, m, o in OPERATIONS if not o.get("operationId")]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    assert [i for i in ids if not OPERATION_ID.match(i)] == []


@pytest.mark.parametrize("path, method, operation", OPERATIONS, ids=_ids(OPERATIONS))
def test_every_operation_has_summary_description_and_roles(path, method, operation):
    assert operation.get("summary")
    assert operation.get("description")
    roles = operation.get("x-roles")
    assert isinstance(roles, list) and set(roles) <= {"admin", "agent", "visitor"}
    assert "**Roles:**" in operation["description"]
    assert all(role in operation["description"] for role in roles)
    if roles and roles != ["visitor"]:
        assert operation.get("security") == [{"bearerAuth": []}]
    if roles == ["visitor"]:
        assert operation.get("security") == [{"visitorToken": []}]


def _error_schema(response):
    """The component an error response's body refers to (blueprints/contract.py names one per code set)."""
    ref = response["content"]["application/json"]["schema"]["$ref"]
    assert ref.startswith("#/components/schemas/"), ref
    return SPEC["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def _error_codes(response):
    return _error_schema(response)["properties"]["code"]["enum"]


@pytest.mark.parametrize("path, method, operation", OPERATIONS, ids=_ids(OPERATIONS))
def test_every_error_response_lists_its_codes(path, method, operation):
    for status, response in operation["responses"].items():
        if status == "default" or int(status) < 400:
            continue
        codes = _error_codes(response)
        assert codes and all(isinstance(code, str) and code for code in codes), (status, codes)
        # A closed object with Error's properties, so that generated clients type every field of it.
        schema, error = _error_schema(response), SPEC["components"]["schemas"]["Error"]
        assert schema["additionalProperties"] is False, status
        assert set(schema["properties"]) == set(error["properties"]), status
        assert set(schema["required"]) == set(error["required"]), status


def test_rate_limited_operations_declare_retry_after_and_rate_headers():
    limited = [operation for _, _, operation in OPERATIONS if "429" in operation["responses"]]
    assert {o["operationId"] for o in limited} >= {"logIn", "setPassword", "openWidget", "submitOfflineForm"}
    for operation in limited:
        too_many = operation["responses"]["429"]
        assert too_many["headers"]["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}
        for status, response in operation["responses"].items():
            if status != "default":
                assert set(response["headers"]) >= {"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"}
        assert "Rate limited" in operation["description"]
    for name in ("Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"):
        assert name in SPEC["components"]["headers"]


def test_each_list_names_its_pagination_envelope():
    description = SPEC["info"]["description"]
    for path, method, operation in OPERATIONS:
        schema = operation["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
        name = schema.get("$ref", "").rsplit("/", 1)[-1]
        if name.endswith("Page"):
            assert operation["operationId"] in description, operation["operationId"]
            assert f"`{name}`" in description, name
            fields = set(SPEC["components"]["schemas"][name]["properties"])
            assert fields in ({"items", "page", "page_size", "total"}, {"items", "next_before"},
                              {"items", "next_before", "next_after"}) \
                or (name, fields) == ("ConversationPage", {"items", "page", "page_size", "total", "total_exact"}), \
                (name, fields)


# -- examples -----------------------------------------------------------------------------------------


def _validator(schema):
    """A validator of schema whose local $refs (discriminator mappings too) resolve within the spec."""
    cls = OAS31Validator if SPEC["openapi"].startswith("3.1") else OAS30Validator
    return cls({**SPEC, "x-checked": schema, "$ref": "#/x-checked"})


def _examples():
    for path, method, operation in OPERATIONS:
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" in body:
            yield operation["operationId"], "request", body["schema"], body["example"]
        for status, response in operation["responses"].items():
            content = (response.get("content") or {}).get("application/json", {})
            if "example" in content:
                yield operation["operationId"], status, content["schema"], content["example"]


EXAMPLES = list(_examples())


def test_examples_cover_most_operations():
    with_examples = {op_id for op_id, *_ in EXAMPLES}
    assert len(with_examples) >= 0.8 * len(OPERATIONS), sorted(
        {o["operationId"] for _, _, o in OPERATIONS} - with_examples)


@pytest.mark.parametrize("op_id, where, schema, example", EXAMPLES, ids=[f"{e[0]}-{e[1]}" for e in EXAMPLES])
def test_examples_follow_their_schemas(op_id, where, schema, example):
    errors = sorted(_validator(schema).iter_errors(example), key=str)
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]]


# -- roles, against behaviour ---------------------------------------------------------------------------


def _principals(client):
    """Tokens of an admin, an agent, a visitor of the interface, and nobody; and the ids the paths take."""
    workspace, admin = make_workspace()
    agent = make_user(workspace, role=Role.AGENT)
    interface = make_interface(workspace, agents=[agent])
    auth = Auth(client)
    admin_tokens, agent_tokens = auth.login(admin.email), auth.login(agent.email)
    opened = client.post(f"/api/widget/{interface.public_key}/sessions")
    assert opened.status_code == 201, opened.get_json()
    body = opened.get_json()
    tokens = {"admin": admin_tokens, "agent": agent_tokens,
              "visitor": {"access_token": body["visitor_token"], "refresh_token": body["visitor_token"]}}
    params = {"public_key": interface.public_key, "conversation_id": body["conversation"]["id"],
              "interface_id": interface.id, "agent_id": agent.id,
              "token": sign_link(ID_MAX)[0]}  # a well-signed download link naming no file
    return tokens, params


def _call(client, path, method, operation, principal, tokens, params):
    url = re.sub(r"\{(\w+)\}", lambda m: str(params.get(m.group(1), 1)), path)
    headers = {}
    if principal != "anonymous":
        kind = "refresh_token" if operation["operationId"] == "refreshAccessToken" else "access_token"
        headers["Authorization"] = f"Bearer {tokens[principal][kind]}"
    return client.open(url, method=method.upper(), headers=headers)


GUARDED = [(p, m, o) for p, m, o in OPERATIONS if o["x-roles"]]


@pytest.mark.parametrize("path, method, operation", GUARDED, ids=_ids(GUARDED))
def test_roles_not_listed_are_refused(client, path, method, operation):
    tokens, params = _principals(client)
    roles = operation["x-roles"]
    for principal in PRINCIPALS:
        status = _call(client, path, method, operation, principal, tokens, params).status_code
        if principal in roles:
            assert status not in (401, 403), (principal, status)
            continue
        # A user token on a visitor's operation names no conversation of this widget: 404, as a stranger's.
        allowed = {401, 403} | ({404} if roles == ["visitor"] and principal in ("admin", "agent") else set())
        # An operation hidden from visitors answers their token as a conversation they cannot reach.
        if operation.get("x-visitor-token") == "not_found" and principal == "visitor":
            allowed = {404}
        assert status in allowed, (principal, status)
        assert str(status) in operation["responses"], (principal, status)


PUBLIC = [(p, m, o) for p, m, o in OPERATIONS if not o["x-roles"]]


@pytest.mark.parametrize("path, method, operation", PUBLIC, ids=_ids(PUBLIC))
def test_public_operations_need_no_token(client, path, method, operation):
    tokens, params = _principals(client)
    response = _call(client, path, method, operation, "anonymous", tokens, params)
    assert response.status_code not in (401, 403), response.get_json()


# -- error codes, against behaviour ---------------------------------------------------------------------


@pytest.mark.skipif(os.environ.get("CONTRACT_SKIP_CHILD_RUN") == "1", reason="the child run is skipped on request")
def test_errors_the_suite_provokes_are_documented(tmp_path):
    report = tmp_path / "contract.json"
    env = {**os.environ, "CONTRACT_REPORT": str(report)}
    env.pop("CONTRACT_EXAMPLES_OUT", None)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.contract_recorder",
               *CONTRACT_FILES]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert report.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    seen = json.loads(report.read_text())
    assert seen["undocumented"] == [], seen["undocumented"]
    assert len(seen["errors"]) >= 10, seen["errors"]  # the files still provoke errors worth checking
    assert run.returncode == 0, run.stdout[-3000:]
