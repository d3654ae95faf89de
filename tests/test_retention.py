"""Retention prunes old rows without leaving a resuming client a silent gap; leases run a job once a round."""
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from extensions import db
from models import (AuditEntry, Event, Notification, NotificationStatus, NotificationType, OutboxMail, OutboxStatus,
                    PasswordToken, RevokedToken, Stream)
from models.base import utcnow
from models.lease import Lease
from services.events import emit, last_pos, replay
from blueprints.socket_protocol import SocketSession
from services.leases import do_claim
from services.workers import PeriodicWorker
from tests.factories import make_interface, make_user, make_workspace
from tests.widget_helpers import Widget

ORIGIN = "https://shop.example"
OLD = timedelta(days=400)  # past every default retention


@pytest.fixture
def setup(app, client):
    workspace, admin = make_workspace()
    agent = make_user(workspace)
    interface = make_interface(workspace, allowed_origins=[ORIGIN], agents=[agent])
    widget = Widget(client, interface, origin=ORIGIN)
    widget.open()
    return {"workspace": workspace, "admin": admin, "agent": agent, "interface": interface, "widget": widget}


def _age(model, *where, by=OLD):
    db.session.execute(update(model).where(*where).values(created_at=utcnow() - by)
                       .execution_options(synchronize_session=False))
    db.session.commit()


def _count(model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _resume(widget, positions):
    from models import Conversation

    visitor = db.session.get(Conversation, widget.conversation_id).visitor
    session = SocketSession(visitor, push=lambda stream, frame: None)
    return session.handle_text(json.dumps({"type": "resume", "positions": positions}))


def _old_and_new_rows(setup):
    """One row of each prunable kind past its retention and one within it (or still needed); ids of the old."""
    workspace, agent, interface = setup["workspace"], setup["agent"], setup["interface"]
    now = utcnow()
    conversation_id = setup["widget"].conversation_id
    rows = {}
    for label, age in (("old", OLD), ("new", timedelta(days=1))):
        at = now - age
        rows[label] = [
            Notification(workspace_id=workspace.id, user_id=agent.id, type=NotificationType.LIVE_CHAT_REQUEST,
                         interface_id=interface.id, conversation_id=conversation_id,
                         status=NotificationStatus.WITHDRAWN, reason="expired", created_at=at, resolved_at=at),
            AuditEntry(workspace_id=workspace.id, action="routed", details={}, created_at=at),
            OutboxMail(workspace_id=workspace.id, kind="invitation", recipients=["a@example.com"], subject="s",
                       body_text="b", status=OutboxStatus.SENT.value, created_at=at, sent_at=at),
        ]
    # Old but still wanted: a pending notification and an unsent mail are never pruned by age.
    rows["new"] += [
        Notification(workspace_id=workspace.id, user_id=agent.id, type=NotificationType.LIVE_CHAT_REQUEST,
                     interface_id=interface.id, conversation_id=conversation_id,
                     status=NotificationStatus.PENDING, created_at=now - OLD),
        OutboxMail(workspace_id=workspace.id, kind="invitation", recipients=["a@example.com"], subject="s",
                   body_text="b", status=OutboxStatus.PENDING.value, created_at=now - OLD),
        RevokedToken(jti="still-valid", expires_at=now + timedelta(hours=1)),
    ]
    rows["old"] += [
        RevokedToken(jti="expired", expires_at=now - timedelta(hours=1)),
        PasswordToken(user_id=agent.id, token_hash="h" * 64, user_key=agent.token_key,
                      expires_at=now + timedelta(days=1), used_at=now),
    ]
    for row in rows["old"] + rows["new"]:
        db.session.add(row)
    db.session.commit()
    return {label: [(type(row), db.inspect(row).identity) for row in kept] for label, kept in rows.items()}


def test_prune_removes_old_rows_and_a_recent_client_still_resumes(setup, runner):
    widget = setup["widget"]
    stream = f"conversation:{widget.conversation_id}"
    for n in range(6):
        assert widget.send(f"m{n}", f"c{n}").status_code == 201
    head = last_pos(stream)
    assert head >= 6
    # Everything but the last two events of the conversation is past the retention.
    _age(Event, Event.stream == stream, Event.pos <= head - 2)
    # A stream whose every event is old (an agent who has been away).
    for n in range(3):
        emit("test.event", {"n": n}, ["user:4242"], setup["workspace"].id)
        db.session.commit()
    _age(Event, Event.stream == "user:4242")
    ids = _old_and_new_rows(setup)
    positions_before = dict(db.session.execute(select(Stream.key, Stream.last_pos)).all())

    result = runner.invoke(args=["retention", "prune"])
    assert result.exit_code == 0, result.output
    assert "revoked tokens 1" in result.output and "password links 1" in result.output
    db.session.expire_all()

    for model, identity in ids["old"]:
        assert db.session.get(model, identity) is None, model
    for model, identity in ids["new"]:
        assert db.session.get(model, identity) is not None, model
    # Positions never go back: the streams rows are untouched.
    assert dict(db.session.execute(select(Stream.key, Stream.last_pos)).all()) == positions_before
    # The old events went, the last one of a stream included.
    assert db.session.scalars(select(Event.pos).where(Event.stream == stream).order_by(Event.pos)).all() == [
        head - 1, head]
    assert db.session.scalars(select(Event.pos).where(Event.stream == "user:4242")).all() == []

    # A client that had seen up to the oldest kept event's predecessor resumes normally...
    frames = _resume(widget, {stream: head - 2})
    assert [f["pos"] for f in frames if f.get("stream") == stream] == [head - 1, head]
    assert not [f for f in frames if f["type"] == "refetch"]
    # ...one already at the head gets nothing to replay...
    assert not [f for f in _resume(widget, {stream: head}) if f["type"] == "refetch"]
    # ...and one whose position was pruned is told to refetch, never handed a gap.
    frames = _resume(widget, {stream: 1})
    assert {"type": "refetch", "stream": stream, "pos": head} in frames
    # A stream whose every event was pruned: behind it is refetch, at its head nothing to replay.
    assert replay("user:4242", 2) is None and replay("user:4242", 0) is None
    assert replay("user:4242", 3) == []


def test_a_resume_racing_a_new_event_is_not_told_to_refetch(app, setup, monkeypatch):
    """The stream moved on between replay's two reads: the new event is replayed, not taken for a pruned one."""
    from services import events

    workspace_id = setup["workspace"].id
    emit("test.event", {"n": 0}, ["user:77"], workspace_id)
    db.session.commit()
    real_last_pos = events.last_pos

    def last_pos_after_a_commit(stream):
        emit("test.event", {"n": 1}, ["user:77"], workspace_id)
        db.session.commit()
        return real_last_pos(stream)

    monkeypatch.setattr(events, "last_pos", last_pos_after_a_commit)
    assert [f["pos"] for f in replay("user:77", 1)] == [2]


def test_prune_goes_in_bounded_batches(app, setup):
    from services.retention import prune_once

    for n in range(7):
        db.session.add(AuditEntry(workspace_id=setup["workspace"].id, action="routed", details={},
                                  created_at=utcnow() - OLD))
    db.session.commit()
    app.config.update(RETENTION_BATCH_SIZE=2, RETENTION_MAX_BATCHES=2)
    assert prune_once()["audit entries"] == 4
    assert _count(AuditEntry) == 3
    assert prune_once()["audit entries"] == 3
    assert _count(AuditEntry) == 0


def test_a_retention_of_zero_days_keeps_the_table(app, setup):
    from services.retention import prune_once

    db.session.add(AuditEntry(workspace_id=setup["workspace"].id, action="routed", details={},
                              created_at=utcnow() - OLD))
    db.session.commit()
    app.config["RETENTION_AUDIT_DAYS"] = 0
    assert prune_once()["audit entries"] == 0
    assert _count(AuditEntry) == 1


def test_two_workers_ticking_at_once_run_the_job_once(app):
    runs = []
    holders = [f"worker-{n}" for n in range(4)]  # each stands for a process of its own
    start = threading.Barrier(len(holders))
    outcomes = [None] * len(holders)

    def tick(n):
        with app.app_context():
            start.wait()
            outcomes[n] = do_claim("job", 60, holder=holders[n]) and (runs.append(1) or True)
            db.session.remove()

    threads = [threading.Thread(target=tick, args=(n,)) for n in range(len(holders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert outcomes.count(True) == 1 and len(runs) == 1
    winner = holders[outcomes.index(True)]
    assert db.session.get(Lease, "job").holder == winner
    # The holder renews its lease at its next round; the others keep skipping.
    assert do_claim("job", 60, holder=winner)
    assert not any(do_claim("job", 60, holder=h) for h in holders if h != winner)


def test_an_expired_lease_is_taken_over(app):
    assert do_claim("sweep", 10, holder="dead-worker")
    assert not do_claim("sweep", 10, holder="live-worker")
    # The holder died: nobody renews, and the lease runs out.
    db.session.execute(update(Lease).where(Lease.name == "sweep").values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert do_claim("sweep", 10, holder="live-worker")
    assert db.session.get(Lease, "sweep").holder == "live-worker"
    assert not do_claim("sweep", 10, holder="dead-worker")  # back too late: it waits its turn


def test_a_periodic_worker_runs_its_job_only_with_the_lease_and_gives_it_back_when_stopped(app):
    ran = threading.Event()
    assert do_claim("retention", 60, holder="another-process")
    other = PeriodicWorker(app, "retention", 60, ran.set, lease="retention")
    assert other.run_round() is False and not ran.is_set()
    db.session.execute(update(Lease).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    worker = PeriodicWorker(app, "retention", 60, ran.set, lease="retention").start()
    assert ran.wait(10)
    worker.stop()
    db.session.expire_all()
    assert db.session.get(Lease, "retention") is None


@pytest.mark.parametrize("name, value", [("RETENTION_EVENTS_DAYS", "a month"), ("RETENTION_INTERVAL_S", "0"),
                                         ("RETENTION_BATCH_SIZE", "-5")])
def test_a_bad_retention_setting_names_its_variable(name, value):
    from tests.test_operations import import_config

    code, output = import_config({name: value})
    last = output.strip().splitlines()[-1]
    assert code != 0 and last.startswith("config.SettingsError: ") and name in last


def test_the_month_measurement_runs(capsys):
    """A few simulated days through bench/retention_month.py: the script works (its figures are not asserted)."""
    from bench.retention_month import main

    main(["--days", "35", "--conversations-per-day", "4"])
    out = capsys.readouterr().out
    assert "events" in out and "rounds removed rows" in out
