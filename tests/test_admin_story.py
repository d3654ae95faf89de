"""The admin story of the foundation, end to end over HTTP and a real SMTP server."""
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from extensions import db
from models import Workspace
from services.mailer import do_send_due
from tests.smtp import body_parts, smtp_server  # noqa: F401 - fixture

ADMIN_PASSWORD = "the admin's own passphrase"
AGENT_PASSWORD = "the agent's own passphrase"
AGENT_NAME = 'Zoë <script>alert("x")</script> & Co'
LINK = re.compile(r"https?://\S+/set-password\?token=[\w-]+")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def token_of(link):
    return parse_qs(urlsplit(link).query)["token"][0]


def test_admin_sets_up_a_workspace_and_an_agent_who_loses_access_when_deleted(smtp_server, runner, client):  # noqa: F811
    # The operator creates the workspace; the admin sets a password from the printed link.
    result = runner.invoke(args=["workspace", "create", "--name", "Acme <Support>",
                                 "--admin-email", "Boss@Example.com", "--admin-name", "Bo Boss"])
    assert result.exit_code == 0, result.output
    (admin_link,) = LINK.findall(result.output)
    response = client.post("/api/auth/set-password", json={"token": token_of(admin_link), "password": ADMIN_PASSWORD})
    assert response.status_code == 204, response.get_json()

    response = client.post("/api/auth/login", json={"email": "boss@example.com", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.get_json()
    admin = bearer(response.get_json()["access_token"])
    assert response.get_json()["user"]["role"] == "admin"

    # Two chat interfaces and one agent serving both.
    interface_ids = []
    for name in ("Website", "Shop"):
        response = client.post("/api/interfaces", json={"name": name}, headers=admin)
        assert response.status_code == 201, response.get_json()
        interface_ids.append(response.get_json()["id"])
    response = client.post("/api/agents", headers=admin, json={
        "name": AGENT_NAME, "email": "Zoe@Example.com", "max_chats": 2, "interface_ids": interface_ids})
    assert response.status_code == 201, response.get_json()
    agent = response.get_json()
    assert agent["role"] == "agent" and agent["has_password"] is False
    assert [i["id"] for i in agent["interfaces"]] == interface_ids

    # The invitation arrives through the outbox: login and link, no password.
    assert do_send_due() == (1, 0)
    (mail,) = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == ["zoe@example.com"]
    assert mail["To"] == "zoe@example.com"
    assert "\n" not in mail["Subject"]
    plain, html = body_parts(mail)
    assert plain and html
    for part in (plain, html, mail["Subject"]):
        assert AGENT_PASSWORD not in part
        assert not re.search(r"password\s*[:=]\s*\S", part, re.IGNORECASE), part
    assert "Your login: zoe@example.com" in plain
    assert "zoe@example.com" in html
    (agent_link,) = LINK.findall(plain)
    assert f'href="{agent_link}"' in html
    assert AGENT_NAME in plain  # plain text carries the name as typed
    assert "<script>" not in html  # HTML carries it escaped
    assert "Zoë &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in html
    assert "Acme &lt;Support&gt;" in html and "<Support>" not in html

    # The agent sets a password from the link and logs in.
    response = client.post("/api/auth/set-password", json={"token": token_of(agent_link), "password": AGENT_PASSWORD})
    assert response.status_code == 204, response.get_json()
    response = client.post("/api/auth/login", json={"email": "zoe@example.com", "password": AGENT_PASSWORD})
    assert response.status_code == 200, response.get_json()
    agent_tokens = response.get_json()
    agent_auth = bearer(agent_tokens["access_token"])
    assert agent_tokens["user"]["interface_ids"] == interface_ids

    # Agents are kept out of the admin routes but see the interfaces they serve.
    response = client.get("/api/agents", headers=agent_auth)
    assert (response.status_code, response.get_json()["code"]) == (403, "forbidden")
    response = client.post("/api/interfaces", json={"name": "Mine"}, headers=agent_auth)
    assert (response.status_code, response.get_json()["code"]) == (403, "forbidden")
    response = client.get("/api/interfaces", headers=agent_auth)
    assert [i["id"] for i in response.get_json()["items"]] == interface_ids

    # Deleting the agent ends both of their tokens at once.
    assert client.delete(f"/api/agents/{agent['id']}", headers=admin).status_code == 204
    response = client.get("/api/auth/me", headers=agent_auth)
    assert response.status_code == 401
    assert response.get_json()["status"] == 401
    response = client.post("/api/auth/refresh", headers=bearer(agent_tokens["refresh_token"]))
    assert response.status_code == 401
    assert response.get_json()["status"] == 401
    assert client.get("/api/agents", headers=admin).get_json()["total"] == 1

    # Nothing else was mailed.
    assert do_send_due() == (0, 0)
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1


@pytest.mark.parametrize("option, value", [
    ("--name", "Acme\nBcc: eve@example.com"),
    ("--name", "   "),
    ("--name", "x" * 121),
    ("--admin-name", "Bo\r\nBoss"),
    ("--admin-email", "not-an-email"),
    ("--admin-email", "bo@example.com\nBcc: eve@example.com"),
])
def test_workspace_create_rejects_names_and_emails_unfit_for_mail(runner, app, option, value):
    args = {"--name": "Acme", "--admin-email": "bo@example.com", "--admin-name": "Bo", option: value}
    result = runner.invoke(args=["workspace", "create", *[x for pair in args.items() for x in pair]])
    assert result.exit_code == 2, result.output
    assert "set-password" not in result.output
    assert db.session.scalar(select(func.count()).select_from(Workspace)) == 0


def test_workspace_create_refuses_an_email_in_use(runner, app):
    args = ["workspace", "create", "--name", "Acme", "--admin-email", "bo@example.com"]
    assert runner.invoke(args=args).exit_code == 0
    result = runner.invoke(args=[*args[:-1], "BO@example.com"])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert db.session.scalar(select(func.count()).select_from(Workspace)) == 1
