"""Background work of a server process: a periodic worker, and the sweep it runs.

Everything here is idempotent and decided by conditional updates, so every
worker of every machine may run it at once.
"""
import logging
import threading

log = logging.getLogger(__name__)


class PeriodicWorker:
    """A daemon thread that runs work() in an app context every interval, surviving failures."""

    def __init__(self, app, name, interval_s, work):
        self.app, self.name, self.interval_s, self.work = app, name, interval_s, work
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=5):
        self.stop_event.set()
        self.thread.join(timeout)

    def run(self):
        from extensions import db
        from metrics import BACKGROUND_RUNS

        while not self.stop_event.is_set():
            try:
                with self.app.app_context():
                    self.work()
                    db.session.remove()
                BACKGROUND_RUNS.labels(self.name, "ok").inc()
            except Exception:  # the database or SMTP may be briefly gone: try again next round
                BACKGROUND_RUNS.labels(self.name, "failed").inc()
                log.warning("%s round failed", self.name, exc_info=True)
            self.stop_event.wait(self.interval_s)


def sweep_once():
    """Expire overdue requests, set absent agents offline, end abandoned calls, act on absent visitors.

    Says how many of each.
    """
    from services.calls import sweep_abandoned_calls
    from services.live_requests import sweep_expired
    from services.presence import sweep_absent, sweep_absent_visitors, sweep_idle_chats

    return {"expired requests": sweep_expired(), "absent agents": len(sweep_absent()),
            "abandoned calls": len(sweep_abandoned_calls()), "absent visitors": len(sweep_absent_visitors()),
            "idle chats": len(sweep_idle_chats())}
