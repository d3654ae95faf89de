"""Admins manage the users of their workspace: /api/agents."""
import re
import threading

import pytest
from sqlalchemy import func, select, text

import services.agents
from extensions import db
from models import OutboxMail, PasswordToken, Role, User
from tests.factories import PASSWORD, make_interface, make_user, make_workspace
from tests.test_errors import assert_error


@pytest.fixture
def workspace_admin(app):
    return make_workspace()


@pytest.fixture
def workspace(workspace_admin):
    return workspace_admin[0]


@pytest.fixture
def admin(workspace_admin):
    return workspace_admin[1]


@pytest.fixture
def headers(auth, admin):
    return auth.headers(admin)


def _token_in(mail):
    return re.search(r"token=([\w-]+)", mail.body_text).group(1)


def _invitations_to(email):
    db.session.expire_all()
    mails = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "invitation").order_by(OutboxMail.id))
    return [mail for mail in mails if mail.recipients == [email]]


def _active_admins(workspace):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(User).where(
        User.workspace_id == workspace.id, User.role == Role.ADMIN, User.is_active))


# --- create ----------------------------------------------------------------

def test_create_agent_is_201_and_queues_the_invitation_with_it(client, headers, workspace):
    interface = make_interface(workspace, name="Shop")
    response = client.post("/api/agents", headers=headers, json={
        "name": " Ada Lovelace ", "email": "Ada@Example.COM", "max_chats": 5, "interface_ids": [interface.id]})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["name"] == "Ada Lovelace" and body["email"] == "ada@example.com"
    assert body["role"] == "agent" and body["max_chats"] == 5
    assert body["is_active"] is True and body["has_password"] is False
    assert body["interfaces"] == [{"id": interface.id, "name": "Shop"}]
    assert body["workspace_id"] == workspace.id
    [mail] = _invitations_to("ada@example.com")
    assert mail.kind == "invitation" and mail.status == "pending"
    assert PASSWORD not in mail.body_text
    # The link in the mail sets the password once, and then the agent can log in.
    token = _token_in(mail)
    assert client.post("/api/auth/set-password", json={"token": token, "password": "a new passphrase"}
                       ).status_code == 204
    assert client.post("/api/auth/login", json={"email": "ada@example.com", "password": "a new passphrase"}
                       ).status_code == 200


def test_create_admin_is_allowed(client, headers):
    response = client.post("/api/agents", headers=headers, json={"name": "Second", "email": "b@example.com",
                                                                 "role": "admin"})
    assert response.status_code == 201
    assert response.get_json()["role"] == "admin"


def test_user_is_not_created_when_its_invitation_cannot_be_queued(app, client, headers, monkeypatch):
    def broken_outbox(*args, **kwargs):
        raise RuntimeError("outbox table unavailable")

    monkeypatch.setattr(services.agents, "queue_mail", broken_outbox)
    response = client.post("/api/agents", headers=headers, json={"name": "Ada", "email": "ada@example.com"})
    assert_error(response, 500, "internal_error")
    # Read what is committed, through a connection of its own.
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM users WHERE email = 'ada@example.com'")).scalar() == 0


# --- list, get, edit, delete ---------------------------------------------------

def test_list_is_paginated_and_shows_where_each_user_is_assigned(client, headers, workspace, admin):
    shop, blog = make_interface(workspace, name="Shop"), make_interface(workspace, name="Blog")
    agents = [make_user(workspace, interfaces=[shop, blog][: i % 3]) for i in range(4)]
    response = client.get("/api/agents", query_string={"page": 2, "page_size": 2}, headers=headers)
    assert response.status_code == 200
    body = response.get_json()
    assert (body["page"], body["page_size"], body["total"]) == (2, 2, 5)
    assert [item["id"] for item in body["items"]] == [agents[1].id, agents[2].id]
    assert body["items"][0]["interfaces"] == [{"id": shop.id, "name": "Shop"}]
    assert body["items"][1]["interfaces"] == [{"id": shop.id, "name": "Shop"}, {"id": blog.id, "name": "Blog"}]
    last = client.get("/api/agents", query_string={"page": 3, "page_size": 2}, headers=headers).get_json()
    assert [item["id"] for item in last["items"]] == [agents[3].id]


def test_list_filters_by_role_interface_and_search(client, headers, workspace, admin):
    shop = make_interface(workspace)
    ada = make_user(workspace, name="Ada Lovelace", email="ada@example.com", interfaces=[shop])
    grace = make_user(workspace, name="Grace Hopper", email="grace@navy.example", role=Role.ADMIN)

    def ids(**query):
        response = client.get("/api/agents", query_string=query, headers=headers)
        assert response.status_code == 200, response.get_json()
        return [item["id"] for item in response.get_json()["items"]]

    assert ids(role="admin") == [admin.id, grace.id]
    assert ids(role="agent") == [ada.id]
    assert ids(interface_id=shop.id) == [ada.id]
    assert ids(q="LOVE") == [ada.id]
    assert ids(q="navy") == [grace.id]
    assert ids(q="%") == [] and ids(q="_") == []  # searched for literally, not as wildcards
    assert ids(role="agent", q="grace") == []


@pytest.mark.parametrize("query, field", [
    ({"page": 0}, "page"), ({"page_size": 0}, "page_size"), ({"page_size": 101}, "page_size"),
    ({"role": "owner"}, "role"), ({"interface_id": "x"}, "interface_id"), ({"q": "x" * 121}, "q"),
])
def test_list_with_bad_query_is_422(client, headers, query, field):
    assert_error(client.get("/api/agents", query_string=query, headers=headers), 422, field=field,
                 location="query")


def test_get_shows_one_user(client, headers, workspace):
    shop = make_interface(workspace, name="Shop")
    agent = make_user(workspace, interfaces=[shop], max_chats=7)
    body = client.get(f"/api/agents/{agent.id}", headers=headers).get_json()
    assert body["id"] == agent.id and body["max_chats"] == 7 and body["interface_ids"] == [shop.id]
    assert "password_hash" not in body and "token_version" not in body


def test_patch_edits_name_email_max_chats_and_interfaces(client, headers, workspace):
    shop, blog = make_interface(workspace), make_interface(workspace)
    agent = make_user(workspace, interfaces=[shop])
    response = client.patch(f"/api/agents/{agent.id}", headers=headers, json={
        "name": "Renamed", "email": "New@Example.com", "max_chats": 50, "interface_ids": [blog.id]})
    assert response.status_code == 200, response.get_json()
    body = client.get(f"/api/agents/{agent.id}", headers=headers).get_json()
    assert (body["name"], body["email"], body["max_chats"]) == ("Renamed", "new@example.com", 50)
    assert body["interface_ids"] == [blog.id]


def test_delete_is_204_and_the_user_is_gone(client, headers, auth, workspace):
    agent = make_user(workspace)
    agent_headers = auth.headers(agent)
    assert client.delete(f"/api/agents/{agent.id}", headers=headers).status_code == 204
    assert_error(client.get(f"/api/agents/{agent.id}", headers=headers), 404, "not_found")
    assert_error(client.get("/api/auth/me", headers=agent_headers), 401)


def test_resend_invitation_is_202_and_only_the_newest_link_works(client, headers):
    created = client.post("/api/agents", headers=headers, json={"name": "Ada", "email": "ada@example.com"})
    agent_id = created.get_json()["id"]
    response = client.post(f"/api/agents/{agent_id}/invitation", headers=headers)
    assert response.status_code == 202
    assert response.get_json()["id"] == agent_id
    first, second = _invitations_to("ada@example.com")
    links = db.session.scalars(select(PasswordToken).where(PasswordToken.user_id == agent_id)
                               .order_by(PasswordToken.id)).all()
    assert len(links) == 2
    assert links[0].used_at is not None and links[1].used_at is None
    old = client.post("/api/auth/set-password", json={"token": _token_in(first), "password": "a new passphrase"})
    assert_error(old, 400, "invalid_link")
    new = client.post("/api/auth/set-password", json={"token": _token_in(second), "password": "a new passphrase"})
    assert new.status_code == 204


def test_resend_invitation_after_the_password_is_set_is_409(client, headers, workspace):
    agent = make_user(workspace)  # has a password already
    assert_error(client.post(f"/api/agents/{agent.id}/invitation", headers=headers), 409, "invitation_accepted")


# --- bad input -------------------------------------------------------------

VALID = {"name": "Ada", "email": "ada@example.com"}


@pytest.mark.parametrize("change, field", [
    ({"nickname": "x"}, "nickname"),
    ({"id": 99}, "id"),
    ({"workspace_id": 99}, "workspace_id"),
    ({"is_active": False}, "is_active"),
    ({"has_password": True}, "has_password"),
    ({"interfaces": []}, "interfaces"),
    ({"name": "Ada\rBcc"}, "name"),
    ({"name": "Ada\nBcc"}, "name"),
    ({"name": "Ada\0"}, "name"),
    ({"name": "   "}, "name"),
    ({"name": "x" * 121}, "name"),
    ({"email": "ada@example.com\r\nBcc: all@example.com"}, "email"),
    ({"email": "ada@example.com\n"}, "email"),
    ({"email": "ada\0@example.com"}, "email"),
    ({"email": "not-an-address"}, "email"),
    ({"max_chats": 0}, "max_chats"),
    ({"max_chats": 51}, "max_chats"),
    ({"max_chats": "many"}, "max_chats"),
    ({"role": "owner"}, "role"),
    ({"interface_ids": [424242]}, "interface_ids"),
    ({"interface_ids": "1"}, "interface_ids"),
])
def test_create_with_bad_input_is_422_naming_the_field(client, headers, change, field):
    response = client.post("/api/agents", headers=headers, json={**VALID, **change})
    assert_error(response, 422, field=field)
    assert db.session.scalar(select(User).where(User.email == "ada@example.com")) is None


@pytest.mark.parametrize("missing", ["name", "email"])
def test_create_without_a_required_field_is_422(client, headers, missing):
    body = {key: value for key, value in VALID.items() if key != missing}
    assert_error(client.post("/api/agents", headers=headers, json=body), 422, field=missing)


@pytest.mark.parametrize("change, field", [
    ({"id": 5}, "id"), ({"workspace_id": 5}, "workspace_id"), ({"has_password": False}, "has_password"),
    ({"name": "a\nb"}, "name"), ({"email": "x@example.com\r"}, "email"), ({"max_chats": 0}, "max_chats"),
    ({"max_chats": 51}, "max_chats"), ({"email": "nope"}, "email"), ({"interface_ids": [424242]}, "interface_ids"),
    ({"name": None}, "name"),
])
def test_patch_with_bad_input_is_422_naming_the_field(client, headers, workspace, change, field):
    agent = make_user(workspace, name="Unchanged")
    assert_error(client.patch(f"/api/agents/{agent.id}", headers=headers, json=change), 422, field=field)


@pytest.mark.parametrize("change, field", [({"role": "agent"}, "role"), ({"role": "admin"}, "role"),
                                           ({"is_active": False}, "is_active")])
def test_admin_changing_their_own_role_or_activity_is_422(client, headers, admin, change, field):
    assert_error(client.patch(f"/api/agents/{admin.id}", headers=headers, json=change), 422, field=field)
    db.session.expire_all()
    assert admin.role == Role.ADMIN and admin.is_active


@pytest.mark.parametrize("change, status", [({"interface_ids": [424242]}, 422), ({"email": "taken@example.com"}, 409)])
def test_rejected_edit_changes_nothing(client, headers, workspace, change, status):
    make_user(workspace, email="taken@example.com")
    agent = make_user(workspace, name="Before", max_chats=3)
    response = client.patch(f"/api/agents/{agent.id}", headers=headers,
                            json={"name": "After", "max_chats": 9, **change})
    assert_error(response, status)
    client.patch(f"/api/agents/{agent.id}", headers=headers, json={})  # a later commit must not write it
    body = client.get(f"/api/agents/{agent.id}", headers=headers).get_json()
    assert (body["name"], body["max_chats"]) == ("Before", 3)


# --- conflicts -------------------------------------------------------------------

@pytest.mark.parametrize("email", ["taken@example.com", "Taken@Example.COM"])
def test_create_with_an_address_in_use_is_409_email_taken(client, headers, workspace, email):
    make_user(workspace, email="taken@example.com")
    assert_error(client.post("/api/agents", headers=headers, json={"name": "Dup", "email": email}), 409,
                 "email_taken")


def test_address_in_use_in_another_workspace_is_409_too(client, headers):
    make_workspace(admin_email="elsewhere@example.com")
    response = client.post("/api/agents", headers=headers, json={"name": "Dup", "email": "ELSEWHERE@example.com"})
    assert_error(response, 409, "email_taken")


def test_patch_to_an_address_in_use_is_409_email_taken(client, headers, workspace):
    make_user(workspace, email="taken@example.com")
    agent = make_user(workspace)
    response = client.patch(f"/api/agents/{agent.id}", headers=headers, json={"email": "TAKEN@example.com"})
    assert_error(response, 409, "email_taken")


def test_address_taken_by_a_concurrent_create_is_409_not_500(client, headers, workspace, monkeypatch):
    make_user(workspace, email="taken@example.com")
    original = services.agents._email_in_use
    checks = []

    def free_at_first_look(email, exclude_id=None):
        # The other request commits between our check and our insert.
        checks.append(email)
        return False if len(checks) == 1 else original(email, exclude_id)

    monkeypatch.setattr(services.agents, "_email_in_use", free_at_first_look)
    response = client.post("/api/agents", headers=headers, json={"name": "Dup", "email": "taken@example.com"})
    assert_error(response, 409, "email_taken")


def test_only_admin_deleting_themselves_is_409_last_admin(client, headers, admin, workspace):
    assert_error(client.delete(f"/api/agents/{admin.id}", headers=headers), 409, "last_admin")
    assert _active_admins(workspace) == 1


def test_deleting_yourself_is_409_even_with_other_admins(client, headers, admin, workspace):
    make_user(workspace, role=Role.ADMIN)
    assert_error(client.delete(f"/api/agents/{admin.id}", headers=headers), 409, "cannot_delete_self")
    assert db.session.get(User, admin.id) is not None


def test_demoting_or_deleting_another_admin_is_allowed_while_one_remains(client, headers, workspace):
    other, third = make_user(workspace, role=Role.ADMIN), make_user(workspace, role=Role.ADMIN)
    assert client.patch(f"/api/agents/{other.id}", headers=headers, json={"role": "agent"}).status_code == 200
    assert client.delete(f"/api/agents/{third.id}", headers=headers).status_code == 204
    assert _active_admins(workspace) == 1


def _at_once(app, monkeypatch, calls):
    """Run two requests so both pass authentication before either commits; return their responses."""
    names = list(calls)
    entered = {name: threading.Event() for name in names}
    counted = {name: threading.Event() for name in names}
    original = services.agents._other_active_admins

    def count_then_wait_for_the_other(user):
        me = threading.current_thread().name
        other = names[1 - names.index(me)]
        entered[me].set()
        result = original(user)
        counted[me].set()
        # Without a lock both counts happen before either commit; with it the other waits for ours.
        entered[other].wait(10)
        counted[other].wait(0.5)
        return result

    monkeypatch.setattr(services.agents, "_other_active_admins", count_then_wait_for_the_other)
    db.session.commit()  # the test's own session holds no transaction while the requests run
    responses = {}

    def run(name):
        method, path, headers, body = calls[name]
        responses[name] = app.test_client().open(path, method=method, headers=headers, json=body)

    threads = [threading.Thread(target=run, args=(name,), name=name) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return responses


@pytest.mark.parametrize("method, body, success", [("PATCH", {"role": "agent"}, 200),
                                                   ("PATCH", {"is_active": False}, 200),
                                                   ("DELETE", None, 204)])
def test_two_admins_removing_each_other_at_once_leave_one_admin(app, auth, monkeypatch, workspace, admin,
                                                                method, body, success):
    other = make_user(workspace, role=Role.ADMIN)
    mine, theirs = auth.headers(admin), auth.headers(other)
    responses = _at_once(app, monkeypatch, {
        "a": (method, f"/api/agents/{other.id}", mine, body),
        "b": (method, f"/api/agents/{admin.id}", theirs, body),
    })
    statuses = sorted(response.status_code for response in responses.values())
    assert statuses == sorted([success, 409]), [r.get_json() for r in responses.values()]
    loser = next(response for response in responses.values() if response.status_code == 409)
    assert_error(loser, 409, "last_admin")
    assert _active_admins(workspace) == 1


# --- access ----------------------------------------------------------------

def test_demoted_admin_loses_admin_access_at_once(client, headers, auth, workspace):
    other = make_user(workspace, role=Role.ADMIN)
    their_headers = auth.headers(other)
    assert client.patch(f"/api/agents/{other.id}", headers=headers, json={"role": "agent"}).status_code == 200
    assert_error(client.get("/api/agents", headers=their_headers), 401)
    assert_error(client.get("/api/agents", headers=auth.headers(other)), 403, "forbidden")


def test_deactivated_agent_loses_access_at_once(client, headers, auth, workspace):
    agent = make_user(workspace)
    agent_headers = auth.headers(agent)
    assert client.patch(f"/api/agents/{agent.id}", headers=headers, json={"is_active": False}).status_code == 200
    assert_error(client.get("/api/interfaces", headers=agent_headers), 401)


ADMIN_ROUTES = [
    ("GET", "/api/agents", None),
    ("POST", "/api/agents", VALID),
    ("GET", "/api/agents/{id}", None),
    ("PATCH", "/api/agents/{id}", {"name": "Changed"}),
    ("DELETE", "/api/agents/{id}", None),
    ("POST", "/api/agents/{id}/invitation", None),
]


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
def test_agent_gets_403_on_every_admin_route(client, auth, workspace, method, path, body):
    agent = make_user(workspace)
    target = make_user(workspace, name="Target", password=None)
    response = client.open(path.format(id=target.id), method=method, json=body, headers=auth.headers(agent))
    assert_error(response, 403, "forbidden")
    db.session.expire_all()
    assert db.session.get(User, target.id).name == "Target"
    assert db.session.scalar(select(func.count()).select_from(OutboxMail)) == 0


@pytest.mark.parametrize("method, path, body", ADMIN_ROUTES)
def test_no_token_gets_401_on_every_route(client, workspace, method, path, body):
    target = make_user(workspace, name="Target")
    response = client.open(path.format(id=target.id), method=method, json=body)
    assert_error(response, 401, "unauthorized")
    db.session.expire_all()
    assert db.session.get(User, target.id).name == "Target"
