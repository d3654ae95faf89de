"""full-text search over message text: a GIN index on PostgreSQL, an FTS5 table on SQLite; the dashboard's order

conversations (workspace_id, updated_at, id): the dashboard's newest-first pages read off an index.

On PostgreSQL the index is built in this migration's transaction, which holds writes to messages while it
builds; on a large table build it first by hand with CREATE INDEX CONCURRENTLY (the same statement), and
this migration then finds it there. On SQLite the FTS5 table is filled from the messages already stored.

Revision ID: c1a5e7d0f104
Revises: c1a5e7d0f103
Create Date: 2026-12-01 05:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f104'
down_revision = 'c1a5e7d0f103'
branch_labels = None
depends_on = None

PG_CREATE = (
    "CREATE INDEX IF NOT EXISTS ix_messages_text_search ON messages USING gin (to_tsvector('simple', text))",
)
PG_DROP = ("DROP INDEX IF EXISTS ix_messages_text_search",)

SQLITE_CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messages_fts USING fts5(text, content='messages', content_rowid='id')",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER IF NOT EXISTS messages_fts_update AFTER UPDATE OF text ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TABLE IF EXISTS messages_fts",
)


def _run(postgresql, sqlite):
    dialect = op.get_bind().dialect.name
    for statement in {"postgresql": postgresql, "sqlite": sqlite}.get(dialect, ()):
        op.execute(statement)


def upgrade():
    op.create_index('ix_conversations_workspace_updated', 'conversations', ['workspace_id', 'updated_at', 'id'],
                    unique=False)
    _run(PG_CREATE, SQLITE_CREATE)


def downgrade():
    _run(PG_DROP, SQLITE_DROP)
    op.drop_index('ix_conversations_workspace_updated', table_name='conversations')
