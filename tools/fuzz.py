"""Fuzz every operation of the API with schemathesis, in-process (WSGI), once per role; fail on any 5xx.

    python -m tools.fuzz                       # every role, 25 examples per operation, 240 s per role
    python -m tools.fuzz --roles admin --max-examples 5 --time-budget 50

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


def fuzz_role(app, role, max_examples, time_budget_s, seed=0, out=sys.stdout):
    """Run every operation for one role; return its RoleReport."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import HypothesisException

    report = RoleReport(role)
    with app.app_context():
        headers, path_values = _fresh_world(app)
        started = time.monotonic()
        deadline = started + time_budget_s
        swap = itertools.count()
        for operation in _operations(app):
            if time.monotonic() >= deadline:
                report.cut_short = True
                break
            report.operations += 1
            name = f"{operation.method.upper()} {operation.path}"

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
                        for key in case.path_parameters:
                            if key == "public_key" or (real and key in path_values):
                                case.path_parameters[key] = path_values[key]
                    response = case.call(headers=headers[role])
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


def run(roles=ROLES, max_examples=25, time_budget_s=240.0, database_url=None, out=sys.stdout):
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
            report = fuzz_role(app, role, max_examples, time_budget_s, out=out)
            by_class = ", ".join(f"{k // 100}xx {v}" for k, v in sorted(report.statuses.items()))
            print(f"   {report.requests} requests over {report.operations} operations in {report.seconds:.0f} s"
                  f"{' (time budget reached)' if report.cut_short else ''}: {by_class}; "
                  f"{len(report.findings)} 5xx; world rebuilt {report.fresh_worlds} times", file=out)
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", nargs="+", choices=ROLES, default=list(ROLES))
    parser.add_argument("--max-examples", type=int, default=25,
                        help="valid cases per operation, and as many invalid ones (default 25)")
    parser.add_argument("--time-budget", type=float, default=240.0, help="seconds per role (default 240)")
    args = parser.parse_args(argv)
    reports = run(args.roles, args.max_examples, args.time_budget)
    findings = [finding for report in reports for finding in report.findings]
    total = sum(report.requests for report in reports)
    print(f"== {total} requests, {len(findings)} 5xx")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
