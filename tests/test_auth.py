"""Login, throttling, token lifetime and revocation, and single-use password links."""
import logging
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from argon2 import PasswordHasher
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import select

import services.auth
from app import create_app
from config import TestConfig
from extensions import db
from models import OutboxMail, PasswordTokenPurpose, RevokedToken, Role, User
from models.base import utcnow
from services.auth import new_password_link
from services.passwords import needs_rehash
from tests.conftest import database_url
from tests.factories import PASSWORD, make_interface, make_user, make_workspace

NEW_PASSWORD = "a brand new passphrase"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def me(client, token):
    return client.get("/api/auth/me", headers=bearer(token))


def refresh(client, refresh_token):
    return client.post("/api/auth/refresh", headers=bearer(refresh_token))


def token_of(link):
    return parse_qs(urlsplit(link).query)["token"][0]


def link_for(user, purpose=PasswordTokenPurpose.INVITATION):
    link, _ = new_password_link(user, purpose)
    db.session.commit()
    return token_of(link)


def set_password(client, token, password=NEW_PASSWORD):
    return client.post("/api/auth/set-password", json={"token": token, "password": password})


def assert_error(response, status, code=None):
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) <= {"code", "status", "message", "errors"}
    assert body["status"] == status and body["message"]
    if code:
        assert body["code"] == code, body


# Login

def test_login_returns_an_access_and_refresh_token_and_the_user(client, app):
    workspace, admin = make_workspace()
    response = login(client, admin.email.upper())
    assert response.status_code == 200
    body = response.get_json()
    assert body["access_token"] and body["refresh_token"] and body["access_token"] != body["refresh_token"]
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == int(app.config["JWT_ACCESS_TOKEN_EXPIRES"].total_seconds())
    assert body["user"]["id"] == admin.id
    assert body["user"]["email"] == admin.email
    assert body["user"]["role"] == "admin"
    assert "password" not in body["user"] and "password_hash" not in body["user"]
    assert me(client, body["access_token"]).status_code == 200


def test_wrong_password_and_unknown_email_answer_alike(client, app):
    workspace, admin = make_workspace()
    wrong = login(client, admin.email, "not the password")
    unknown = login(client, "nobody@example.com", PASSWORD)
    assert_error(wrong, 401, "invalid_credentials")
    assert (unknown.status_code, unknown.get_json()) == (wrong.status_code, wrong.get_json())


def test_user_without_password_cannot_log_in(client, app):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    response = login(client, invited.email, "")
    assert_error(response, 422)
    response = login(client, invited.email, "anything at all")
    assert (response.status_code, response.get_json()["code"]) == (401, "invalid_credentials")


def test_deactivated_user_cannot_log_in(client, app):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    agent.is_active = False
    db.session.commit()
    assert_error(login(client, agent.email), 401, "invalid_credentials")


def test_login_rejects_unknown_fields_and_a_missing_password(client, app):
    assert_error(client.post("/api/auth/login", json={"email": "a@example.com"}), 422)
    response = client.post("/api/auth/login", json={"email": "a@example.com", "password": "x", "role": "admin"})
    assert_error(response, 422)
    assert "role" in response.get_json()["errors"]["json"]


# Throttling

@pytest.mark.parametrize("app_config", [{"LOGIN_LIMIT_PER_ACCOUNT": "3/minute"}])
def test_account_is_throttled_after_failed_logins_even_with_the_right_password(client, app):
    workspace, admin = make_workspace()
    other = make_user(workspace)
    for _ in range(3):
        assert login(client, admin.email, "wrong password").status_code == 401

    response = login(client, admin.email.upper())  # the same account, spelt differently
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    assert login(client, other.email).status_code == 200  # other accounts are not affected


@pytest.mark.parametrize("app_config", [{"LOGIN_LIMIT_PER_ACCOUNT": "3/minute"}])
def test_successful_logins_do_not_count_against_the_account(client, app):
    workspace, admin = make_workspace()
    for _ in range(5):
        assert login(client, admin.email).status_code == 200
    for _ in range(2):
        assert login(client, admin.email, "wrong password").status_code == 401
    assert login(client, admin.email).status_code == 200


@pytest.mark.parametrize("app_config", [{"LOGIN_LIMIT_PER_ADDRESS": "3/minute"}])
def test_address_is_throttled_across_accounts(client, app):
    for n in range(3):
        assert login(client, f"nobody{n}@example.com").status_code == 401
    response = login(client, "someone-else@example.com")
    assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0


# Refresh, logout, revocation

def test_refresh_gives_a_working_access_token(client, app):
    workspace, admin = make_workspace()
    tokens = login(client, admin.email).get_json()
    response = refresh(client, tokens["refresh_token"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["access_token"] != tokens["access_token"]
    assert me(client, body["access_token"]).get_json()["id"] == admin.id


def test_access_and_refresh_tokens_are_not_interchangeable(client, app):
    workspace, admin = make_workspace()
    tokens = login(client, admin.email).get_json()
    assert_error(refresh(client, tokens["access_token"]), 401)
    assert_error(me(client, tokens["refresh_token"]), 401)


def test_logout_revokes_the_access_and_the_refresh_token(client, app):
    workspace, admin = make_workspace()
    tokens = login(client, admin.email).get_json()
    refreshed = refresh(client, tokens["refresh_token"]).get_json()["access_token"]
    other_session = login(client, admin.email).get_json()

    assert client.post("/api/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204

    assert_error(me(client, tokens["access_token"]), 401, "token_revoked")
    assert_error(refresh(client, tokens["refresh_token"]), 401, "token_revoked")
    # An access token obtained with the revoked refresh token ends with it.
    assert_error(me(client, refreshed), 401, "token_revoked")
    assert me(client, other_session["access_token"]).status_code == 200


def test_revocations_survive_a_restart(client, app, app_config):
    workspace, admin = make_workspace()
    revoked = login(client, admin.email).get_json()
    kept = login(client, admin.email).get_json()
    assert client.post("/api/auth/logout", headers=bearer(revoked["access_token"])).status_code == 204

    restarted = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url(), PASSWORD_HASH_PROFILE="fast",
                           **app_config)
    try:
        with restarted.app_context():
            other = restarted.test_client()
            assert_error(me(other, revoked["access_token"]), 401, "token_revoked")
            assert_error(refresh(other, revoked["refresh_token"]), 401, "token_revoked")
            assert me(other, kept["access_token"]).status_code == 200
            db.session.remove()
    finally:
        with restarted.app_context():
            db.engine.dispose()


def test_demoted_admin_loses_their_tokens_at_once(client, app):
    workspace, admin = make_workspace()
    other_admin = make_user(workspace, role=Role.ADMIN)
    tokens = login(client, other_admin.email).get_json()
    assert client.get("/api/agents", headers=bearer(tokens["access_token"])).status_code == 200

    response = client.patch(f"/api/agents/{other_admin.id}", json={"role": "agent"},
                            headers=bearer(login(client, admin.email).get_json()["access_token"]))
    assert response.status_code == 200, response.get_json()

    assert_error(client.get("/api/agents", headers=bearer(tokens["access_token"])), 401)
    assert_error(me(client, tokens["access_token"]), 401)
    assert_error(refresh(client, tokens["refresh_token"]), 401)
    relogged = login(client, other_admin.email).get_json()
    assert relogged["user"]["role"] == "agent"
    assert_error(client.get("/api/agents", headers=bearer(relogged["access_token"])), 403, "forbidden")


def test_deactivated_user_loses_their_tokens_at_once(client, app):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    tokens = login(client, agent.email).get_json()
    response = client.patch(f"/api/agents/{agent.id}", json={"is_active": False},
                            headers=bearer(login(client, admin.email).get_json()["access_token"]))
    assert response.status_code == 200, response.get_json()
    assert_error(me(client, tokens["access_token"]), 401)
    assert_error(refresh(client, tokens["refresh_token"]), 401)


@pytest.mark.parametrize("claims", [
    {"kind": "visitor"},
    {},
    {"kind": "user", "role": "admin", "ver": 999},
], ids=["visitor", "no-kind", "stale-version"])
def test_tokens_not_speaking_for_a_current_user_are_401(client, app, claims):
    workspace, admin = make_workspace()
    token = create_access_token(identity=str(admin.id), additional_claims=claims)
    assert_error(me(client, token), 401)


@pytest.mark.parametrize("header", [
    "Bearer not.a.token",
    "Bearer ",
    "Basic YWRtaW46YWRtaW4=",
    None,
], ids=["garbage", "empty", "basic", "missing"])
def test_missing_or_garbage_authorization_is_401(client, app, header):
    headers = {"Authorization": header} if header is not None else {}
    assert_error(client.get("/api/auth/me", headers=headers), 401)


def test_token_signed_with_another_secret_is_401(client, app):
    workspace, admin = make_workspace()
    token = login(client, admin.email).get_json()["access_token"]
    app.config["JWT_SECRET_KEY"] = "another-secret-entirely-0123456789abcdef"
    try:
        assert_error(me(client, token), 401, "invalid_token")
    finally:
        app.config["JWT_SECRET_KEY"] = TestConfig.JWT_SECRET_KEY


@pytest.mark.parametrize("make_token, use", [
    (create_access_token, me), (create_refresh_token, refresh)], ids=["access", "refresh"])
def test_expired_token_is_401_token_expired(client, app, make_token, use):
    workspace, admin = make_workspace()
    claims = {"kind": "user", "role": "admin", "ver": admin.token_version, "ws": workspace.id}
    token = make_token(identity=str(admin.id), additional_claims=claims, expires_delta=timedelta(seconds=-30))
    assert_error(use(client, token), 401, "token_expired")


def test_me_shows_the_logged_in_user_and_their_interfaces(client, app):
    workspace, admin = make_workspace()
    agent = make_user(workspace, name="Ann")
    first, second = make_interface(workspace, agents=[agent]), make_interface(workspace, agents=[agent])
    token = login(client, agent.email).get_json()["access_token"]
    body = me(client, token).get_json()
    assert body == {"id": agent.id, "workspace_id": workspace.id, "name": "Ann", "email": agent.email,
                    "role": "agent", "max_chats": 3, "interface_ids": [first.id, second.id]}


# Password links

def test_password_link_works_once(client, app):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    token = link_for(invited)
    assert set_password(client, token).status_code == 204
    assert login(client, invited.email, NEW_PASSWORD).status_code == 200

    assert_error(set_password(client, token, "yet another passphrase"), 400, "invalid_link")
    assert_error(login(client, invited.email, "yet another passphrase"), 401)


def test_unknown_password_link_is_400(client, app):
    assert_error(set_password(client, "x" * 43), 400, "invalid_link")


@pytest.mark.parametrize("app_config", [{"INVITATION_TTL_S": 3600}])
@pytest.mark.parametrize("age_s, status", [(-5, 204), (+1, 400)], ids=["just-before", "just-after"])
def test_password_link_expires_after_the_invitation_ttl(client, app, monkeypatch, age_s, status):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    token = link_for(invited)
    issued = utcnow()
    monkeypatch.setattr(services.auth, "utcnow", lambda: issued + timedelta(seconds=3600 + age_s))
    response = set_password(client, token)
    assert response.status_code == status, response.get_json()


def test_resent_invitation_invalidates_the_earlier_link(client, auth, app):
    workspace, admin = make_workspace()
    headers = auth.headers(admin)
    created = client.post("/api/agents", json={"name": "Ann", "email": "ann@example.com"}, headers=headers)
    assert created.status_code == 201
    agent_id = created.get_json()["id"]
    assert client.post(f"/api/agents/{agent_id}/invitation", headers=headers).status_code == 202

    mails = db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()
    first, second = (token_of(re.search(r"https?://\S+", m.body_text).group(0)) for m in mails)
    assert first != second
    assert_error(set_password(client, first), 400, "invalid_link")
    assert set_password(client, second).status_code == 204
    assert login(client, "ann@example.com", NEW_PASSWORD).status_code == 200


def test_setting_a_password_ends_existing_sessions(client, app):
    workspace, admin = make_workspace()
    tokens = login(client, admin.email).get_json()
    version = admin.token_version
    assert set_password(client, link_for(admin, PasswordTokenPurpose.RESET)).status_code == 204

    assert db.session.get(User, admin.id).token_version == version + 1
    assert_error(me(client, tokens["access_token"]), 401)
    assert_error(refresh(client, tokens["refresh_token"]), 401)
    assert_error(login(client, admin.email, PASSWORD), 401, "invalid_credentials")
    assert login(client, admin.email, NEW_PASSWORD).status_code == 200


@pytest.mark.parametrize("password", ["short", " " * 12], ids=["too-short", "blank"])
def test_unfit_password_is_422_and_keeps_the_link(client, app, password):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    token = link_for(invited)
    response = set_password(client, token, password)
    assert_error(response, 422)
    assert "password" in response.get_json()["errors"]["json"]
    assert set_password(client, token).status_code == 204


def test_login_upgrades_a_hash_made_with_weaker_parameters(client, app):
    workspace, admin = make_workspace()
    weak = PasswordHasher(time_cost=1, memory_cost=512, parallelism=1).hash(PASSWORD)
    admin.password_hash = weak
    db.session.commit()
    assert login(client, admin.email).status_code == 200
    upgraded = db.session.get(User, admin.id).password_hash
    assert upgraded != weak and not needs_rehash(upgraded)
    assert login(client, admin.email).status_code == 200


def test_purge_forgets_only_what_can_no_longer_be_used(client, runner, app):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    old_link = link_for(invited)
    live_link = link_for(invited)  # marks the old link used
    db.session.add_all([
        RevokedToken(jti="expired", expires_at=utcnow() - timedelta(seconds=1)),
        RevokedToken(jti="current", expires_at=utcnow() + timedelta(hours=1)),
    ])
    db.session.commit()

    result = runner.invoke(args=["auth", "purge"])
    assert result.exit_code == 0, result.output
    assert "purged 1 revoked tokens, 1 password links" in result.output
    db.session.expire_all()
    assert [r.jti for r in db.session.scalars(select(RevokedToken))] == ["current"]
    assert_error(set_password(client, old_link), 400, "invalid_link")
    assert set_password(client, live_link).status_code == 204


def test_password_link_of_a_deactivated_user_is_400(client, app):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    token = link_for(invited)
    invited.is_active = False
    db.session.commit()
    assert_error(set_password(client, token), 400, "invalid_link")
    assert db.session.get(User, invited.id).password_hash is None


# Logs

@pytest.mark.parametrize("app_config", [{"LOGIN_LIMIT_PER_ACCOUNT": "2/minute"}])
def test_passwords_and_tokens_never_reach_the_logs(client, app, caplog):
    workspace, admin = make_workspace()
    invited = make_user(workspace, password=None)
    link_token = link_for(invited)
    secrets = [PASSWORD, NEW_PASSWORD, link_token, "wrong password xyz", "tiny"]

    with caplog.at_level(logging.DEBUG):
        tokens = login(client, admin.email).get_json()
        refreshed = refresh(client, tokens["refresh_token"]).get_json()
        assert me(client, tokens["access_token"]).status_code == 200
        assert set_password(client, link_token, "tiny").status_code == 422
        assert set_password(client, link_token).status_code == 204
        assert set_password(client, link_token).status_code == 400
        for _ in range(3):
            login(client, invited.email, "wrong password xyz")
        assert login(client, invited.email, NEW_PASSWORD).status_code == 429
        assert client.post("/api/auth/logout", headers=bearer(tokens["access_token"])).status_code == 204
        assert me(client, tokens["access_token"]).status_code == 401

    secrets += [tokens["access_token"], tokens["refresh_token"], refreshed["access_token"]]
    logged = caplog.text + "\n".join(repr(record.args) for record in caplog.records)
    assert caplog.records  # the throttle, at least, logs something
    for secret in secrets:
        assert secret not in logged


def test_the_set_password_page_is_served_without_leaking_the_token(client):
    response = client.get("/set-password?token=abc<script>")
    assert response.status_code == 200 and b"Set your password" in response.data
    assert b"abc<script>" not in response.data  # the page reads the token in the browser, never echoes it
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "script-src 'nonce-" in response.headers["Content-Security-Policy"]
