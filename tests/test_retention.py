"""Leases run a periodic job in one process a round, and an expired one is taken over."""
import threading
from datetime import timedelta

from sqlalchemy import update

from extensions import db
from models.base import utcnow
from models.lease import Lease
from services.leases import claim
from services.sweeper import PeriodicWorker


def test_two_workers_ticking_at_once_run_the_job_once(app):
    runs = []
    holders = [f"worker-{n}" for n in range(4)]  # each stands for a process of its own
    start = threading.Barrier(len(holders))
    outcomes = [None] * len(holders)

    def tick(n):
        with app.app_context():
            start.wait()
            outcomes[n] = claim("job", 60, holder=holders[n]) and (runs.append(1) or True)
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
    assert claim("job", 60, holder=winner)
    assert not any(claim("job", 60, holder=h) for h in holders if h != winner)


def test_an_expired_lease_is_taken_over(app):
    assert claim("sweep", 10, holder="dead-worker")
    assert not claim("sweep", 10, holder="live-worker")
    # The holder died: nobody renews, and the lease runs out.
    db.session.execute(update(Lease).where(Lease.name == "sweep").values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert claim("sweep", 10, holder="live-worker")
    assert db.session.get(Lease, "sweep").holder == "live-worker"
    assert not claim("sweep", 10, holder="dead-worker")  # back too late: it waits its turn


def test_a_periodic_worker_runs_its_job_only_with_the_lease_and_gives_it_back_when_stopped(app):
    ran = threading.Event()
    assert claim("retention", 60, holder="another-process")
    other = PeriodicWorker(app, "retention", 60, ran.set, lease="retention")
    assert other.run_round() is False and not ran.is_set()
    db.session.execute(update(Lease).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()

    worker = PeriodicWorker(app, "retention", 60, ran.set, lease="retention").start()
    assert ran.wait(10)
    worker.stop()
    db.session.expire_all()
    assert db.session.get(Lease, "retention") is None
