"""End to end: two real WebRTC peers (aiortc) as visitor and agent, negotiating only through our WebSocket."""
import asyncio

import pytest

from extensions import db
from models import Call
from tests.call_helpers import world  # noqa: F401 - a fixture
from tests.webrtc_helpers import negotiate, open_sockets, rtc_servers

pytest.importorskip("aiortc", reason="aiortc (requirements-dev.txt) runs the WebRTC peers")


@pytest.fixture
def loopback_only(monkeypatch):
    """Host candidates on 127.0.0.1 only: the peers never send to another address."""
    import aioice.ice

    monkeypatch.setattr(aioice.ice, "get_host_addresses", lambda use_ipv4, use_ipv6: ["127.0.0.1"])


def test_visitor_and_agent_browsers_connect_through_our_signalling(client, world, server, loopback_only):
    agent, guest, widget, call_id = open_sockets(client, world, server)
    try:
        agent_ice = client.get(f"/api/conversations/{widget.conversation_id}/call/ice-servers",
                               headers=world["headers"][0]).get_json()
        guest_ice = client.get(widget.url("/call/ice-servers"), headers=widget.headers()).get_json()
        assert agent_ice["ice_servers"] == [] and guest_ice["ice_servers"] == []  # none configured: host only
        seen = asyncio.run(negotiate(agent, guest, call_id, rtc_servers(agent_ice), rtc_servers(guest_ice)))
        assert seen["states"] == ("connected", "connected")
        assert seen["trickled"] >= 1 and seen["pairs"] == [("host", "host"), ("host", "host")]
        active = agent.take(lambda f: f["type"] == "call.updated" and f["data"]["call"]["status"] == "active")
        assert active["data"]["call"]["answered_at"] is not None

        hung = agent.command({"type": "call.hangup", "call_id": call_id})
        assert hung["type"] == "ack" and hung["data"]["call"]["status"] == "ended"
        ended = guest.take(lambda f: f["type"] == "call.updated" and f["data"]["call"]["status"] == "ended")
        assert ended["data"]["call"]["ended_by"] == "agent"
        late = agent.command({"type": "call.candidate", "call_id": call_id,
                              "candidate": {"candidate": "", "sdpMid": "0"}})
        assert late["type"] == "error" and late["code"] == "call_ended"
    finally:
        agent.close(), guest.close()

    db.session.expire_all()
    call = db.session.get(Call, call_id)
    assert (call.status.value, call.initiated_by.value, call.ended_by.value, call.end_reason) == \
        ("ended", "visitor", "agent", "hangup")
    assert call.created_at <= call.answered_at <= call.ended_at
    assert call.duration_s == int((call.ended_at - call.answered_at).total_seconds())
    history = client.get(widget.url("/calls"), headers=widget.headers()).get_json()["items"]
    assert [c["id"] for c in history] == [call_id] and history[0]["status"] == "ended"
    events = [m["data"]["event"] for m in widget.messages().get_json()["items"] if (m["data"] or {}).get("call_id")]
    assert events == ["call_started", "call_ended"]
    # the agent saw the visitor's answer on their own stream only
    assert all(f["stream"].startswith("user:") for f in agent.frames if f["type"] == "call.answer")
    assert not [f for f in guest.frames if f["type"] == "call.answer"]
