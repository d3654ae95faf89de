"""Business hours over the API: the schedule on an interface, requests outside hours, the widget, the preview."""
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from extensions import db
from models import AuditEntry, LiveRequest, Notification
from services import interfaces as interfaces_service
from tests.factories import go_online, make_component, make_interface, make_user, make_workspace
from tests.live import Client
from tests.test_components import error_at
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"
NINE_TO_FIVE = [{"start": "09:00", "end": "17:00"}]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday")
HOURS = {"timezone": "Europe/Berlin", "weekly": {day: NINE_TO_FIVE for day in WEEKDAYS},
         "exceptions": [{"date": "2026-12-25", "ranges": []}],
         "outside_hours_message": "{interface_name} is closed now; leave us a message."}
# Berlin is UTC+1 in December.
FRIDAY_EVENING = datetime(2026, 12, 4, 17, 30, tzinfo=UTC)   # 18:30 in Berlin: closed
MONDAY_OPENING = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)     # 09:00 in Berlin
TUESDAY_MORNING = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)    # 10:00 in Berlin: open
CHRISTMAS_NOON = datetime(2026, 12, 25, 11, 0, tzinfo=UTC)   # a Friday, a holiday
CHRISTMAS_NEXT = datetime(2026, 12, 28, 8, 0, tzinfo=UTC)    # the Monday after


@pytest.fixture
def clock(monkeypatch):
    """Sets the instant business hours are judged at."""
    state = {"now": FRIDAY_EVENING}
    monkeypatch.setattr(interfaces_service, "hours_now", lambda: state["now"])

    def set_now(moment):
        state["now"] = moment

    return set_now


@pytest.fixture
def world(app, client, auth, clock):
    workspace, admin = make_workspace()
    agents = [make_user(workspace), make_user(workspace)]
    interface = make_interface(workspace, name="Acme Shop", allowed_origins=[ORIGIN], agents=agents)
    live = make_component(interface, "live_chat", {"options": {"video_chat": {"enabled": True}}})
    after = make_component(interface, "message", {"text": "Anything else?", "buttons": [{"label": "No"}]})
    go_online(*agents)
    return {"workspace": workspace, "admin": admin, "agents": agents, "interface": interface, "live": live,
            "after": after, "headers": auth.headers(admin), "client": client}


def set_hours(world, hours, expect=200):
    response = world["client"].patch(f"/api/interfaces/{world['interface'].id}", json={"business_hours": hours},
                                     headers=world["headers"])
    assert response.status_code == expect, response.get_json()
    return response


def open_widget(world):
    widget = Widget(world["client"], world["interface"], origin=ORIGIN)
    return widget, widget.open()


def act(widget, **action):
    response = widget.client.post(widget.url("/actions"), json=action, headers=widget.headers())
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def request_notifications(world):
    return db.session.scalars(select(Notification).where(
        Notification.type.in_(["live_chat_request", "video_chat_request"]))).all()


# -- the schedule on the interface --------------------------------------------------


def test_a_schedule_is_stored_normalised_and_shown(world):
    saved = set_hours(world, HOURS).get_json()["business_hours"]
    assert saved["enabled"] is True and saved["timezone"] == "Europe/Berlin"
    assert saved["weekly"]["monday"] == NINE_TO_FIVE and saved["weekly"]["saturday"] == []
    assert set(saved["weekly"]) == {*WEEKDAYS, "saturday", "sunday"}
    assert saved["exceptions"] == [{"date": "2026-12-25", "ranges": []}]
    shown = world["client"].get(f"/api/interfaces/{world['interface'].id}", headers=world["headers"]).get_json()
    assert shown["business_hours"] == saved


def test_a_new_interface_has_none_and_null_removes_a_schedule(world):
    created = world["client"].post("/api/interfaces", json={"name": "Other"}, headers=world["headers"]).get_json()
    assert created["business_hours"] is None
    set_hours(world, HOURS)
    assert set_hours(world, None).get_json()["business_hours"] is None


def test_a_schedule_can_be_given_at_creation(world):
    response = world["client"].post("/api/interfaces", json={"name": "Other", "business_hours": HOURS},
                                    headers=world["headers"])
    assert response.status_code == 201
    assert response.get_json()["business_hours"]["timezone"] == "Europe/Berlin"


def test_schedule_changes_are_audited_once_per_change(world):
    set_hours(world, HOURS)
    set_hours(world, HOURS)  # the same again: nothing changed
    set_hours(world, {**HOURS, "enabled": False})
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "business_hours_changed")
                                 .order_by(AuditEntry.id)).all()
    assert [(e.actor_id, e.details["interface_id"], e.details["enabled"]) for e in entries] == [
        (world["admin"].id, world["interface"].id, True), (world["admin"].id, world["interface"].id, False)]


def test_agents_read_the_schedule_but_only_admins_change_it(world, auth):
    set_hours(world, HOURS)
    agent_headers = auth.headers(world["agents"][0])
    url = f"/api/interfaces/{world['interface'].id}"
    assert world["client"].get(url, headers=agent_headers).get_json()["business_hours"]["timezone"] == "Europe/Berlin"
    response = world["client"].patch(url, json={"business_hours": None}, headers=agent_headers)
    assert response.status_code == 403
    db.session.expire_all()
    assert world["interface"].business_hours is not None


def _ranges(*pairs):
    return [{"start": start, "end": end} for start, end in pairs]


@pytest.mark.parametrize(("change", "path"), [
    ({"timezone": "Mars/Olympus_Mons"}, ("timezone",)),
    ({"timezone": "../../etc/passwd"}, ("timezone",)),
    ({"timezone": "localtime"}, ("timezone",)),
    ({"timezone": "europe/berlin"}, ("timezone",)),
    ({"timezone": ""}, ("timezone",)),
    ({"timezone": "Europe/Berlin" * 10}, ("timezone",)),
    ({"timezone": None}, ("timezone",)),
    ({"weekly": {"monday": _ranges(("9:00", "17:00"))}}, ("weekly", "monday", 0, "start")),
    ({"weekly": {"monday": _ranges(("24:00", "17:00"))}}, ("weekly", "monday", 0, "start")),
    ({"weekly": {"monday": _ranges(("09:00", "24:01"))}}, ("weekly", "monday", 0, "end")),
    ({"weekly": {"monday": _ranges(("09:00", "17:60"))}}, ("weekly", "monday", 0, "end")),
    ({"weekly": {"monday": _ranges(("09:00", "09:00"))}}, ("weekly", "monday", 0, "end")),
    ({"weekly": {"monday": _ranges(*[(f"0{n}:00", f"0{n}:30") for n in range(7)])}}, ("weekly", "monday")),
    ({"weekly": {"monday": _ranges(("09:00", "12:00"), ("11:00", "13:00"))}}, ("weekly", "monday", 1)),
    ({"weekly": {"friday": _ranges(("22:00", "02:00")), "saturday": _ranges(("01:00", "03:00"))}},
     ("weekly", "saturday", 0)),
    ({"weekly": {"funday": NINE_TO_FIVE}}, ("weekly", "funday")),
    ({"weekly": {"monday": [{"start": "09:00"}]}}, ("weekly", "monday", 0, "end")),
    ({"exceptions": [{"date": "2026-12-25", "ranges": []}] * 2}, ("exceptions", 1, "date")),
    ({"exceptions": [{"date": "2026-02-30", "ranges": []}]}, ("exceptions", 0, "date")),
    ({"exceptions": [{"date": "9999-12-31", "ranges": []}]}, ("exceptions", 0, "date")),
    ({"exceptions": [{"date": "2026-12-25T00:00", "ranges": []}]}, ("exceptions", 0, "date")),
    ({"exceptions": [{"date": "2027-01-01", "ranges": []}] * 367}, ("exceptions",)),
    ({"exceptions": [{"date": "2026-12-24", "ranges": _ranges(("23:00", "02:00"))},
                     {"date": "2026-12-25", "ranges": _ranges(("01:00", "03:00"))}]}, ("exceptions", 1, "ranges", 0)),
    ({"outside_hours_message": "Closed, {agent_name} is away"}, ("outside_hours_message",)),
    ({"outside_hours_message": "Closed {0}"}, ("outside_hours_message",)),
    ({"outside_hours_message": "x" * 2001}, ("outside_hours_message",)),
    ({"outside_hours_message": "   "}, ("outside_hours_message",)),
    ({"enabled": "sometimes"}, ("enabled",)),
    ({"colour": "blue"}, ("colour",)),
])
def test_bad_schedules_are_422_on_the_field_and_change_nothing(world, change, path):
    set_hours(world, HOURS)
    response = set_hours(world, {**HOURS, **change}, expect=422)
    assert error_at(response, "json", "business_hours", *path)
    db.session.expire_all()
    assert world["interface"].business_hours["weekly"]["monday"] == NINE_TO_FIVE
    assert world["interface"].business_hours["timezone"] == "Europe/Berlin"


@pytest.mark.parametrize("body", [
    [], "open", 7, {"timezone": "UTC", "weekly": []}, {"weekly": {}}, {"timezone": 42},
    {"timezone": "UTC", "weekly": {"monday": NINE_TO_FIVE * 200}},
    {"timezone": "UTC", "exceptions": [{"date": "2026-12-25", "ranges": []}] * 1_000},
    {"timezone": "UTC", "exceptions": [{"date": 20261225, "ranges": []}]},
    {"timezone": "UTC", "weekly": {"monday": [{"start": ["09:00"], "end": {"h": 17}}]}},
    {"timezone": "UTC\u0000", "outside_hours_message": "\ud800"},
    {"timezone": "UTC", "weekly": {"monday": [[[[[[[[[[[]]]]]]]]]]]}},
])
def test_schedules_of_the_wrong_shape_are_422(world, body):
    assert set_hours(world, body, expect=422).get_json()["errors"]["json"]["business_hours"]


# -- a request outside business hours ----------------------------------------------------


def test_a_live_request_outside_hours_takes_the_offline_path_at_once(world):
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert asked["conversation"]["status"] == "bot"
    shown = asked["messages"][-1]
    assert shown["sender_type"] == "bot"
    assert shown["text"] == "Acme Shop is closed now; leave us a message."
    assert shown["data"]["stage"] == "outside_hours"
    assert [f["key"] for f in shown["data"]["form"]["fields"]] == ["name", "email", "phone", "message"]
    # no welcome message: nobody is being connected
    assert "Please wait a moment" not in " ".join(m["text"] for m in asked["messages"])
    request = widget.client.get(widget.url("/request"), headers=widget.headers()).get_json()
    assert request["status"] == "outside_hours" and request["queue_position"] is None
    assert request["request_id"] == shown["data"]["request_id"]
    assert request_notifications(world) == []
    stored = db.session.get(LiveRequest, request["request_id"])
    assert stored.resolved_at is not None and stored.agent_id is None
    # The offline form offered is taken as usual.
    submitted = widget.client.post(widget.url("/offline-form"), headers=widget.headers(), json={
        "request_id": request["request_id"],
        "answers": {"name": "Ann", "email": "ann@example.com", "message": "Call me back"}})
    assert submitted.status_code == 201, submitted.get_json()


def test_a_video_request_outside_hours_is_recorded_as_such(world):
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="video_chat")
    assert asked["messages"][-1]["data"]["stage"] == "outside_hours"
    request = widget.client.get(widget.url("/request"), headers=widget.headers()).get_json()
    assert (request["kind"], request["status"]) == ("video", "outside_hours")
    assert request_notifications(world) == []


def test_without_an_active_form_the_flow_goes_on_after_the_outside_hours_message(world):
    live = world["live"]
    live.config = {**live.config, "offline_form": {**live.config["offline_form"], "active": False}}
    db.session.commit()
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    texts = [m["text"] for m in asked["messages"] if m["sender_type"] == "bot"]
    assert texts[-2:] == ["Acme Shop is closed now; leave us a message.", "Anything else?"]
    assert asked["messages"][-2]["data"]["form"] is None
    assert asked["conversation"]["component_id"] == world["after"].id


def test_without_its_own_message_the_offline_message_is_shown(world):
    set_hours(world, {**HOURS, "outside_hours_message": None})
    widget, _ = open_widget(world)
    shown = act(widget, type="button", button_id="live_chat")["messages"][-1]
    assert shown["text"] == "Sorry, none of our agents is available right now."
    assert shown["data"]["stage"] == "outside_hours"


def test_a_holiday_is_outside_hours_too(world, clock):
    clock(CHRISTMAS_NOON)
    set_hours(world, HOURS)
    widget, opened = open_widget(world)
    assert opened["business_hours"] == {"open": False, "next_open_at": "2026-12-28T08:00:00+00:00",
                                        "timezone": "Europe/Berlin"}
    act(widget, type="button", button_id="live_chat")
    assert widget.client.get(widget.url("/request"), headers=widget.headers()).get_json()["status"] == "outside_hours"


@pytest.mark.parametrize("hours", [None, {**HOURS, "enabled": False}])
def test_within_hours_or_without_them_agents_are_asked_as_usual(world, clock, hours):
    clock(TUESDAY_MORNING)
    set_hours(world, HOURS)
    if hours is not HOURS:
        clock(FRIDAY_EVENING)
        set_hours(world, hours)
    widget, _ = open_widget(world)
    asked = act(widget, type="button", button_id="live_chat")
    assert asked["conversation"]["status"] == "waiting"
    assert widget.client.get(widget.url("/request"), headers=widget.headers()).get_json()["status"] == "pending"
    assert len(request_notifications(world)) == 2


def test_the_same_schedule_inside_hours_asks_the_agents(world, clock):
    clock(TUESDAY_MORNING)
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    assert act(widget, type="button", button_id="live_chat")["conversation"]["status"] == "waiting"
    assert {n.user_id for n in request_notifications(world)} == {agent.id for agent in world["agents"]}


def test_the_socket_sees_the_outside_hours_outcome(world, server):
    set_hours(world, HOURS)
    widget, _ = open_widget(world)
    socket = Client(server.url, widget.ticket(), origin=ORIGIN)
    try:
        socket.recv()
        socket.send({"type": "resume", "positions": {}})
        socket.recv_until(lambda f: f["type"] == "ack")
        act(widget, type="button", button_id="live_chat")
        updated = socket.recv_until(lambda f: f["type"] == "request.updated")
        assert updated["data"]["status"] == "outside_hours" and updated["data"]["queue_position"] is None
        shown = [f["data"]["message"] for f in socket.frames if f["type"] == "message.created"]
        assert any(m["data"] and m["data"].get("stage") == "outside_hours"
                   and m["text"] == "Acme Shop is closed now; leave us a message." for m in shown)
    finally:
        socket.close()
    assert request_notifications(world) == []


# -- what the widget is told -------------------------------------------------------------------


def availability(world, origin=ORIGIN, key=None):
    headers = {"Origin": origin} if origin else {}
    return world["client"].get(f"/api/widget/{key or world['interface'].public_key}/availability", headers=headers)


def test_without_business_hours_the_widget_is_always_open(world):
    _, opened = open_widget(world)
    assert opened["business_hours"] == {"open": True, "next_open_at": None, "timezone": None}
    assert availability(world).get_json() == {"open": True, "next_open_at": None, "timezone": None}


def test_the_widget_is_told_when_it_next_opens(world, clock):
    set_hours(world, HOURS)
    _, opened = open_widget(world)
    expected = {"open": False, "next_open_at": MONDAY_OPENING.isoformat(), "timezone": "Europe/Berlin"}
    assert opened["business_hours"] == expected
    response = availability(world)
    assert response.status_code == 200 and response.get_json() == expected
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    clock(MONDAY_OPENING)
    assert availability(world).get_json() == {"open": True, "next_open_at": None, "timezone": "Europe/Berlin"}


def test_availability_follows_the_widgets_key_and_origin(world):
    assert availability(world, key="pk_unknown").status_code == 404
    refused = availability(world, origin="https://evil.example")
    assert refused.status_code == 403 and refused.get_json()["code"] == "origin_not_allowed"


# -- the builder's preview ---------------------------------------------------------------------------


def preview(world, component, **args):
    return world["client"].get(f"/api/interfaces/{world['interface'].id}/components/{component.id}/preview",
                               query_string=args, headers=world["headers"])


def test_the_preview_shows_the_outside_hours_stage(world):
    set_hours(world, HOURS)
    shown = preview(world, world["live"], stage="outside_hours").get_json()
    assert shown["stage"] == "outside_hours"
    assert shown["texts"] == ["Acme Shop is closed now; leave us a message."]
    assert shown["form"]["submit_label"] == "Send" and shown["buttons"] == []


def test_the_preview_without_a_message_of_the_interface_shows_the_offline_message(world):
    shown = preview(world, world["live"], stage="outside_hours").get_json()
    assert shown["texts"] == ["Sorry, none of our agents is available right now."]


def test_a_message_component_has_no_outside_hours_stage(world):
    assert error_at(preview(world, world["after"], stage="outside_hours"), "query", "stage")
