"""Readiness checks."""
from flask import current_app
from sqlalchemy import text

from errors import Unavailable
from extensions import db


def check_ready():
    """Ping each dependency; raise 503 naming the ones that do not answer."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
        checks["database"] = "ok"
    except Exception:
        db.session.rollback()
        checks["database"] = "unreachable"
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        try:
            import redis

            redis.Redis.from_url(redis_url, socket_timeout=1, socket_connect_timeout=1).ping()
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unreachable"
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        raise Unavailable(f"Not ready: {', '.join(failing)} unreachable", errors={"checks": checks})
    return checks
