"""Chat interfaces: admins manage them, agents read the ones they serve."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Interface, RoutingMode
from tests.factories import make_interface, make_user, make_workspace
from tests.test_errors import assert_error


@pytest.fixture
def workspace_admin(app):
    return make_workspace()


@pytest.fixture
def workspace(workspace_admin):
    return workspace_admin[0]


@pytest.fixture
def headers(auth, workspace_admin):
    return auth.headers(workspace_admin[1])


def _create(client, headers, **fields):
    response = client.post("/api/interfaces", headers=headers, json={"name": "Shop", **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# --- CRUD ------------------------------------------------------------------

def test_create_is_201_with_defaults_and_a_random_public_key(client, headers, workspace):
    first, second = _create(client, headers), _create(client, headers, name="Blog")
    assert first["name"] == "Shop" and first["workspace_id"] == workspace.id
    assert first["request_timeout_s"] == 60
    assert first["routing_mode"] == "broadcast"
    assert first["allowed_origins"] == [] and first["agents"] == []
    assert first["public_key"].startswith("pk_") and len(first["public_key"]) >= 32
    assert first["public_key"] != second["public_key"]


def test_create_stores_origins_as_browsers_send_them(client, headers):
    body = _create(client, headers, allowed_origins=[
        "HTTPS://Shop.Example.com:443/", "https://shop.example.com", "http://localhost:8080", "http://[::1]:3000"])
    assert body["allowed_origins"] == ["https://shop.example.com", "http://localhost:8080", "http://[::1]:3000"]


def test_get_list_patch_delete(client, headers, workspace):
    created = _create(client, headers)
    other = make_interface(workspace)
    url = f"/api/interfaces/{created['id']}"
    assert client.get(url, headers=headers).get_json()["public_key"] == created["public_key"]
    listed = client.get("/api/interfaces", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [created["id"], other.id]
    assert (listed["page"], listed["total"]) == (1, 2)
    response = client.patch(url, headers=headers, json={
        "name": "Renamed", "request_timeout_s": 120, "routing_mode": "least_busy",
        "allowed_origins": ["https://a.example"]})
    assert response.status_code == 200, response.get_json()
    body = client.get(url, headers=headers).get_json()
    assert (body["name"], body["request_timeout_s"], body["routing_mode"]) == ("Renamed", 120, "least_busy")
    assert body["allowed_origins"] == ["https://a.example"]
    assert body["public_key"] == created["public_key"]
    assert client.delete(url, headers=headers).status_code == 204
    assert_error(client.get(url, headers=headers), 404, "not_found")


def test_list_is_paginated(client, headers, workspace):
    ids = [make_interface(workspace).id for _ in range(3)]
    body = client.get("/api/interfaces", query_string={"page": 2, "page_size": 2}, headers=headers).get_json()
    assert [item["id"] for item in body["items"]] == ids[2:]
    assert (body["page"], body["page_size"], body["total"]) == (2, 2, 3)


def test_rotate_key_replaces_the_public_key(client, headers):
    created = _create(client, headers)
    response = client.post(f"/api/interfaces/{created['id']}/rotate-key", headers=headers)
    assert response.status_code == 200
    new_key = response.get_json()["public_key"]
    assert new_key != created["public_key"] and new_key.startswith("pk_")
    assert client.get(f"/api/interfaces/{created['id']}", headers=headers).get_json()["public_key"] == new_key
    assert db.session.scalar(select(Interface).where(Interface.public_key == created["public_key"])) is None


def test_deleting_an_interface_removes_its_assignments(client, headers, workspace):
    interface = make_interface(workspace)
    agent = make_user(workspace, interfaces=[interface])
    assert client.delete(f"/api/interfaces/{interface.id}", headers=headers).status_code == 204
    assert client.get(f"/api/agents/{agent.id}", headers=headers).get_json()["interfaces"] == []


# --- validation --------------------------------------------------------------

BAD_ORIGINS = [
    "https://shop.example.com/path", "javascript:alert(1)", "https://a.example\r\n",
    "https://a.example\n", "https://a.example\0", "ftp://a.example", "https://user:secret@a.example",
    "https://a.example:99999", "https://a.example:0", "https://a.example?x=1", "https://a.example#top",
    "a.example", "*", "", "https://", "https://exa mple.com", "https://a.example\\@evil.example", 42,
]


@pytest.mark.parametrize("origin", BAD_ORIGINS)
def test_bad_allowed_origin_is_422(client, headers, workspace, origin):
    assert_error(client.post("/api/interfaces", headers=headers, json={"name": "Shop", "allowed_origins": [origin]}),
                 422, field="allowed_origins")
    interface = make_interface(workspace)
    assert_error(client.patch(f"/api/interfaces/{interface.id}", headers=headers,
                              json={"allowed_origins": ["https://ok.example", origin]}), 422, field="allowed_origins")
    db.session.expire_all()
    assert interface.allowed_origins == []


@pytest.mark.parametrize("timeout, ok", [(9, False), (10, True), (3600, True), (3601, False), (0, False),
                                         (-60, False), ("soon", False), (None, False), (True, False)])
def test_request_timeout_is_10_to_3600_seconds(client, headers, timeout, ok):
    response = client.post("/api/interfaces", headers=headers, json={"name": "Shop", "request_timeout_s": timeout})
    if ok:
        assert response.status_code == 201 and response.get_json()["request_timeout_s"] == timeout
    else:
        assert_error(response, 422, field="request_timeout_s")


@pytest.mark.parametrize("weight, ok", [(0, False), (1, True), (3, True), (10, True), (11, False), ("2", True)])
def test_video_weight_is_1_to_10_and_defaults_to_1(client, headers, weight, ok):
    assert _create(client, headers)["video_weight"] == 1
    response = client.post("/api/interfaces", headers=headers, json={"name": "Video", "video_weight": weight})
    if ok:
        assert response.status_code == 201 and response.get_json()["video_weight"] == int(weight)
    else:
        assert_error(response, 422, field="video_weight")


@pytest.mark.parametrize("mode", RoutingMode.values())
def test_every_routing_mode_is_accepted(client, headers, mode):
    assert _create(client, headers, routing_mode=mode)["routing_mode"] == mode


@pytest.mark.parametrize("change, field", [
    ({"routing_mode": "random"}, "routing_mode"), ({"routing_mode": "BROADCAST"}, "routing_mode"),
    ({"id": 1}, "id"), ({"workspace_id": 1}, "workspace_id"), ({"public_key": "pk_mine"}, "public_key"),
    ({"agents": []}, "agents"), ({"colour": "red"}, "colour"), ({"name": "Shop\r\nX"}, "name"),
    ({"name": "  "}, "name"), ({"name": "x" * 121}, "name"), ({"agent_ids": [424242]}, "agent_ids"),
    ({"allowed_origins": "https://a.example"}, "allowed_origins"),
])
def test_create_with_bad_input_is_422_naming_the_field(client, headers, change, field):
    assert_error(client.post("/api/interfaces", headers=headers, json={"name": "Shop", **change}), 422, field=field)
    assert db.session.scalar(select(Interface)) is None


def test_create_without_a_name_is_422(client, headers):
    assert_error(client.post("/api/interfaces", headers=headers, json={}), 422, field="name")


@pytest.mark.parametrize("change, field", [({"public_key": "pk_mine"}, "public_key"), ({"id": 9}, "id"),
                                           ({"request_timeout_s": 5}, "request_timeout_s"), ({"name": None}, "name")])
def test_patch_with_bad_input_is_422_naming_the_field(client, headers, workspace, change, field):
    interface = make_interface(workspace)
    assert_error(client.patch(f"/api/interfaces/{interface.id}", headers=headers, json=change), 422, field=field)


def test_rejected_edit_changes_nothing(client, headers, workspace):
    agent = make_user(workspace)
    interface = make_interface(workspace, name="Before", agents=[agent])
    response = client.patch(f"/api/interfaces/{interface.id}", headers=headers,
                            json={"name": "After", "request_timeout_s": 99, "agent_ids": [424242]})
    assert_error(response, 422, field="agent_ids")
    client.patch(f"/api/interfaces/{interface.id}", headers=headers, json={})  # a later commit must not write it
    body = client.get(f"/api/interfaces/{interface.id}", headers=headers).get_json()
    assert (body["name"], body["request_timeout_s"], body["agent_ids"]) == ("Before", 60, [agent.id])


# --- assignment ------------------------------------------------------------

def test_assigning_agents_to_an_interface_shows_on_both_sides(client, headers, workspace):
    interface = make_interface(workspace, name="Shop")
    ada, bob, cy = make_user(workspace), make_user(workspace), make_user(workspace)
    response = client.put(f"/api/interfaces/{interface.id}/agents", headers=headers,
                          json={"agent_ids": [ada.id, bob.id, ada.id]})
    assert response.status_code == 200
    assert response.get_json()["agent_ids"] == [ada.id, bob.id]
    assert [a["id"] for a in response.get_json()["agents"]] == [ada.id, bob.id]
    assert client.get(f"/api/agents/{ada.id}", headers=headers).get_json()["interfaces"] == [
        {"id": interface.id, "name": "Shop"}]
    listed = client.get("/api/agents", query_string={"interface_id": interface.id}, headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [ada.id, bob.id]
    # PUT replaces the set.
    client.put(f"/api/interfaces/{interface.id}/agents", headers=headers, json={"agent_ids": [cy.id]})
    assert client.get(f"/api/agents/{ada.id}", headers=headers).get_json()["interface_ids"] == []
    assert client.get(f"/api/interfaces/{interface.id}", headers=headers).get_json()["agent_ids"] == [cy.id]


def test_assigning_interfaces_to_an_agent_shows_on_both_sides(client, headers, workspace):
    shop, blog = make_interface(workspace), make_interface(workspace)
    agent = make_user(workspace)
    response = client.patch(f"/api/agents/{agent.id}", headers=headers, json={"interface_ids": [shop.id, blog.id]})
    assert response.status_code == 200
    for interface in (shop, blog):
        body = client.get(f"/api/interfaces/{interface.id}", headers=headers).get_json()
        assert body["agent_ids"] == [agent.id]
        assert body["agents"][0]["email"] == agent.email
    client.patch(f"/api/agents/{agent.id}", headers=headers, json={"interface_ids": [blog.id]})
    assert client.get(f"/api/interfaces/{shop.id}", headers=headers).get_json()["agent_ids"] == []


@pytest.mark.parametrize("body", [{"agent_ids": [424242]}, {}, {"agent_ids": None}, {"agent_ids": ["x"]},
                                  {"agent_ids": [0]}])
def test_assigning_with_bad_agent_ids_is_422_and_keeps_the_assignment(client, headers, workspace, body):
    agent = make_user(workspace)
    interface = make_interface(workspace, agents=[agent])
    assert_error(client.put(f"/api/interfaces/{interface.id}/agents", headers=headers, json=body), 422,
                 field="agent_ids")
    assert client.get(f"/api/interfaces/{interface.id}", headers=headers).get_json()["agent_ids"] == [agent.id]


# --- what agents may do ------------------------------------------------------

@pytest.fixture
def served(workspace):
    """An agent, the interface they serve, and one of the same workspace they do not."""
    agent = make_user(workspace)
    mine = make_interface(workspace, name="Mine", agents=[agent])
    theirs = make_interface(workspace, name="Not mine", agents=[make_user(workspace)])
    return agent, mine, theirs


def test_agent_lists_and_reads_only_the_interfaces_they_serve(client, auth, served):
    agent, mine, theirs = served
    agent_headers = auth.headers(agent)
    listed = client.get("/api/interfaces", headers=agent_headers).get_json()
    assert [item["id"] for item in listed["items"]] == [mine.id] and listed["total"] == 1
    assert client.get(f"/api/interfaces/{mine.id}", headers=agent_headers).status_code == 200
    assert_error(client.get(f"/api/interfaces/{theirs.id}", headers=agent_headers), 404, "not_found")


def test_agent_serving_nothing_lists_nothing(client, auth, workspace, served):
    loner = make_user(workspace)
    assert client.get("/api/interfaces", headers=auth.headers(loner)).get_json()["items"] == []


ADMIN_ROUTES = [
    ("POST", "/api/interfaces", {"name": "Sneaky"}),
    ("POST", "/api/interfaces", {"bad": "body"}),  # the role is checked before the body
    ("PATCH", "/api/interfaces/{id}", {"name": "Sneaky"}),
    ("DELETE", "/api/interfaces/{id}", None),
    ("POST", "/api/interfaces/{id}/rotate-key", None),
    ("PUT", "/api/interfaces/{id}/agents", {"agent_ids": []}),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
def test_agent_gets_403_on_every_admin_route_even_for_their_interface(client, auth, served, method, path, body):
    agent, mine, _ = served
    key = mine.public_key
    response = client.open(path.format(id=mine.id), method=method, json=body, headers=auth.headers(agent))
    assert_error(response, 403, "forbidden")
    db.session.expire_all()
    assert (mine.name, mine.public_key, mine.agent_ids) == ("Mine", key, [agent.id])
    assert db.session.scalar(select(Interface).where(Interface.name == "Sneaky")) is None


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES + [("GET", "/api/interfaces", None),
                                                                ("GET", "/api/interfaces/{id}", None)])
def test_no_token_gets_401_on_every_route(client, workspace, method, path, body):
    interface = make_interface(workspace, name="Kept")
    response = client.open(path.format(id=interface.id), method=method, json=body)
    assert_error(response, 401, "unauthorized")
    db.session.expire_all()
    assert db.session.get(Interface, interface.id).name == "Kept"
