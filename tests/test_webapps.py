"""What `make run` sets up for a newcomer: the demo site's interface, and the console's page and its policy."""
import re

from sqlalchemy import select

from extensions import db
from models import Component, Interface


def _ensure(runner):
    result = runner.invoke(args=["workspace", "ensure-demo"])
    assert result.exit_code == 0, result.output
    return result.output


def test_ensure_demo_needs_a_workspace_first(app, runner):
    result = runner.invoke(args=["workspace", "ensure-demo"])
    assert result.exit_code != 0 and "ensure-default" in result.output


def test_ensure_demo_sets_up_the_demo_site_once_and_prints_where_to_go(app, runner, client):
    assert runner.invoke(args=["workspace", "ensure-default"]).exit_code == 0
    first = _ensure(runner)
    key = re.search(r"/demo/(\S+)", first).group(1)
    assert "http://testserver/console" in first
    interface = db.session.scalar(select(Interface).where(Interface.public_key == key))
    assert interface.name == "Demo site"
    # The admin serves it, so the admin who logs in to the console gets its requests.
    assert [user.email for user in interface.agents] == ["admin@example.com"]
    kinds = db.session.scalars(select(Component.type).where(Component.interface_id == interface.id)
                               .order_by(Component.position)).all()
    assert [kind.value for kind in kinds] == ["message", "live_chat", "message"]
    assert interface.allowed_origins == ["http://testserver"]

    # Again (every `make run`): the same interface, no second flow.
    again = _ensure(runner)
    assert f"/demo/{key}" in again
    assert db.session.scalar(select(db.func.count()).select_from(Interface)) == 1
    assert db.session.scalar(select(db.func.count()).select_from(Component)) == 3

    # The widget opens with the demo's flow: its welcome and its button.
    opened = client.post(f"/api/widget/{key}/sessions", headers={"Origin": "http://testserver"})
    assert opened.status_code == 201, opened.get_json()


def test_a_loopback_public_url_allows_both_names_of_the_host(app, runner):
    app.config["PUBLIC_URL"] = "http://127.0.0.1:5077"
    assert runner.invoke(args=["workspace", "ensure-default"]).exit_code == 0
    _ensure(runner)
    interface = db.session.scalar(select(Interface))
    assert interface.allowed_origins == ["http://127.0.0.1:5077", "http://localhost:5077"]
    # Served on another port later: that port's origins are added, the interface stays the same.
    app.config["PUBLIC_URL"] = "http://localhost:5078"
    _ensure(runner)
    db.session.refresh(interface)
    assert set(interface.allowed_origins) == {"http://127.0.0.1:5077", "http://localhost:5077",
                                              "http://127.0.0.1:5078", "http://localhost:5078"}
