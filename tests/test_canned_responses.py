"""Canned responses: who sees and changes which, shortcuts, placeholders, search, filling one in for a chat."""
import pytest
from sqlalchemy import func, select

from extensions import db
from models import CannedResponse, Conversation
from tests.staff_helpers import ask_for_live_chat, live_chat, make_world
from tests.test_errors import assert_error

URL = "/api/canned-responses"


@pytest.fixture
def world(app, auth):
    return make_world(auth)


def _create(client, headers, shortcut, text="Hello {visitor_name}", scope=None):
    body = {"shortcut": shortcut, "text": text, **({"scope": scope} if scope else {})}
    return client.post(URL, json=body, headers=headers)


def _shortcuts(client, headers, **query):
    response = client.get(URL, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return [item["shortcut"] for item in response.get_json()["items"]]


def test_admins_share_responses_and_everyone_keeps_personal_ones(client, world):
    h = world["headers"]
    shared = _create(client, h["admin"], "hello", scope="shared")
    assert shared.status_code == 201, shared.get_json()
    assert (shared.get_json()["scope"], shared.get_json()["owner_id"]) == ("shared", None)
    mine = _create(client, h["agent"], "bye", "Bye {visitor_name}!")
    assert mine.status_code == 201, mine.get_json()
    assert mine.get_json()["scope"] == "personal" and mine.get_json()["owner_id"] == world["users"]["agent"].id
    assert _create(client, h["admin"], "admins-own").get_json()["scope"] == "personal"

    assert _shortcuts(client, h["agent"]) == ["bye", "hello"]
    assert _shortcuts(client, h["colleague"]) == ["hello"]  # another agent: shared only
    assert _shortcuts(client, h["admin"]) == ["admins-own", "hello"]  # an admin does not see agents' own ones
    assert _shortcuts(client, h["stranger"]) == []  # another workspace
    assert _shortcuts(client, h["agent"], scope="personal") == ["bye"]
    assert _shortcuts(client, h["agent"], scope="shared") == ["hello"]


def test_an_agent_cannot_create_change_or_delete_shared_responses(client, world):
    h = world["headers"]
    assert_error(_create(client, h["agent"], "team", scope="shared"), 403, "forbidden")
    shared = _create(client, h["admin"], "team", scope="shared").get_json()
    url = f"{URL}/{shared['id']}"
    assert client.get(url, headers=h["agent"]).status_code == 200
    assert_error(client.patch(url, json={"text": "mine now"}, headers=h["agent"]), 403, "forbidden")
    assert_error(client.delete(url, headers=h["agent"]), 403, "forbidden")
    assert client.get(url, headers=h["agent"]).get_json()["text"] == "Hello {visitor_name}"


def test_someone_elses_personal_response_does_not_exist_for_you(client, world):
    h = world["headers"]
    mine = _create(client, h["agent"], "secret", "my words").get_json()
    url = f"{URL}/{mine['id']}"
    for who in ("colleague", "admin", "outsider", "stranger"):
        assert_error(client.get(url, headers=h[who]), 404)
        assert_error(client.patch(url, json={"text": "x"}, headers=h[who]), 404)
        assert_error(client.delete(url, headers=h[who]), 404)
    shared = _create(client, h["admin"], "shared", scope="shared").get_json()
    assert_error(client.get(f"{URL}/{shared['id']}", headers=h["stranger"]), 404)
    assert_error(client.delete(f"{URL}/{shared['id']}", headers=h["stranger"]), 404)
    assert client.get(url, headers=h["agent"]).get_json()["text"] == "my words"


def test_owner_edits_and_deletes_their_own(client, world):
    h = world["headers"]
    mine = _create(client, h["agent"], "draft", "first").get_json()
    url = f"{URL}/{mine['id']}"
    edited = client.patch(url, json={"shortcut": "final", "text": "Thanks, {agent_name}"}, headers=h["agent"])
    assert edited.status_code == 200, edited.get_json()
    assert (edited.get_json()["shortcut"], edited.get_json()["text"]) == ("final", "Thanks, {agent_name}")
    assert client.delete(url, headers=h["agent"]).status_code == 204
    assert_error(client.get(url, headers=h["agent"]), 404)


def test_admin_changes_to_shared_responses_are_audited_and_personal_ones_are_not(client, world):
    h = world["headers"]
    shared = _create(client, h["admin"], "greet", scope="shared").get_json()
    client.patch(f"{URL}/{shared['id']}", json={"shortcut": "greeting"}, headers=h["admin"])
    client.delete(f"{URL}/{shared['id']}", headers=h["admin"])
    own = _create(client, h["admin"], "own").get_json()
    client.delete(f"{URL}/{own['id']}", headers=h["admin"])
    entries = client.get("/api/audit", headers=h["admin"]).get_json()["items"]
    trail = [(e["action"], e["details"]["shortcut"], e["actor_id"])
             for e in entries if e["action"].startswith("canned")]
    admin_id = world["users"]["admin"].id
    assert trail == [("canned_response_deleted", "greeting", admin_id),
                     ("canned_response_updated", "greeting", admin_id),
                     ("canned_response_created", "greet", admin_id)]
    assert all(e["details"]["canned_response_id"] == shared["id"] for e in entries if e["action"].startswith("canned"))


def test_a_shortcut_names_one_shared_response_and_one_of_each_owner(client, world):
    h = world["headers"]
    assert _create(client, h["admin"], "hi", scope="shared").status_code == 201
    assert_error(_create(client, h["admin"], "hi", scope="shared"), 409, "shortcut_taken")
    assert _create(client, h["agent"], "hi").status_code == 201  # a personal one may share a shared one's shortcut
    assert_error(_create(client, h["agent"], "hi"), 409, "shortcut_taken")
    assert _create(client, h["colleague"], "hi").status_code == 201  # another owner's shortcuts are theirs
    assert _create(client, h["stranger"], "hi", scope="shared").status_code == 201  # another workspace
    other = _create(client, h["agent"], "other").get_json()
    assert_error(client.patch(f"{URL}/{other['id']}", json={"shortcut": "hi"}, headers=h["agent"]), 409,
                 "shortcut_taken")
    assert client.get(f"{URL}/{other['id']}", headers=h["agent"]).get_json()["shortcut"] == "other"
    # the same shortcut again on the same response is no conflict
    assert client.patch(f"{URL}/{other['id']}", json={"shortcut": "other"}, headers=h["agent"]).status_code == 200


@pytest.mark.parametrize("body, field", [
    ({"shortcut": "", "text": "x"}, "shortcut"),
    ({"shortcut": "Hello", "text": "x"}, "shortcut"),
    ({"shortcut": "-dash-first", "text": "x"}, "shortcut"),
    ({"shortcut": "two words", "text": "x"}, "shortcut"),
    ({"shortcut": "trailing\n", "text": "x"}, "shortcut"),
    ({"shortcut": "é", "text": "x"}, "shortcut"),
    ({"shortcut": "a" * 33, "text": "x"}, "shortcut"),
    ({"shortcut": 12, "text": "x"}, "shortcut"),
    ({"text": "x"}, "shortcut"),
    ({"shortcut": "ok"}, "text"),
    ({"shortcut": "ok", "text": ""}, "text"),
    ({"shortcut": "ok", "text": "  \n "}, "text"),
    ({"shortcut": "ok", "text": "x" * 4001}, "text"),
    ({"shortcut": "ok", "text": "a\0b"}, "text"),
    ({"shortcut": "ok", "text": "Hi {customer}"}, "text"),
    ({"shortcut": "ok", "text": "Hi {agent.name}"}, "text"),
    ({"shortcut": "ok", "text": "Hi {agent_name:>9}"}, "text"),
    ({"shortcut": "ok", "text": "x", "scope": "team"}, "scope"),
    ({"shortcut": "ok", "text": "x", "owner_id": 1}, "owner_id"),
])
def test_bad_input_is_422_on_its_field(client, world, body, field):
    assert_error(client.post(URL, json=body, headers=world["headers"]["agent"]), 422, field=field)
    assert _shortcuts(client, world["headers"]["agent"]) == []


def test_bad_edits_are_422(client, world):
    h = world["headers"]
    mine = _create(client, h["agent"], "mine").get_json()
    url = f"{URL}/{mine['id']}"
    assert_error(client.patch(url, json={}, headers=h["agent"]), 422)
    assert_error(client.patch(url, json={"text": "{unknown}"}, headers=h["agent"]), 422, field="text")
    assert_error(client.patch(url, json={"scope": "shared"}, headers=h["agent"]), 422, field="scope")
    assert client.get(url, headers=h["agent"]).get_json()["text"] == "Hello {visitor_name}"


def test_longest_texts_and_every_placeholder_are_taken(client, world):
    text = "{agent_name} {visitor_name} {interface_name} {position} {{literal}} " + "x" * 3900
    response = _create(client, world["headers"]["agent"], "a" * 32, text[:4000])
    assert response.status_code == 201, response.get_json()


def test_search_by_shortcut_prefix_or_text_ignoring_case_with_literal_wildcards(client, world):
    h = world["headers"]["agent"]
    for shortcut, text in [("refund", "Your REFUND is on its way"), ("ref-policy", "See our policy"),
                           ("discount", "Take 10% off today"), ("snake", "Use the code a_b"),
                           ("plain", "Take 100 off"), ("under", "Use the code axb")]:
        assert _create(client, h, shortcut, text).status_code == 201
    assert _shortcuts(client, h, q="ref") == ["ref-policy", "refund"]
    assert _shortcuts(client, h, q="REFUND") == ["refund"]  # the text, whatever its case
    assert _shortcuts(client, h, q="policy") == ["ref-policy"]  # in the text, not only a prefix of it
    assert _shortcuts(client, h, q="nake") == []  # the middle of a shortcut is no match
    assert _shortcuts(client, h, q="und") == ["refund", "under"]  # in a text, or starting a shortcut
    assert _shortcuts(client, h, q="10%") == ["discount"]  # % is a percent sign, not "anything"
    assert _shortcuts(client, h, q="a_b") == ["snake"]  # _ is an underscore, not "one character"
    assert _shortcuts(client, h, q="%") == ["discount"]
    assert _shortcuts(client, h, q="_") == ["snake"]  # unescaped, it would match every text
    assert _shortcuts(client, h, q="\\") == []
    assert _shortcuts(client, h, q="") == ["discount", "plain", "ref-policy", "refund", "snake", "under"]
    page = client.get(URL, query_string={"page": 2, "page_size": 4}, headers=h).get_json()
    assert [i["shortcut"] for i in page["items"]] == ["snake", "under"] and page["total"] == 6
    assert_error(client.get(URL, query_string={"q": "x" * 121}, headers=h), 422, field="q", location="query")
    assert_error(client.get(URL, query_string={"scope": "all"}, headers=h), 422, field="scope", location="query")


def test_render_fills_the_placeholders_for_a_real_conversation(client, world):
    h = world["headers"]
    widget = live_chat(client, world["interface"], h["agent"])
    db.session.get(Conversation, widget.conversation_id).visitor.name = "Vera"
    db.session.commit()
    text = "Hi {visitor_name}, {agent_name} of {interface_name} here ({position}). {{braces}}"
    canned = _create(client, h["admin"], "intro", text, scope="shared").get_json()
    url = f"/api/conversations/{widget.conversation_id}/canned-responses/{canned['id']}/render"
    response = client.post(url, headers=h["agent"])
    assert response.status_code == 200, response.get_json()
    agent = world["users"]["agent"].name
    assert response.get_json() == {"canned_response_id": canned["id"], "shortcut": "intro",
                                   "text": f"Hi Vera, {agent} of Shop here (). {{braces}}"}
    # an admin renders it as themself
    admin = world["users"]["admin"].name
    assert client.post(url, headers=h["admin"]).get_json()["text"].startswith(f"Hi Vera, {admin} of Shop")
    # rendering sends nothing
    assert all("Vera" not in m["text"] for m in widget.messages().get_json()["items"])


def test_render_shows_the_queue_position_while_the_chat_waits(client, world):
    h = world["headers"]
    ask_for_live_chat(client, world["interface"])
    widget, _ = ask_for_live_chat(client, world["interface"])
    canned = _create(client, h["agent"], "queue", "You are number {position}, {visitor_name}.").get_json()
    url = f"/api/conversations/{widget.conversation_id}/canned-responses/{canned['id']}/render"
    assert client.post(url, headers=h["agent"]).get_json()["text"] == "You are number 2, ."


def test_render_is_authorised_like_reading_the_conversation(client, world):
    h = world["headers"]
    widget = live_chat(client, world["interface"], h["agent"])
    shared = _create(client, h["admin"], "s", scope="shared").get_json()
    personal = _create(client, h["agent"], "p").get_json()

    def render(who, canned_id, conversation_id=widget.conversation_id):
        return client.post(f"/api/conversations/{conversation_id}/canned-responses/{canned_id}/render",
                           headers=h[who] if isinstance(who, str) else who)

    assert render("colleague", shared["id"]).status_code == 200  # serves the interface, does not hold the chat
    assert_error(render("colleague", personal["id"]), 404)  # not theirs
    assert_error(render("outsider", shared["id"]), 404)  # another interface
    assert_error(render("stranger", shared["id"]), 404)  # another workspace
    assert_error(render("agent", shared["id"], 2**31 - 1), 404)
    assert_error(render(widget.headers(), shared["id"]), 401)  # a visitor token is no user's
    assert client.post(f"/api/widget/{widget.key}/conversations/{widget.conversation_id}/canned-responses/"
                       f"{shared['id']}/render", headers=widget.headers()).status_code == 404


def test_visitors_and_strangers_reach_no_canned_response(client, world):
    widget = live_chat(client, world["interface"], world["headers"]["agent"])
    assert_error(client.get(URL, headers=widget.headers()), 401)
    assert_error(_create(client, widget.headers(), "x"), 401)
    assert_error(client.get(URL), 401)


def test_an_owners_responses_go_with_them(client, world):
    h = world["headers"]
    colleague = world["users"]["colleague"].id
    _create(client, h["colleague"], "mine")
    assert db.session.scalar(select(func.count()).select_from(CannedResponse)
                             .where(CannedResponse.owner_id == colleague)) == 1
    assert client.delete(f"/api/agents/{colleague}", headers=h["admin"]).status_code == 204
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(CannedResponse)
                             .where(CannedResponse.owner_id == colleague)) == 0


def test_another_workspace_gets_404_on_every_canned_response_route(client, world):
    h = world["headers"]
    shared = _create(client, h["admin"], "ours", scope="shared").get_json()
    widget = live_chat(client, world["interface"], h["agent"])
    mine = _create(client, h["stranger"], "theirs", scope="shared").get_json()
    url = f"{URL}/{shared['id']}"
    assert_error(client.get(url, headers=h["stranger"]), 404)
    assert_error(client.patch(url, json={"text": "x"}, headers=h["stranger"]), 404)
    assert_error(client.delete(url, headers=h["stranger"]), 404)
    render = "/api/conversations/{}/canned-responses/{}/render"
    assert_error(client.post(render.format(widget.conversation_id, shared["id"]), headers=h["stranger"]), 404)
    # their response with our conversation, and our agent with their response: neither reaches across
    assert_error(client.post(render.format(widget.conversation_id, mine["id"]), headers=h["stranger"]), 404)
    assert_error(client.post(render.format(widget.conversation_id, mine["id"]), headers=h["agent"]), 404)
    assert client.get(url, headers=h["agent"]).get_json()["text"] == "Hello {visitor_name}"
