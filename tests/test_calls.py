"""Calls: lifecycle, capacity, fall back to text, history, ICE servers, sides gone past the grace period."""
from datetime import timedelta

import pytest

from extensions import db
from models import Call
from models.base import utcnow
from services.releases import sweep_abandoned_calls
from services.events import replay
from services.ice import turn_password
from services.presence import heartbeat_batch
from tests.call_helpers import (  # noqa: F401 - world is a fixture
    SDP, Peer, accept, ask, call_of, conversation, set_video_weight, signal, text_chat, user, video_call,
    visitor, visitor_of, world,
)
from tests.factories import make_workspace


def call_url(conversation_id, action=""):
    return f"/api/conversations/{conversation_id}/call{action}"


def test_an_accepted_video_request_becomes_a_ringing_call_the_visitor_started(client, world):
    widget, call = video_call(client, world)
    assert call.status.value == "ringing" and call.initiated_by.value == "visitor"
    assert call.agent_id == world["agent_ids"][0] and call.visitor_id == visitor_of(widget).id
    assert call.accepted_at is not None and call.answered_at is None and call.ended_at is None
    events = [f for f in replay(f"user:{world['agent_ids'][0]}", 0) if f["type"] == "call.updated"]
    assert events[-1]["data"]["call"]["status"] == "ringing"
    assert [f["type"] for f in replay(f"conversation:{widget.conversation_id}", 0)].count("call.updated") == 1


def test_an_accepted_text_request_makes_no_call(client, world):
    widget = text_chat(client, world)
    assert call_of(widget.conversation_id) is None


def test_the_answer_makes_the_call_active_and_a_hangup_records_who_when_how_long(client, world):
    widget, call = video_call(client, world)
    agent, guest = Peer(user(world["agent_ids"][0])), Peer(visitor_of(widget))
    assert signal(agent, "offer", call.id, sdp=SDP)[0]["type"] == "ack"
    assert signal(guest, "answer", call.id, sdp=SDP)[0]["data"]["status"] == "active"
    active = call_of(widget.conversation_id)
    assert active.status.value == "active" and active.answered_at is not None
    # pretend it has lasted a while
    active.answered_at = utcnow() - timedelta(seconds=125)
    db.session.commit()
    hung = signal(agent, "hangup", call.id, ref="h")
    assert hung[0]["ref"] == "h" and hung[0]["data"]["call"]["status"] == "ended"
    ended = call_of(widget.conversation_id)
    assert ended.ended_by.value == "agent" and ended.end_reason == "hangup"
    assert ended.duration_s == int((ended.ended_at - ended.answered_at).total_seconds()) >= 125
    guest.wait(lambda f: f["type"] == "call.updated" and f["data"]["call"]["status"] == "ended")
    texts = [m["text"] for m in widget.messages().get_json()["items"]]
    assert "The video call has started." in texts and texts[-1].startswith("The video call ended after 2 min")
    assert conversation(widget.conversation_id).status.value == "active"  # the chat goes on
    assert conversation(widget.conversation_id).channel == "text"
    agent.close(), guest.close()


def test_the_visitor_can_hang_up_over_rest_and_a_second_hangup_is_409(client, world):
    widget, call = video_call(client, world)
    response = client.post(widget.url("/call/hangup"), headers=widget.headers())
    assert response.status_code == 200 and response.get_json()["ended_by"] == "visitor"
    assert response.get_json()["duration_s"] == 0  # never became active
    again = client.post(widget.url("/call/hangup"), headers=widget.headers())
    assert again.status_code == 409 and again.get_json()["code"] == "no_live_call"


def test_falling_back_to_text_keeps_the_chat_and_gives_the_video_weight_back(client, world):
    set_video_weight(world, 2)
    widget, call = video_call(client, world)
    _, text_request = ask(client, world, "live_chat")
    full = client.post(f"/api/requests/{text_request}/accept", headers=world["headers"][0])
    assert full.status_code == 409 and full.get_json()["code"] == "capacity_full"
    response = client.post(call_url(widget.conversation_id, "/fallback-to-text"), headers=world["headers"][0])
    assert response.status_code == 200 and response.get_json()["end_reason"] == "fallback_to_text"
    assert conversation(widget.conversation_id).status.value == "active"
    assert widget.send("still here", "t1").status_code == 201
    assert client.post(f"/api/requests/{text_request}/accept", headers=world["headers"][0]).status_code == 200


def test_the_visitor_can_fall_back_to_text_too(client, world):
    widget, _ = video_call(client, world)
    response = client.post(widget.url("/call/fallback-to-text"), headers=widget.headers())
    assert response.status_code == 200 and response.get_json()["ended_by"] == "visitor"
    assert widget.messages().get_json()["items"][-1]["text"] == "The video call ended; the chat goes on in text."


def test_agent_offers_video_in_a_text_chat_and_the_visitor_accepts(client, world):
    widget = text_chat(client, world)
    offered = client.post(f"/api/conversations/{widget.conversation_id}/calls", headers=world["headers"][0])
    assert offered.status_code == 201
    call = offered.get_json()
    assert call["status"] == "ringing" and call["initiated_by"] == "agent" and call["accepted_at"] is None
    assert widget.messages().get_json()["items"][-1]["data"] == {"event": "call_offered", "call_id": call["id"]}
    agent = Peer(user(world["agent_ids"][0]))
    early = signal(agent, "offer", call["id"], sdp=SDP)[0]
    assert early["type"] == "error" and early["code"] == "call_not_accepted"
    accepted = client.post(widget.url("/call/accept"), headers=widget.headers())
    assert accepted.status_code == 200 and accepted.get_json()["accepted_at"] is not None
    assert conversation(widget.conversation_id).channel == "video"
    assert signal(agent, "offer", call["id"], sdp=SDP)[0]["type"] == "ack"
    again = client.post(widget.url("/call/accept"), headers=widget.headers())
    assert again.status_code == 409 and again.get_json()["code"] == "not_offered"
    agent.close()


def test_visitor_declines_the_offered_video_and_the_weight_comes_back(client, world):
    set_video_weight(world, 2)
    widget = text_chat(client, world)
    assert client.post(f"/api/conversations/{widget.conversation_id}/calls",
                       headers=world["headers"][0]).status_code == 201
    assert conversation(widget.conversation_id).weight == 2
    declined = client.post(widget.url("/call/decline"), headers=widget.headers())
    assert declined.status_code == 200
    assert declined.get_json()["end_reason"] == "declined" and declined.get_json()["ended_by"] == "visitor"
    assert conversation(widget.conversation_id).weight == 1
    assert widget.messages().get_json()["items"][-1]["text"] == "The visitor declined the video call."


def test_a_visitor_cannot_decline_a_call_they_asked_for(client, world):
    widget, _ = video_call(client, world)
    response = client.post(widget.url("/call/decline"), headers=widget.headers())
    assert response.status_code == 409 and response.get_json()["code"] == "not_offered"


def test_offering_video_rechecks_capacity_with_the_video_weight(client, world):
    set_video_weight(world, 2)
    text_chat(client, world)
    widget = text_chat(client, world)  # the agent's load is 2 of 2
    response = client.post(f"/api/conversations/{widget.conversation_id}/calls", headers=world["headers"][0])
    assert response.status_code == 409 and response.get_json()["code"] == "capacity_full"
    assert call_of(widget.conversation_id) is None
    assert conversation(widget.conversation_id).weight == 1  # the reservation rolled back


def test_offering_video_while_a_call_is_live_is_409(client, world):
    widget, _ = video_call(client, world)
    response = client.post(f"/api/conversations/{widget.conversation_id}/calls", headers=world["headers"][0])
    assert response.status_code == 409 and response.get_json()["code"] == "call_in_progress"


@pytest.mark.parametrize("who,status,code", [(1, 409, "not_assigned"), ("stranger", 404, "not_found"),
                                             ("admin", 409, "not_assigned")])
def test_only_the_chats_agent_can_offer_video(client, world, who, status, code):
    widget = text_chat(client, world)
    headers = world["headers"][who] if isinstance(who, int) else world[f"{who}_headers"]
    response = client.post(f"/api/conversations/{widget.conversation_id}/calls", headers=headers)
    assert response.status_code == status and response.get_json()["code"] == code


def test_a_visitor_cannot_offer_video_over_the_socket(client, world):
    widget = text_chat(client, world)
    guest = Peer(visitor_of(widget))
    answer = guest.send({"type": "call.offer_video", "conversation_id": widget.conversation_id})[0]
    assert answer["type"] == "error" and answer["status"] == 403
    guest.close()


@pytest.mark.parametrize("action,reason,kwargs", [
    ("end", "conversation_ended", {}), ("hand-back", "handed_back", {}), ("transfer", "transferred", {"agent_id": 1}),
])
def test_the_chat_leaving_its_agent_ends_its_call(client, world, action, reason, kwargs):
    widget, call = video_call(client, world)
    call_id = call.id
    body = {"agent_id": world["agent_ids"][1]} if kwargs else {}
    response = client.post(f"/api/conversations/{widget.conversation_id}/{action}", json=body,
                           headers=world["headers"][0])
    assert response.status_code == 200, response.get_json()
    ended = call_of(widget.conversation_id)
    assert ended.status.value == "ended" and ended.end_reason == reason and ended.ended_by.value == "system"
    if action == "transfer":  # the new agent has a text chat, and is not in the old call
        assert conversation(widget.conversation_id).channel == "text"
        newcomer = Peer(user(world["agent_ids"][1]))
        assert signal(newcomer, "offer", call_id, sdp=SDP)[0]["code"] == "not_in_call"
        newcomer.close()


def test_an_agent_going_offline_requeues_the_video_chat_as_video(client, world):
    widget, call = video_call(client, world)
    response = client.put("/api/availability", json={"availability": "offline"}, headers=world["headers"][0])
    assert response.status_code == 200, response.get_json()
    assert call_of(widget.conversation_id).end_reason == "requeued"
    request = client.get(widget.url("/request"), headers=widget.headers()).get_json()
    assert request["kind"] == "video" and request["status"] == "pending"
    accept(client, world, request["request_id"], who=1)
    assert call_of(widget.conversation_id).status.value == "ringing"  # a new call with the new agent


def _age(call_id, seconds, visitor_seen=True, agent_seen=True):
    call = db.session.get(Call, call_id)
    past = utcnow() - timedelta(seconds=seconds)
    call.created_at = past
    if visitor_seen:
        call.visitor_seen_at = past
    if agent_seen:
        user(call.agent_id).presence_seen_at = past
    db.session.commit()


def test_a_visitor_gone_past_the_grace_period_ends_the_call(client, world):
    widget, call = video_call(client, world)
    _age(call.id, 300, agent_seen=False)
    user(call.agent_id).presence_seen_at = utcnow()
    db.session.commit()
    assert sweep_abandoned_calls() == [call.id]
    assert sweep_abandoned_calls() == []  # idempotent
    ended = call_of(widget.conversation_id)
    assert ended.ended_by.value == "visitor" and ended.end_reason == "connection_lost"
    assert conversation(widget.conversation_id).status.value == "active"


def test_an_agent_gone_past_the_grace_period_ends_the_call(client, world):
    widget, call = video_call(client, world)
    _age(call.id, 300, visitor_seen=False)
    assert sweep_abandoned_calls() == [call.id]
    assert call_of(widget.conversation_id).ended_by.value == "agent"


def test_sides_with_live_sockets_keep_the_call(client, world):
    widget, call = video_call(client, world)
    call_id = call.id
    agent, guest = Peer(user(world["agent_ids"][0])), Peer(visitor_of(widget))
    signal(agent, "offer", call_id, sdp=SDP), signal(guest, "answer", call_id, sdp=SDP)
    _age(call_id, 300)
    agent.session.heartbeat(), guest.session.heartbeat()  # what the open sockets do every refresh
    heartbeat_batch().flush()  # as the next beat of the process does once HEARTBEAT_FLUSH_S has passed
    assert sweep_abandoned_calls() == []
    assert call_of(widget.conversation_id).status.value == "active"
    agent.close(), guest.close()


@pytest.mark.parametrize("app_config", [{"CALL_RING_TIMEOUT_S": 20}])
def test_a_call_ringing_past_the_ring_timeout_ends_unanswered(client, world, app_config):
    widget = text_chat(client, world)
    offered = client.post(f"/api/conversations/{widget.conversation_id}/calls", headers=world["headers"][0])
    call_id = offered.get_json()["id"]
    assert sweep_abandoned_calls() == []
    _age(call_id, 30)  # past the ring timeout, within the grace period: both sides count as present
    assert sweep_abandoned_calls() == [call_id]
    ended = call_of(widget.conversation_id)
    assert (ended.ended_by.value, ended.end_reason) == ("system", "no_answer")
    assert conversation(widget.conversation_id).weight == 1
    assert widget.messages().get_json()["items"][-1]["text"] == "The video call was not answered."


def test_call_history_for_both_sides_and_admins(client, world):
    widget, _ = video_call(client, world)
    client.post(widget.url("/call/hangup"), headers=widget.headers())
    assert client.post(f"/api/conversations/{widget.conversation_id}/calls",
                       headers=world["headers"][0]).status_code == 201
    for headers in (world["headers"][0], world["headers"][1], world["admin_headers"]):
        page = client.get(f"/api/conversations/{widget.conversation_id}/calls", headers=headers).get_json()
        assert [c["status"] for c in page["items"]] == ["ringing", "ended"]
    mine = client.get(widget.url("/calls"), headers=widget.headers()).get_json()
    assert [c["initiated_by"] for c in mine["items"]] == ["agent", "visitor"]
    first = client.get(widget.url("/calls"), query_string={"limit": 1}, headers=widget.headers()).get_json()
    older = client.get(widget.url("/calls"), query_string={"limit": 1, "before": first["next_before"]},
                       headers=widget.headers()).get_json()
    assert [c["id"] for c in first["items"] + older["items"]] == [c["id"] for c in mine["items"]]
    assert older["next_before"] is None


def test_call_history_is_out_of_reach_for_strangers(client, world):
    widget, _ = video_call(client, world)
    assert client.get(f"/api/conversations/{widget.conversation_id}/calls",
                      headers=world["stranger_headers"]).status_code == 404
    other = visitor(client, world)
    response = client.get(f"/api/widget/{other.key}/conversations/{widget.conversation_id}/calls",
                          headers=other.headers())
    assert response.status_code == 404


AGENT_CALL_ROUTES = [("get", "s"), ("post", "s"), ("post", "/hangup"), ("post", "/fallback-to-text"),
                     ("get", "/ice-servers")]


def test_admin_of_another_workspace_gets_404_on_every_call_route(client, world, auth):
    widget, _ = video_call(client, world)
    _, other_admin = make_workspace("Other")
    headers = auth.headers(other_admin)
    for method, suffix in AGENT_CALL_ROUTES:
        response = getattr(client, method)(call_url(widget.conversation_id, suffix), headers=headers)
        assert response.status_code == 404 and response.get_json()["code"] == "not_found", (method, suffix)
    assert call_of(widget.conversation_id).status.value == "ringing"  # nothing changed
    assert client.get(call_url(widget.conversation_id, "s"), headers=world["admin_headers"]).status_code == 200


@pytest.mark.parametrize("method,suffix", AGENT_CALL_ROUTES)
def test_call_routes_need_a_login(client, world, method, suffix):
    assert getattr(client, method)(f"/api/conversations/1/call{suffix}").status_code == 401


@pytest.mark.parametrize("suffix", ["/accept", "/decline", "/hangup", "/fallback-to-text"])
def test_widget_call_actions_without_a_call_are_409_no_live_call(client, world, suffix):
    widget = text_chat(client, world)
    response = client.post(widget.url("/call" + suffix), headers=widget.headers())
    assert response.status_code == 409 and response.get_json()["code"] == "no_live_call"


@pytest.mark.parametrize("app_config", [{"TURN_URLS": ["turn:127.0.0.1:3478?transport=udp"],
                                         "TURN_SECRET": "s3cret", "TURN_TTL_S": 600,
                                         "STUN_URLS": ["stun:127.0.0.1:3478"]}])
def test_both_participants_get_ice_servers_with_expiring_turn_credentials(client, world, app_config):
    widget, call = video_call(client, world)
    for response in (client.get(call_url(widget.conversation_id, "/ice-servers"), headers=world["headers"][0]),
                     client.get(widget.url("/call/ice-servers"), headers=widget.headers())):
        assert response.status_code == 200
        body = response.get_json()
        stun, turn = body["ice_servers"]
        assert stun == {"urls": ["stun:127.0.0.1:3478"]} and turn["urls"] == ["turn:127.0.0.1:3478?transport=udp"]
        expiry, label = turn["username"].split(":")
        assert label.startswith(f"call{call.id}-") and body["ttl_s"] == 600
        assert turn["credential"] == turn_password("s3cret", turn["username"])
        assert "s3cret" not in response.get_data(as_text=True)


def test_without_a_turn_secret_no_turn_server_is_offered(client, world):
    widget, _ = video_call(client, world)
    body = client.get(widget.url("/call/ice-servers"), headers=widget.headers()).get_json()
    assert body == {"ice_servers": [], "expires_at": None, "ttl_s": None}


def test_ice_servers_only_for_participants_of_a_live_call(client, world):
    widget, _ = video_call(client, world)
    url = call_url(widget.conversation_id, "/ice-servers")
    assert client.get(url, headers=world["headers"][1]).get_json()["code"] == "not_in_call"
    assert client.get(url, headers=world["admin_headers"]).get_json()["code"] == "not_in_call"
    assert client.get(url, headers=world["stranger_headers"]).status_code == 404
    other = visitor(client, world)
    assert client.get(f"/api/widget/{other.key}/conversations/{widget.conversation_id}/call/ice-servers",
                      headers=other.headers()).status_code == 404
    client.post(widget.url("/call/hangup"), headers=widget.headers())
    assert client.get(url, headers=world["headers"][0]).get_json()["code"] == "no_live_call"
