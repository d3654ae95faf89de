"""Ratings (CSAT): once per ended chat, within its window, the agent who had it told, admins and agents see it."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from extensions import db
from models import Conversation, Event, Rating, Visitor
from schemas.events import EventType
from services.ratings import AlreadyRated, do_rate_conversation
from tests.staff_helpers import ORIGIN, live_chat, make_world
from tests.test_errors import assert_error
from tests.widget_helpers import Widget


@pytest.fixture
def world(app, client, auth):
    world = make_world(auth)
    world["widget"] = live_chat(client, world["interface"], world["headers"]["agent"])
    return world


def _end(client, world):
    response = client.post(f"/api/conversations/{world['widget'].conversation_id}/end", json={},
                           headers=world["headers"]["agent"])
    assert response.status_code == 200, response.get_json()


def _rate(client, widget, body):
    return client.post(widget.url("/rating"), json=body, headers=widget.headers())


def test_the_visitor_rates_the_ended_chat_once_and_its_agent_hears_it(client, world):
    widget, agent = world["widget"], world["users"]["agent"]
    assert_error(_rate(client, widget, {"score": 5}), 409, "conversation_not_closed")
    _end(client, world)
    response = _rate(client, widget, {"score": 4, "comment": "Quick <b>and</b> kind"})
    assert response.status_code == 201, response.get_json()
    rating = response.get_json()
    assert (rating["score"], rating["comment"], rating["agent_id"]) == (4, "Quick <b>and</b> kind", agent.id)
    assert_error(_rate(client, widget, {"score": 1}), 409, "already_rated")
    event = db.session.scalars(select(Event).where(Event.type == EventType.RATING_CREATED.value)).one()
    assert event.stream == f"user:{agent.id}" and event.payload["rating"]["score"] == 4
    # the agents' conversation view carries it; the visitor's does not need it
    seen = client.get(f"/api/conversations/{widget.conversation_id}", headers=world["headers"]["agent"]).get_json()
    assert seen["rating"]["score"] == 4 and seen["rating"]["comment"] == "Quick <b>and</b> kind"
    listed = client.get("/api/conversations", query_string={"scope": "closed"},
                        headers=world["headers"]["admin"]).get_json()
    assert [c["rating"]["score"] for c in listed["items"]] == [4]


def test_scores_and_comments_are_bounded(client, world):
    _end(client, world)
    widget = world["widget"]
    for body in ({"score": 0}, {"score": 6}, {"score": "5x"}, {}, {"score": 3, "comment": "x" * 1001},
                 {"score": 3, "comment": "nul\0"}):
        assert_error(_rate(client, widget, body), 422, "validation_error")
    assert _rate(client, widget, {"score": 3, "comment": "x" * 1000}).status_code == 201


def test_another_visitors_conversation_is_not_found(client, world):
    _end(client, world)
    other = Widget(client, world["interface"], origin=ORIGIN)
    other.open()
    other.conversation_id = world["widget"].conversation_id
    assert_error(_rate(client, other, {"score": 5}), 404, "not_found")
    assert db.session.scalar(select(Rating.id)) is None


def test_the_window_closes(client, world, app):
    _end(client, world)
    conversation = db.session.get(Conversation, world["widget"].conversation_id)
    conversation.closed_at -= timedelta(hours=app.config["RATING_WINDOW_H"], minutes=1)
    db.session.commit()
    assert_error(_rate(client, world["widget"], {"score": 5}), 409, "rating_window_closed")


def test_two_ratings_at_once_store_one(app, client, world):
    _end(client, world)
    visitor = db.session.get(Conversation, world["widget"].conversation_id).visitor
    conversation_id, visitor_id = world["widget"].conversation_id, visitor.id
    outcomes, barrier = [], threading.Barrier(2, timeout=10)

    def rate(score):
        with app.app_context():
            barrier.wait()
            try:
                do_rate_conversation(db.session.get(Visitor, visitor_id), conversation_id, score)
                outcomes.append("rated")
            except AlreadyRated:
                outcomes.append("already")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=rate, args=(score,)) for score in (2, 5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["already", "rated"]
    db.session.expire_all()
    assert len(db.session.scalars(select(Rating)).all()) == 1


def test_admins_list_ratings_and_search_conversations_by_score(client, world, auth):
    _end(client, world)
    assert _rate(client, world["widget"], {"score": 2, "comment": "Slow"}).status_code == 201
    second = live_chat(client, world["interface"], world["headers"]["colleague"])
    assert client.post(f"/api/conversations/{second.conversation_id}/end", json={},
                       headers=world["headers"]["colleague"]).status_code == 200
    assert _rate(client, second, {"score": 5}).status_code == 201
    admin = world["headers"]["admin"]

    def search(**query):
        body = client.get("/api/conversations", query_string={"scope": "all", **query}, headers=admin).get_json()
        return [c["id"] for c in body["items"]]

    assert search(rating_min=4) == [second.conversation_id]
    assert search(rating_max=3) == [world["widget"].conversation_id]
    assert sorted(search(rating_min=1)) == sorted([world["widget"].conversation_id, second.conversation_id])
    assert_error(client.get("/api/conversations", query_string={"rating_min": 4, "rating_max": 2}, headers=admin),
                 422, "validation_error")
    ratings = client.get("/api/ratings", query_string={"score_max": 3}, headers=admin)
    assert ratings.status_code == 200, ratings.get_json()
    assert [(r["score"], r["comment"], r["agent_id"]) for r in ratings.get_json()["items"]] == \
        [(2, "Slow", world["users"]["agent"].id)]
    assert client.get("/api/ratings", headers=world["headers"]["agent"]).status_code == 403
    assert client.get("/api/ratings", headers=world["headers"]["stranger"]).get_json()["items"] == []
