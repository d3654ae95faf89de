"""The outbox: mail survives an SMTP outage, is sent once, and gives up in the end."""
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

import services.mailer as mailer
from errors import ValidationFailed
from extensions import db, mail
from models import OutboxMail, OutboxStatus
from models.base import utcnow
from services.mailer import outbox_sender, queue_mail, do_send_due
from tests.factories import make_workspace
from tests.smtp import mail_config, smtp_server  # noqa: F401 - fixture

WAIT_S = 5


def _outbox():
    db.session.expire_all()
    return db.session.scalars(select(OutboxMail).order_by(OutboxMail.id)).all()


def _make_due(row):
    row.next_attempt_at = utcnow() - timedelta(seconds=1)
    db.session.commit()


def _queue(n=1, kind="test"):
    rows = [queue_mail(kind, [f"to{i}@example.com"], f"Subject {i}", f"Body {i}") for i in range(n)]
    db.session.commit()
    return rows


def test_smtp_outage_delays_the_invitation_and_delivers_it_once_when_back(smtp_server, client, auth):  # noqa: F811
    workspace, admin = make_workspace()
    headers = auth.headers(admin)
    smtp_server.stop()

    response = client.post("/api/agents", json={"name": "Ann", "email": "ann@example.com"}, headers=headers)
    assert response.status_code == 201, response.get_json()

    assert do_send_due() == (0, 1)
    (row,) = _outbox()
    assert row.status == OutboxStatus.PENDING.value
    assert row.attempts == 1
    assert row.last_error
    assert row.locked_until is None
    assert row.next_attempt_at > utcnow()

    assert do_send_due() == (0, 0)  # not due yet: no retry right away
    (row,) = _outbox()
    assert row.attempts == 1

    smtp_server.start()
    _make_due(row)
    assert do_send_due() == (1, 0)
    (row,) = _outbox()
    assert row.status == OutboxStatus.SENT.value
    assert row.sent_at is not None
    assert row.last_error is None
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["ann@example.com"]

    _make_due(row)
    assert do_send_due() == (0, 0)
    assert do_send_due() == (0, 0)
    assert len(smtp_server.wait_for(2, timeout=0.3)) == 1


def test_backoff_grows_with_each_failed_attempt(smtp_server, app):  # noqa: F811
    smtp_server.stop()
    _queue()
    delays = []
    for _ in range(3):
        (row,) = _outbox()
        _make_due(row)
        before = utcnow()
        assert do_send_due() == (0, 1)
        (row,) = _outbox()
        delays.append((row.next_attempt_at - before).total_seconds())
    base = app.config["OUTBOX_BACKOFF_BASE_S"]
    assert delays[0] == pytest.approx(base, abs=1)
    assert delays[1] == pytest.approx(2 * base, abs=1)
    assert delays[2] == pytest.approx(4 * base, abs=1)


@pytest.mark.parametrize("app_config", [{"MAIL_TIMEOUT_S": 0.5}])
def test_a_silent_smtp_server_counts_as_a_failure_instead_of_hanging_the_sender(app):
    # A server that accepts the connection but never greets.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        app.config.update(mail_config(*silent.getsockname()))
        mail.init_app(app)
        _queue()
        results = []

        def sender():
            with app.app_context():
                results.append(do_send_due())
                db.session.remove()

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        thread.join(WAIT_S * 2)
        assert not thread.is_alive()
    assert results == [(0, 1)]
    (row,) = _outbox()
    assert "timed out" in row.last_error.lower() or "timeout" in row.last_error.lower()


@pytest.mark.parametrize("app_config", [{"OUTBOX_MAX_ATTEMPTS": 3}])
def test_mail_is_marked_failed_after_the_maximum_attempts(smtp_server, app):  # noqa: F811
    smtp_server.stop()
    _queue()
    for attempt in (1, 2):
        (row,) = _outbox()
        _make_due(row)
        assert do_send_due() == (0, 1)
        (row,) = _outbox()
        assert (row.status, row.attempts) == (OutboxStatus.PENDING.value, attempt)

    _make_due(row)
    assert do_send_due() == (0, 1)
    (row,) = _outbox()
    assert (row.status, row.attempts) == (OutboxStatus.FAILED.value, 3)
    assert row.last_error

    smtp_server.start()
    _make_due(row)
    assert do_send_due() == (0, 0)
    assert smtp_server.wait_for(1, timeout=0.3) == []


def test_two_concurrent_senders_deliver_each_mail_once(smtp_server, app, monkeypatch):  # noqa: F811
    _queue(3)
    # Both senders read the same due rows before either leases one, so only
    # the conditional lease can keep them from sending twice.
    barrier = threading.Barrier(2, timeout=WAIT_S)
    claim = mailer._do_claim

    def claim_together(row_id, now):
        barrier.wait()
        return claim(row_id, now)

    monkeypatch.setattr(mailer, "_do_claim", claim_together)
    results, problems = [], []

    def sender():
        try:
            with app.app_context():
                results.append(do_send_due())
                db.session.remove()
        except Exception as error:  # reported below; a thread cannot fail the test itself
            problems.append(error)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_S * 4)
    assert not problems
    assert not any(thread.is_alive() for thread in threads)

    assert sum(sent for sent, _ in results) == 3
    assert sum(failed for _, failed in results) == 0
    assert len(smtp_server.wait_for(4, timeout=0.5)) == 3
    assert sorted(m["To"] for m in smtp_server.messages) == [f"to{i}@example.com" for i in range(3)]
    assert [(r.status, r.attempts) for r in _outbox()] == [(OutboxStatus.SENT.value, 1)] * 3


def test_a_leased_mail_is_not_sent_by_another_sender(smtp_server, app):  # noqa: F811
    (row,) = _queue()
    row.locked_until = utcnow() + timedelta(seconds=60)
    db.session.commit()
    assert do_send_due() == (0, 0)
    assert smtp_server.wait_for(1, timeout=0.3) == []


def test_a_lapsed_lease_is_taken_over(smtp_server, app):  # noqa: F811
    (row,) = _queue()
    row.locked_until = utcnow() - timedelta(seconds=1)
    row.attempts = 1
    db.session.commit()
    assert do_send_due() == (1, 0)
    assert len(smtp_server.wait_for(1)) == 1


@pytest.mark.parametrize("field, value", [
    ("recipients", ["ann@example.com\r\nBcc: eve@example.com"]),
    ("recipients", ["ann@example.com\nBcc: eve@example.com"]),
    ("subject", "Hello\r\nBcc: eve@example.com"),
    ("subject", "Hello\nX-Injected: yes"),
    ("reply_to", "ann@example.com\rBcc: eve@example.com"),
])
def test_queue_mail_rejects_line_breaks_in_headers(app, field, value):
    kwargs = {"recipients": ["ann@example.com"], "subject": "Hello", "reply_to": None, field: value}
    with pytest.raises(ValidationFailed) as raised:
        queue_mail("test", kwargs["recipients"], kwargs["subject"], "Body", reply_to=kwargs["reply_to"])
    assert raised.value.status == 422
    db.session.commit()
    assert _outbox() == []


def test_queued_mail_keeps_its_content_until_sent(smtp_server, app):  # noqa: F811
    queue_mail("test", ["ann@example.com"], "Grüße <b>", "plain <b>body</b>", "<p>html &amp; body</p>",
               reply_to="desk@example.com")
    db.session.commit()
    assert do_send_due() == (1, 0)
    (message,) = smtp_server.wait_for(1)
    assert message["Subject"] == "Grüße <b>"
    assert message["Reply-To"] == "desk@example.com"
    assert message.get_body(("plain",)).get_content().strip() == "plain <b>body</b>"
    assert message.get_body(("html",)).get_content().strip() == "<p>html &amp; body</p>"


@pytest.mark.parametrize("app_config", [{"OUTBOX_POLL_S": 0.05}])
def test_outbox_sender_thread_drains_the_outbox(smtp_server, app):  # noqa: F811
    _queue(2)
    sender = outbox_sender(app).start()
    try:
        messages = smtp_server.wait_for(2)
    finally:
        sender.stop(timeout=WAIT_S)
    assert not sender.thread.is_alive()
    assert len(messages) == 2
    assert {r.status for r in _outbox()} == {OutboxStatus.SENT.value}


def test_outbox_send_command_reports_its_counts(smtp_server, runner, app):  # noqa: F811
    _queue(2)
    result = runner.invoke(args=["outbox", "send"])
    assert result.exit_code == 0, result.output
    assert "sent 2, failed 0" in result.output
    assert len(smtp_server.wait_for(2)) == 2
