"""Outages: PostgreSQL or Redis stops under two server processes, and two outbox senders meet."""
from extensions import db
from models import OutboxMail
from services import mailer
from services.mailer import queue_mail
from tests.smtp import smtp_server  # noqa: F401 - fixture


# -- the outbox with two senders ---------------------------------------------------


def test_two_senders_on_the_same_due_row_make_one_attempt(smtp_server, app, monkeypatch):  # noqa: F811
    # Both senders read the row as due; one makes its attempt (SMTP is down: it fails and backs off)
    # before the other claims it. The second claim must see the row is no longer due.
    smtp_server.stop()
    queue_mail("test", ["to@example.com"], "Subject", "Body")
    db.session.commit()
    claim = mailer._claim
    other_sender = []

    def claim_after_the_other_sender(row_id, now):
        if not other_sender:
            other_sender.append(True)
            with app.app_context():
                other_sender.append(mailer.send_due())
                db.session.remove()
        return claim(row_id, now)

    monkeypatch.setattr(mailer, "_claim", claim_after_the_other_sender)
    assert mailer.send_due() == (0, 0)
    assert other_sender == [True, (0, 1)]
    db.session.expire_all()
    (row,) = db.session.query(OutboxMail).all()
    assert row.attempts == 1
    assert row.next_attempt_at > row.created_at
