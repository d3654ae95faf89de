"""Nothing crosses a workspace: another workspace's objects answer 404, its ids in a body 422.

The table below must name every route that carries an object id, so a new
route cannot skip the check: test_every_route_with_an_object_id_is_checked
reads app.url_map and fails on any route missing from it.
"""
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Interface, OutboxMail, PasswordToken, User, interface_agents
from tests.factories import make_interface, make_user, make_workspace
from tests.test_errors import assert_error

ROOT = Path(__file__).resolve().parent.parent

# (method, rule) -> a body that the owner's admin could send successfully.
TENANCY_ROUTES = {
    ("GET", "/api/agents/<id:agent_id>"): None,
    ("PATCH", "/api/agents/<id:agent_id>"): {"name": "Hijacked", "max_chats": 9, "role": "admin"},
    ("DELETE", "/api/agents/<id:agent_id>"): None,
    ("POST", "/api/agents/<id:agent_id>/invitation"): None,
    ("GET", "/api/interfaces/<id:interface_id>"): None,
    ("PATCH", "/api/interfaces/<id:interface_id>"): {"name": "Hijacked", "allowed_origins": ["https://evil.example"]},
    ("DELETE", "/api/interfaces/<id:interface_id>"): None,
    ("POST", "/api/interfaces/<id:interface_id>/rotate-key"): None,
    ("GET", "/api/interfaces/<id:interface_id>/identity-secret"): None,
    ("POST", "/api/interfaces/<id:interface_id>/identity-secret"): None,
    ("PUT", "/api/interfaces/<id:interface_id>/agents"): {"agent_ids": []},
    ("GET", "/api/interfaces/<id:interface_id>/offline-submissions"): None,
}

# Blueprints whose id-carrying routes are proven by tenancy tests of their own:
# blueprint name -> "tests/<file>.py::<test name>". Add yours here with the test
# that shows another tenant's (or visitor's) object answers 404.
OWN_TENANCY_TESTS = {
    "widget": "tests/test_ws.py::test_visitor_cannot_read_or_follow_another_visitors_conversation",
    "components": "tests/test_components.py::test_admin_of_another_workspace_gets_404_on_every_builder_route",
    "conversations": "tests/test_dashboard.py::test_admin_of_another_workspace_gets_404_on_every_conversation_route",
    "dashboard": "tests/test_dashboard.py::test_admin_of_another_workspace_gets_404_on_every_conversation_route",
    "calls": "tests/test_calls.py::test_admin_of_another_workspace_gets_404_on_every_call_route",
    "canned_responses":
        "tests/test_canned_responses.py::test_another_workspace_gets_404_on_every_canned_response_route",
    "notes": "tests/test_notes.py::test_users_who_cannot_see_the_conversation_get_404",
    "webhooks": "tests/test_webhooks.py::test_agents_are_403_and_other_workspaces_404",
    "attachments": "tests/test_attachments.py::test_admin_of_another_workspace_gets_404_on_every_attachment_route",
    "data_protection":
        "tests/test_data_protection.py::test_admin_of_another_workspace_gets_404_on_every_visitor_route",
}

# The routes of agents and interfaces are checked here, never allow-listed.
STRICT_BLUEPRINTS = {"agents", "interfaces"}

_PARAM = re.compile(r"<(?:[^:<>]+:)?(\w+)>")


def _routes_with_object_ids(app):
    """(method, rule, blueprint) of every route whose URL names an object by id."""
    found = []
    for rule in app.url_map.iter_rules():
        if "<id:" not in rule.rule and not any(name.endswith("_id") for name in rule.arguments):
            continue
        blueprint = rule.endpoint.rpartition(".")[0] or None
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((method, rule.rule, blueprint))
    return found


@pytest.fixture
def tenants(app, auth):
    """Workspace A (whose admin acts) and workspace B (whose objects are the targets)."""
    workspace_a, admin_a = make_workspace("A")
    agent_a = make_user(workspace_a)
    interface_a = make_interface(workspace_a, agents=[agent_a])
    workspace_b, admin_b = make_workspace("B")
    agent_b = make_user(workspace_b, name="B's agent", password=None)  # the invitation could be resent
    interface_b = make_interface(workspace_b, name="B's widget", agents=[agent_b])
    return SimpleNamespace(
        admin_a=admin_a, agent_a=agent_a, interface_a=interface_a,
        admin_b=admin_b, agent_b=agent_b, interface_b=interface_b,
        headers_a=auth.headers(admin_a), headers_b=auth.headers(admin_b),
    )


def _url(rule, tenants):
    ids = {"agent_id": tenants.agent_b.id, "interface_id": tenants.interface_b.id}
    return _PARAM.sub(lambda match: str(ids[match.group(1)]), rule)


def _state_of_b(tenants):
    """Everything a request on B's objects could change."""
    db.session.expire_all()
    agent = db.session.get(User, tenants.agent_b.id)
    interface = db.session.get(Interface, tenants.interface_b.id)
    return {
        "agent": agent and (agent.name, agent.role, agent.max_chats, agent.token_version),
        "interface": interface and (interface.name, interface.public_key, interface.allowed_origins,
                                    interface.agent_ids),
        "links": db.session.scalar(select(func.count()).select_from(PasswordToken)
                                   .where(PasswordToken.user_id == tenants.agent_b.id)),
        "mails": db.session.scalar(select(func.count()).select_from(OutboxMail)),
    }


@pytest.mark.parametrize("method, rule", sorted(TENANCY_ROUTES))
def test_admin_of_another_workspace_gets_404_and_changes_nothing(client, tenants, method, rule):
    before = _state_of_b(tenants)
    response = client.open(_url(rule, tenants), method=method, json=TENANCY_ROUTES[(method, rule)],
                           headers=tenants.headers_a)
    assert_error(response, 404, "not_found")
    assert "B's" not in response.get_data(as_text=True)
    assert _state_of_b(tenants) == before


@pytest.mark.parametrize("method, rule", sorted(TENANCY_ROUTES))
def test_the_same_request_by_the_owner_succeeds(client, tenants, method, rule):
    # Proves the 404 above comes from the workspace, not from the request itself.
    response = client.open(_url(rule, tenants), method=method, json=TENANCY_ROUTES[(method, rule)],
                           headers=tenants.headers_b)
    assert response.status_code < 300, response.get_json()


def test_agent_of_another_workspace_gets_404_on_an_interface(client, auth, tenants):
    response = client.get(f"/api/interfaces/{tenants.interface_b.id}", headers=auth.headers(tenants.agent_a))
    assert_error(response, 404, "not_found")


def _cross_links():
    users = db.metadata.tables["users"]
    interfaces = db.metadata.tables["interfaces"]
    return db.session.scalar(
        select(func.count()).select_from(interface_agents)
        .join(users, users.c.id == interface_agents.c.user_id)
        .join(interfaces, interfaces.c.id == interface_agents.c.interface_id)
        .where(users.c.workspace_id != interfaces.c.workspace_id)
    )


@pytest.mark.parametrize("request_of, field", [
    (lambda t: ("POST", "/api/agents", {"name": "X", "email": "x@example.com",
                                        "interface_ids": [t.interface_b.id]}), "interface_ids"),
    (lambda t: ("PATCH", f"/api/agents/{t.agent_a.id}",
                {"interface_ids": [t.interface_a.id, t.interface_b.id]}), "interface_ids"),
    (lambda t: ("POST", "/api/interfaces", {"name": "X", "agent_ids": [t.agent_b.id]}), "agent_ids"),
    (lambda t: ("PATCH", f"/api/interfaces/{t.interface_a.id}", {"agent_ids": [t.agent_b.id]}), "agent_ids"),
    (lambda t: ("PUT", f"/api/interfaces/{t.interface_a.id}/agents", {"agent_ids": [t.admin_b.id]}),
     "agent_ids"),
], ids=["create-agent", "patch-agent", "create-interface", "patch-interface", "put-agents"])
def test_another_workspaces_id_in_a_body_is_422_unknown_id(client, tenants, request_of, field):
    method, path, body = request_of(tenants)
    response = client.open(path, method=method, json=body, headers=tenants.headers_a)
    assert_error(response, 422, field=field)
    assert "Unknown" in response.get_json()["errors"]["json"][field][0]
    assert _cross_links() == 0
    db.session.expire_all()
    assert tenants.interface_a.agent_ids == [tenants.agent_a.id]


def test_lists_show_only_the_own_workspace(client, tenants):
    agents = client.get("/api/agents", headers=tenants.headers_a).get_json()
    assert {item["id"] for item in agents["items"]} == {tenants.admin_a.id, tenants.agent_a.id}
    assert agents["total"] == 2
    filtered = client.get("/api/agents", query_string={"interface_id": tenants.interface_b.id},
                          headers=tenants.headers_a).get_json()
    assert filtered["items"] == [] and filtered["total"] == 0
    interfaces = client.get("/api/interfaces", headers=tenants.headers_a).get_json()
    assert [item["id"] for item in interfaces["items"]] == [tenants.interface_a.id]


# --- the table covers every route ----------------------------------------------

def test_every_route_with_an_object_id_is_checked(app):
    unchecked = [
        f"{method} {rule}" for method, rule, blueprint in _routes_with_object_ids(app)
        if (method, rule) not in TENANCY_ROUTES and blueprint not in OWN_TENANCY_TESTS
    ]
    assert not unchecked, (
        "Routes that name an object by id but have no tenancy test: "
        f"{unchecked}. Add them to TENANCY_ROUTES in tests/test_tenancy.py, or list their blueprint "
        "in OWN_TENANCY_TESTS with the test that proves another workspace's object answers 404."
    )


def test_tenancy_table_names_only_existing_routes(app):
    existing = {(method, rule) for method, rule, _ in _routes_with_object_ids(app)}
    assert set(TENANCY_ROUTES) <= existing, set(TENANCY_ROUTES) - existing


def test_routes_of_agents_and_interfaces_are_never_allow_listed(app):
    assert not STRICT_BLUEPRINTS & set(OWN_TENANCY_TESTS)
    strict = {(method, rule) for method, rule, blueprint in _routes_with_object_ids(app)
              if blueprint in STRICT_BLUEPRINTS}
    assert strict <= set(TENANCY_ROUTES), strict - set(TENANCY_ROUTES)


@pytest.mark.parametrize("blueprint", sorted(OWN_TENANCY_TESTS))
def test_allow_listed_blueprints_name_a_tenancy_test_that_exists(app, blueprint):
    path, _, name = OWN_TENANCY_TESTS[blueprint].partition("::")
    assert blueprint in app.blueprints, f"{blueprint} is no blueprint: drop it from OWN_TENANCY_TESTS"
    source = ROOT / path
    assert source.is_file(), f"{path} does not exist"
    assert re.search(rf"^def {re.escape(name)}\(", source.read_text(), re.MULTILINE), f"{name} not in {path}"
