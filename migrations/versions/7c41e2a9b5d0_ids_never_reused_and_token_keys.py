"""ids are never reused; tokens, tickets and links carry a per-user key

SQLite gives the id of a deleted newest row to the next row unless the table
is declared AUTOINCREMENT, and a table cannot be altered into it: each table
is rebuilt (batch mode, recreate="always"). PostgreSQL sequences never go
back, so there only the key columns are added.

Revision ID: 7c41e2a9b5d0
Revises: 2d72bffa8d03
Create Date: 2026-11-30 22:30:00.000000

"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7c41e2a9b5d0'
down_revision = '2d72bffa8d03'
branch_labels = None
depends_on = None

KEY_LEN = 32
BACKFILL_CHUNK = 1000

# Every table whose ids leave the database, parents first.
ID_TABLES = (
    'workspaces', 'users', 'interfaces', 'visitors', 'components', 'conversations', 'messages', 'live_requests',
    'notifications', 'offline_submissions', 'calls', 'password_tokens', 'socket_tickets', 'outbox_mails',
    'audit_entries', 'events',
)
# The key columns each table gets: the owner's own key, or the key it was issued for.
KEY_COLUMNS = {
    'users': 'token_key',
    'visitors': 'token_key',
    'password_tokens': 'user_key',
    'socket_tickets': 'subject_key',
}
# Made again from here rather than copied: older SQLAlchemy reflects no index predicate on SQLite.
PARTIAL_INDEXES = {
    'conversations': ('uq_conversations_open_visitor', ['visitor_id'], "status <> 'closed'"),
    'calls': ('uq_calls_live_conversation', ['conversation_id'], "status <> 'ended'"),
    'live_requests': ('uq_live_requests_pending_conversation', ['conversation_id'], "status = 'pending'"),
}


def _is_sqlite():
    return op.get_bind().dialect.name == 'sqlite'


def _check_foreign_keys_off():
    # A rebuild drops the old table; with foreign keys enforced, that drop
    # would delete or null every row that refers to it (env.py turns them off).
    if op.get_bind().exec_driver_sql('PRAGMA foreign_keys').scalar():
        raise RuntimeError('PRAGMA foreign_keys must be OFF while SQLite tables are rebuilt')


def _check_foreign_keys_hold():
    problems = op.get_bind().exec_driver_sql('PRAGMA foreign_key_check').all()
    if problems:
        raise RuntimeError(f'foreign keys broken by the rebuild: {problems[:10]}')


def _random_keys(table):
    """Give every row of table its own random key (in Python: the same 128 bits on every database)."""
    bind = op.get_bind()
    rows = sa.table(table, sa.column('id', sa.Integer), sa.column('token_key', sa.String(KEY_LEN)))
    last_id = 0
    while True:
        ids = bind.execute(sa.select(rows.c.id).where(rows.c.id > last_id).order_by(rows.c.id)
                           .limit(BACKFILL_CHUNK)).scalars().all()
        if not ids:
            return
        bind.execute(rows.update().where(rows.c.id == sa.bindparam('row_id')).values(token_key=sa.bindparam('key')),
                     [{'row_id': row_id, 'key': secrets.token_hex(KEY_LEN // 2)} for row_id in ids])
        last_id = ids[-1]


def _backfill():
    _random_keys('users')
    _random_keys('visitors')
    op.execute("UPDATE password_tokens SET user_key = "
               "(SELECT token_key FROM users WHERE users.id = password_tokens.user_id)")
    op.execute("UPDATE socket_tickets SET subject_key = CASE kind "
               "WHEN 'user' THEN (SELECT token_key FROM users WHERE users.id = socket_tickets.subject_id) "
               "ELSE (SELECT token_key FROM visitors WHERE visitors.id = socket_tickets.subject_id) END")
    # A link or ticket whose subject is gone must not wait for a later row with its id.
    op.execute('DELETE FROM password_tokens WHERE user_key IS NULL')
    op.execute('DELETE FROM socket_tickets WHERE subject_key IS NULL')


def _rebuild(table, autoincrement, key_column=None, drop_key=False):
    """Rebuild a SQLite table, with or without AUTOINCREMENT, making or dropping its key NOT NULL."""
    partial = PARTIAL_INDEXES.get(table)
    with op.batch_alter_table(table, recreate='always', table_kwargs={'sqlite_autoincrement': autoincrement}) as batch:
        if partial:
            batch.drop_index(partial[0])
        if key_column and drop_key:
            batch.drop_column(key_column)
        elif key_column:
            batch.alter_column(key_column, existing_type=sa.String(KEY_LEN), nullable=False)
    if partial:
        name, columns, where = partial
        op.create_index(name, table, columns, unique=True, sqlite_where=sa.text(where))


def upgrade():
    for table, column in KEY_COLUMNS.items():
        op.add_column(table, sa.Column(column, sa.String(length=KEY_LEN), nullable=True))
    _backfill()
    if not _is_sqlite():
        for table, column in KEY_COLUMNS.items():
            op.alter_column(table, column, existing_type=sa.String(length=KEY_LEN), nullable=False)
        return
    _check_foreign_keys_off()
    for table in ID_TABLES:
        _rebuild(table, autoincrement=True, key_column=KEY_COLUMNS.get(table))
    _check_foreign_keys_hold()


def downgrade():
    if not _is_sqlite():
        for table, column in KEY_COLUMNS.items():
            op.drop_column(table, column)
        return
    _check_foreign_keys_off()
    for table in ID_TABLES:
        _rebuild(table, autoincrement=False, key_column=KEY_COLUMNS.get(table), drop_key=True)
    op.execute('DELETE FROM sqlite_sequence WHERE name IN ({})'.format(', '.join(f"'{t}'" for t in ID_TABLES)))
    _check_foreign_keys_hold()
