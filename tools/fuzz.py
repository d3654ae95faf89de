"""Fuzz every operation of the API with schemathesis, in-process (WSGI), once per role; fail on any 5xx.

    python -m tools.fuzz                       # every role, 25 examples per operation, 240 s per role
    python -m tools.fuzz --roles admin --max-examples 5 --time-budget 50
    python -m tools.fuzz --all-checks --roles visitor --max-examples 10 --time-budget 120

Without --all-checks a run fails only on a 5xx. With it, every response also goes through schemathesis' checks
(ALL_CHECKS: status code, content type, body and headers against the spec, invalid data rejected, valid data
accepted); failures are counted per (role, check, operation). A positive_data_acceptance or
negative_data_rejection failure is "explained by state" when the answer is one the request's shape cannot
decide (see _explained_by_state) and "unexplained" otherwise; the run fails on a 5xx or an unexplained one.
The other checks' failures are reported, not failed on.

Each operation gets --max-examples valid cases, then as many invalid ones (schemathesis' positive and
negative generation: wrong types, values out of range, missing fields).
Roles: admin and agent (bearer tokens), visitor (a widget's visitor token) and anonymous (no credentials of
its own; whatever Authorization header the fuzzer makes up). Each role gets a
fresh database with one workspace, an interface with a flow (a message and a live_chat component) and an
open widget conversation taken over by the agent. Half of the cases name those real rows in their path
(the rest keep the generated ids), so the fuzzer gets past 404 into the operations themselves.
DATABASE_URL picks the database (default: a throwaway SQLite file). Rate limits are off: a 429 hides the
operation behind it.
"""
import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROLES = ("admin", "agent", "visitor", "anonymous")
ORIGIN = "https://shop.example"


@dataclass
class Finding:
    role: str
    operation: str
    status: int
    body: str
    request: str


ALL_CHECKS = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
              "response_schema_conformance", "response_headers_conformance", "negative_data_rejection",
              "positive_data_acceptance")
DATA_CHECKS = ("positive_data_acceptance", "negative_data_rejection")


@dataclass
class CheckFailure:
    role: str
    check: str
    operation: str
    status: int
    code: str  # the error body's code, "" when there is none
    mode: str  # positive or negative
    explained: str  # why state (or a reason as good) explains it; "" when nothing does
    title: str
    message: str
    request: str
    body: str


@dataclass
class RoleReport:
    role: str
    requests: int = 0
    operations: int = 0
    statuses: dict = field(default_factory=dict)
    findings: list = field(default_factory=list)
    seconds: float = 0.0
    fresh_worlds: int = 0
    cut_short: bool = False
    checked: int = 0  # responses that went through ALL_CHECKS
    check_failures: list = field(default_factory=list)

    def unexplained(self):
        return [f for f in self.check_failures if f.check in DATA_CHECKS and not f.explained]


def _make_app(database_url):
    from app import create_app
    from config import TestConfig

    if database_url.startswith("postgres"):
        from config import _normalise_db_url

        database_url = _normalise_db_url(database_url)
    return create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, RATELIMIT_ENABLED=False,
                      PASSWORD_HASH_PROFILE="fast", INSTANCE_PATH=tempfile.gettempdir())


def _fresh_world(app):
    """Drop and create the tables, then the rows every role works on; returns (headers by role, path values)."""
    from extensions import db
    from tests.factories import Auth, make_component, make_interface, make_user, make_workspace
    from tests.widget_helpers import Widget

    db.session.remove()
    db.drop_all()
    db.create_all()
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    message = make_component(interface, "message", {"text": "Hi", "buttons": [{"label": "Go"}]})
    make_component(interface, "live_chat", {})
    client = app.test_client()
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    auth = Auth(client)
    admin_headers, agent_headers = auth.headers(admin), auth.headers(agent)
    client.post(f"/api/conversations/{widget.conversation_id}/takeover", headers=agent_headers)
    headers = {
        "admin": admin_headers,
        "agent": agent_headers,
        "visitor": {"Authorization": f"Bearer {widget.token}", "Origin": ORIGIN},
        "anonymous": {"Origin": ORIGIN},
    }
    path_values = {"public_key": interface.public_key, "conversation_id": widget.conversation_id,
                   "interface_id": interface.id, "component_id": message.id, "agent_id": agent.id}
    return headers, path_values


def _still_works(app, role, headers, path_values):
    """Whether the role's credentials and rows survived the last operation (a logout, a delete, a key rotation)."""
    client = app.test_client()
    if role in ("admin", "agent"):
        return client.get("/api/auth/me", headers=headers[role]).status_code == 200
    if role == "visitor":
        url = f"/api/widget/{path_values['public_key']}/conversations/{path_values['conversation_id']}"
        return client.get(url, headers=headers[role]).status_code == 200
    return client.get(f"/api/interfaces/{path_values['interface_id']}", headers=headers["admin"]).status_code == 200


def _destructive_last(operation):
    """Operations that end a session or remove rows run after the others, so those see a working world."""
    path = operation.path
    return (operation.method.upper() == "DELETE" or path.endswith(("/logout", "/rotate-key", "/end")), path,
            operation.method)


def _operations(app):
    import schemathesis

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    return sorted((result.ok() for result in schema.get_all_operations()), key=_destructive_last)


def _strategies(operation):
    """(mode, strategy): valid requests, then invalid ones (wrong types, out of range, missing fields)."""
    from schemathesis import GenerationMode

    yield "positive", operation.as_strategy(GenerationMode.POSITIVE)
    try:
        yield "negative", operation.as_strategy(GenerationMode.NEGATIVE)
    except Exception:  # an operation with nothing to get wrong (no parameters, no body) has no invalid case
        pass


def _describe(case):
    body = getattr(case, "body", None)
    try:
        body = json.dumps(body)[:300]
    except (TypeError, ValueError):
        body = repr(body)[:300]
    return (f"{case.method} {case.formatted_path} query={case.query!r} headers={case.headers!r} "
            f"body={body}")


def _check_functions():
    import schemathesis.checks
    from schemathesis.specs.openapi import checks as openapi_checks

    return [getattr(openapi_checks, name, None) or getattr(schemathesis.checks, name) for name in ALL_CHECKS]


def _path_parameter_schemas(schema):
    """{(path, name): JSON schema} of every path parameter, to tell a valid generated value from an invalid one."""
    found = {}
    for path, item in schema.raw_schema.get("paths", {}).items():
        for operation in [item, *(v for v in item.values() if isinstance(v, dict))]:
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else []:
                if isinstance(parameter, dict) and parameter.get("in") == "path":
                    found[(path, parameter["name"])] = parameter.get("schema", {})
    return found


def _is_valid(json_schema, value):
    import jsonschema_rs

    try:
        return jsonschema_rs.validator_for(json_schema).is_valid(value)
    except Exception:
        return False


def _error_code(response):
    try:
        body = response.json()
    except Exception:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""


# Error messages of a 422 that the request's shape cannot decide: they depend on which rows exist (an id in
# the body that names nothing), on how many there are, on who is asking, or on the form an answer is for.
STATE_MESSAGES = (
    r"^Unknown .+ ids: ",  # services/core.check_in_workspace: ids in the body that name nothing here
    r"^Not an agent of this interface\.$",  # transfer to someone who is not an agent of the chat's interface
    r"^This chat is theirs already\.$",
    r"^Not in this flow\.$",
    r"^No component \d+ in this flow\.$",  # a button's target
    r"^Must be between 0 and \d+\.$",  # a position: the flow's length
    r"^Another component of this flow has this name\.$",
    r"^This component is a \w+; delete it",
    r"^Cannot be changed on your own account$",
    r"^The workspace has no active admin to receive submissions",
    r"^A \w+ component shows: ",  # a preview's stage: which stages there are depends on the component's type
)
# Rules JSON Schema cannot state, which the spec states in words instead (a description says them); a 422 for
# one of them is put down to that, not to state, and does not fail the run either.
PROSE_RULES = (
    r"^Used by field \d+ already\.$",  # an offline form's field keys differ from each other
    r"^Must be valid text: no lone surrogates",  # no NUL, no lone surrogate anywhere (the 422's description)
    r"^Empty: write something, or send attachment_ids\.$",  # a message's text may be empty only with files
)
# (status, error code) answers that depend on state, and why.
STATE_CODES = {
    (400, "invalid_link"): "the generated token names no e-mailed link",
    (412, "precondition_failed"): "If-Match names another version",
    # An upload's type is decided from its bytes, which no schema can describe; generated bytes are rarely a PNG.
    (422, "file_type_not_allowed"): "the generated file's content is of no accepted type",
    (422, "file_type_mismatch"): "the generated file's name or part type claims another type than its content",
    (422, "empty_file"): "the generated file is empty",
    (422, "attachment_already_sent"): "the upload the body names was sent with a message already",
    (413, "conversation_storage_full"): "the conversation's files fill its quota",
    (403, "link_invalid"): "the generated token is no signed download link",
    (403, "link_expired"): "the signed download link has expired",
}


_validators = {}  # (path, method) -> a validator of its JSON body (None: it takes none)


def _spec_breach(case):
    """Where the case's JSON body breaks the spec's request schema, or "" (a "positive" case can: schemathesis'
    generator does not always meet every keyword of a schema built from allOf/anyOf/if)."""
    from jsonschema import Draft202012Validator

    operation = case.operation
    key = (operation.path, operation.method.lower())
    if key not in _validators:
        raw = operation.schema.raw_schema
        content = raw["paths"][operation.path][key[1]].get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        _validators[key] = schema and Draft202012Validator(
            {**schema, "components": raw.get("components", {})})
    validator, body = _validators[key], getattr(case, "body", None)
    if not validator or not isinstance(body, (dict, list)):
        return ""
    error = next(iter(validator.iter_errors(body)), None)
    return "" if error is None else f"{'/'.join(map(str, error.absolute_path))}: {error.message}"[:100]


def _leaf_messages(errors, path=()):
    if isinstance(errors, dict):
        for key, value in errors.items():
            yield from _leaf_messages(value, (*path, str(key)))
    elif isinstance(errors, list) and all(isinstance(item, str) for item in errors):
        for item in errors:
            yield path, item
    elif isinstance(errors, list):
        for index, item in enumerate(errors):
            yield from _leaf_messages(item, (*path, str(index)))
    else:
        yield path, str(errors)


def _explained_by_state(check, role, roles, status, code, case, body=None):
    """Why a positive_data_acceptance / negative_data_rejection failure is down to state, or "" when it is not.

    roles is the operation's x-roles (None: not stated; []: public). 404 and 409 are in both checks' expected
    statuses already; they are here so a stricter configuration keeps the same verdict.
    """
    import re

    if roles and role not in roles and status in (401, 403):
        return f"{role} is not in x-roles {roles}"
    if status == 404:
        return "a generated id names nothing"
    if status == 409:
        return f"state conflict ({code})"
    if (status, code) in STATE_CODES:
        return STATE_CODES[(status, code)]
    if status == 422 and check == "positive_data_acceptance" and isinstance(body, dict):
        leaves = list(_leaf_messages(body.get("errors") or {}))
        if not leaves:
            return ""
        def stateful(path, message):
            return path[:2] == ("json", "answers") or any(re.search(p, message) for p in STATE_MESSAGES)

        def prose(message):
            return any(re.search(p, message) for p in PROSE_RULES)
        if all(stateful(path, message) for path, message in leaves):
            return "422 on rows or a form that the body names: " + "; ".join(m for _, m in leaves)[:120]
        breach = _spec_breach(case)
        if breach:
            return f"the generated body breaks the spec after all ({breach})"
        if all(stateful(path, message) or prose(message) for path, message in leaves):
            return "422 for a rule JSON Schema cannot state, stated in a description: " + "; ".join(
                m for _, m in leaves)[:120]
    return ""


def _headers_for(case, mode, role_headers):
    """The role's headers, but for a header an invalid case got wrong on purpose (a missing or mangled
    Authorization): that one is sent as generated, else the role's credentials would undo the mistake."""
    meta = getattr(case, "meta", None)
    mutations = getattr(getattr(getattr(meta, "phase", None), "data", None), "mutations", ()) or ()
    named = {(m.parameter or "*").lower() for m in mutations
             if str(getattr(m.parameter_location, "value", "")) == "header"}
    if mode != "negative" or not named:
        return role_headers
    return {k: v for k, v in role_headers.items() if k.lower() not in named and "*" not in named}


def _run_checks(case, response, headers, role, roles, name, mode, report, functions, out):
    """Run ALL_CHECKS on one response, one at a time so each failure is put down to its check."""
    from schemathesis.core.failures import FailureGroup

    report.checked += 1
    for function in functions:
        try:
            case.validate_response(response, checks=[function], headers=headers)
        except FailureGroup as group:
            failure = group.exceptions[0]
        except AssertionError as failure_:
            failure = failure_
        else:
            continue
        check = function.__name__
        status, code = response.status_code, _error_code(response)
        try:
            body = response.json()
        except Exception:
            body = None
        explained = _explained_by_state(check, role, roles, status, code, case, body) if check in DATA_CHECKS else ""
        title = getattr(failure, "title", "") or str(failure).splitlines()[0]
        message = getattr(failure, "message", "") or str(failure)
        report.check_failures.append(CheckFailure(role, check, name, status, code, mode, explained, title,
                                                  message, _describe(case), response.text[:300]))


def fuzz_role(app, role, max_examples, time_budget_s, seed=0, out=sys.stdout, all_checks=False, match=None):
    """Run every operation for one role; return its RoleReport."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import HypothesisException

    report = RoleReport(role)
    with app.app_context():
        headers, path_values = _fresh_world(app)
        started = time.monotonic()
        deadline = started + time_budget_s
        swap = itertools.count()
        operations = _operations(app)
        if match:
            operations = [op for op in operations if match in f"{op.method.upper()} {op.path}"]
        functions = _check_functions() if all_checks else []
        parameter_schemas = _path_parameter_schemas(operations[0].schema) if operations else {}
        for operation in operations:
            if time.monotonic() >= deadline:
                report.cut_short = True
                break
            report.operations += 1
            name = f"{operation.method.upper()} {operation.path}"
            roles = operation.definition.raw.get("x-roles")

            for mode, strategy in _strategies(operation):

                @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
                          suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
                          print_blob=False)
                @given(case=strategy)
                def one_case(case):
                    if time.monotonic() >= deadline:
                        return
                    if case.path_parameters:
                        real = next(swap) % 2 == 0
                        for key, value in case.path_parameters.items():
                            if key == "public_key" or (real and key in path_values):
                                # An invalid value stays, so an invalid case stays invalid.
                                if mode == "positive" or _is_valid(parameter_schemas.get((operation.path, key), {}),
                                                                   value):
                                    case.path_parameters[key] = path_values[key]
                    sent = _headers_for(case, mode, headers[role]) if all_checks else headers[role]
                    response = case.call(headers=sent)
                    if all_checks:
                        _run_checks(case, response, sent, role, roles, name, mode, report, functions, out)
                    report.requests += 1
                    status = response.status_code
                    report.statuses[status // 100 * 100] = report.statuses.get(status // 100 * 100, 0) + 1
                    if status >= 500:
                        finding = Finding(role, name, status, response.text[:300], _describe(case))
                        report.findings.append(finding)
                        print(f"  5xx {finding.status} {finding.request}\n      -> {finding.body}", file=out)

                try:
                    one_case()
                except HypothesisException as error:  # e.g. a schema hypothesis cannot satisfy: say so, go on
                    print(f"  skipped {mode} {name}: {error.__class__.__name__}: {error}"[:300], file=out)
                finally:
                    from extensions import db

                    db.session.remove()
            if not _still_works(app, role, headers, path_values):
                headers, path_values = _fresh_world(app)
                report.fresh_worlds += 1
        report.seconds = time.monotonic() - started
    return report


def run(roles=ROLES, max_examples=25, time_budget_s=240.0, database_url=None, out=sys.stdout, all_checks=False,
        match=None):
    """Fuzz each role in turn on a fresh database; return the RoleReports."""
    tmp = None
    if database_url is None:
        database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        tmp = tempfile.TemporaryDirectory(prefix="fuzz-")
        database_url = f"sqlite:///{tmp.name}/fuzz.db"
    app = _make_app(database_url)
    reports = []
    try:
        for role in roles:
            print(f"== {role}: at most {max_examples} examples per operation, {time_budget_s:.0f} s", file=out)
            report = fuzz_role(app, role, max_examples, time_budget_s, out=out, all_checks=all_checks, match=match)
            by_class = ", ".join(f"{k // 100}xx {v}" for k, v in sorted(report.statuses.items()))
            print(f"   {report.requests} requests over {report.operations} operations in {report.seconds:.0f} s"
                  f"{' (time budget reached)' if report.cut_short else ''}: {by_class}; "
                  f"{len(report.findings)} 5xx; world rebuilt {report.fresh_worlds} times", file=out)
            if all_checks:
                _print_role_checks(report, out)
            reports.append(report)
    finally:
        from extensions import db

        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        broker = app.extensions.get("broker")
        if broker is not None:
            broker.close()
        if tmp is not None:
            tmp.cleanup()
    return reports


def _print_role_checks(report, out):
    failures = report.check_failures
    data = [f for f in failures if f.check in DATA_CHECKS]
    unexplained = report.unexplained()
    print(f"   checks on {report.checked} responses: {len(failures)} failures; positive/negative data "
          f"{len(data)}, of which {len(data) - len(unexplained)} explained (by state, or the reason given), "
          f"{len(unexplained)} unexplained",
          file=out)


def summary(reports, out=sys.stdout):
    """The failures per (role, check, operation), with the statuses and codes seen, then per (role, check)."""
    from collections import Counter, defaultdict

    rows = defaultdict(lambda: [0, 0, Counter()])
    for report in reports:
        for f in report.check_failures:
            row = rows[(f.role, f.check, f.operation)]
            row[1 if f.check in DATA_CHECKS and not f.explained else 0] += 1
            row[2][f"{f.status}{' ' + f.code if f.code else ''}{' ' + f.mode[:3]}"] += 1
    if not rows:
        print("== no check failures", file=out)
        return
    print("== check failures per (role, check, operation): explained (or not a data check) / unexplained; "
          "status code mode", file=out)
    for (role, check, operation), (explained, unexplained, seen) in sorted(rows.items()):
        statuses = ", ".join(f"{k} x{v}" for k, v in seen.most_common())
        print(f"   {role:9} {check:28} {operation:75} {explained:4} {unexplained:4}  {statuses}", file=out)
    totals = Counter()
    for report in reports:
        for f in report.check_failures:
            verdict = "unexplained" if f.check in DATA_CHECKS and not f.explained else "explained"
            totals[(f.role, f.check, verdict)] += 1
    reasons = Counter(f.explained.split(":")[0] for report in reports for f in report.check_failures if f.explained)
    if reasons:
        print("== explained, by reason", file=out)
        for reason, count in reasons.most_common():
            print(f"   {count:5}  {reason}", file=out)
    print("== per (role, check)", file=out)
    for report in reports:
        for check in ALL_CHECKS:
            e, u = totals[(report.role, check, "explained")], totals[(report.role, check, "unexplained")]
            if e or u:
                label = f"{e} explained, {u} unexplained" if check in DATA_CHECKS else f"{e}"
                print(f"   {report.role:9} {check:28} {label}", file=out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", nargs="+", choices=ROLES, default=list(ROLES))
    parser.add_argument("--max-examples", type=int, default=25,
                        help="valid cases per operation, and as many invalid ones (default 25)")
    parser.add_argument("--time-budget", type=float, default=240.0, help="seconds per role (default 240)")
    parser.add_argument("--all-checks", action="store_true",
                        help="run schemathesis' checks on every response; fail on unexplained data-check "
                             "failures too")
    parser.add_argument("--show", type=int, default=3,
                        help="with --all-checks: requests shown per unexplained (role, check, operation) "
                             "(default 3)")
    parser.add_argument("--match", help='only the operations whose "METHOD /path" contains this')
    args = parser.parse_args(argv)
    reports = run(args.roles, args.max_examples, args.time_budget, all_checks=args.all_checks, match=args.match)
    findings = [finding for report in reports for finding in report.findings]
    total = sum(report.requests for report in reports)
    unexplained = [f for report in reports for f in report.unexplained()]
    if args.all_checks:
        summary(reports)
        shown = {}
        for f in unexplained:
            key = (f.role, f.check, f.operation)
            shown[key] = shown.get(key, 0) + 1
            if shown[key] <= args.show:
                why = " / ".join(line for line in f.message.splitlines()[1:] if line.strip())
                print(f"  unexplained {f.check} {f.status} {f.code} ({f.mode}): {f.request}\n"
                      f"      -> {f.body}\n      schemathesis: {why}")
    print(f"== {total} requests, {len(findings)} 5xx"
          + (f", {len(unexplained)} unexplained data-check failures" if args.all_checks else ""))
    return 1 if findings or unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
