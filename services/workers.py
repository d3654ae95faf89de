"""Background work inside a server process: a periodic worker that survives failures.

A worker given a lease name runs its job in one process of the deployment per
round (services/leases.py), so N workers on M machines do not all repeat it.
"""
import logging
import threading

from extensions import db
from metrics import BACKGROUND_RUNS
from services.leases import do_claim, do_release, lease_ttl

log = logging.getLogger(__name__)


class PeriodicWorker:
    """A daemon thread that runs work() in an app context every interval, surviving failures.

    With a lease name, a round runs work() only in the process holding that
    lease (claimed or renewed at the start of the round); the others skip it.
    """

    def __init__(self, app, name, interval_s, work, lease=None):
        self.app, self.name, self.interval_s, self.work, self.lease = app, name, interval_s, work, lease
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=5):
        self.stop_event.set()
        self.thread.join(timeout)

    def run(self):
        while not self.stop_event.is_set():
            try:
                with self.app.app_context():
                    ran = self.run_round()
                    db.session.remove()
                BACKGROUND_RUNS.labels(self.name, "ok" if ran else "skipped").inc()
            except Exception:  # the database or SMTP may be briefly gone: try again next round
                BACKGROUND_RUNS.labels(self.name, "failed").inc()
                log.warning("%s round failed", self.name, exc_info=True)
            self.stop_event.wait(self.interval_s)
        self.release()

    def run_round(self):
        """One round in the current app context; False when another process holds the job's lease."""
        if self.lease and not do_claim(self.lease, lease_ttl(self.interval_s)):
            return False
        self.work()
        return True

    def release(self):
        """A stopping worker hands its lease on at once rather than when it expires."""
        if not self.lease:
            return
        try:
            with self.app.app_context():
                do_release(self.lease)
                db.session.remove()
        except Exception:  # it expires by itself
            log.warning("%s: lease not released", self.name, exc_info=True)
