"""Full-text search over message text: the database structures outside the models' metadata.

PostgreSQL: a GIN index over `to_tsvector('simple', text)` on messages, queried with `plainto_tsquery`
(user input is always plain text, never query syntax). SQLite: an FTS5 external-content table over
messages (`content='messages', content_rowid='id'`) kept in step by three triggers, so a message
inserted, edited or deleted (a conversation, visitor, interface or workspace deleted with it, by cascade)
leaves the index as the table is.

`db.create_all()` builds them with the messages table (the tests), the migration builds them on a
database Alembic manages; `is_search_object` tells both model-versus-database comparisons (Alembic's
autogenerate, tests/test_migrations.py) to leave them alone. The migration keeps its own copy of the
statements below: migrations do not import application code.
"""
from sqlalchemy import DDL, event

from models.conversation import Message

# The text search configuration: no stemming, no stop words (chats are in many languages).
TS_CONFIG = "simple"
PG_INDEX = "ix_messages_text_search"
FTS_TABLE = "messages_fts"
# What FTS5 makes for a table: the virtual table and its shadow tables.
FTS_SHADOWS = tuple(f"{FTS_TABLE}_{suffix}" for suffix in ("data", "idx", "content", "docsize", "config"))

PG_CREATE = (f"CREATE INDEX IF NOT EXISTS {PG_INDEX} ON messages USING gin (to_tsvector('{TS_CONFIG}', text))",)
PG_DROP = (f"DROP INDEX IF EXISTS {PG_INDEX}",)

SQLITE_CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5(text, content='messages', content_rowid='id')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_insert AFTER INSERT ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_delete AFTER DELETE ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_update AFTER UPDATE OF text ON messages BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, text) VALUES ('delete', old.id, old.text); "
    f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (new.id, new.text); END",
)
SQLITE_DROP = tuple(f"DROP TRIGGER IF EXISTS {FTS_TABLE}_{what}" for what in ("insert", "delete", "update")) + (
    f"DROP TABLE IF EXISTS {FTS_TABLE}",
)


def is_search_object(name, type_):
    """True for the search index and tables, which the models do not declare (see the module's docstring)."""
    if type_ == "index":
        return name == PG_INDEX
    return type_ == "table" and (name == FTS_TABLE or name in FTS_SHADOWS)


def include_object(obj, name, type_, reflected, compare_to):
    """Alembic's include_object hook: compare everything but the search structures."""
    return not (reflected and compare_to is None and is_search_object(name, type_))


for _statement in PG_CREATE:
    event.listen(Message.__table__, "after_create", DDL(_statement).execute_if(dialect="postgresql"))
for _statement in SQLITE_CREATE:
    event.listen(Message.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in SQLITE_DROP:
    event.listen(Message.__table__, "before_drop", DDL(_statement).execute_if(dialect="sqlite"))
