"""Shared set-up for the call tests: a world with two agents, video requests, socket peers."""
import json
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from extensions import db
from models import Call, Conversation, Interface, User
from models.conversation import Visitor
from blueprints.socket_protocol import SocketSession
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.frame_contract import check_session_frame
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"
WAIT_S = 10
SDP = ("v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
       "m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n")
CANDIDATE = {"candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host", "sdpMid": "0",
             "sdpMLineIndex": 0}


@pytest.fixture
def world(app, client, auth):
    workspace, admin = make_workspace()
    agents = [make_user(workspace, max_chats=2), make_user(workspace, max_chats=2)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents)
    make_component(interface, "message", {"text": "Hello!", "buttons": [{"label": "Go on"}]})
    make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
    go_online(*agents)
    other_interface = make_interface(workspace)
    stranger = make_user(workspace, interfaces=[other_interface])
    return {"workspace_id": workspace.id, "admin_id": admin.id, "agent_ids": [a.id for a in agents],
            "interface_key": interface.public_key, "interface_id": interface.id, "stranger_id": stranger.id,
            "headers": [auth.headers(a) for a in agents], "admin_headers": auth.headers(admin),
            "stranger_headers": auth.headers(stranger)}


def visitor(client, world):
    widget = Widget(client, SimpleNamespace(public_key=world["interface_key"]), origin=ORIGIN)
    widget.open()
    return widget


def ask(client, world, button="video_chat"):
    """A new visitor asks for a video (or live) chat; returns the widget and the request id."""
    widget = visitor(client, world)
    client.post(widget.url("/actions"), json={"type": "button", "button_id": "button_0"}, headers=widget.headers())
    response = client.post(widget.url("/actions"), json={"type": "button", "button_id": button},
                           headers=widget.headers())
    assert response.status_code == 200, response.get_json()
    return widget, client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]


def accept(client, world, request_id, who=0):
    response = client.post(f"/api/requests/{request_id}/accept", headers=world["headers"][who])
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def video_call(client, world, who=0):
    """A visitor asked for video and an agent accepted: the widget and the ringing call."""
    widget, request_id = ask(client, world)
    accept(client, world, request_id, who)
    return widget, call_of(widget.conversation_id)


def text_chat(client, world, who=0):
    widget, request_id = ask(client, world, "live_chat")
    accept(client, world, request_id, who)
    return widget


def set_video_weight(world, weight):
    db.session.get(Interface, world["interface_id"]).video_weight = weight
    db.session.commit()


def call_of(conversation_id):
    """The newest call of the conversation, read afresh."""
    db.session.expire_all()
    return db.session.scalar(select(Call).where(Call.conversation_id == conversation_id).order_by(Call.id.desc()))


def conversation(conversation_id):
    db.session.expire_all()
    return db.session.get(Conversation, conversation_id)


def visitor_of(widget):
    return db.session.get(Visitor, conversation(widget.conversation_id).visitor_id)


def user(user_id):
    return db.session.get(User, user_id)


class Peer:
    """One socket, driven through SocketSession directly; broker pushes are collected."""

    def __init__(self, principal):
        self.pushed = []
        self.session = SocketSession(principal, push=self._push)
        answer = self.send({"type": "resume", "positions": {}})
        assert answer[0]["type"] == "ack", answer

    def _push(self, stream, frame):
        # Broker threads call this: a frame outside the contract is recorded (the test fails at its end).
        check_session_frame(frame, f"frame pushed to a Peer on {stream}", raise_=False)
        self.pushed.append((stream, frame))

    def send(self, frame):
        answer = self.session.handle_text(json.dumps(frame))
        for out in answer:
            check_session_frame(out, f"frame answering a Peer's {frame.get('type')!r}")
        return answer

    def frames(self, type_=None):
        return [frame for _, frame in list(self.pushed) if type_ is None or frame.get("type") == type_]

    def streams_of(self, type_):
        return [stream for stream, frame in list(self.pushed) if frame.get("type") == type_]

    def wait(self, predicate, count=1):
        """The pushed frames matching predicate, once there are count of them (bounded wait)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            matching = [frame for frame in self.frames() if predicate(frame)]
            if len(matching) >= count:
                return matching
            time.sleep(0.02)
        raise AssertionError(f"{count} matching frames did not come in {WAIT_S} s: {self.frames()[-5:]}")

    def close(self):
        self.session.unsubscribe_all()


def signal(peer, kind, call_id, ref=None, **fields):
    frame = {"type": f"call.{kind}", "call_id": call_id, **fields}
    if ref:
        frame["ref"] = ref
    return peer.send(frame)
