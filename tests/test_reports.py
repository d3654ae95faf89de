"""Reports: the numbers of a small hand-made month end, by day of the workspace's zone (a DST change, a day with
nothing), and by agent; the range's bounds; the workspace's time zone."""
from datetime import datetime, timedelta, timezone

import pytest

from extensions import db
from models import (
    AuditAction, AuditEntry, Conversation, ConversationStatus, LiveRequest, OfflineSubmission, Rating, RequestKind,
    RequestStatus, Visitor,
)
from tests.factories import make_interface, make_user, make_workspace
from tests.test_errors import assert_error

UTC = timezone.utc
ZONE = "Europe/Berlin"  # clocks go forward on 2026-03-29: that day is 23 hours long


def _at(text):
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class _Data:
    def __init__(self, workspace, interface, visitor):
        self.workspace, self.interface, self.visitor = workspace, interface, visitor

    def chat(self, created, status, agent=None, accept_s=None, length_s=None, score=None, rated=None):
        """A closed conversation with one request made at created (UTC)."""
        created = _at(created)
        resolved = created + timedelta(seconds=accept_s) if accept_s is not None else created + timedelta(seconds=5)
        conversation = Conversation(workspace_id=self.workspace.id, interface_id=self.interface.id,
                                    visitor_id=self.visitor.id, status=ConversationStatus.CLOSED,
                                    agent_id=agent.id if agent else None, created_at=created,
                                    closed_at=resolved + timedelta(seconds=length_s or 1))
        db.session.add(conversation)
        db.session.flush()
        request = LiveRequest(workspace_id=self.workspace.id, interface_id=self.interface.id,
                              conversation_id=conversation.id, kind=RequestKind.TEXT, status=status,
                              deadline_at=created + timedelta(minutes=1), agent_id=agent.id if agent else None,
                              created_at=created, resolved_at=resolved)
        db.session.add(request)
        db.session.flush()
        if score is not None:
            db.session.add(Rating(workspace_id=self.workspace.id, interface_id=self.interface.id,
                                  conversation_id=conversation.id, visitor_id=self.visitor.id, agent_id=agent.id,
                                  score=score, created_at=_at(rated)))
        return conversation, request


@pytest.fixture
def world(app, auth):
    workspace, admin = make_workspace()
    workspace.timezone = ZONE
    ann, bob = make_user(workspace, name="Ann"), make_user(workspace, name="Bob")
    interface = make_interface(workspace, agents=[ann, bob])
    visitor = Visitor(workspace_id=workspace.id, interface_id=interface.id)
    db.session.add(visitor)
    db.session.flush()
    data = _Data(workspace, interface, visitor)
    accepted = RequestStatus.ACCEPTED
    # 28 March (local = UTC+1): two accepted (30 s and 90 s to accept; 600 s and 1200 s long), one expired
    # whose visitor left the offline form.
    data.chat("2026-03-28T09:00:00", accepted, ann, 30, 600, score=5, rated="2026-03-28T10:20:00")
    data.chat("2026-03-28T11:00:00", accepted, ann, 90, 1200, score=3, rated="2026-03-28T12:00:00")
    _, expired = data.chat("2026-03-28T22:30:00", RequestStatus.EXPIRED)
    db.session.add(OfflineSubmission(workspace_id=workspace.id, interface_id=interface.id,
                                     conversation_id=expired.conversation_id, request_id=expired.id, data={},
                                     recipients=[], created_at=_at("2026-03-28T22:40:00")))
    # 29 March, the day clocks go forward (local midnight is 23:00 UTC the day before, the next one 22:00 UTC):
    # an accepted chat made at 00:30 local (still the 28th in UTC), a takeover, one request outside hours at
    # 23:30 local (21:30 UTC).
    data.chat("2026-03-28T23:30:00", accepted, bob, 60, 300, score=4, rated="2026-03-29T00:10:00")
    taken, _ = data.chat("2026-03-29T09:00:00", RequestStatus.CANCELLED)
    db.session.add(AuditEntry(workspace_id=workspace.id, action=AuditAction.TOOK_OVER.value, actor_id=bob.id,
                              actor_name="Bob", conversation_id=taken.id, details={},
                              created_at=_at("2026-03-29T10:00:00")))
    data.chat("2026-03-29T21:30:00", RequestStatus.OUTSIDE_HOURS)
    # 30 March: nothing. 31 March (past the range) and another workspace: never counted.
    data.chat("2026-03-30T22:30:00", accepted, ann, 10, 10, score=1, rated="2026-03-30T22:50:00")
    other_ws, _ = make_workspace(name="Other")
    other_if = make_interface(other_ws)
    other_visitor = Visitor(workspace_id=other_ws.id, interface_id=other_if.id)
    db.session.add(other_visitor)
    db.session.flush()
    _Data(other_ws, other_if, other_visitor).chat("2026-03-28T09:00:00", RequestStatus.EXPIRED)
    db.session.commit()
    return {"workspace": workspace, "admin": auth.headers(admin), "agent": auth.headers(ann), "interface": interface, "ann": ann, "bob": bob,
            "stranger": auth.headers(make_workspace(name="Third")[1])}


RANGE = {"from": "2026-03-28", "to": "2026-03-30"}
EMPTY = {"chats": 0, "missed": 0, "outside_hours": 0, "time_to_accept_median_s": None,
         "time_to_accept_p90_s": None, "chat_duration_median_s": None, "ratings": 0, "rating_average": None,
         "rating_good_share": None, "offline_forms": 0}


def _close(actual, expected):
    assert set(actual) >= set(expected), actual
    for key, value in expected.items():
        if isinstance(value, float):
            assert actual[key] == pytest.approx(value, abs=0.01), (key, actual)
        else:
            assert actual[key] == value, (key, actual)


def test_days_follow_the_workspace_zone_through_a_dst_change(client, world):
    response = client.get("/api/reports/interfaces", query_string=RANGE, headers=world["admin"])
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["timezone"] == ZONE
    assert [d["date"] for d in report["days"]] == ["2026-03-28", "2026-03-29", "2026-03-30"]
    day28, day29, day30 = report["days"]
    assert (day29["start_at"], day29["end_at"]) == ("2026-03-28T23:00:00+00:00", "2026-03-29T22:00:00+00:00")
    _close(day28, {"chats": 2, "missed": 1, "outside_hours": 0, "time_to_accept_median_s": 60.0,
                   "time_to_accept_p90_s": 84.0, "chat_duration_median_s": 900.0, "ratings": 2,
                   "rating_average": 4.0, "rating_good_share": 0.5, "offline_forms": 1})
    _close(day29, {"chats": 2, "missed": 1, "outside_hours": 1, "time_to_accept_median_s": 60.0,
                   "time_to_accept_p90_s": 60.0, "chat_duration_median_s": 300.0, "ratings": 1,
                   "rating_average": 4.0, "rating_good_share": 1.0, "offline_forms": 0})
    _close(day30, EMPTY)
    _close(report["total"], {"chats": 4, "missed": 2, "outside_hours": 1, "time_to_accept_median_s": 60.0,
                             "time_to_accept_p90_s": 84.0, "chat_duration_median_s": 600.0, "ratings": 3,
                             "rating_average": 4.0, "rating_good_share": 0.6667, "offline_forms": 1})


def test_one_interface_and_the_agents(client, world):
    other = make_interface(world["workspace"])
    only_other = client.get("/api/reports/interfaces", query_string={**RANGE, "interface_id": other.id},
                            headers=world["admin"]).get_json()
    _close(only_other["total"], EMPTY)
    response = client.get("/api/reports/agents", query_string=RANGE, headers=world["admin"])
    assert response.status_code == 200, response.get_json()
    agents = {a["name"]: a for a in response.get_json()["agents"]}
    assert set(agents) == {"Ann", "Bob"}
    _close(agents["Ann"], {"chats": 2, "accepted": 2, "taken_over": 0, "time_to_accept_median_s": 60.0,
                           "time_to_accept_p90_s": 84.0, "chat_duration_median_s": 900.0, "ratings": 2,
                           "rating_average": 4.0, "rating_good_share": 0.5})
    _close(agents["Bob"], {"chats": 2, "accepted": 1, "taken_over": 1, "time_to_accept_median_s": 60.0,
                           "chat_duration_median_s": 300.0, "ratings": 1, "rating_average": 4.0})


def test_the_range_is_bounded_and_the_reports_are_for_admins(client, world):
    url = "/api/reports/interfaces"
    assert_error(client.get(url, query_string={"from": "2026-03-30", "to": "2026-03-28"}, headers=world["admin"]),
                 422, "validation_error")
    assert_error(client.get(url, query_string={"from": "2025-01-01", "to": "2026-01-02"}, headers=world["admin"]),
                 422, "validation_error")
    assert client.get(url, query_string={"from": "2025-01-01", "to": "2026-01-01"},
                      headers=world["admin"]).status_code == 200
    for bad in ({"from": "2026-02-30", "to": "2026-03-01"}, {"from": "x" * 5000, "to": "2026-03-01"}, {}):
        assert_error(client.get(url, query_string=bad, headers=world["admin"]), 422, "validation_error")
    assert client.get(url, query_string=RANGE, headers=world["agent"]).status_code == 403
    assert client.get("/api/reports/agents", query_string=RANGE, headers=world["agent"]).status_code == 403
    foreign = {**RANGE, "interface_id": world["interface"].id}
    assert_error(client.get(url, query_string=foreign, headers=world["stranger"]), 404, "not_found")
    _close(client.get(url, query_string=RANGE, headers=world["stranger"]).get_json()["total"], EMPTY)


def test_admins_set_the_workspace_time_zone(client, world):
    response = client.patch("/api/workspace", json={"timezone": "America/New_York"}, headers=world["admin"])
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["timezone"] == "America/New_York"
    assert client.get("/api/workspace", headers=world["admin"]).get_json()["timezone"] == "America/New_York"
    day = client.get("/api/reports/interfaces", query_string=RANGE, headers=world["admin"]).get_json()["days"][0]
    assert day["start_at"] == "2026-03-28T04:00:00+00:00"  # New York is on daylight time since 8 March
    for bad in ("Mars/Olympus", "", "../etc/passwd", "x" * 100, "localtime"):
        assert_error(client.patch("/api/workspace", json={"timezone": bad}, headers=world["admin"]),
                     422, "validation_error")
    assert client.patch("/api/workspace", json={"timezone": "UTC"}, headers=world["agent"]).status_code == 403
