"""What a visitor, an agent and an admin see, held against the help article's story."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Conversation, Event
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agents = [make_user(workspace, max_chats=2), make_user(workspace, max_chats=2)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents, request_timeout_s=30)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    live = make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
    make_component(interface, "message", {"text": "Back with the bot.", "buttons": [{"label": "Ok"}]})
    return {"workspace": workspace, "admin": admin, "agents": agents, "interface": interface, "live": live,
            "auth": auth}


def visitor(client, world):
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    return widget


def press(client, widget, button):
    response = client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                           headers=widget.headers())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ask(client, world, button="live_chat"):
    widget = visitor(client, world)
    press(client, widget, "button_0")
    asked = press(client, widget, button)
    return widget, asked


def request_of(client, widget):
    return client.get(widget.url("/request"), headers=widget.headers()).get_json()


def events(stream, event_type):
    db.session.expire_all()
    return [row.payload for row in db.session.scalars(
        select(Event).where(Event.stream == stream, Event.type == event_type).order_by(Event.pos))]


# -- conversation.updated carries the conversation as written ------------------------------------


def _last_update_matches_rest(client, world, widget, agent):
    rest = client.get(widget.url(), headers=widget.headers()).get_json()
    for stream in (f"conversation:{widget.conversation_id}", f"user:{agent.id}"):
        last = events(stream, "conversation.updated")[-1]["conversation"]
        assert last["last_seq"] == rest["last_seq"], stream
        assert last["status"] == rest["status"]


def test_conversation_updated_after_accept_carries_the_last_seq_rest_shows(client, world):
    go_online(*world["agents"])
    widget, _ = ask(client, world)
    request_id = request_of(client, widget)["request_id"]
    agent = world["agents"][0]
    response = client.post(f"/api/requests/{request_id}/accept", headers=world["auth"].headers(agent))
    assert response.status_code == 200
    assert response.get_json()["last_seq"] == client.get(widget.url(), headers=widget.headers()).get_json()["last_seq"]
    _last_update_matches_rest(client, world, widget, agent)


def test_conversation_updated_after_takeover_transfer_and_end_carries_the_last_seq(client, world):
    go_online(*world["agents"])
    widget = visitor(client, world)
    first, second = world["agents"]
    headers = world["auth"].headers(first)
    cid = widget.conversation_id
    assert client.post(f"/api/conversations/{cid}/takeover", headers=headers).status_code == 200
    _last_update_matches_rest(client, world, widget, first)
    assert client.post(f"/api/conversations/{cid}/transfer", json={"agent_id": second.id},
                       headers=headers).status_code == 200
    _last_update_matches_rest(client, world, widget, second)
    assert client.post(f"/api/conversations/{cid}/end", json={},
                       headers=world["auth"].headers(second)).status_code == 200
    _last_update_matches_rest(client, world, widget, second)


# -- mail whose cause is gone is not sent -----------------------------------------------------------


def _invitations_to(email):
    from models import OutboxMail

    db.session.expire_all()
    mails = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "invitation").order_by(OutboxMail.id))
    return [mail for mail in mails if mail.recipients == [email]]


def _admin_headers(world):
    return world["auth"].headers(world["admin"])


def test_an_invitation_to_an_agent_deleted_before_it_went_out_is_cancelled(client, world):
    from services.mailer import do_send_due

    headers = _admin_headers(world)
    created = client.post("/api/agents", json={"name": "Typo", "email": "ann@exmaple.com"}, headers=headers)
    assert created.status_code == 201
    assert client.delete(f"/api/agents/{created.get_json()['id']}", headers=headers).status_code == 204
    [mail] = _invitations_to("ann@exmaple.com")
    assert mail.status == "cancelled"
    assert do_send_due() == (0, 0)
    assert _invitations_to("ann@exmaple.com")[0].sent_at is None


def test_an_invitation_to_a_corrected_address_cancels_the_one_to_the_typo(client, world):
    headers = _admin_headers(world)
    created = client.post("/api/agents", json={"name": "Typo", "email": "bob@exmaple.com"}, headers=headers)
    agent_id = created.get_json()["id"]
    assert client.patch(f"/api/agents/{agent_id}", json={"email": "bob@example.com"},
                        headers=headers).status_code == 200
    assert [mail.status for mail in _invitations_to("bob@exmaple.com")] == ["cancelled"]


def test_a_resent_invitation_cancels_the_unsent_one_whose_link_no_longer_works(client, world):
    headers = _admin_headers(world)
    agent_id = client.post("/api/agents", json={"name": "Cy", "email": "cy@example.com"},
                           headers=headers).get_json()["id"]
    assert client.post(f"/api/agents/{agent_id}/invitation", headers=headers).status_code == 202
    assert [mail.status for mail in _invitations_to("cy@example.com")] == ["cancelled", "pending"]


def test_the_sender_skips_an_invitation_whose_user_is_gone(client, world):
    from models import User
    from services.mailer import do_send_due

    headers = _admin_headers(world)
    agent_id = client.post("/api/agents", json={"name": "Di", "email": "di@example.com"},
                           headers=headers).get_json()["id"]
    db.session.execute(User.__table__.delete().where(User.id == agent_id))  # gone by a path that cancels nothing
    db.session.commit()
    assert do_send_due() == (0, 0)
    assert [mail.status for mail in _invitations_to("di@example.com")] == ["cancelled"]


# -- a revoked session hears why before its socket closes ---------------------------------------


def _frames_until_close(sock, limit=200):
    """Text frames the server sent, then its close code."""
    import json

    import websocket

    frames = []
    for _ in range(limit):
        opcode, data = sock.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return frames, int.from_bytes(data[:2], "big")
        if opcode == websocket.ABNF.OPCODE_TEXT:
            frames.append(json.loads(data))
    raise AssertionError("the socket was not closed")


@pytest.mark.parametrize("how", ["delete", "deactivate", "demote"])
def test_a_revoked_user_hears_session_revoked_then_the_socket_closes(client, world, server, how):
    from tests.live import Client

    agent = world["agents"][0]
    if how == "demote":
        agent.role = "admin"
        db.session.commit()
    ticket = client.post("/api/sockets/ticket", headers=world["auth"].headers(agent)).get_json()["ticket"]
    sock = Client(server.url, ticket)
    sock.recv()
    sock.send({"type": "resume", "positions": {}, "ref": "r"})
    sock.recv_until(lambda f: f.get("ref") == "r")
    headers = _admin_headers(world)
    if how == "delete":
        assert client.delete(f"/api/agents/{agent.id}", headers=headers).status_code == 204
    else:
        change = {"is_active": False} if how == "deactivate" else {"role": "agent"}
        assert client.patch(f"/api/agents/{agent.id}", json=change, headers=headers).status_code == 200
    frames, code = _frames_until_close(sock)
    assert code == 4401
    reason = {"delete": "deleted", "deactivate": "deactivated", "demote": "role_changed"}[how]
    assert frames and frames[-1]["type"] == "session.revoked" and frames[-1]["data"] == {"reason": reason}
    assert frames[-1]["stream"] == f"user:{agent.id}" and frames[-1]["pos"]


def test_a_command_that_finds_the_user_gone_first_still_sends_session_revoked(client, world):
    import json

    from models import User
    from services.agents import do_delete_user
    from blueprints.socket_protocol import CloseSocket, SocketSession

    agent_id, admin_id = world["agents"][0].id, world["admin"].id
    session = SocketSession(world["agents"][0], push=lambda stream, frame: None)
    session.handle_text(json.dumps({"type": "resume", "positions": {}}))
    do_delete_user(db.session.get(User, admin_id), db.session.get(User, agent_id))
    with pytest.raises(CloseSocket) as closed:  # before the broker's news reached the session
        session.handle_text(json.dumps({"type": "subscribe", "stream": f"user:{agent_id}"}))
    assert closed.value.code == 4401
    assert closed.value.frames[-1]["type"] == "session.revoked"
    assert closed.value.frames[-1]["data"] == {"reason": "deleted"}
    session.unsubscribe_all()


# -- notification.withdrawn says why, with a reason the specs list --------------------------------


def _asyncapi_enum(schema_name, field):
    import json
    from pathlib import Path

    doc = json.loads((Path(__file__).parent.parent / "openapi" / "asyncapi.json").read_text())
    return doc["components"]["schemas"][schema_name]["properties"][field].get("enum")


def test_every_withdrawn_reason_the_server_sends_is_in_the_asyncapi_enum(client, world):
    from models import Notification

    go_online(*world["agents"])
    first, second = world["agents"]
    headers = world["auth"].headers(first)
    taken = visitor(client, world)
    press(client, taken, "button_0")  # new_chat_initiated for both
    assert client.post(f"/api/conversations/{taken.conversation_id}/takeover", headers=headers).status_code == 200
    assert client.post(f"/api/conversations/{taken.conversation_id}/end", json={},
                       headers=headers).status_code == 200
    waiting, _ = ask(client, world)
    admin = _admin_headers(world)
    assert client.patch(f"/api/agents/{second.id}", json={"is_active": False}, headers=admin).status_code == 200
    assert client.delete(f"/api/agents/{first.id}", headers=admin).status_code == 204
    db.session.expire_all()
    sent = {payload["reason"] for stream in (f"user:{first.id}", f"user:{second.id}")
            for payload in events(stream, "notification.withdrawn")}
    assert {"taken_over", "agent_deactivated"} <= sent
    enum = _asyncapi_enum("NotificationWithdrawn", "reason")
    assert enum and sent <= set(enum)
    assert {"claimed", "expired", "cancelled", "taken_over", "ended", "agent_offline", "agent_deleted",
            "agent_deactivated", "agent_role_changed", "abandoned"} == set(enum)
    stored = {n.reason for n in db.session.scalars(select(Notification)) if n.reason}
    assert stored <= set(enum)
    assert set(_asyncapi_enum("SessionRevoked", "reason")) == {"deleted", "deactivated", "role_changed"}


# -- room is one rule, with the video weight, for offering and accepting ----------------------------


def _busy(world, agent, chats=1, weight=1):
    """Give agent open chats of other visitors (each weighing `weight`)."""
    from models import Visitor

    for _ in range(chats):
        other = Visitor(workspace_id=world["workspace"].id, interface_id=world["interface"].id)
        db.session.add(other)
        db.session.flush()
        db.session.add(Conversation(workspace_id=world["workspace"].id, interface_id=world["interface"].id,
                                    visitor_id=other.id, status="active", agent_id=agent.id, weight=weight))
    db.session.commit()


def _offered(agent, kind):
    from models import Notification

    db.session.expire_all()
    return db.session.scalars(select(Notification).where(Notification.user_id == agent.id,
                                                         Notification.type == kind)).all()


def test_broadcast_offers_video_only_to_agents_with_room_for_its_weight(client, world):
    world["interface"].video_weight = 2
    roomy, text_only = world["agents"]
    _busy(world, text_only)  # 1 of 2: room for a text chat, not for a video chat
    go_online(roomy, text_only)
    ask(client, world, "video_chat")
    assert len(_offered(roomy, "video_chat_request")) == 1
    assert _offered(text_only, "video_chat_request") == []
    ask(client, world, "live_chat")
    assert len(_offered(text_only, "live_chat_request")) == 1


# -- the welcome message comes first, whoever is online ---------------------------------------------


def test_the_welcome_message_is_shown_before_the_offline_message_when_nobody_is_online(client, world):
    _, asked = ask(client, world)
    texts = [m["text"] for m in asked["messages"] if m["sender_type"] == "bot"]
    assert texts[-2:] == ["Please wait a moment while we connect you with one of our agents.",
                          "Sorry, none of our agents is available right now."]
    assert [m["data"]["stage"] for m in asked["messages"][-2:]] == ["welcome", "offline"]
    assert asked["conversation"]["status"] == "bot"


# -- a busy team is not an absent team ---------------------------------------------------------------


def _use_routing(world, mode):
    from models import RoutingMode

    world["interface"].routing_mode = RoutingMode(mode)
    db.session.commit()


@pytest.mark.parametrize("mode", ["broadcast", "least_busy"])
def test_when_every_online_agent_is_full_the_request_waits_in_the_queue(client, world, mode):
    _use_routing(world, mode)
    for agent in world["agents"]:
        _busy(world, agent, chats=2)
    go_online(*world["agents"])
    widget, asked = ask(client, world)
    assert asked["conversation"]["status"] == "waiting"
    assert [m["data"]["stage"] for m in asked["messages"] if m["sender_type"] == "bot"][-1] == "welcome"
    request = request_of(client, widget)
    assert request["status"] == "pending" and request["queue_position"] == 1
    assert all(_offered(agent, "live_chat_request") == [] for agent in world["agents"])


@pytest.mark.parametrize("mode", ["broadcast", "least_busy"])
def test_a_video_request_waits_when_agents_have_room_for_text_only(client, world, mode):
    _use_routing(world, mode)
    world["interface"].video_weight = 2
    for agent in world["agents"]:
        _busy(world, agent, chats=1)
    go_online(*world["agents"])
    widget, asked = ask(client, world, "video_chat")
    assert asked["conversation"]["status"] == "waiting"
    assert request_of(client, widget)["status"] == "pending"
    assert all(_offered(agent, "video_chat_request") == [] for agent in world["agents"])


def test_a_waiting_request_still_times_out_to_the_offline_path(client, world):
    from datetime import timedelta

    from models.base import utcnow
    from services.live_requests import sweep_expired

    for agent in world["agents"]:
        _busy(world, agent, chats=2)
    go_online(*world["agents"])
    widget, _ = ask(client, world)
    assert sweep_expired(now=utcnow() + timedelta(hours=1)) == 1
    assert request_of(client, widget)["status"] == "expired"
    assert widget.messages().get_json()["items"][-1]["data"]["stage"] == "offline"


def _chat_with(client, world, agent):
    """A visitor whose chat `agent` took over; returns the widget."""
    widget = visitor(client, world)
    response = client.post(f"/api/conversations/{widget.conversation_id}/takeover",
                           headers=world["auth"].headers(agent))
    assert response.status_code == 200, response.get_json()
    return widget


def _free_room(client, world, agent, widget, how):
    headers = world["auth"].headers(agent)
    cid = widget.conversation_id
    if how == "end":
        response = client.post(f"/api/conversations/{cid}/end", json={}, headers=headers)
    elif how == "hand_back":
        response = client.post(f"/api/conversations/{cid}/hand-back", json={}, headers=headers)
    else:
        other = world["agents"][1]
        other.max_chats = 5
        db.session.commit()
        response = client.post(f"/api/conversations/{cid}/transfer", json={"agent_id": other.id}, headers=headers)
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("how", ["end", "hand_back", "transfer"])
def test_broadcast_offers_the_waiting_request_to_an_agent_who_frees_room(client, world, how):
    agent, other = world["agents"]
    agent.max_chats = 1
    db.session.commit()
    go_online(agent)
    held = _chat_with(client, world, agent)
    widget, _ = ask(client, world)
    assert request_of(client, widget)["status"] == "pending" and _offered(agent, "live_chat_request") == []
    if how == "transfer":
        go_online(other)
    _free_room(client, world, agent, held, how)
    [offer] = _offered(agent, "live_chat_request")
    assert offer.request_id == request_of(client, widget)["request_id"] and offer.status.value == "pending"
    accepted = client.post(f"/api/requests/{offer.request_id}/accept", headers=world["auth"].headers(agent))
    assert accepted.status_code == 200


@pytest.mark.parametrize("how", ["end", "hand_back", "transfer"])
def test_least_busy_assigns_the_waiting_request_to_an_agent_who_frees_room(client, world, how):
    _use_routing(world, "least_busy")
    agent, other = world["agents"]
    agent.max_chats = 1
    db.session.commit()
    go_online(agent)
    held = _chat_with(client, world, agent)
    widget, _ = ask(client, world)
    assert request_of(client, widget)["status"] == "pending"
    if how == "transfer":
        go_online(other)
    _free_room(client, world, agent, held, how)
    assert request_of(client, widget)["status"] == "accepted"
    conversation = client.get(widget.url(), headers=widget.headers()).get_json()
    assert conversation["status"] == "active" and conversation["agent_id"] == agent.id


def test_an_agent_coming_online_is_offered_what_waits(client, world):
    first, second = world["agents"]
    first.max_chats = 1
    db.session.commit()
    go_online(first)
    _chat_with(client, world, first)
    widget, _ = ask(client, world)
    response = client.put("/api/availability", json={"availability": "online"}, headers=world["auth"].headers(second))
    assert response.status_code == 200
    assert [n.request_id for n in _offered(second, "live_chat_request")] == [request_of(client, widget)["request_id"]]


def test_a_video_request_is_offered_once_the_video_weight_fits(client, world):
    world["interface"].video_weight = 2
    agent = world["agents"][0]
    go_online(agent)
    held = _chat_with(client, world, agent)
    agent.max_chats = 2
    db.session.commit()
    widget, _ = ask(client, world, "video_chat")
    assert request_of(client, widget)["status"] == "pending" and _offered(agent, "video_chat_request") == []
    _free_room(client, world, agent, held, "end")
    assert len(_offered(agent, "video_chat_request")) == 1


def test_raising_max_chats_offers_what_waits(client, world):
    agent = world["agents"][0]
    agent.max_chats = 1
    db.session.commit()
    go_online(agent)
    _chat_with(client, world, agent)
    widget, _ = ask(client, world)
    assert _offered(agent, "live_chat_request") == []
    assert client.patch(f"/api/agents/{agent.id}", json={"max_chats": 2},
                        headers=_admin_headers(world)).status_code == 200
    assert [n.request_id for n in _offered(agent, "live_chat_request")] == [request_of(client, widget)["request_id"]]


# -- hello lists what the principal may send ----------------------------------------------------------


def test_hello_lists_only_the_commands_the_principal_may_send(client, world):
    from models import Visitor
    from blueprints.socket_protocol import SocketSession

    agent_only = {"request.accept", "conversation.takeover", "conversation.transfer", "conversation.hand_back",
                  "conversation.end", "call.offer_video"}
    visitor_only = {"call.accept_video", "call.decline_video"}
    from models import User

    agent_id = world["agents"][0].id
    widget = visitor(client, world)
    guest = db.session.get(Conversation, widget.conversation_id).visitor
    [hello] = SocketSession(guest, push=None).hello()
    assert hello["kind"] == "visitor"
    assert not agent_only & set(hello["commands"])
    assert {"resume", "message.send", "typing", "read", "call.hangup"} | visitor_only <= set(hello["commands"])
    [hello] = SocketSession(db.session.get(User, agent_id), push=None).hello()
    assert agent_only <= set(hello["commands"]) and not visitor_only & set(hello["commands"])
    assert isinstance(guest, Visitor)


def test_a_command_not_in_hello_is_refused_with_403(client, world):
    import json

    from blueprints.socket_protocol import SocketSession

    from models import User

    agent_id = world["agents"][0].id
    widget = visitor(client, world)
    guest = db.session.get(Conversation, widget.conversation_id).visitor
    session = SocketSession(guest, push=None)
    [answer] = session.handle_text(json.dumps({"type": "call.offer_video", "conversation_id": widget.conversation_id,
                                               "ref": "v"}))
    assert answer["type"] == "error" and answer["status"] == 403 and answer["ref"] == "v"
    session = SocketSession(db.session.get(User, agent_id), push=None)
    [answer] = session.handle_text(json.dumps({"type": "call.accept_video", "call_id": 1, "ref": "a"}))
    assert answer["type"] == "error" and answer["status"] == 403


# -- limits: Retry-After only when it means something; each limit follows its own setting ----------


def test_widget_and_api_answers_that_are_not_throttled_carry_no_retry_after(client, world):
    widget = Widget(client, world["interface"], origin=ORIGIN)
    opened = client.post(f"/api/widget/{widget.key}/sessions", headers={"Origin": ORIGIN})
    assert opened.status_code == 201 and "Retry-After" not in opened.headers
    widget.token = opened.get_json()["visitor_token"]
    widget.conversation_id = opened.get_json()["conversation"]["id"]
    read = widget.messages()
    assert read.status_code == 200 and "Retry-After" not in read.headers
    login = client.post("/api/auth/login", json={"email": world["admin"].email, "password": "wrong"})
    assert login.status_code == 401 and "Retry-After" not in login.headers


@pytest.mark.parametrize("app_config", [{"WIDGET_LIMIT_PER_ADDRESS": "100000/minute",
                                         "WIDGET_LIMIT_PER_VISITOR": "5/minute"}])
def test_widget_opens_from_one_address_follow_the_per_address_setting(client, world):
    for _ in range(30):  # new visitors, no token: the per-visitor limit has nobody to count
        assert client.post(f"/api/widget/{world['interface'].public_key}/sessions",
                           headers={"Origin": ORIGIN}).status_code == 201


@pytest.mark.parametrize("app_config", [{"WIDGET_LIMIT_PER_ADDRESS": "100000/minute",
                                         "WIDGET_LIMIT_PER_VISITOR": "5/minute"}])
def test_one_visitor_is_held_to_the_per_visitor_setting(client, world):
    widget = visitor(client, world)  # opened without a token yet: not the visitor's to count
    answers = [widget.messages().status_code for _ in range(6)]
    assert answers == [200] * 5 + [429]
    throttled = widget.messages()
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert visitor(client, world).messages().status_code == 200  # another visitor from the same address


@pytest.mark.parametrize("app_config", [{"WIDGET_LIMIT_PER_ADDRESS": "5/minute"}])
def test_the_per_address_setting_holds_opens_from_one_address(client, world):
    answers = [client.post(f"/api/widget/{world['interface'].public_key}/sessions",
                           headers={"Origin": ORIGIN}).status_code for _ in range(6)]
    assert answers == [201] * 5 + [429]


@pytest.mark.parametrize("app_config", [{"SET_PASSWORD_LIMIT_PER_ADDRESS": "2/minute"}])
def test_set_password_is_held_to_its_own_setting(client, world):
    answers = [client.post("/api/auth/set-password", json={"token": "x" * 40, "password": "a new passphrase"}
                           ).status_code for _ in range(3)]
    assert answers == [400, 400, 429]


def test_a_call_that_ends_frees_its_video_weight_for_what_waits(client, world):
    world["interface"].video_weight = 2
    agent = world["agents"][0]
    agent.max_chats = 2
    db.session.commit()
    go_online(agent)
    video, _ = ask(client, world, "video_chat")
    headers = world["auth"].headers(agent)
    accepted = client.post(f"/api/requests/{request_of(client, video)['request_id']}/accept", headers=headers)
    assert accepted.status_code == 200
    waiting, _ = ask(client, world)
    assert request_of(client, waiting)["status"] == "pending" and _offered(agent, "live_chat_request") == []
    hung_up = client.post(f"/api/conversations/{video.conversation_id}/call/hangup", headers=headers)
    assert hung_up.status_code == 200, hung_up.get_json()
    assert [n.request_id for n in _offered(agent, "live_chat_request")] == [request_of(client, waiting)["request_id"]]
