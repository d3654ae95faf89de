"""How often a typing indicator is passed on: one `typing: true` per principal and conversation per interval.

A client says `typing: true` on every key press or so; the other side needs it once, then again only when
it may have timed the indicator out. Per server process, in memory: a principal typing in two tabs served by
two processes may be passed on twice an interval, which is harmless. `typing: false` always passes, and
resets the interval: typing again right after stopping shows at once.
"""
import threading
import time

from flask import current_app

# Keys kept at most; past it the stale ones go (and, were they all fresh, all of them: forgetting only lets
# one more `typing: true` through).
MAX_KEYS = 100_000


class TypingThrottle:
    def __init__(self, interval_s, clock=time.monotonic, max_keys=MAX_KEYS):
        self.interval_s, self.clock, self.max_keys = interval_s, clock, max_keys
        self._last = {}
        self._lock = threading.Lock()

    def allow(self, key, typing):
        """True when this typing frame of key (principal, conversation) is to be passed on."""
        with self._lock:
            if not typing:
                self._last.pop(key, None)
                return True
            now = self.clock()
            last = self._last.get(key)
            if last is not None and now - last < self.interval_s:
                return False
            if last is None and len(self._last) >= self.max_keys:
                self._forget_stale(now)
            self._last[key] = now
            return True

    def _forget_stale(self, now):
        self._last = {k: t for k, t in self._last.items() if now - t < self.interval_s}
        if len(self._last) >= self.max_keys:
            self._last = {}


def typing_throttle():
    """The app's throttle, made on first use with TYPING_THROTTLE_S."""
    extensions = current_app.extensions
    if "typing_throttle" not in extensions:
        extensions.setdefault("typing_throttle", TypingThrottle(current_app.config.get("TYPING_THROTTLE_S", 2.0)))
    return extensions["typing_throttle"]
