"""Races decided by the database, repeated: first accept wins, max chats holds, deadline vs accept.

On PostgreSQL (TEST_DATABASE_URL with TEST_REDIS_URL) the accepts go through
two gunicorn processes; on the embedded default through one threaded server.
"""
import json
import os
import threading
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from config import TestConfig
from extensions import db
from models import Conversation, ConversationStatus, LiveRequest, RequestKind, RequestStatus, Visitor
from models.base import utcnow
from services.live_requests import sweep_expired
from tests.conftest import database_url, is_postgres
from tests.factories import PASSWORD, go_online, make_component, make_interface, make_user, make_workspace
from tests.live import GunicornServer, ThreadServer

SCALE_OUT_REPS, EMBEDDED_REPS = 300, 100
SCALE_OUT = is_postgres() and bool(os.environ.get("TEST_REDIS_URL"))
# At least 300 rounds through two server processes on PostgreSQL; fewer on the embedded default,
# where SQLite's single writer makes every round slower and the outcome is decided the same way.
REPS = int(os.environ.get("RACE_REPS") or (SCALE_OUT_REPS if SCALE_OUT else EMBEDDED_REPS))


@pytest.fixture
def bases(app):
    if SCALE_OUT:
        env = {"DATABASE_URL": database_url(), "REDIS_URL": os.environ["TEST_REDIS_URL"],
               "JWT_SECRET_KEY": TestConfig.JWT_SECRET_KEY, "PASSWORD_HASH_PROFILE": "fast",
               "RATELIMIT_ENABLED": "0", "GUNICORN_THREADS": "16"}
        with GunicornServer(env) as one, GunicornServer(env) as two:
            yield [one.url, two.url]
    else:
        app.config["RATELIMIT_ENABLED"] = False
        with ThreadServer(app) as server:
            yield [server.url]


def post(base, path, token, body=None):
    request = urllib.request.Request(base + path, method="POST", data=json.dumps(body or {}).encode())
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def login(base, user):
    request = urllib.request.Request(base + "/api/auth/login", method="POST",
                                     data=json.dumps({"email": user.email, "password": PASSWORD}).encode())
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


@pytest.fixture
def world(app, bases):
    workspace, _ = make_workspace()
    agents = [make_user(workspace, max_chats=50) for _ in range(4)]
    interface = make_interface(workspace, agents=agents, request_timeout_s=600)
    component = make_component(interface, "live_chat")
    go_online(*agents)
    tokens = [login(bases[0], agent) for agent in agents]
    return {"workspace": workspace, "agents": agents, "interface": interface, "component": component,
            "tokens": tokens}


def waiting_requests(world, count, deadline_s=600):
    """Conversations waiting with a pending request each, made directly in the database."""
    interface, now = world["interface"], utcnow()
    ids = []
    for _ in range(count):
        visitor = Visitor(workspace_id=interface.workspace_id, interface_id=interface.id)
        db.session.add(visitor)
        db.session.flush()
        conversation = Conversation(workspace_id=interface.workspace_id, interface_id=interface.id,
                                    visitor_id=visitor.id, status=ConversationStatus.WAITING,
                                    component_id=world["component"].id, last_seq=0)
        db.session.add(conversation)
        db.session.flush()
        request = LiveRequest(workspace_id=interface.workspace_id, interface_id=interface.id,
                              conversation_id=conversation.id, component_id=world["component"].id,
                              kind=RequestKind.TEXT, status=RequestStatus.PENDING,
                              deadline_at=now + timedelta(seconds=deadline_s))
        db.session.add(request)
        db.session.flush()
        ids.append(request.id)
    db.session.commit()
    return ids


def race(calls):
    """Run the calls at once (a barrier lines them up) and return their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait(10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def open_load(agent_id):
    return db.session.scalar(select(func.count()).select_from(Conversation).where(
        Conversation.agent_id == agent_id, Conversation.status == ConversationStatus.ACTIVE))


def close_all():
    """End every open chat and withdraw what is still waiting, so rounds do not pile up."""
    db.session.execute(update(Conversation).where(Conversation.status != ConversationStatus.CLOSED)
                       .values(status=ConversationStatus.CLOSED))
    db.session.execute(update(LiveRequest).where(LiveRequest.status == RequestStatus.PENDING)
                       .values(status=RequestStatus.CANCELLED))
    db.session.commit()


def test_several_agents_accept_one_request_and_exactly_one_wins(world, bases):
    for rep in range(REPS):
        (request_id,) = waiting_requests(world, 1)
        calls = [lambda t=token, b=bases[i % len(bases)]: post(b, f"/api/requests/{request_id}/accept", t)
                 for i, token in enumerate(world["tokens"])]
        results = race(calls)
        winners = [body for status, body in results if status == 200]
        losers = [body["code"] for status, body in results if status != 200]
        assert len(winners) == 1, (rep, results)
        assert losers == ["request_taken"] * (len(calls) - 1), (rep, results)
        db.session.expire_all()
        request = db.session.get(LiveRequest, request_id)
        assert request.status == RequestStatus.ACCEPTED and request.agent_id == winners[0]["agent_id"]
        if rep % 25 == 24:
            close_all()


def test_an_agent_with_max_chats_3_accepting_10_at_once_ends_with_exactly_3(world, bases):
    agent, token = world["agents"][0], world["tokens"][0]
    agent.max_chats = 3
    db.session.commit()
    for rep in range(REPS):
        request_ids = waiting_requests(world, 10)
        calls = [lambda r=r, b=bases[i % len(bases)]: post(b, f"/api/requests/{r}/accept", token)
                 for i, r in enumerate(request_ids)]
        results = race(calls)
        statuses = sorted(status for status, _ in results)
        assert statuses == [200] * 3 + [409] * 7, (rep, results)
        assert {body["code"] for status, body in results if status == 409} == {"capacity_full"}
        db.session.expire_all()
        assert open_load(agent.id) == 3, rep
        close_all()


# The deadline race, steered so both outcomes occur: most rounds start the accept and the sweep
# together (barrier); every STEER_EVERY-th round one side starts with a head start, alternating, and
# while an outcome has not occurred yet that head start grows (bounded), so neither is left to luck.
STEER_EVERY = 4
HEAD_START_S, MAX_HEAD_START_S = 0.02, 1.0


def head_start(rep, outcomes):
    """(accept delay, sweep delay) in seconds for this round."""
    if rep % STEER_EVERY:
        return 0.0, 0.0
    favour = "accepted" if (rep // STEER_EVERY) % 2 == 0 else "expired"
    missing = [name for name, count in outcomes.items() if count == 0]
    if len(missing) == 1:
        favour = missing[0]  # only the outcome not seen yet is helped, harder each time
    tries = rep // STEER_EVERY + 1
    lead = min(HEAD_START_S * (2 ** min(tries - 1, 6) if missing else 1), MAX_HEAD_START_S)
    return (0.0, lead) if favour == "accepted" else (lead, 0.0)


def delayed(delay, call):
    def run():
        if delay:
            threading.Event().wait(delay)
        return call()

    return run


def test_deadline_and_accept_racing_end_in_exactly_one_outcome(world, bases, app):
    outcomes = {"accepted": 0, "expired": 0}
    for rep in range(REPS):
        (request_id,) = waiting_requests(world, 1)
        db.session.execute(update(LiveRequest).where(LiveRequest.id == request_id)
                           .values(deadline_at=utcnow() + timedelta(seconds=2)))
        db.session.commit()

        def sweep():
            with app.app_context():
                # a sweeper whose clock says the deadline passed, while the servers' say it has not
                return sweep_expired(now=utcnow() + timedelta(seconds=5))

        token, base = world["tokens"][rep % 4], bases[rep % len(bases)]
        accept_delay, sweep_delay = head_start(rep, outcomes)
        accepted, swept = race([delayed(accept_delay, lambda: post(base, f"/api/requests/{request_id}/accept", token)),
                                delayed(sweep_delay, sweep)])
        db.session.expire_all()
        request = db.session.get(LiveRequest, request_id)
        conversation = db.session.get(Conversation, request.conversation_id)
        if accepted[0] == 200:
            assert swept == 0 and request.status == RequestStatus.ACCEPTED, rep
            assert conversation.status == ConversationStatus.ACTIVE and conversation.agent_id is not None
            outcomes["accepted"] += 1
        else:
            assert accepted[1]["code"] == "request_expired" and swept == 1, (rep, accepted, swept)
            assert request.status == RequestStatus.EXPIRED
            assert conversation.status == ConversationStatus.BOT and conversation.agent_id is None
            outcomes["expired"] += 1
        if rep % 25 == 24:
            close_all()
    assert sum(outcomes.values()) == REPS
    # Both branches above ran: the race was really contested, each side won at least once.
    assert outcomes["accepted"] >= 1 and outcomes["expired"] >= 1, outcomes
