"""The agent's side: accept, takeover, chat, transfer, hand back, end, reads and audit."""
import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEntry, Conversation, LiveRequest, Notification, RoutingMode
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agents = [make_user(workspace, max_chats=2), make_user(workspace, max_chats=2)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    live = make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
    make_component(interface, "message", {"text": "Back with the bot.", "buttons": [{"label": "Ok"}]})
    go_online(*agents)
    headers = [auth.headers(agent) for agent in agents]
    return {"workspace": workspace, "admin": admin, "agents": agents, "interface": interface, "live": live,
            "headers": headers, "admin_headers": auth.headers(admin)}


def visitor(client, world):
    widget = Widget(client, world["interface"], origin=ORIGIN)
    widget.open()
    return widget


def ask(client, world, button="live_chat"):
    widget = visitor(client, world)
    client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"}, headers=widget.headers())
    response = client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                           headers=widget.headers())
    assert response.status_code == 200, response.get_json()
    request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
    return widget, request_id


def accept(client, world, request_id, who=0):
    return client.post(f"/api/requests/{request_id}/accept", headers=world["headers"][who])


def test_accept_gives_the_chat_and_withdraws_the_others(client, world):
    widget, request_id = ask(client, world)
    response = accept(client, world, request_id)
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "active" and body["agent_id"] == world["agents"][0].id
    history = widget.messages().get_json()["items"]
    assert history[-1]["text"] == f"You are now chatting with {world['agents'][0].name}."
    mine, theirs = (db.session.scalars(select(Notification).where(Notification.user_id == a.id,
                                                                  Notification.request_id == request_id)).one()
                    for a in world["agents"])
    assert mine.status.value == "claimed" and theirs.status.value == "withdrawn"
    second = accept(client, world, request_id, who=1)
    assert second.status_code == 409 and second.get_json()["code"] == "request_taken"


def test_accepting_a_video_request_shows_the_video_chat_message(client, world):
    widget, request_id = ask(client, world, "video_chat")
    body = accept(client, world, request_id).get_json()
    assert body["channel"] == "video"
    assert widget.messages().get_json()["items"][-1]["text"].startswith("Your video chat with")


def test_accept_at_max_chats_is_409_capacity_full(client, world):
    for _ in range(2):
        _, request_id = ask(client, world)
        assert accept(client, world, request_id).status_code == 200
    _, request_id = ask(client, world)
    response = accept(client, world, request_id)
    assert response.status_code == 409 and response.get_json()["code"] == "capacity_full"
    assert db.session.get(LiveRequest, request_id).status.value == "pending"  # still there for someone else
    assert accept(client, world, request_id, who=1).status_code == 200


def test_a_video_chat_can_weigh_more(client, world):
    world["interface"].video_weight = 2
    db.session.commit()
    _, video = ask(client, world, "video_chat")
    assert accept(client, world, video).status_code == 200
    _, text = ask(client, world)
    assert accept(client, world, text).get_json()["code"] == "capacity_full"


def test_accept_after_cancel_or_deadline_is_409(client, world):
    widget, request_id = ask(client, world)
    client.delete(widget.url("/request"), headers=widget.headers())
    assert accept(client, world, request_id).get_json()["code"] == "request_cancelled"
    _, request_id = ask(client, world)
    from datetime import timedelta

    from models.base import utcnow

    db.session.get(LiveRequest, request_id).deadline_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert accept(client, world, request_id).get_json()["code"] == "request_expired"


def test_agent_of_another_interface_gets_404(client, world, auth):
    stranger = make_user(world["workspace"])
    _, request_id = ask(client, world)
    response = client.post(f"/api/requests/{request_id}/accept", headers=auth.headers(stranger))
    assert response.status_code == 404


def test_least_busy_routing_assigns_without_a_click(client, world):
    world["interface"].routing_mode = RoutingMode.LEAST_BUSY
    db.session.commit()
    owners = []
    for _ in range(4):
        widget, request_id = ask(client, world)
        owners.append(db.session.get(LiveRequest, request_id).agent_id)
    a, b = (agent.id for agent in world["agents"])
    assert sorted(owners) == [a, a, b, b]  # alternating, never over max chats (2 each)
    widget = visitor(client, world)
    client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"}, headers=widget.headers())
    full = client.post(widget.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                       headers=widget.headers()).get_json()
    assert full["messages"][-1]["text"] == "Please wait a moment while we connect you with one of our agents."
    assert full["conversation"]["status"] == "waiting"  # a full team is busy, not absent: the request waits
    reasons = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "auto_assigned")).all()
    assert len(reasons) == 4 and all(r.details["mode"] == "least_busy" for r in reasons)


def test_takeover_stops_the_bot_and_tells_the_visitor(client, world):
    widget = visitor(client, world)
    response = client.post(f"/api/conversations/{widget.conversation_id}/takeover", headers=world["headers"][0])
    assert response.status_code == 200 and response.get_json()["status"] == "active"
    assert widget.messages().get_json()["items"][-1]["text"] == \
        f"You are now chatting with {world['agents'][0].name} from our team."
    # the bot does not answer the visitor any more
    act = client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"},
                      headers=widget.headers())
    assert act.status_code == 409
    widget.send("hello agent", "v1")
    assert [m["sender_type"] for m in widget.messages().get_json()["items"]][-1] == "visitor"
    again = client.post(f"/api/conversations/{widget.conversation_id}/takeover", headers=world["headers"][1])
    assert again.status_code == 409


def test_two_way_chat_with_history_and_read_positions(client, world):
    widget, request_id = ask(client, world)
    accept(client, world, request_id)
    cid = widget.conversation_id
    sent = client.post(f"/api/conversations/{cid}/messages", json={"text": "How can I help?", "client_id": "a1"},
                       headers=world["headers"][0])
    assert sent.status_code == 201 and sent.get_json()["sender_type"] == "agent"
    assert widget.send("My order", "v1").status_code == 201
    history = client.get(f"/api/conversations/{cid}/messages", headers=world["headers"][0]).get_json()["items"]
    assert [m["sender_type"] for m in history][:2] == ["bot", "visitor"]  # the bot phase is there
    assert history[-1]["text"] == "My order"
    read = client.post(f"/api/conversations/{cid}/read", json={"seq": history[-1]["seq"]}, headers=world["headers"][0])
    assert read.status_code == 200
    assert client.get(f"/api/conversations/{cid}", headers=world["headers"][0]).get_json()["agent_read_seq"] == \
        history[-1]["seq"]
    other = client.post(f"/api/conversations/{cid}/messages", json={"text": "me too", "client_id": "b1"},
                        headers=world["headers"][1])
    assert other.status_code == 409 and other.get_json()["code"] == "not_assigned"


def test_transfer_to_an_agent_with_room(client, world):
    widget, request_id = ask(client, world)
    accept(client, world, request_id)
    target = world["agents"][1]
    response = client.post(f"/api/conversations/{widget.conversation_id}/transfer", json={"agent_id": target.id},
                           headers=world["headers"][0])
    assert response.status_code == 200 and response.get_json()["agent_id"] == target.id
    assert widget.messages().get_json()["items"][-1]["text"] == f"{target.name} has joined the chat."


@pytest.mark.parametrize("state,code", [("offline", "target_offline"), ("full", "target_full")])
def test_transfer_to_an_agent_offline_or_full_is_409(client, world, state, code):
    from models import Availability

    target = world["agents"][1]
    if state == "full":
        for _ in range(2):
            _, request_id = ask(client, world)
            accept(client, world, request_id, who=1)
    widget, request_id = ask(client, world)
    accept(client, world, request_id)
    if state == "offline":
        target.availability = Availability.OFFLINE
        db.session.commit()
    response = client.post(f"/api/conversations/{widget.conversation_id}/transfer", json={"agent_id": target.id},
                           headers=world["headers"][0])
    assert response.status_code == 409 and response.get_json()["code"] == code
    assert db.session.get(Conversation, widget.conversation_id).agent_id == world["agents"][0].id


def test_hand_back_goes_on_with_the_next_component(client, world):
    widget, request_id = ask(client, world)
    accept(client, world, request_id)
    response = client.post(f"/api/conversations/{widget.conversation_id}/hand-back", json={},
                           headers=world["headers"][0])
    assert response.status_code == 200 and response.get_json()["status"] == "bot"
    assert widget.messages().get_json()["items"][-1]["text"] == "Back with the bot."


def test_end_closes_the_chat_and_further_actions_are_409(client, world):
    widget, request_id = ask(client, world)
    accept(client, world, request_id)
    cid = widget.conversation_id
    assert client.post(f"/api/conversations/{cid}/end", json={}, headers=world["headers"][0]).status_code == 200
    for path, body in (("/end", {}), ("/transfer", {"agent_id": world["agents"][1].id}), ("/hand-back", {})):
        response = client.post(f"/api/conversations/{cid}{path}", json=body, headers=world["headers"][0])
        assert response.status_code == 409, path
    assert widget.send("hello?", "late").status_code == 409


def test_dashboard_reads_and_audit(client, world):
    waiting, request_id = ask(client, world)
    bot = visitor(client, world)
    pending = client.get("/api/requests", headers=world["headers"][0]).get_json()
    assert [r["request_id"] for r in pending["items"]] == [request_id]
    assert client.get("/api/notifications", headers=world["headers"][0]).get_json()["total"] >= 1
    accept(client, world, request_id)
    mine = client.get("/api/conversations?scope=mine", headers=world["headers"][0]).get_json()
    assert [c["id"] for c in mine["items"]] == [waiting.conversation_id]
    bots = client.get("/api/conversations?scope=bot", headers=world["headers"][1]).get_json()
    assert bot.conversation_id in [c["id"] for c in bots["items"]]
    audit = client.get("/api/audit", headers=world["admin_headers"]).get_json()
    assert {e["action"] for e in audit["items"]} >= {"routed", "accepted"}
    assert client.get("/api/audit", headers=world["headers"][0]).status_code == 403


def test_visitor_token_cannot_use_agent_routes(client, world):
    widget, request_id = ask(client, world)
    headers = {"Authorization": f"Bearer {widget.token}"}
    for path in (f"/api/requests/{request_id}/accept", f"/api/conversations/{widget.conversation_id}/takeover"):
        assert client.post(path, headers=headers).status_code == 401


def test_admin_of_another_workspace_gets_404_on_every_conversation_route(client, world, auth):
    widget, request_id = ask(client, world)  # workspace B (the world's)
    offline = visitor(client, world)
    from models import Availability

    for agent in world["agents"]:
        agent.availability = Availability.OFFLINE
    db.session.commit()
    client.post(offline.url("/actions"), json={"type": "button", "button_id": "button_0"}, headers=offline.headers())
    asked = client.post(offline.url("/actions"), json={"type": "button", "button_id": "live_chat"},
                        headers=offline.headers()).get_json()
    submitted = client.post(offline.url("/offline-form"), headers=offline.headers(), json={
        "request_id": asked["messages"][-1]["data"]["request_id"],
        "answers": {"name": "A", "email": "a@example.org", "message": "m"}}).get_json()
    _, other_admin = make_workspace("Other")
    headers = auth.headers(other_admin)
    cid = widget.conversation_id
    routes = [
        ("get", f"/api/conversations/{cid}", None),
        ("get", f"/api/conversations/{cid}/messages", None),
        ("post", f"/api/conversations/{cid}/messages", {"text": "x", "client_id": "x"}),
        ("post", f"/api/conversations/{cid}/read", {"seq": 1}),
        ("post", f"/api/conversations/{cid}/takeover", None),
        ("post", f"/api/conversations/{cid}/transfer", {"agent_id": world["agents"][1].id}),
        ("post", f"/api/conversations/{cid}/hand-back", {}),
        ("post", f"/api/conversations/{cid}/end", {}),
        ("post", f"/api/requests/{request_id}/accept", None),
        ("get", f"/api/interfaces/{world['interface'].id}/offline-submissions", None),
        ("get", f"/api/offline-submissions/{submitted['id']}", None),
    ]
    for method, path, body in routes:
        response = getattr(client, method)(path, json=body, headers=headers)
        assert response.status_code == 404, (method, path, response.get_json())
        assert response.get_json()["code"] in ("not_found",)
    # and nothing changed for workspace B
    assert db.session.get(LiveRequest, request_id).status.value == "pending"
    assert client.get("/api/conversations?scope=all", headers=headers).get_json()["total"] == 0
    assert client.get("/api/requests", headers=headers).get_json()["total"] == 0
