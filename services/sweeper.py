"""The sweep: the timers that are rows, acted on once their time has passed.

Everything here is idempotent and decided by conditional updates, so two
sweeps at once do no harm.
"""
from services.live_requests import sweep_expired
from services.presence import sweep_absent, sweep_absent_visitors, sweep_idle_chats
from services.releases import sweep_abandoned_calls


def sweep_once():
    """Expire overdue requests, set absent agents offline, end abandoned calls, act on absent visitors.

    Says how many of each.
    """
    return {"expired requests": sweep_expired(), "absent agents": len(sweep_absent()),
            "abandoned calls": len(sweep_abandoned_calls()), "absent visitors": len(sweep_absent_visitors()),
            "idle chats": len(sweep_idle_chats())}
