"""Private notes: who writes and reads them, mentions, the notes stream, and that a visitor never sees one."""
import json

import pytest

from blueprints.socket_protocol import SocketSession
from extensions import db
from models import Conversation, ConversationStatus, Visitor
from models.user import MAX_CHATS_MAX
from services.events import replay
from tests.factories import make_user
from tests.live import Client
from tests.staff_helpers import ORIGIN, ask_for_live_chat, live_chat, make_world, user_socket
from tests.test_errors import assert_error

SECRET = "Visitor seems annoyed; refund approved by Ann"


@pytest.fixture
def world(app, client, auth):
    world = make_world(auth)
    world["widget"] = live_chat(client, world["interface"], world["headers"]["agent"])
    world["url"] = f"/api/conversations/{world['widget'].conversation_id}/notes"
    return world


def _note(client, world, who="agent", text=SECRET, mentions=None):
    body = {"text": text, **({"mentions": mentions} if mentions is not None else {})}
    headers = world["headers"][who] if isinstance(who, str) else who
    return client.post(world["url"], json=body, headers=headers)


def _ids(world, *names):
    return [world["users"][name].id for name in names]


def test_agents_and_admins_write_and_read_notes(client, world):
    first = _note(client, world)
    assert first.status_code == 201, first.get_json()
    note = first.get_json()
    agent = world["users"]["agent"]
    assert (note["text"], note["author_id"], note["author_name"]) == (SECRET, agent.id, agent.name)
    assert note["mentions"] == []
    assert note["conversation_id"] == world["widget"].conversation_id
    assert _note(client, world, "colleague", "Second").status_code == 201  # serves the interface, not holding it
    assert _note(client, world, "admin", "Third\nwith a line break").status_code == 201
    for who in ("agent", "colleague", "admin"):
        page = client.get(world["url"], headers=world["headers"][who]).get_json()
        assert [n["text"] for n in page["items"]] == [SECRET, "Second", "Third\nwith a line break"]
        assert page["total"] == 3
    page = client.get(world["url"], query_string={"page": 2, "page_size": 2}, headers=world["headers"]["admin"])
    assert [n["text"] for n in page.get_json()["items"]] == ["Third\nwith a line break"]


def test_notes_of_a_closed_chat_stay_readable_and_writable(client, world):
    conversation_id = world["widget"].conversation_id
    ended = client.post(f"/api/conversations/{conversation_id}/end", headers=world["headers"]["agent"])
    assert ended.status_code == 200
    assert _note(client, world, text="Follow up by mail").status_code == 201
    assert client.get(world["url"], headers=world["headers"]["agent"]).get_json()["total"] == 1


@pytest.mark.parametrize("who", ["outsider", "stranger"])
def test_users_who_cannot_see_the_conversation_get_404(client, world, who):
    _note(client, world)
    assert_error(_note(client, world, who), 404)
    assert_error(client.get(world["url"], headers=world["headers"][who]), 404)
    assert client.get(world["url"], headers=world["headers"]["agent"]).get_json()["total"] == 1


def test_a_visitor_can_neither_write_nor_read_notes(client, world):
    widget = world["widget"]
    _note(client, world)
    # A visitor's token, even on their own conversation: as if there were nothing there.
    assert_error(_note(client, world, widget.headers()), 404)
    assert_error(client.get(world["url"], headers=widget.headers()), 404)
    for method in ("GET", "POST"):  # and there is no widget route for notes
        response = client.open(widget.url("/notes"), method=method, json={"text": "x"}, headers=widget.headers())
        assert_error(response, 404)
    assert client.get(world["url"], headers=world["headers"]["agent"]).get_json()["total"] == 1


def test_unknown_conversation_is_404(client, world):
    assert_error(client.post("/api/conversations/2147483647/notes", json={"text": "x"},
                             headers=world["headers"]["admin"]), 404)


@pytest.mark.parametrize("body, field", [
    ({}, "text"), ({"text": ""}, "text"), ({"text": " \n\t "}, "text"), ({"text": "x" * 4001}, "text"),
    ({"text": 5}, "text"), ({"text": "a\0b"}, "text"), ({"text": "x", "mentions": "1"}, "mentions"),
    ({"text": "x", "mentions": [0]}, "mentions"), ({"text": "x", "mentions": [2**31]}, "mentions"),
    ({"text": "x", "mentions": list(range(1, 22))}, "mentions"), ({"text": "x", "mentions": [1, 1]}, "mentions"),
    ({"text": "x", "mentions": [None]}, "mentions"), ({"text": "x", "conversation_id": 1}, "conversation_id"),
    ({"text": "x", "author_name": "Boss"}, "author_name"),
])
def test_bad_input_is_422_on_its_field(client, world, body, field):
    assert_error(client.post(world["url"], json=body, headers=world["headers"]["agent"]), 422, field=field)
    assert client.get(world["url"], headers=world["headers"]["agent"]).get_json()["total"] == 0


def test_the_longest_note_and_twenty_mentions_are_taken(client, world):
    more = [make_user(world["workspace"], interfaces=[world["interface"]]).id for _ in range(17)]
    mentions = [*_ids(world, "admin", "agent", "colleague"), *more]
    response = _note(client, world, text="y" * 4000, mentions=mentions)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["mentions"] == mentions
    told = [f for user_id in more for f in replay(f"user:{user_id}", 0) if f["type"] == "note.mentioned"]
    assert len(told) == 17


@pytest.mark.parametrize("bad", ["outsider", "stranger", "inactive", "unknown"])
def test_mentioning_someone_who_cannot_see_the_conversation_is_422_naming_them(client, world, bad):
    if bad == "inactive":
        colleague = world["users"]["colleague"]
        assert client.patch(f"/api/agents/{colleague.id}", json={"is_active": False},
                            headers=world["headers"]["admin"]).status_code == 200
        bad_id = colleague.id
    else:
        bad_id = 2**31 - 1 if bad == "unknown" else world["users"][bad].id
    response = _note(client, world, mentions=[*_ids(world, "admin"), bad_id])
    body = assert_error(response, 422, field="mentions")
    assert str([bad_id]) in body["errors"]["json"]["mentions"][0]
    assert str(world["users"]["admin"].id) not in body["errors"]["json"]["mentions"][0]
    assert client.get(world["url"], headers=world["headers"]["agent"]).get_json()["total"] == 0


def test_mentions_are_kept_and_the_mentioned_colleague_hears_it_on_their_socket(client, world, server):
    colleague_socket = user_socket(client, server, world["headers"]["colleague"])
    admin_socket = user_socket(client, server, world["headers"]["admin"])
    response = _note(client, world, mentions=_ids(world, "colleague", "agent"))
    assert response.status_code == 201, response.get_json()
    note = response.get_json()
    assert note["mentions"] == _ids(world, "colleague", "agent")
    frame = colleague_socket.recv_until(lambda f: f["type"] == "note.mentioned")
    agent = world["users"]["agent"]
    assert frame["stream"] == f"user:{world['users']['colleague'].id}"
    assert frame["data"] == {"conversation_id": world["widget"].conversation_id, "note_id": note["id"],
                             "author_id": agent.id, "author_name": agent.name, "excerpt": SECRET}
    # the author mentioned themself: no news for them
    assert not [f for f in replay(f"user:{agent.id}", 0) if f["type"] == "note.mentioned"]
    # the admin was not mentioned: a ping comes back with no note frame before it
    admin_socket.send({"type": "ping", "ref": "p"})
    assert admin_socket.recv_until(lambda f: f["type"] == "pong")
    assert not [f for f in admin_socket.frames if f["type"].startswith("note.")]
    colleague_socket.close()
    admin_socket.close()


def test_a_long_note_is_mentioned_by_an_excerpt(client, world):
    _note(client, world, text="word " * 100, mentions=_ids(world, "colleague"))
    [frame] = [f for f in replay(f"user:{world['users']['colleague'].id}", 0) if f["type"] == "note.mentioned"]
    assert len(frame["data"]["excerpt"]) == 140 and frame["data"]["excerpt"].endswith("…")
    assert "\n" not in frame["data"]["excerpt"]


def test_the_agent_holding_the_chat_hears_colleagues_notes_without_subscribing(client, world, server):
    conversation_id = world["widget"].conversation_id
    sock = user_socket(client, server, world["headers"]["agent"])
    hello = sock.frames[0]
    assert f"notes:{conversation_id}" in hello["streams"]
    assert _note(client, world, "admin", "Careful with this one").status_code == 201
    frame = sock.recv_until(lambda f: f["type"] == "note.created")
    assert frame["stream"] == f"notes:{conversation_id}" and frame["pos"] == 1
    assert frame["data"]["note"]["text"] == "Careful with this one"
    sock.close()


def test_a_chat_that_becomes_yours_brings_its_notes_and_stops_when_it_goes(client, world, server):
    widget, request_id = ask_for_live_chat(client, world["interface"])
    notes = f"/api/conversations/{widget.conversation_id}/notes"
    written = client.post(notes, json={"text": "Asked twice already"}, headers=world["headers"]["admin"])
    assert written.status_code == 201
    sock = user_socket(client, server, world["headers"]["colleague"])
    assert client.post(f"/api/requests/{request_id}/accept", headers=world["headers"]["colleague"]).status_code == 200
    frame = sock.recv_until(lambda f: f["type"] == "note.created")
    assert frame["data"]["note"]["text"] == "Asked twice already" and frame["pos"] == 1
    assert client.post(notes, json={"text": "Live one"}, headers=world["headers"]["admin"]).status_code == 201
    assert sock.recv_until(lambda f: f["type"] == "note.created")["data"]["note"]["text"] == "Live one"
    client.post(f"/api/conversations/{widget.conversation_id}/end", headers=world["headers"]["colleague"])
    sock.recv_until(lambda f: f["type"] == "conversation.updated" and f["data"]["conversation"]["status"] == "closed")
    assert client.post(notes, json={"text": "After the end"}, headers=world["headers"]["admin"]).status_code == 201
    sock.send({"type": "ping", "ref": "p"})
    sock.recv_until(lambda f: f["type"] == "pong")
    assert "After the end" not in json.dumps(sock.frames)
    sock.close()


def test_users_who_may_see_the_conversation_subscribe_to_its_notes(client, world, server):
    conversation_id = world["widget"].conversation_id
    _note(client, world)
    sock = user_socket(client, server, world["headers"]["colleague"])
    sock.send({"type": "subscribe", "stream": f"notes:{conversation_id}", "after": 0, "ref": "s"})
    assert sock.recv_until(lambda f: f["type"] == "note.created")["data"]["note"]["text"] == SECRET
    sock.close()
    outsider = SocketSession(world["users"]["outsider"], push=lambda stream, frame: None)
    [error] = outsider.handle_text(json.dumps({"type": "subscribe", "stream": f"notes:{conversation_id}", "ref": "s"}))
    assert (error["type"], error["status"]) == ("error", 404)


# -- never visitor-facing ------------------------------------------------------------------------------------


def test_notes_never_reach_the_visitor_over_rest_socket_or_replay(client, world, server):
    widget = world["widget"]
    conversation_id = widget.conversation_id
    visitor_id = db.session.get(Conversation, conversation_id).visitor_id
    ticket = client.post(f"/api/widget/{widget.key}/sockets/ticket", headers=widget.headers()).get_json()["ticket"]
    sock = Client(server.url, ticket, origin=ORIGIN)
    hello = sock.recv()
    assert f"conversation:{conversation_id}" in hello["streams"]
    assert not [s for s in hello["streams"] if s.startswith("notes:")]
    sock.send({"type": "resume", "positions": {}, "ref": "resume"})
    sock.recv_until(lambda f: f["type"] == "ack")

    assert _note(client, world, mentions=_ids(world, "colleague")).status_code == 201
    assert _note(client, world, "admin", "Second secret").status_code == 201
    sent = client.post(f"/api/conversations/{conversation_id}/messages", json={"client_id": "a1", "text": "Hi!"},
                       headers=world["headers"]["agent"])
    assert sent.status_code == 201
    # The socket: the agent's message comes, and nothing about notes came before or with it.
    sock.recv_until(lambda f: f["type"] == "message.created" and f["data"]["message"]["text"] == "Hi!")
    for stream in (f"notes:{conversation_id}", f"user:{world['users']['agent'].id}"):
        sock.send({"type": "subscribe", "stream": stream, "after": 0, "ref": "s"})
        error = sock.recv_until(lambda f: f["type"] == "error")
        assert (error["status"], error["ref"]) == (404, "s")
    sock.send({"type": "resume", "positions": {f"notes:{conversation_id}": 0}, "ref": "r"})
    assert sock.recv_until(lambda f: f.get("ref") == "r")["status"] == 404
    sock.send({"type": "ping", "ref": "p"})
    sock.recv_until(lambda f: f["type"] == "pong")
    seen = json.dumps(sock.frames)
    assert SECRET not in seen and "Second secret" not in seen and "note." not in seen
    sock.close()

    # REST: every widget route a visitor reads.
    for path in ("", "/messages", "/request", "/calls"):
        response = client.get(widget.url(path), headers=widget.headers())
        assert SECRET not in response.get_data(as_text=True) and "Second secret" not in response.get_data(as_text=True)
    assert [m["text"] for m in widget.messages().get_json()["items"] if m["sender_type"] == "agent"] == ["Hi!"]

    # Replay: from the very start of the visitor's streams.
    for stream in (f"conversation:{conversation_id}", f"visitor:{visitor_id}"):
        frames = replay(stream, 0) or []
        assert not [f for f in frames if f["type"].startswith("note.")]
        assert SECRET not in json.dumps(frames)
    assert [f["type"] for f in replay(f"notes:{conversation_id}", 0)] == ["note.created", "note.created"]


def test_a_visitor_session_is_refused_the_notes_stream_of_its_own_conversation(world):
    conversation = db.session.get(Conversation, world["widget"].conversation_id)
    session = SocketSession(conversation.visitor, push=lambda stream, frame: None)
    [error] = session.handle_text(json.dumps({"type": "subscribe", "stream": f"notes:{conversation.id}",
                                              "after": 0, "ref": "s"}))
    assert (error["type"], error["status"], error["code"]) == ("error", 404, "not_found")


def test_an_agent_at_max_chats_resumes_every_stream_it_follows(world):
    agent, interface = world["users"]["agent"], world["interface"]
    agent.max_chats = MAX_CHATS_MAX
    for _ in range(MAX_CHATS_MAX - 1):  # one chat is the world's
        visitor = Visitor(workspace_id=interface.workspace_id, interface_id=interface.id)
        db.session.add(visitor)
        db.session.flush()
        db.session.add(Conversation(workspace_id=interface.workspace_id, interface_id=interface.id,
                                    visitor_id=visitor.id, agent_id=agent.id, status=ConversationStatus.ACTIVE))
    db.session.commit()
    session = SocketSession(agent, push=lambda stream, frame: None)
    [hello] = session.hello()
    assert len(hello["streams"]) == 1 + 2 * MAX_CHATS_MAX
    [ack] = session.handle_text(json.dumps({"type": "resume", "positions": hello["streams"], "ref": "r"}))
    assert ack["type"] == "ack", ack
    assert set(ack["data"]["positions"]) == set(hello["streams"])


# -- the socket command ---------------------------------------------------------------------------------------


def test_note_create_over_the_socket_acks_the_note_and_tells_the_holder_and_the_mentioned(client, world, server):
    conversation_id = world["widget"].conversation_id
    holder = user_socket(client, server, world["headers"]["agent"])
    colleague = user_socket(client, server, world["headers"]["colleague"])
    admin = user_socket(client, server, world["headers"]["admin"])
    assert "note.create" in admin.frames[0]["commands"]
    admin.send({"type": "note.create", "conversation_id": conversation_id, "text": "Over the socket",
                "mentions": _ids(world, "colleague"), "ref": "n1"})
    ack = admin.recv_until(lambda f: f.get("ref") == "n1")
    assert ack["type"] == "ack", ack
    note = ack["data"]["note"]
    assert (note["text"], note["author_id"], note["mentions"]) == ("Over the socket", world["users"]["admin"].id,
                                                                   _ids(world, "colleague"))
    created = holder.recv_until(lambda f: f["type"] == "note.created")
    assert created["data"]["note"] == note
    assert colleague.recv_until(lambda f: f["type"] == "note.mentioned")["data"]["note_id"] == note["id"]
    assert [n["id"] for n in client.get(world["url"], headers=world["headers"]["agent"]).get_json()["items"]] == [
        note["id"]]
    for sock in (holder, colleague, admin):
        sock.close()


@pytest.mark.parametrize("frame, status, field", [
    ({"text": ""}, 422, "text"),
    ({"text": "x" * 4001}, 422, "text"),
    ({"text": "x", "mentions": [1, 1]}, 422, "mentions"),
    ({"text": "x", "mentions": "outsider"}, 422, "mentions"),
    ({"text": "x", "conversation_id": 2**31}, 422, "conversation_id"),
    ({"text": "x", "conversation_id": 2**31 - 1}, 404, None),
])
def test_note_create_frames_are_checked_like_the_rest_body(world, frame, status, field):
    if frame.get("mentions") == "outsider":
        frame = {**frame, "mentions": _ids(world, "outsider")}
    session = SocketSession(world["users"]["agent"], push=lambda stream, event: None)
    command = {"type": "note.create", "conversation_id": world["widget"].conversation_id, "ref": "n", **frame}
    [error] = session.handle_text(json.dumps(command))
    assert (error["type"], error["status"], error["ref"]) == ("error", status, "n"), error
    if field:
        assert field in error["errors"] or field in error["errors"].get("json", {}), error
    assert replay(f"notes:{world['widget'].conversation_id}", 0) == []


def test_a_visitor_socket_may_not_write_a_note(world):
    conversation_id = world["widget"].conversation_id
    session = SocketSession(db.session.get(Conversation, conversation_id).visitor, push=lambda stream, frame: None)
    [hello] = session.hello()
    assert "note.create" not in hello["commands"]
    [error] = session.handle_text(json.dumps({"type": "note.create", "conversation_id": conversation_id,
                                              "text": "from the visitor", "ref": "n"}))
    assert (error["type"], error["status"]) == ("error", 403)
    assert replay(f"notes:{conversation_id}", 0) == []
