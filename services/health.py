"""Readiness checks."""
from flask import current_app
from sqlalchemy import text

from errors import Unavailable
from extensions import db


def check_ready():
    """Check each dependency; raise 503 naming the ones that are not ready.

    With Redis, two checks: "redis", whether it answers a PING now (through the broker's one probe client,
    not a new connection per probe), and "broker", whether this process's listener is subscribed. While the
    listener is away the process still serves, but its sockets hear other processes' events only from the
    event table's poll, up to a second late: another instance serves them better.
    """
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception:
        db.session.rollback()
        checks["database"] = "unreachable"
    if current_app.config.get("REDIS_URL"):
        broker = current_app.extensions["broker"]
        checks["redis"] = "ok" if broker.ping() else "unreachable"
        checks["broker"] = "ok" if broker.connected else "disconnected"
    failing = [f"{name} {state}" for name, state in sorted(checks.items()) if state != "ok"]
    if failing:
        raise Unavailable(f"Not ready: {', '.join(failing)}", errors={"checks": checks})
    return checks
