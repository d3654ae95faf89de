"""Alembic builds the same schema as the models, on SQLite and PostgreSQL."""
import uuid

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, text

from app import create_app
from config import TestConfig
from extensions import db
from models import search
from models.search import include_object
from tests.conftest import database_url, is_postgres


@pytest.fixture
def scratch_url(tmp_path):
    if not is_postgres():
        yield f"sqlite:///{tmp_path}/migrations.db"
        return
    base = database_url()
    name = f"livechat_migr_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_upgrade_builds_the_models_schema_and_downgrade_removes_it(scratch_url):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=scratch_url)
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": include_object}), db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        with db.engine.connect() as conn:  # the search structures, which the comparison leaves out
            inspector = db.inspect(conn)
            if is_postgres():
                assert search.PG_INDEX in {index["name"] for index in inspector.get_indexes("messages")}
            else:
                assert {search.FTS_TABLE, *search.FTS_SHADOWS} - {"messages_fts_content"} <= \
                    set(inspector.get_table_names())
                # A later batch migration of messages rebuilds the table, and its triggers go with it: such a
                # migration must create them again (models/search.py), or the index stops following.
                triggers = set(conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                                 "AND tbl_name = 'messages'")).scalars())
                assert triggers == {f"{search.FTS_TABLE}_{what}" for what in ("insert", "delete", "update")}
        downgrade(revision="base")
        with db.engine.connect() as conn:
            tables = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        assert tables == set()
        db.engine.dispose()


def test_env_database_url_is_normalised_for_psycopg():
    from config import _normalise_db_url

    assert _normalise_db_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert _normalise_db_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert _normalise_db_url("sqlite:///x.db") == "sqlite:///x.db"
