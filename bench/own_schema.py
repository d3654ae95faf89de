"""What the database benchmarks (search.py, reports.py) share: an app on a schema of their own, timed steps.

Each works in one PostgreSQL schema of the given database, created at the start and dropped at the end, so the
database's own tables are never touched.
"""
import time
from contextlib import contextmanager


def schema_app(url, schema, name):
    """The app on `schema` of the database at url, with nothing running in the background."""
    from app import create_app
    from config import Config

    scoped = url + ("&" if "?" in url else "?") + f"options=-csearch_path%3D{schema}"
    return create_app(Config, SQLALCHEMY_DATABASE_URI=scoped, REDIS_URL=None, PASSWORD_HASH_PROFILE="fast",
                      OUTBOX_SENDER_THREAD=False, SWEEPER_THREAD=False, RETENTION_THREAD=False,
                      JWT_SECRET_KEY=f"{name}-bench-" + "x" * 32, TEST_SERVER=True, PUBLIC_URL="http://127.0.0.1",
                      LOG_FORMAT="text")


@contextmanager
def step(what):
    started = time.perf_counter()
    print(f"{what}...", end=" ", flush=True)
    yield
    print(f"{time.perf_counter() - started:.1f} s", flush=True)


@contextmanager
def own_schema(schema, reuse, keep):
    """Within the app context: a new schema with the app's tables (unless reuse), dropped after (unless keep)."""
    from sqlalchemy import text

    from extensions import db

    if not reuse:
        db.session.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        db.session.execute(text(f"CREATE SCHEMA {schema}"))
        db.session.commit()
        with step("tables"):
            db.create_all()
    try:
        yield
    finally:
        db.session.rollback()
        if not keep:
            db.session.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            db.session.commit()
        db.engine.dispose()
