"""A deleted user's or visitor's tokens, tickets and links never speak for whoever comes next.

SQLite hands the id of a deleted newest row to the next row unless the table
says AUTOINCREMENT, and a token version starts over with every user. These
tests delete the newest row and make the next one, which is exactly when an
id would come back.
"""
import re

import pytest
from flask_jwt_extended import create_access_token, decode_token
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, select, text

from app import create_app
from config import TestConfig
from extensions import db
from models import Conversation, OutboxMail, User, Visitor
from services.sockets import TicketInvalid, do_consume_ticket
from tests.conftest import is_postgres
from tests.factories import make_interface, make_workspace
from tests.test_migrations import scratch_url  # noqa: F401 (a fixture)
from tests.widget_helpers import Widget

NEW_PASSWORD = "a brand new passphrase"
INITIAL_REVISION = "2d72bffa8d03"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def workspace(app):
    workspace, admin = make_workspace()
    return workspace


@pytest.fixture
def admin_headers(auth, workspace):
    admin = db.session.scalars(select(User).where(User.workspace_id == workspace.id)).one()
    return auth.headers(admin)


def create_agent(client, headers, email):
    """Create an agent over HTTP; return its id and the set-password token of its invitation."""
    response = client.post("/api/agents", headers=headers, json={"name": "Agent", "email": email})
    assert response.status_code == 201, response.get_json()
    db.session.expire_all()
    mail = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "invitation")
                              .order_by(OutboxMail.id.desc())).first()
    assert mail is not None and mail.recipients == [email]
    return response.get_json()["id"], re.search(r"token=([\w-]+)", mail.body_text).group(1)


def set_password(client, link_token):
    return client.post("/api/auth/set-password", json={"token": link_token, "password": NEW_PASSWORD})


def onboard_agent(client, headers, email):
    """Create an agent who sets a password and logs in; return its id and token pair."""
    agent_id, link_token = create_agent(client, headers, email)
    assert set_password(client, link_token).status_code == 204
    response = client.post("/api/auth/login", json={"email": email, "password": NEW_PASSWORD})
    assert response.status_code == 200, response.get_json()
    return agent_id, response.get_json()


def delete_agent(client, headers, agent_id):
    assert client.delete(f"/api/agents/{agent_id}", headers=headers).status_code == 204
    db.session.expire_all()


# Tokens

def test_deleted_agents_tokens_do_not_speak_for_the_next_agent(client, admin_headers):
    first_id, first = onboard_agent(client, admin_headers, "first@example.com")
    delete_agent(client, admin_headers, first_id)
    assert client.get("/api/auth/me", headers=bearer(first["access_token"])).status_code == 401

    second_id, link_token = create_agent(client, admin_headers, "second@example.com")
    assert set_password(client, link_token).status_code == 204

    me = client.get("/api/auth/me", headers=bearer(first["access_token"]))
    assert me.status_code == 401, me.get_json()
    refreshed = client.post("/api/auth/refresh", headers=bearer(first["refresh_token"]))
    assert refreshed.status_code == 401, refreshed.get_json()
    # The next agent's own session is unaffected.
    second = client.post("/api/auth/login", json={"email": "second@example.com", "password": NEW_PASSWORD})
    assert client.get("/api/auth/me", headers=bearer(second.get_json()["access_token"])).get_json()["id"] == second_id


def test_user_token_with_another_users_key_is_401(client, app, admin_headers):
    first_id, first = onboard_agent(client, admin_headers, "first@example.com")
    second_id, second = onboard_agent(client, admin_headers, "second@example.com")
    with app.test_request_context():
        claims = {key: value for key, value in decode_token(first["access_token"]).items()
                  if key in ("kind", "role", "ver", "ws", "key", "rjti")}
        forged = create_access_token(identity=str(second_id), additional_claims=claims)
    assert client.get("/api/auth/me", headers=bearer(forged)).status_code == 401
    assert client.get("/api/auth/me", headers=bearer(second["access_token"])).status_code == 200


def test_visitor_token_with_another_visitors_key_is_401(client, app, workspace):
    interface = make_interface(workspace)
    first, second = Widget(client, interface), Widget(client, interface)
    first.open()
    second_id = second.open()["visitor_id"]
    with app.test_request_context():
        claims = {key: value for key, value in decode_token(first.token).items()
                  if key in ("kind", "ws", "iface", "key")}
        second.token = create_access_token(identity=str(second_id), additional_claims=claims)
    assert second.messages().status_code == 401


def test_deleted_visitors_token_does_not_speak_for_the_next_visitor(client, app, workspace, admin_headers):
    interface = make_interface(workspace)
    gone = Widget(client, interface)
    gone_id = gone.open()["visitor_id"]
    # Deleting an interface deletes its visitors.
    assert client.delete(f"/api/interfaces/{interface.id}", headers=admin_headers).status_code == 204
    db.session.expire_all()
    assert db.session.get(Visitor, gone_id) is None

    successor = make_interface(workspace)
    newcomer = Widget(client, successor)
    newcomer.open()

    stale = Widget(client, successor)
    stale.token, stale.conversation_id = gone.token, newcomer.conversation_id
    assert stale.messages().status_code == 401
    reopened = client.post(f"/api/widget/{successor.public_key}/sessions", headers=bearer(gone.token))
    assert reopened.status_code == 401, reopened.get_json()


# Socket tickets

def test_deleted_agents_socket_ticket_does_not_open_a_socket_for_the_next_agent(client, admin_headers):
    first_id, first = onboard_agent(client, admin_headers, "first@example.com")
    ticket = client.post("/api/sockets/ticket", headers=bearer(first["access_token"])).get_json()["ticket"]
    delete_agent(client, admin_headers, first_id)
    second_id, link_token = create_agent(client, admin_headers, "second@example.com")
    assert set_password(client, link_token).status_code == 204

    with pytest.raises(TicketInvalid):
        do_consume_ticket(ticket)


def test_deleted_visitors_socket_ticket_does_not_open_a_socket_for_the_next_visitor(client, workspace, admin_headers):
    interface = make_interface(workspace)
    gone = Widget(client, interface)
    gone.open()
    ticket = gone.ticket()
    assert client.delete(f"/api/interfaces/{interface.id}", headers=admin_headers).status_code == 204
    db.session.expire_all()
    Widget(client, make_interface(workspace)).open()

    with pytest.raises(TicketInvalid):
        do_consume_ticket(ticket)


# Set-password links

def test_deleted_agents_invitation_does_not_set_the_next_agents_password(client, admin_headers):
    first_id, first_link = create_agent(client, admin_headers, "first@example.com")
    delete_agent(client, admin_headers, first_id)
    second_id, second_link = create_agent(client, admin_headers, "second@example.com")

    response = set_password(client, first_link)
    assert response.status_code == 400 and response.get_json()["code"] == "invalid_link"
    assert db.session.get(User, second_id).password_hash is None
    assert set_password(client, second_link).status_code == 204


# Ids

def _delete_newest_and_add(make):
    first, newest = make(), make()
    newest_id = newest.id
    db.session.delete(newest)
    db.session.commit()
    return newest_id, make().id


def test_user_ids_are_not_reused(app):
    workspace, admin = make_workspace()
    n = iter(range(100))

    def make():
        user = User(workspace_id=workspace.id, name="U", email=f"u{next(n)}@example.com", role="agent")
        db.session.add(user)
        db.session.commit()
        return user

    deleted, added = _delete_newest_and_add(make)
    assert added > deleted


def test_visitor_and_conversation_ids_are_not_reused(app):
    workspace, admin = make_workspace()
    interface = make_interface(workspace)

    def make_visitor():
        visitor = Visitor(workspace_id=workspace.id, interface_id=interface.id)
        db.session.add(visitor)
        db.session.commit()
        return visitor

    deleted, added = _delete_newest_and_add(make_visitor)
    assert added > deleted

    visitor = make_visitor()

    def make_conversation():
        conversation = Conversation(workspace_id=workspace.id, interface_id=interface.id, visitor_id=visitor.id,
                                    status="closed")
        db.session.add(conversation)
        db.session.commit()
        return conversation

    deleted, added = _delete_newest_and_add(make_conversation)
    assert added > deleted


def test_keys_are_random_and_distinct(app):
    workspace, admin = make_workspace()
    interface = make_interface(workspace)
    visitor = Visitor(workspace_id=workspace.id, interface_id=interface.id)
    db.session.add(visitor)
    db.session.commit()
    keys = {admin.token_key, visitor.token_key}
    assert len(keys) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)


# Migration

def test_migration_makes_sqlite_ids_autoincrement_and_backfills_keys(scratch_url):  # noqa: F811
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=scratch_url)
    with app.app_context():
        upgrade(revision=INITIAL_REVISION)
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'W', '2026-01-01')"))
            for n in (1, 2):
                conn.execute(text(
                    "INSERT INTO users (id, workspace_id, name, email, role, max_chats, token_version, is_active,"
                    " availability, created_at, updated_at) VALUES (:n, 1, 'U', :email, 'agent', 3, 1, true,"
                    " 'offline', '2026-01-01', '2026-01-01')"), {"n": n, "email": f"u{n}@example.com"})
            conn.execute(text("INSERT INTO interfaces (id, workspace_id, name, public_key, allowed_origins,"
                              " request_timeout_s, routing_mode, video_weight, created_at, updated_at)"
                              " VALUES (1, 1, 'I', 'pk_1', '[]', 60, 'broadcast', 1, '2026-01-01', '2026-01-01')"))
            conn.execute(text("INSERT INTO visitors (id, workspace_id, interface_id, created_at, last_seen_at)"
                              " VALUES (1, 1, 1, '2026-01-01', '2026-01-01')"))
            conn.execute(text("INSERT INTO password_tokens (id, user_id, token_hash, purpose, expires_at,"
                              " created_at) VALUES (1, 2, 'h', 'invitation', '2026-01-01', '2026-01-01')"))
            conn.execute(text("INSERT INTO interface_agents (interface_id, user_id) VALUES (1, 1)"))
        upgrade()
        with db.engine.begin() as conn:
            keys = conn.execute(text("SELECT token_key FROM users UNION ALL SELECT token_key FROM visitors"))
            keys = [key for (key,) in keys]
            link_key = conn.execute(text("SELECT user_key FROM password_tokens")).scalar_one()
            user_two_key = conn.execute(text("SELECT token_key FROM users WHERE id = 2")).scalar_one()
            if not is_postgres():
                tables = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
        assert len(set(keys)) == 3 and all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
        assert link_key == user_two_key
        with db.engine.begin() as conn:
            # Rebuilding a parent table must not cascade to the rows that refer to it.
            assert conn.execute(text("SELECT user_id FROM interface_agents")).scalar_one() == 1
        for column in ("token_key",):
            assert not {c["name"]: c for c in inspect(db.engine).get_columns("users")}[column]["nullable"]
        if not is_postgres():
            integer_ids = [table.name for table in db.metadata.sorted_tables
                           if [c.name for c in table.primary_key.columns] == ["id"]]
            assert integer_ids and all("AUTOINCREMENT" in tables[name] for name in integer_ids), tables

        downgrade(revision=INITIAL_REVISION)
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 2
            assert conn.execute(text("SELECT count(*) FROM password_tokens")).scalar_one() == 1
            assert conn.execute(text("SELECT count(*) FROM interface_agents")).scalar_one() == 1
            if not is_postgres():
                sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'users'")).scalar_one()
                assert "AUTOINCREMENT" not in sql
        assert "token_key" not in {c["name"] for c in inspect(db.engine).get_columns("users")}
        db.engine.dispose()
