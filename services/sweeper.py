"""Background work of a server process: request deadlines (and anything else periodic)."""
import logging
import threading

log = logging.getLogger(__name__)


class Sweeper:
    """A daemon thread that expires overdue requests every interval."""

    def __init__(self, app, interval_s):
        self.app = app
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, name="request-sweeper", daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self, timeout=5):
        self.stop_event.set()
        self.thread.join(timeout)

    def run(self):
        from extensions import db
        from services.live_requests import sweep_expired

        while not self.stop_event.wait(self.interval_s):
            try:
                with self.app.app_context():
                    sweep_expired()
                    db.session.remove()
            except Exception:  # the database may be briefly gone: try again next round
                log.warning("request sweep failed", exc_info=True)
