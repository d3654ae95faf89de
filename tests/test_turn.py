"""A real TURN server (coturn, use-auth-secret) on loopback: relay-only calls with the credentials we issue,
and expired credentials refused."""
import asyncio
import socket
import time

import pytest

from extensions import db
from models import Call
from services.ice import turn_credentials
from tests.call_helpers import world  # noqa: F401 - a fixture
from tests.turn_helpers import TURNSERVER, turnserver
from tests.webrtc_helpers import negotiate, open_sockets, rtc_servers

pytestmark = pytest.mark.skipif(TURNSERVER is None, reason="coturn is not installed: no turnserver on PATH "
                                "(apt-get install coturn; .ci/run installs it)")
pytest.importorskip("aiortc", reason="aiortc (requirements-dev.txt) runs the WebRTC peers")

def _transact(sock, port, request, tries=3):
    """Send one STUN/TURN request over UDP and parse its answer (a few retries: UDP may drop)."""
    from aioice import stun

    for _ in range(tries):
        sock.sendto(bytes(request), ("127.0.0.1", port))
        try:
            return stun.parse_message(sock.recv(4096))
        except (TimeoutError, socket.timeout):
            continue
    raise AssertionError(f"no answer from 127.0.0.1:{port}")


def _udp():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(1)
    return sock


def _request(method, **attributes):
    from aioice import stun

    request = stun.Message(message_method=method, message_class=stun.Class.REQUEST)
    request.attributes.update(attributes)
    return request


def allocate(port, username, password):
    """Try a TURN allocation with these credentials; "allocated" (then released), or the error code."""
    from aioice import stun
    from aioice.turn import UDP_TRANSPORT, make_integrity_key

    with _udp() as sock:  # one 5-tuple: the nonce belongs to it
        udp = {"REQUESTED-TRANSPORT": UDP_TRANSPORT}
        challenge = _transact(sock, port, _request(stun.Method.ALLOCATE, **udp))
        assert challenge.error_code == 401 and "NONCE" in challenge.attributes
        auth = {"USERNAME": username, "REALM": challenge.attributes["REALM"], "NONCE": challenge.attributes["NONCE"]}
        key = make_integrity_key(username, auth["REALM"], password)
        request = _request(stun.Method.ALLOCATE, **udp, **auth)
        request.add_message_integrity(key)
        answer = _transact(sock, port, request)
        if answer.message_class != stun.Class.RESPONSE:
            return answer.error_code
        release = _request(stun.Method.REFRESH, LIFETIME=0, **auth)
        release.add_message_integrity(key)
        _transact(sock, port, release)
        return "allocated"


@pytest.fixture(scope="module")
def turn(tmp_path_factory):
    """coturn on 127.0.0.1 with a random shared secret, no TLS, loopback peers allowed; stopped afterwards."""
    with turnserver(tmp_path_factory.mktemp("turn")) as running:
        yield running


@pytest.fixture
def app_config(turn):
    return {"TURN_URLS": [turn.url], "TURN_SECRET": turn.secret, "TURN_TTL_S": 300, "STUN_URLS": []}


def test_a_relay_only_call_connects_through_turn_with_the_credentials_we_issued(client, world, server, turn):
    agent, guest, widget, call_id = open_sockets(client, world, server)
    try:
        agent_ice = client.get(f"/api/conversations/{widget.conversation_id}/call/ice-servers",
                               headers=world["headers"][0]).get_json()
        guest_ice = client.get(widget.url("/call/ice-servers"), headers=widget.headers()).get_json()
        usernames = [body["ice_servers"][0]["username"] for body in (agent_ice, guest_ice)]
        assert usernames[0] != usernames[1] and all(body["ttl_s"] == 300 for body in (agent_ice, guest_ice))
        seen = asyncio.run(negotiate(agent, guest, call_id, rtc_servers(agent_ice), rtc_servers(guest_ice),
                                     relay_only=True))
        assert seen["states"] == ("connected", "connected")
        assert seen["pairs"] == [("relay", "relay"), ("relay", "relay")]
        for sdp in seen["local_sdp"]:
            types = [line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if line.startswith("a=candidate:")]
            assert types and set(types) == {"relay"}
        assert agent.command({"type": "call.hangup", "call_id": call_id})["type"] == "ack"
    finally:
        agent.close(), guest.close()
    log = turn.log.read_text()
    for username in usernames:  # coturn allocated a relay for each participant's issued username
        assert f"user <{username}>: incoming packet ALLOCATE processed, success" in log
    db.session.expire_all()
    call = db.session.get(Call, call_id)
    assert call.status.value == "ended" and call.ended_by.value == "agent" and call.answered_at is not None


def test_expired_or_forged_turn_credentials_are_refused(turn):
    now = time.time()
    fresh = turn_credentials(turn.secret, "call1-visitor1", 300, now)
    expired = turn_credentials(turn.secret, "call1-visitor1", 60, now - 3600)
    forged = turn_credentials("not-the-secret", "call1-visitor1", 300, now)
    assert allocate(turn.port, fresh[0], fresh[1]) == "allocated"
    assert allocate(turn.port, expired[0], expired[1]) == 401
    assert allocate(turn.port, forged[0], forged[1]) == 401
    # The expired username is still correctly signed: the expiry alone makes coturn refuse it.
    assert expired[1] == turn_credentials(turn.secret, "call1-visitor1", 60, now - 3600)[1]
