"""Visitor details, the pre-chat form and identity verification (HMAC-SHA256 of the site's user id)."""
import hashlib
import hmac
import json

import pytest
from flask_migrate import upgrade
from sqlalchemy import event, select, text
from sqlalchemy.exc import IntegrityError

from blueprints.socket_protocol import SocketSession
from extensions import db
from models import AuditEntry, Conversation, LiveRequest, Message
from models.conversation import Visitor
from services import visitor_identity
from app import create_app
from config import TestConfig
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.test_migrations import scratch_url  # noqa: F401 - the fixture: a database of its own
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"
FORM = {"enabled": True, "fields": [
    {"key": "name", "label": "Your name", "type": "text", "required": True},
    {"key": "email", "label": "E-mail", "type": "email", "required": True},
    {"key": "company", "label": "Company", "type": "text", "required": False},
]}


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    make_component(interface, "message", {"text": "Hello {visitor_name}!"})
    make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}},
                                            "messages": {"welcome": "One moment, {visitor_name}."}})
    go_online(agent)
    return {"workspace": workspace, "admin": admin, "agent": agent, "interface": interface,
            "admin_headers": auth.headers(admin), "agent_headers": auth.headers(agent)}


def sign(secret, user_id):
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def open_widget(client, interface, body=None, token=None):
    headers = {"Origin": ORIGIN}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return client.post(f"/api/widget/{interface.public_key}/sessions", json=body, headers=headers)


def widget_of(client, interface, opened):
    widget = Widget(client, interface, origin=ORIGIN)
    widget.token, widget.conversation_id = opened["visitor_token"], opened["conversation"]["id"]
    return widget


def patch_visitor(widget, body):
    return widget.client.patch(f"/api/widget/{widget.key}/visitor", json=body, headers=widget.headers())


def press(widget, button_id):
    return widget.client.post(widget.url("/actions"), json={"type": "button", "button_id": button_id},
                              headers=widget.headers())


def identity(interface, user_id):
    return {"user_id": user_id, "user_hash": sign(interface.identity_secret, user_id)}


# -- visitor details ----------------------------------------------------------------


def test_opening_with_details_stores_them_unverified(client, world):
    response = open_widget(client, world["interface"], {
        "name": "Vera", "email": "vera@example.com", "attributes": {"plan": "pro", "order.id": "A-17"}})
    assert response.status_code == 201, response.get_json()
    visitor = response.get_json()["visitor"]
    assert visitor == {"id": response.get_json()["visitor_id"], "name": "Vera", "email": "vera@example.com",
                       "email_verified": False, "verified": False, "external_id": None,
                       "attributes": {"plan": "pro", "order.id": "A-17"}}
    assert response.get_json()["conversation"]["visitor"] == visitor  # the visitor sees their own details


def test_opening_without_a_body_still_works_and_shows_no_form(client, world):
    response = client.post(f"/api/widget/{world['interface'].public_key}/sessions", headers={"Origin": ORIGIN})
    assert response.status_code == 201
    body = response.get_json()
    assert body["prechat_form"] == {"enabled": False, "fields": []}
    assert body["visitor"]["name"] is None and body["visitor"]["attributes"] == {}


@pytest.mark.parametrize("body, field", [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 121}, "name"), ({"name": "a\nb"}, "name"),
    ({"email": "not-an-address"}, "email"), ({"email": "a@b.example\r\nBcc: x@y.example"}, "email"),
    ({"email": "a" * 250 + "@b.example"}, "email"),
    ({"attributes": {f"k{n}": "v" for n in range(21)}}, "attributes"),
    ({"attributes": {"bad key": "v"}}, "attributes"), ({"attributes": {"k" * 41: "v"}}, "attributes"),
    ({"attributes": {"k": "v" * 501}}, "attributes"), ({"attributes": {"k": 3}}, "attributes"),
    ({"attributes": {"k": {"deep": "x"}}}, "attributes"), ({"attributes": ["k"]}, "attributes"),
    ({"identity": {"user_id": "", "user_hash": "0" * 64}}, "identity"),
    ({"identity": {"user_id": "u" * 129, "user_hash": "0" * 64}}, "identity"),
    ({"identity": {"user_id": "u1", "user_hash": "xyz"}}, "identity"),
    ({"identity": {"user_id": "u1"}}, "identity"), ({"surprise": 1}, "surprise"),
])
def test_bad_details_are_422_naming_the_field(client, world, body, field):
    response = open_widget(client, world["interface"], body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["errors"]["json"]
    assert db.session.scalar(select(Visitor).where(Visitor.interface_id == world["interface"].id)) is None


@pytest.mark.parametrize("raw", [
    '{"name": "\\ud800"}', '{"attributes": {"\\udfff": "x"}}', '{"attributes": {"k": "\\u0000"}}',
    '{"name": ' + "[" * 5000 + "]" * 5000 + "}", '{"name": "x"', "\xff\xfe",
])
def test_unicode_edge_cases_and_malformed_bodies_are_4xx(client, world, raw):
    response = client.post(f"/api/widget/{world['interface'].public_key}/sessions", data=raw,
                           headers={"Origin": ORIGIN, "Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.get_data()
    assert "code" in response.get_json()


def test_a_huge_body_is_4xx(client, world):
    response = open_widget(client, world["interface"], {"attributes": {"k": "x" * 3_000_000}})
    assert 400 <= response.status_code < 500
    assert "code" in response.get_json()


def test_names_in_any_script_are_kept(client, world):
    name = "Zoë 李 ‏שלום 👩‍👩‍👧"
    response = open_widget(client, world["interface"], {"name": name, "attributes": {"city": "Zürich"}})
    assert response.status_code == 201
    assert response.get_json()["visitor"]["name"] == name


def test_the_visitor_updates_their_details_and_attributes_merge(client, world):
    widget = widget_of(client, world["interface"], open_widget(client, world["interface"], {
        "attributes": {"plan": "free"}}).get_json())
    response = patch_visitor(widget, {"name": "Vera", "email": "vera@example.com", "attributes": {"company": "Acme"}})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["attributes"] == {"plan": "free", "company": "Acme"}
    assert response.get_json()["email_verified"] is False
    visitor = db.session.get(Visitor, response.get_json()["id"])
    assert (visitor.name, visitor.email) == ("Vera", "vera@example.com")
    again = patch_visitor(widget, {"attributes": {"plan": "pro"}}).get_json()
    assert again["attributes"] == {"plan": "pro", "company": "Acme"} and again["name"] == "Vera"


def test_merged_attributes_past_the_limit_are_422_and_change_nothing(client, world):
    widget = widget_of(client, world["interface"], open_widget(client, world["interface"], {
        "attributes": {f"a{n}": "v" for n in range(15)}}).get_json())
    response = patch_visitor(widget, {"attributes": {f"b{n}": "v" for n in range(6)}, "name": "Vera"})
    assert response.status_code == 422
    assert "attributes" in response.get_json()["errors"]["json"]
    visitor = db.session.get(Conversation, widget.conversation_id).visitor
    db.session.refresh(visitor)
    assert len(visitor.attributes) == 15 and visitor.name is None


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"email": "x"}, {"verified": True}, {"email_verified": True},
                                  {"external_id": "u1"}])
def test_bad_or_server_owned_updates_are_422(client, world, body):
    widget = widget_of(client, world["interface"], open_widget(client, world["interface"]).get_json())
    assert patch_visitor(widget, body).status_code == 422


def test_updating_needs_this_interfaces_visitor_token(client, world):
    other = make_interface(world["workspace"], allowed_origins=[ORIGIN])
    stranger = widget_of(client, other, open_widget(client, other).get_json())
    response = client.patch(f"/api/widget/{world['interface'].public_key}/visitor", json={"name": "x"},
                            headers=stranger.headers())
    assert response.status_code == 404
    response = client.patch(f"/api/widget/{world['interface'].public_key}/visitor", json={"name": "x"},
                            headers={"Origin": ORIGIN})
    assert response.status_code == 401


# -- {visitor_name} -------------------------------------------------------------------


def test_visitor_name_renders_in_bot_and_welcome_messages(client, world):
    opened = open_widget(client, world["interface"], {"name": "Vera <b>"}).get_json()
    assert opened["messages"][0]["text"] == "Hello Vera <b>!"  # stored verbatim; whatever shows it escapes it
    anonymous = open_widget(client, world["interface"]).get_json()
    assert anonymous["messages"][0]["text"] == "Hello !"
    widget = widget_of(client, world["interface"], anonymous)
    assert patch_visitor(widget, {"name": "Max"}).status_code == 200
    pressed = press(widget, "live_chat")
    assert pressed.status_code == 200, pressed.get_json()
    assert "One moment, Max." in [m["text"] for m in pressed.get_json()["messages"]]


# -- the pre-chat form ----------------------------------------------------------------


def set_form(client, world, form):
    return client.patch(f"/api/interfaces/{world['interface'].id}", json={"prechat_form": form},
                        headers=world["admin_headers"])


def test_admins_set_the_form_and_the_widget_gets_it(client, world):
    response = set_form(client, world, FORM)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["prechat_form"] == FORM
    opened = open_widget(client, world["interface"]).get_json()
    assert opened["prechat_form"] == FORM
    shown = client.get(f"/api/interfaces/{world['interface'].id}", headers=world["agent_headers"]).get_json()
    assert shown["prechat_form"] == FORM
    assert client.patch(f"/api/interfaces/{world['interface'].id}", json={"prechat_form": FORM},
                        headers=world["agent_headers"]).status_code == 403


def _field(**changes):
    return {"key": "company", "label": "Company", "type": "text", "required": True, **changes}


@pytest.mark.parametrize("form", [
    {"enabled": True, "fields": [_field(key=f"k{n}") for n in range(11)]},
    {"enabled": True, "fields": [_field(), _field()]},
    {"enabled": True, "fields": [_field(type="phone")]},
    {"enabled": True, "fields": [_field(key="email", type="text")]},
    {"enabled": True, "fields": [_field(key="bad key")]},
    {"enabled": True, "fields": [_field(label="")]},
    {"enabled": True, "fields": [_field(label="x" * 41)]},
    {"enabled": "maybe", "fields": []}, {"fields": []}, {"enabled": True, "fields": [_field(extra=1)]},
])
def test_a_bad_form_is_422_and_keeps_the_old_one(client, world, form):
    set_form(client, world, FORM)
    response = set_form(client, world, form)
    assert response.status_code == 422, response.get_json()
    assert "prechat_form" in response.get_json()["errors"]["json"]
    db.session.refresh(world["interface"])
    assert world["interface"].prechat_form == FORM


@pytest.mark.parametrize("button", ["live_chat", "video_chat"])
def test_a_request_without_the_required_fields_is_refused_and_changes_nothing(client, world, button):
    set_form(client, world, FORM)
    widget = widget_of(client, world["interface"], open_widget(client, world["interface"], {"name": "Vera"}).get_json())
    before = db.session.scalars(select(Message.id).where(Message.conversation_id == widget.conversation_id)).all()
    response = press(widget, button)
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "prechat_required"
    assert body["errors"]["json"] == {"email": ["Required before a live or video chat."]}
    conversation = db.session.get(Conversation, widget.conversation_id)
    db.session.refresh(conversation)
    assert conversation.status.value == "bot" and conversation.initiated_at is None
    assert db.session.scalars(select(Message.id).where(Message.conversation_id == widget.conversation_id)).all() == before
    assert db.session.scalar(select(LiveRequest).where(LiveRequest.conversation_id == widget.conversation_id)) is None

    assert patch_visitor(widget, {"email": "vera@example.com"}).status_code == 200
    retried = press(widget, button)
    assert retried.status_code == 200, retried.get_json()
    assert retried.get_json()["conversation"]["status"] == "waiting"


def test_a_required_attribute_is_asked_too_and_a_disabled_form_asks_nothing(client, world):
    set_form(client, world, {"enabled": True, "fields": [_field()]})
    widget = widget_of(client, world["interface"], open_widget(client, world["interface"]).get_json())
    response = press(widget, "live_chat")
    assert response.status_code == 422 and list(response.get_json()["errors"]["json"]) == ["company"]
    set_form(client, world, {"enabled": False, "fields": [_field()]})
    assert press(widget, "live_chat").status_code == 200


def test_details_sent_when_opening_answer_the_form(client, world):
    set_form(client, world, FORM)
    widget = widget_of(client, world["interface"], open_widget(client, world["interface"], {
        "name": "Vera", "email": "vera@example.com"}).get_json())
    assert press(widget, "live_chat").status_code == 200


# -- identity verification --------------------------------------------------------------


def test_admins_read_and_rotate_the_identity_secret_and_nobody_else(client, world):
    url = f"/api/interfaces/{world['interface'].id}/identity-secret"
    secret = client.get(url, headers=world["admin_headers"]).get_json()["identity_secret"]
    assert len(secret) == 64 and int(secret, 16) >= 0
    assert secret == world["interface"].identity_secret
    for method in ("get", "post"):
        assert getattr(client, method)(url, headers=world["agent_headers"]).status_code == 403
        assert getattr(client, method)(url).status_code == 401
    shown = client.get(f"/api/interfaces/{world['interface'].id}", headers=world["admin_headers"]).get_json()
    assert secret not in json.dumps(shown)
    elsewhere = make_interface(make_workspace("Other")[0])
    assert client.get(f"/api/interfaces/{elsewhere.id}/identity-secret", headers=world["admin_headers"]).status_code == 404

    old_hash = identity(world["interface"], "u1")
    rotated = client.post(url, headers=world["admin_headers"])
    assert rotated.status_code == 200
    assert rotated.get_json()["identity_secret"] != secret
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "identity_secret_rotated"))
    assert entry.actor_id == world["admin"].id and entry.details == {"interface_id": world["interface"].id}
    assert secret not in json.dumps(entry.details)
    assert open_widget(client, world["interface"], {"identity": old_hash}).status_code == 403


def test_interfaces_get_distinct_secrets(client, world):
    other = make_interface(world["workspace"])
    assert len({other.identity_secret, world["interface"].identity_secret}) == 2


def test_the_migration_gives_every_existing_interface_its_own_secret(scratch_url):  # noqa: F811
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=scratch_url)
    with app.app_context():
        upgrade(revision="b3e8f61a2c47")
        with db.engine.begin() as conn:
            conn.execute(text("INSERT INTO workspaces (id, name, created_at) VALUES (1, 'W', CURRENT_TIMESTAMP)"))
            for n in (1, 2, 3):
                conn.execute(text(
                    "INSERT INTO interfaces (id, workspace_id, name, public_key, allowed_origins, request_timeout_s, "
                    "routing_mode, video_weight, created_at, updated_at) VALUES (:n, 1, 'I', :key, '[]', 60, "
                    "'broadcast', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"n": n, "key": f"pk_{n}"})
        upgrade(revision="c1a5e7d0f101")
        with db.engine.connect() as conn:
            secrets = conn.execute(text("SELECT identity_secret FROM interfaces ORDER BY id")).scalars().all()
        db.engine.dispose()
    assert len(set(secrets)) == 3
    assert all(len(secret) == 64 and int(secret, 16) >= 0 for secret in secrets)


def test_a_verified_visitor_continues_their_conversation_on_another_device(client, world):
    interface = world["interface"]
    first = open_widget(client, interface, {"identity": identity(interface, "user-42"), "name": "Vera",
                                            "email": "vera@example.com"})
    assert first.status_code == 201, first.get_json()
    laptop = widget_of(client, interface, first.get_json())
    assert laptop.send("my order is late", "c1").status_code == 201
    visitor = first.get_json()["visitor"]
    assert visitor["verified"] is True and visitor["external_id"] == "user-42"
    assert visitor["email_verified"] is True and visitor["email"] == "vera@example.com"

    phone = open_widget(client, interface, {"identity": identity(interface, "user-42")})
    assert phone.status_code == 201
    body = phone.get_json()
    assert body["visitor_id"] == visitor["id"]
    assert body["conversation"]["id"] == laptop.conversation_id
    assert "my order is late" in [m["text"] for m in body["messages"]]
    assert widget_of(client, interface, body).messages().status_code == 200

    # Another visitor's token changes nothing: the signed identity decides.
    stranger = open_widget(client, interface).get_json()
    again = open_widget(client, interface, {"identity": identity(interface, "user-42")},
                        token=stranger["visitor_token"]).get_json()
    assert again["visitor_id"] == visitor["id"] and again["conversation"]["id"] == laptop.conversation_id
    assert db.session.get(Visitor, stranger["visitor_id"]).external_id is None


def test_an_anonymous_visitor_who_logs_in_keeps_their_conversation(client, world):
    interface = world["interface"]
    anonymous = open_widget(client, interface).get_json()
    opened = open_widget(client, interface, {"identity": identity(interface, "u7")},
                         token=anonymous["visitor_token"]).get_json()
    assert opened["visitor_id"] == anonymous["visitor_id"]
    assert opened["conversation"]["id"] == anonymous["conversation"]["id"]
    assert opened["visitor"]["verified"] is True


def test_identity_is_per_interface(client, world):
    interface = world["interface"]
    other = make_interface(world["workspace"], allowed_origins=[ORIGIN])
    here = open_widget(client, interface, {"identity": identity(interface, "u1")}).get_json()
    there = open_widget(client, other, {"identity": identity(other, "u1")}).get_json()
    assert here["visitor_id"] != there["visitor_id"]
    # A hash made with one interface's secret does not open another's.
    assert open_widget(client, other, {"identity": identity(interface, "u1")}).status_code == 403


def test_an_invalid_hash_is_403_and_says_nothing_about_the_user(client, world):
    interface = world["interface"]
    open_widget(client, interface, {"identity": identity(interface, "known")})
    answers = []
    for user_id in ("known", "unknown"):
        response = open_widget(client, interface, {"identity": {"user_id": user_id, "user_hash": "ab" * 32}})
        assert response.status_code == 403
        answers.append(response.get_json())
    assert answers[0] == answers[1] == {"code": "identity_invalid", "status": 403,
                                        "message": "The identity's user_hash does not match its user_id"}
    assert db.session.scalar(select(Visitor).where(Visitor.external_id == "unknown")) is None


def test_an_upper_case_hash_verifies_too(client, world):
    interface = world["interface"]
    signed = identity(interface, "u1")
    response = open_widget(client, interface, {"identity": {**signed, "user_hash": signed["user_hash"].upper()}})
    assert response.status_code == 201


def test_the_database_keeps_one_visitor_per_user_and_interface(app, world):
    interface = world["interface"]
    for _ in range(2):
        db.session.add(Visitor(workspace_id=interface.workspace_id, interface_id=interface.id, external_id="dup"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    for _ in range(2):  # anonymous visitors have no external id and never collide
        db.session.add(Visitor(workspace_id=interface.workspace_id, interface_id=interface.id))
    db.session.commit()


def test_two_first_opens_of_one_user_make_one_visitor(client, world, monkeypatch):
    """The other open inserted the user's visitor between this one's look-up and insert: the index decides."""
    interface = world["interface"]
    winner = Visitor(workspace_id=interface.workspace_id, interface_id=interface.id, external_id="u1")
    db.session.add(winner)
    db.session.commit()
    real, calls = visitor_identity._by_external_id, []

    def late(*args):
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(visitor_identity, "_by_external_id", late)
    response = open_widget(client, interface, {"identity": identity(interface, "u1"), "name": "Vera"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["visitor_id"] == winner.id and len(calls) == 2
    assert db.session.scalars(select(Visitor.id).where(Visitor.interface_id == interface.id)).all() == [winner.id]


def test_a_typed_email_of_another_visitor_merges_nothing(client, world):
    interface = world["interface"]
    owner = widget_of(client, interface, open_widget(client, interface, {
        "identity": identity(interface, "owner"), "email": "owner@example.com"}).get_json())
    assert owner.send("my secret address is 1 Main St", "s1").status_code == 201

    impostor_opened = open_widget(client, interface, {"email": "owner@example.com", "name": "Owner"})
    assert impostor_opened.status_code == 201
    impostor = widget_of(client, interface, impostor_opened.get_json())
    body = impostor_opened.get_json()
    assert body["visitor_id"] != db.session.get(Conversation, owner.conversation_id).visitor_id
    assert body["conversation"]["id"] != owner.conversation_id
    assert body["visitor"]["email_verified"] is False and body["visitor"]["verified"] is False
    assert patch_visitor(impostor, {"email": "owner@example.com"}).get_json()["email_verified"] is False

    texts = [m["text"] for m in impostor.messages().get_json()["items"]]
    assert not any("secret" in t for t in texts)
    for path in ("", "/messages"):
        assert client.get(f"/api/widget/{interface.public_key}/conversations/{owner.conversation_id}{path}",
                          headers=impostor.headers()).status_code == 404

    visitor = db.session.get(Visitor, body["visitor_id"])
    session = SocketSession(visitor, push=lambda stream, frame: None)
    owner_stream = f"conversation:{owner.conversation_id}"
    hello = session.hello()[0]
    assert owner_stream not in hello["streams"]
    frames = session.handle_text(json.dumps({"type": "resume", "positions": {owner_stream: 0}, "ref": "r"}))
    assert "secret" not in json.dumps(frames)
    answer = session.handle_text(json.dumps({"type": "subscribe", "stream": owner_stream, "after": 0, "ref": "s"}))
    assert answer[0]["type"] == "error" and answer[0]["status"] == 404
    assert db.session.get(Visitor, db.session.get(Conversation, owner.conversation_id).visitor_id).email_verified


# -- what agents see ----------------------------------------------------------------------


def test_agents_see_the_visitor_in_the_conversation_and_the_list(client, world):
    interface = world["interface"]
    opened = open_widget(client, interface, {"identity": identity(interface, "u9"), "name": "Vera",
                                             "email": "vera@example.com", "attributes": {"plan": "pro"}}).get_json()
    expected = {"id": opened["visitor_id"], "name": "Vera", "email": "vera@example.com", "email_verified": True,
                "verified": True, "external_id": "u9", "attributes": {"plan": "pro"}}
    one = client.get(f"/api/conversations/{opened['conversation']['id']}", headers=world["agent_headers"])
    assert one.status_code == 200 and one.get_json()["visitor"] == expected
    listed = client.get("/api/conversations?scope=all", headers=world["agent_headers"]).get_json()["items"]
    assert [c["visitor"] for c in listed] == [expected]


def _statements_listing(client, headers):
    seen = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = client.get("/api/conversations?scope=all&page_size=50", headers=headers)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 200
    return len(response.get_json()["items"]), len(seen)


def test_the_list_loads_visitors_with_its_query_not_one_per_row(client, world):
    open_widget(client, world["interface"], {"name": "A"})
    rows_few, statements_few = _statements_listing(client, world["agent_headers"])
    for n in range(5):
        open_widget(client, world["interface"], {"name": f"V{n}"})
    db.session.expire_all()
    rows_many, statements_many = _statements_listing(client, world["agent_headers"])
    assert (rows_few, rows_many) == (1, 6)
    assert statements_many == statements_few


def test_the_page_may_send_the_pre_chat_form_cross_origin(client, world):
    response = client.options(f"/api/widget/{world['interface'].public_key}/visitor", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PATCH"})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "PATCH" in response.headers["Access-Control-Allow-Methods"].split(", ")
