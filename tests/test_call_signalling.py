"""The signalling relay: only between the two participants, in order, only while the call is live, validated
and throttled per socket."""
import json

import pytest

from blueprints.socket_protocol import SIGNAL_BURST, CloseSocket
from tests.call_helpers import (  # noqa: F401 - world is a fixture
    CANDIDATE, SDP, Peer, call_of, signal, text_chat, user, video_call, visitor, visitor_of, world,
)


@pytest.fixture
def call(client, world):
    """A ringing video call with both participants' sockets open, and two onlookers following the chat."""
    widget, row = video_call(client, world)
    stream = f"conversation:{widget.conversation_id}"
    peers = {"agent": Peer(user(world["agent_ids"][0])), "visitor": Peer(visitor_of(widget)),
             "colleague": Peer(user(world["agent_ids"][1])), "admin": Peer(user(world["admin_id"]))}
    for onlooker in ("colleague", "admin"):
        assert peers[onlooker].send({"type": "subscribe", "stream": stream})[0]["type"] == "ack"
    yield {"id": row.id, "widget": widget, "stream": stream, **peers}
    for peer in peers.values():
        peer.close()


def relayed(peer, type_="call.candidate"):
    return peer.frames(type_)


def test_visitor_hears_its_own_stream_from_hello(call):
    hello = call["visitor"].session.hello()[0]
    assert f"visitor:{hello['id']}" in hello["streams"]


def test_signalling_reaches_only_the_other_participant_in_order(call):
    agent, guest = call["agent"], call["visitor"]
    assert signal(agent, "offer", call["id"], sdp=SDP)[0]["type"] == "ack"
    for n in range(5):
        candidate = {**CANDIDATE, "candidate": f"candidate:{n} 1 udp 2130706431 127.0.0.1 {50000 + n} typ host"}
        assert signal(agent, "candidate", call["id"], candidate=candidate)[0]["type"] == "ack"
    frames = guest.wait(lambda f: f["type"].startswith("call.") and f["type"] != "call.updated", count=6)
    assert [f["type"] for f in frames] == ["call.offer"] + ["call.candidate"] * 5
    assert [f["data"]["candidate"]["candidate"].split()[0] for f in frames[1:]] == [f"candidate:{n}" for n in range(5)]
    assert frames[0]["data"] == {"call_id": call["id"], "conversation_id": call["widget"].conversation_id,
                                 "sender": "agent", "sdp": SDP}
    assert set(guest.streams_of("call.offer")) == {frames[0]["stream"]} and frames[0]["stream"].startswith("visitor:")
    # The answer goes back to the agent's own stream only.
    signal(guest, "answer", call["id"], sdp=SDP)
    answer = agent.wait(lambda f: f["type"] == "call.answer")[0]
    assert answer["stream"] == f"user:{user(call_of(call['widget'].conversation_id).agent_id).id}"
    assert answer["data"]["sender"] == "visitor"
    # Those following the conversation saw the call change, never its SDP or candidates.
    call["admin"].wait(lambda f: f["type"] == "call.updated" and f["data"]["call"]["status"] == "active")
    for onlooker in ("admin", "colleague"):
        assert [f for f in call[onlooker].frames() if f["type"] in ("call.offer", "call.answer", "call.candidate")] == []
    assert relayed(agent) == [] and relayed(guest, "call.answer") == []  # nobody hears their own signalling


def test_end_of_candidates_is_relayed(call):
    assert signal(call["agent"], "candidate", call["id"], candidate={"candidate": "", "sdpMid": "0"})[0]["type"] == "ack"
    assert call["visitor"].wait(lambda f: f["type"] == "call.candidate")[0]["data"]["candidate"]["candidate"] == ""


@pytest.mark.parametrize("who,status,code", [("colleague", 409, "not_in_call"), ("admin", 409, "not_in_call")])
def test_signalling_from_someone_not_in_the_call_is_refused_and_not_relayed(call, who, status, code):
    error = signal(call[who], "offer", call["id"], sdp=SDP, ref="x")[0]
    assert (error["type"], error["status"], error["code"], error["ref"]) == ("error", status, code, "x")
    assert relayed(call["visitor"], "call.offer") == [] and relayed(call["agent"], "call.offer") == []


def test_signalling_for_a_conversation_out_of_reach_is_404(call, client, world):
    stranger = Peer(user(world["stranger_id"]))
    other_widget = visitor(client, world)
    other = Peer(visitor_of(other_widget))
    for peer in (stranger, other):
        error = signal(peer, "candidate", call["id"], candidate=CANDIDATE)[0]
        assert error["status"] == 404 and error["code"] == "not_found"
    assert signal(other, "offer", 2**31 - 1, sdp=SDP)[0]["status"] == 404  # no such call
    assert relayed(call["visitor"]) == [] and relayed(call["agent"]) == []
    stranger.close(), other.close()


def test_a_candidate_is_one_read_of_the_call_and_an_agent_off_the_interface_cannot_send_one(call, world):
    # A browser trickles a dozen candidates at once and a socket runs them one after the other: each is the
    # principal's read and one locking read of the call, not a read of the call, its chat, the membership
    # and a lock. Whoever would be refused the long way is still refused.
    from sqlalchemy import delete

    from extensions import db
    from models import interface_agents
    from tests.test_hot_path import Statements

    agent, guest = call["agent"], call["visitor"]
    assert signal(agent, "offer", call["id"], sdp=SDP)[0]["type"] == "ack"
    for peer in (agent, guest):
        with Statements(db.engine) as seen:
            assert signal(peer, "candidate", call["id"], candidate=CANDIDATE)[0]["type"] == "ack"
        assert seen.statements == ["SELECT", "SELECT"], seen.texts
        assert "FOR SHARE" in seen.texts[1] or db.engine.dialect.name == "sqlite"
    assert len(relayed(guest)) == 1 and len(relayed(agent)) == 1
    # Taken off the interface in the middle of the call: the chat is out of their reach.
    db.session.execute(delete(interface_agents).where(interface_agents.c.user_id == world["agent_ids"][0]))
    db.session.commit()
    error = signal(agent, "candidate", call["id"], candidate=CANDIDATE)[0]
    assert (error["status"], error["code"]) == (404, "not_found")
    assert len(relayed(guest)) == 1


def test_signalling_for_an_ended_call_is_refused(call):
    assert signal(call["visitor"], "hangup", call["id"])[0]["data"]["call"]["ended_by"] == "visitor"
    call["agent"].wait(lambda f: f["type"] == "call.updated" and f["data"]["call"]["status"] == "ended")
    for kind, fields in (("offer", {"sdp": SDP}), ("answer", {"sdp": SDP}), ("candidate", {"candidate": CANDIDATE}),
                         ("hangup", {}), ("fallback_to_text", {})):
        error = signal(call["agent"], kind, call["id"], **fields)[0]
        assert error["type"] == "error" and error["code"] == "call_ended", (kind, error)
    assert relayed(call["visitor"], "call.offer") == [] and relayed(call["visitor"]) == []


def test_unknown_call_frame_types_are_refused(call):
    error = call["agent"].send({"type": "call.renegotiate", "call_id": call["id"], "sdp": SDP})[0]
    assert error["code"] == "unknown_type"


def test_an_sdp_over_the_size_limit_is_refused_and_the_socket_stays(call):
    big = SDP + "a=x-pad:" + "p" * (33 * 1024) + "\r\n"
    error = signal(call["agent"], "offer", call["id"], sdp=big)[0]
    assert error["status"] == 422 and "sdp" in error["errors"]
    assert call["agent"].send({"type": "ping"})[0]["type"] == "pong"
    assert relayed(call["visitor"], "call.offer") == []


def test_a_frame_over_the_socket_limit_closes_that_socket_only(call):
    with pytest.raises(CloseSocket) as closed:
        call["agent"].session.handle_text(json.dumps({"type": "call.offer", "call_id": call["id"],
                                                      "sdp": SDP + "a=x:" + "p" * (70 * 1024)}))
    assert closed.value.code == 1009
    assert call["visitor"].send({"type": "ping"})[0]["type"] == "pong"


@pytest.mark.parametrize("sdp", [
    "hello", "", "v=1\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n",                      # no m= line
    "v=0\r\ns=-\r\nm=audio 9 RTP/AVP 0\r\n",                                  # no o= line
    SDP + "not a line\r\n", SDP + "a=x\x01y\r\n", SDP.replace("\r\n", "\r"),
])
def test_malformed_sdp_is_refused(call, sdp):
    error = signal(call["agent"], "offer", call["id"], sdp=sdp)[0]
    assert error["status"] == 422 and "sdp" in error["errors"]
    assert relayed(call["visitor"], "call.offer") == []


@pytest.mark.parametrize("candidate", [
    {"candidate": "foundation 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0"},
    {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host\r\na=evil", "sdpMid": "0"},
    {"candidate": "candidate:" + "1" * 600, "sdpMid": "0"},
    {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"},               # neither sdpMid nor sdpMLineIndex
    {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 999},
    {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "extra": 1},
    {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0\r\na=evil"},
    {"candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "sdpMid": "0", "usernameFragment": "a b"},
    "candidate:1 1 udp 1 127.0.0.1 9 typ host",
])
def test_malformed_candidates_are_refused(call, candidate):
    error = signal(call["agent"], "candidate", call["id"], candidate=candidate)[0]
    assert error["status"] == 422 and "candidate" in error["errors"]
    assert relayed(call["visitor"]) == []


def test_client_cannot_choose_the_sender(call):
    error = signal(call["agent"], "offer", call["id"], sdp=SDP, sender="visitor")[0]
    assert error["status"] == 422 and set(error["errors"]) == {"sender"}


def test_a_candidate_flood_is_throttled_for_that_socket_only(call, client, world):
    other_widget, other_row = video_call(client, world, who=1)
    other_id = other_row.id
    other_agent, other_guest = Peer(user(world["agent_ids"][1])), Peer(visitor_of(other_widget))
    answers = [signal(call["agent"], "candidate", call["id"], candidate=CANDIDATE)[0] for _ in range(120)]
    acked = [a for a in answers if a["type"] == "ack"]
    refused = [a for a in answers if a["type"] == "error"]
    assert 0 < len(acked) < 120 and {a["code"] for a in refused} == {"rate_limited"}
    assert len(acked) <= SIGNAL_BURST + 10  # the burst and what refilled meanwhile
    call["visitor"].wait(lambda f: f["type"] == "call.candidate", count=len(acked))
    assert len(relayed(call["visitor"])) == len(acked)  # nothing refused was relayed
    # The other side of this call, and another call, are not throttled.
    assert signal(call["visitor"], "candidate", call["id"], candidate=CANDIDATE)[0]["type"] == "ack"
    assert signal(other_agent, "candidate", other_id, candidate=CANDIDATE)[0]["type"] == "ack"
    other_guest.wait(lambda f: f["type"] == "call.candidate")
    other_agent.close(), other_guest.close()


def test_a_text_chat_has_no_call_to_signal(call, client, world):
    widget = text_chat(client, world, who=1)
    error = call["colleague"].send({"type": "call.hangup", "call_id": call["id"]})[0]
    assert error["code"] == "not_in_call"
    assert call_of(widget.conversation_id) is None
