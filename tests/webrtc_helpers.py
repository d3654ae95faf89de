"""Two real WebRTC peers (aiortc) that negotiate only through our WebSocket.

The visitor asks for video through the widget API, the agent accepts over
their socket, and the offer, the answer and the agent's ICE candidates (sent
one by one, trickle-style) travel as call.* frames. Every wait is bounded.
"""
import asyncio
import threading
import time

from tests.call_helpers import ORIGIN, ask
from tests.live import Client

WAIT_S = 30


class SignalSocket:
    """A real socket client whose frames a reader thread collects; take() returns them in order."""

    def __init__(self, base_url, ticket, origin=None):
        # The handshake gets the usual bounded wait (a loaded machine can take over a second to answer it); the
        # reader then polls every second so that stop() is seen promptly.
        self.client = Client(base_url, ticket, origin=origin)
        self.client.ws.settimeout(1)
        self.frames, self.taken = [], set()
        self.changed = threading.Condition()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        import websocket

        while not self.stopped.is_set():
            try:
                frame = self.client.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketException, OSError, ValueError):
                return
            with self.changed:
                self.frames.append(frame)
                self.changed.notify_all()

    def send(self, frame):
        self.client.send(frame)

    def take(self, predicate, timeout=WAIT_S):
        """The first frame not taken yet that matches predicate, waiting at most timeout seconds."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for index, frame in enumerate(self.frames):
                    if index not in self.taken and predicate(frame):
                        self.taken.add(index)
                        return frame
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching frame in {timeout} s; last: {self.frames[-3:]}")
                self.changed.wait(left)

    async def atake(self, predicate, timeout=WAIT_S):
        return await asyncio.to_thread(self.take, predicate, timeout)

    def command(self, frame, timeout=WAIT_S):
        """Send a command with a ref and return its ack (or error)."""
        ref = f"r{time.monotonic_ns()}"
        self.send({**frame, "ref": ref})
        return self.take(lambda f: f.get("ref") == ref and f["type"] in ("ack", "error"), timeout)

    def close(self):
        self.stopped.set()
        self.client.close()
        self.thread.join(5)


def is_type(type_):
    return lambda frame: frame.get("type") == type_


def split_candidates(sdp):
    """The SDP without its candidate lines, and those candidates as RTCIceCandidateInit dicts."""
    lines = sdp.splitlines()
    mids, index = {}, -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        elif line.startswith("a=mid:"):
            mids[index] = line[len("a=mid:"):]
    kept, candidates, index = [], [], -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mids.get(index), "sdpMLineIndex": index})
        elif line != "a=end-of-candidates":
            kept.append(line)
    return "\r\n".join(kept) + "\r\n", candidates


def rtc_servers(body):
    from aiortc import RTCIceServer

    return [RTCIceServer(urls=server["urls"], username=server.get("username"), credential=server.get("credential"))
            for server in body["ice_servers"]]


def open_sockets(client, world, server):
    """The visitor asks for video; the agent accepts over their socket. Returns the sockets, widget and call id."""
    widget, request_id = ask(client, world)
    agent_ticket = client.post("/api/sockets/ticket", headers=world["headers"][0]).get_json()["ticket"]
    agent = SignalSocket(server.url, agent_ticket)
    guest = SignalSocket(server.url, widget.ticket(), origin=ORIGIN)
    for sock in (agent, guest):
        sock.take(is_type("hello"))
        assert sock.command({"type": "resume", "positions": {}})["type"] == "ack"
    accepted = agent.command({"type": "request.accept", "request_id": request_id})
    assert accepted["type"] == "ack" and accepted["data"]["conversation"]["channel"] == "video"
    ringing = agent.take(is_type("call.updated"))["data"]["call"]
    assert ringing["status"] == "ringing"
    assert guest.take(is_type("call.updated"))["data"]["call"]["id"] == ringing["id"]
    return agent, guest, widget, ringing["id"]


async def negotiate(agent, guest, call_id, agent_servers, guest_servers, relay_only=False):
    """Connect two aiortc peers through our signalling; returns what each side saw."""
    from aiortc import AudioStreamTrack, RTCConfiguration, RTCIceCandidate, RTCPeerConnection, RTCSessionDescription
    from aiortc.rtcconfiguration import RTCIceTransportPolicy
    from aiortc.sdp import candidate_from_sdp

    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    agent_pc = RTCPeerConnection(RTCConfiguration(iceServers=agent_servers, iceTransportPolicy=policy))
    guest_pc = RTCPeerConnection(RTCConfiguration(iceServers=guest_servers, iceTransportPolicy=policy))
    pong, heard = asyncio.Event(), asyncio.Event()

    @guest_pc.on("datachannel")
    def _on_channel(channel):
        channel.on("message", lambda message: channel.send(f"pong:{message}"))

    @guest_pc.on("track")
    def _on_track(track):
        async def listen():
            await track.recv()  # one decoded audio frame came through
            heard.set()

        asyncio.ensure_future(listen())

    channel = agent_pc.createDataChannel("chat")
    channel.on("open", lambda: channel.send("ping"))
    channel.on("message", lambda message: pong.set() if message == "pong:ping" else None)
    agent_pc.addTrack(AudioStreamTrack())

    async def agent_side():
        await agent_pc.setLocalDescription(await agent_pc.createOffer())
        sdp, candidates = split_candidates(agent_pc.localDescription.sdp)
        assert (await asyncio.to_thread(agent.command, {"type": "call.offer", "call_id": call_id, "sdp": sdp}))[
            "type"] == "ack"
        for candidate in [*candidates, {"candidate": "", "sdpMid": candidates[0]["sdpMid"]}]:
            sent = await asyncio.to_thread(agent.command, {"type": "call.candidate", "call_id": call_id,
                                                           "candidate": candidate})
            assert sent["type"] == "ack", sent
        answer = await agent.atake(is_type("call.answer"))
        await agent_pc.setRemoteDescription(RTCSessionDescription(sdp=answer["data"]["sdp"], type="answer"))
        return len(candidates)

    async def guest_side():
        offer = await guest.atake(is_type("call.offer"))
        await guest_pc.setRemoteDescription(RTCSessionDescription(sdp=offer["data"]["sdp"], type="offer"))
        await guest_pc.setLocalDescription(await guest_pc.createAnswer())
        answered = await asyncio.to_thread(guest.command, {"type": "call.answer", "call_id": call_id,
                                                           "sdp": guest_pc.localDescription.sdp})
        assert answered["type"] == "ack" and answered["data"]["status"] == "active", answered
        while True:
            data = (await guest.atake(is_type("call.candidate")))["data"]["candidate"]
            if not data["candidate"]:
                await guest_pc.addIceCandidate(None)
                return
            candidate = candidate_from_sdp(data["candidate"].split(":", 1)[1])
            candidate.sdpMid, candidate.sdpMLineIndex = data["sdpMid"], data["sdpMLineIndex"]
            assert isinstance(candidate, RTCIceCandidate)
            await guest_pc.addIceCandidate(candidate)

    try:
        trickled, _ = await asyncio.wait_for(asyncio.gather(agent_side(), guest_side()), WAIT_S)
        await asyncio.wait_for(asyncio.gather(pong.wait(), heard.wait()), WAIT_S)
        return {"trickled": trickled, "states": (agent_pc.connectionState, guest_pc.connectionState),
                "pairs": [_selected_pair(pc) for pc in (agent_pc, guest_pc)],
                "local_sdp": [agent_pc.localDescription.sdp, guest_pc.localDescription.sdp]}
    finally:
        await agent_pc.close()
        await guest_pc.close()


def _selected_pair(pc):
    """(local type, remote type) of the candidate pair ICE nominated."""
    connection = pc.sctp.transport.transport._connection
    pair = connection._nominated.get(1)
    return (pair.local_candidate.type, pair.remote_candidate.type) if pair else None
