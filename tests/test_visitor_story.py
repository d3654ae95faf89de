"""The visitor's whole story on the embedded default: widget, flow, requests, offline path."""
import pytest
from sqlalchemy import select

from extensions import db
from models import Conversation, LiveRequest, Notification, OfflineSubmission, OutboxMail
from services.live_requests import sweep_expired
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"


@pytest.fixture
def world(app, client):
    workspace, admin = make_workspace()
    agents = [make_user(workspace), make_user(workspace)]
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=agents, request_timeout_s=30)
    greet = make_component(interface, "message", {"text": "Hi <b>there</b>!"})
    menu = make_component(interface, "message", {"text": "What now?", "buttons": [
        {"label": "Talk to us", "target": {"type": "next"}}, {"label": "Goodbye"}]})
    live = make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}},
                                                   "chat_message": {"show_back": True}})
    after = make_component(interface, "message", {"text": "Anything else?", "buttons": [{"label": "No"}]})
    return {"workspace": workspace, "admin": admin, "agents": agents, "interface": interface,
            "greet": greet, "menu": menu, "live": live, "after": after}


def open_widget(client, world):
    widget = Widget(client, world["interface"], origin=ORIGIN)
    return widget, widget.open()


def act(widget, **action):
    return widget.client.post(widget.url("/actions"), json=action, headers=widget.headers())


def notifications(user, kind=None):
    stmt = select(Notification).where(Notification.user_id == user.id)
    if kind:
        stmt = stmt.where(Notification.type == kind)
    return db.session.scalars(stmt).all()


def bot_texts(messages):
    return [m["text"] for m in messages if m["sender_type"] == "bot"]


def test_opening_shows_the_first_components_and_raises_nothing(client, world):
    _, opened = open_widget(client, world)
    assert bot_texts(opened["messages"]) == ["Hi <b>there</b>!", "What now?"]  # stored verbatim
    assert [b["label"] for b in opened["messages"][-1]["data"]["buttons"]] == ["Talk to us", "Goodbye"]
    assert opened["conversation"]["component_id"] == world["menu"].id
    assert notifications(world["agents"][0]) == []  # opening is not an action


def test_first_action_raises_new_chat_initiated_once(client, world):
    widget, _ = open_widget(client, world)
    assert act(widget, type="button", button_id="button_0").status_code == 200
    assert act(widget, type="back").status_code == 200
    for agent in world["agents"]:
        assert [n.type.value for n in notifications(agent)] == ["new_chat_initiated"]


def test_a_visitor_message_is_a_first_action_too(client, world):
    widget, _ = open_widget(client, world)
    assert widget.send("hello?", "c1").status_code == 201
    assert len(notifications(world["agents"][0], "new_chat_initiated")) == 1


def test_walking_the_flow_with_buttons_skip_and_back(client, world):
    widget, _ = open_widget(client, world)
    moved = act(widget, type="button", button_id="button_0").get_json()
    assert moved["conversation"]["component_id"] == world["live"].id
    assert [m["sender_type"] for m in moved["messages"]] == ["visitor", "bot"]
    assert moved["messages"][0]["text"] == "Talk to us"
    buttons = [b["id"] for b in moved["messages"][-1]["data"]["buttons"]]
    assert buttons == ["live_chat", "video_chat", "skip", "back"]

    back = act(widget, type="button", button_id="back").get_json()
    assert back["conversation"]["component_id"] == world["menu"].id
    act(widget, type="button", button_id="button_0")
    skipped = act(widget, type="skip").get_json()
    assert skipped["conversation"]["component_id"] == world["after"].id
    assert bot_texts(skipped["messages"]) == ["Anything else?"]


def test_a_button_that_is_not_offered_is_409(client, world):
    widget, _ = open_widget(client, world)
    response = act(widget, type="button", button_id="live_chat")
    assert response.status_code == 409 and response.get_json()["code"] == "input_not_expected"


@pytest.mark.parametrize("body", [{}, {"type": "dance"}, {"type": "button"}, {"type": "skip", "extra": 1}])
def test_malformed_actions_are_422(client, world, body):
    widget, _ = open_widget(client, world)
    assert act(widget, **body).status_code == 422


@pytest.mark.parametrize("button,notification", [("live_chat", "live_chat_request"),
                                                 ("video_chat", "video_chat_request")])
def test_request_notifies_available_agents_with_room(client, world, button, notification):
    online, offline = world["agents"]
    go_online(online)
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    asked = act(widget, type="button", button_id=button).get_json()
    assert asked["conversation"]["status"] == "waiting"
    assert bot_texts(asked["messages"]) == ["Please wait a moment while we connect you with one of our agents."]
    assert len(notifications(online, notification)) == 1
    assert notifications(offline, notification) == []
    request = widget.client.get(widget.url("/request"), headers=widget.headers()).get_json()
    assert request["status"] == "pending" and request["queue_position"] == 1
    assert request["kind"] == ("text" if button == "live_chat" else "video")


def test_an_agent_at_max_chats_is_not_notified(client, world):
    full = world["agents"][0]
    full.max_chats = 1
    go_online(full)
    other_visitor = make_interface(world["workspace"])  # an unrelated interface
    busy = Conversation(workspace_id=world["workspace"].id, interface_id=world["interface"].id,
                        visitor_id=open_widget(client, world)[1]["visitor_id"], status="active", agent_id=full.id)
    db.session.execute(Conversation.__table__.update().where(Conversation.visitor_id == busy.visitor_id)
                       .values(status="active", agent_id=full.id))
    db.session.commit()
    assert other_visitor is not None
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    asked = act(widget, type="button", button_id="live_chat").get_json()
    assert notifications(full, "live_chat_request") == []
    assert asked["conversation"]["status"] == "waiting"  # online but busy: the request waits for room


def test_queue_positions_stay_current(client, world):
    go_online(*world["agents"])
    widgets = []
    for _ in range(3):
        widget, _ = open_widget(client, world)
        act(widget, type="button", button_id="button_0")
        act(widget, type="button", button_id="live_chat")
        widgets.append(widget)
    places = [w.client.get(w.url("/request"), headers=w.headers()).get_json()["queue_position"] for w in widgets]
    assert places == [1, 2, 3]
    cancelled = client.delete(widgets[0].url("/request"), headers=widgets[0].headers())
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    places = [w.client.get(w.url("/request"), headers=w.headers()).get_json()["queue_position"] for w in widgets[1:]]
    assert places == [1, 2]
    assert client.delete(widgets[0].url("/request"), headers=widgets[0].headers()).status_code == 409
    withdrawn = [n for a in world["agents"] for n in notifications(a, "live_chat_request")
                 if n.request_id == db.session.scalars(select(LiveRequest.id).order_by(LiveRequest.id)).first()]
    assert withdrawn and all(n.status.value == "withdrawn" for n in withdrawn)


def test_no_agent_online_shows_offline_message_and_form_at_once(client, world):
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    asked = act(widget, type="button", button_id="live_chat").get_json()
    assert asked["conversation"]["status"] == "bot"
    offline = asked["messages"][-1]
    assert offline["text"] == "Sorry, none of our agents is available right now."
    assert [f["key"] for f in offline["data"]["form"]["fields"]] == ["name", "email", "phone", "message"]
    assert offline["data"]["request_id"]
    assert all(n.type.value == "new_chat_initiated" for a in world["agents"] for n in notifications(a))


def test_no_agent_online_with_inactive_form_continues_with_the_next_component(client, world):
    world["live"].config = {**world["live"].config, "offline_form": {**world["live"].config["offline_form"],
                                                                     "active": False}}
    db.session.commit()
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    asked = act(widget, type="button", button_id="live_chat").get_json()
    assert bot_texts(asked["messages"])[-2:] == ["Sorry, none of our agents is available right now.",
                                                  "Anything else?"]
    assert asked["messages"][-2]["data"]["form"] is None
    assert asked["conversation"]["component_id"] == world["after"].id


def _expire_all():
    from datetime import timedelta

    from models.base import utcnow

    return sweep_expired(now=utcnow() + timedelta(hours=1))


def test_deadline_passing_shows_offline_message_then_form(client, world):
    go_online(*world["agents"])
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    act(widget, type="button", button_id="live_chat")
    assert sweep_expired() == 0  # not yet due
    assert _expire_all() == 1
    assert _expire_all() == 0  # idempotent
    history = widget.messages().get_json()["items"]
    assert history[-1]["text"] == "Sorry, none of our agents is available right now."
    assert history[-1]["data"]["form"] is not None
    conversation = client.get(widget.url(), headers=widget.headers()).get_json()
    assert conversation["status"] == "bot"
    request = client.get(widget.url("/request"), headers=widget.headers()).get_json()
    assert request["status"] == "expired" and request["queue_position"] is None
    assert all(n.status.value == "withdrawn" for a in world["agents"] for n in notifications(a, "live_chat_request"))


def test_deadline_passing_with_inactive_form_goes_on_with_the_next_component(client, world):
    world["live"].config = {**world["live"].config, "offline_form": {**world["live"].config["offline_form"],
                                                                     "active": False}}
    go_online(*world["agents"])
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    act(widget, type="button", button_id="live_chat")
    _expire_all()
    history = widget.messages().get_json()["items"]
    assert [m["text"] for m in history[-2:]] == ["Sorry, none of our agents is available right now.",
                                                 "Anything else?"]


def _offline_request(client, world):
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    asked = act(widget, type="button", button_id="live_chat").get_json()
    return widget, asked["messages"][-1]["data"]["request_id"]


def submit(widget, request_id, answers):
    return widget.client.post(widget.url("/offline-form"), json={"request_id": request_id, "answers": answers},
                              headers=widget.headers())


ANSWERS = {"name": "Ada <script>alert(1)</script>", "email": "ada@example.org", "message": "Call me back"}


def test_offline_form_is_stored_mailed_through_the_outbox_and_thanked(client, world, auth):
    widget, request_id = _offline_request(client, world)
    response = submit(widget, request_id, ANSWERS)
    assert response.status_code == 201
    stored = db.session.get(OfflineSubmission, response.get_json()["id"])
    assert stored.data["name"] == "Ada <script>alert(1)</script>"  # verbatim
    assert stored.recipients == [world["admin"].email]  # default: the workspace's admins
    mail = db.session.scalars(select(OutboxMail).where(OutboxMail.kind == "offline_form")).one()
    assert mail.recipients == [world["admin"].email] and mail.reply_to == "ada@example.org"
    assert "&lt;script&gt;" in mail.body_html and "<script>" not in mail.body_html
    assert widget.messages().get_json()["items"][-1]["text"].startswith("Thank you!")
    headers = auth.headers(world["admin"])
    listed = client.get(f"/api/interfaces/{world['interface'].id}/offline-submissions", headers=headers)
    assert listed.status_code == 200 and listed.get_json()["total"] == 1
    one = client.get(f"/api/offline-submissions/{stored.id}", headers=headers).get_json()
    assert one["data"]["email"] == "ada@example.org"


def test_offline_form_twice_for_one_request_is_409(client, world):
    widget, request_id = _offline_request(client, world)
    assert submit(widget, request_id, ANSWERS).status_code == 201
    again = submit(widget, request_id, ANSWERS)
    assert again.status_code == 409 and again.get_json()["code"] == "already_submitted"
    assert db.session.query(OfflineSubmission).count() == 1


def test_offline_form_while_inactive_is_409(client, world):
    widget, request_id = _offline_request(client, world)
    world["live"].config = {**world["live"].config, "offline_form": {**world["live"].config["offline_form"],
                                                                     "active": False}}
    db.session.commit()
    response = submit(widget, request_id, ANSWERS)
    assert response.status_code == 409 and response.get_json()["code"] == "form_inactive"


def test_offline_form_for_a_pending_request_is_409(client, world):
    go_online(world["agents"][0])
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    act(widget, type="button", button_id="live_chat")
    request_id = client.get(widget.url("/request"), headers=widget.headers()).get_json()["request_id"]
    response = submit(widget, request_id, ANSWERS)
    assert response.status_code == 409 and response.get_json()["code"] == "form_not_offered"


@pytest.mark.parametrize("answers,field", [
    ({"email": "ada@example.org", "message": "x"}, "name"),                     # required missing
    ({**ANSWERS, "email": "not-an-address"}, "email"),
    ({**ANSWERS, "email": "a@b.org\r\nBcc: x@y.org"}, "email"),                 # header injection
    ({**ANSWERS, "phone": "call me maybe"}, "phone"),
    ({**ANSWERS, "surprise": "x"}, "surprise"),                                 # unknown field
    ({**ANSWERS, "message": "x" * 2001}, "message"),                            # over max length
    ({**ANSWERS, "name": 12}, "name"),
])
def test_invalid_offline_form_is_422_and_stores_nothing(client, world, answers, field):
    widget, request_id = _offline_request(client, world)
    response = submit(widget, request_id, answers)
    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]["answers"]
    assert db.session.query(OfflineSubmission).count() == 0
    assert submit(widget, request_id, ANSWERS).status_code == 201  # nothing was used up


def test_request_while_one_is_pending_is_409(client, world):
    go_online(world["agents"][0])
    widget, _ = open_widget(client, world)
    act(widget, type="button", button_id="button_0")
    act(widget, type="button", button_id="live_chat")
    response = act(widget, type="button", button_id="video_chat")
    assert response.status_code == 409 and response.get_json()["code"] == "not_in_bot_phase"


def test_coming_back_with_the_token_resumes_the_conversation(client, world):
    widget, first = open_widget(client, world)
    again = widget.open()
    assert again["conversation"]["id"] == first["conversation"]["id"]
    assert len(bot_texts(again["messages"])) == 2  # the flow did not start over


def test_concurrent_opens_for_one_visitor_make_one_conversation(app, world):
    import threading

    widget, first = open_widget(app.test_client(), world)
    db.session.execute(Conversation.__table__.update().values(status="closed"))
    db.session.commit()
    results, barrier = [], threading.Barrier(6)

    def opener():
        with app.app_context():
            client = app.test_client()
            barrier.wait(5)
            response = client.post(f"/api/widget/{widget.key}/sessions", headers=widget.headers())
            results.append((response.status_code, response.get_json()["conversation"]["id"]))

    threads = [threading.Thread(target=opener) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert [status for status, _ in results] == [201] * 6
    assert len({cid for _, cid in results}) == 1
    open_count = db.session.query(Conversation).filter(Conversation.visitor_id == first["visitor_id"],
                                                       Conversation.status != "closed").count()
    assert open_count == 1


def test_waiting_visitors_hear_their_new_place_after_each_change(app, client, world):
    import time

    go_online(*world["agents"])
    widgets = []
    for _ in range(3):
        widget, _ = open_widget(client, world)
        act(widget, type="button", button_id="button_0")
        act(widget, type="button", button_id="live_chat")
        widgets.append(widget)
    heard = []
    last = widgets[-1]
    app.extensions["broker"].subscribe(f"conversation:{last.conversation_id}",
                                       lambda frame: heard.append(frame) if frame["type"] == "queue.position" else None)
    client.delete(widgets[0].url("/request"), headers=widgets[0].headers())
    # The Redis broker delivers from its listener thread, which may still be behind with the third press's
    # own announcement (place 3) when we subscribe: wait for the news of the withdrawal, which comes after it.
    for _ in range(250):
        if any(frame["data"]["queue_position"] == 2 for frame in heard):
            break
        time.sleep(0.02)
    time.sleep(0.05)  # nothing stale may follow it
    assert heard and heard[-1]["data"]["queue_position"] == 2 and "pos" not in heard[-1]
