"""visitor identity (verified external id, e-mail flag, attributes); interfaces' identity secret and pre-chat form

Every existing interface gets its own random identity secret. Columns are
added in place (no batch rebuild: on SQLite that would drop AUTOINCREMENT);
the NOT NULL secret is added with an empty server default that PostgreSQL
then drops. The service never verifies against an empty secret.

Revision ID: c1a5e7d0f101
Revises: b3e8f61a2c47
Create Date: 2026-12-01 05:30:00.000000

"""
import secrets

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f101'
down_revision = 'b3e8f61a2c47'
branch_labels = None
depends_on = None

SECRET_LEN = 64
BACKFILL_CHUNK = 1000


def _random_secrets():
    """Give every interface its own secret (in Python: the same 256 bits on every database)."""
    bind = op.get_bind()
    rows = sa.table('interfaces', sa.column('id', sa.Integer), sa.column('identity_secret', sa.String(SECRET_LEN)))
    last_id = 0
    while True:
        ids = bind.execute(sa.select(rows.c.id).where(rows.c.id > last_id).order_by(rows.c.id)
                           .limit(BACKFILL_CHUNK)).scalars().all()
        if not ids:
            return
        bind.execute(rows.update().where(rows.c.id == sa.bindparam('row_id'))
                     .values(identity_secret=sa.bindparam('secret')),
                     [{'row_id': row_id, 'secret': secrets.token_hex(SECRET_LEN // 2)} for row_id in ids])
        last_id = ids[-1]


def upgrade():
    op.add_column('visitors', sa.Column('email_verified', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('visitors', sa.Column('external_id', sa.String(length=128), nullable=True))
    op.add_column('visitors', sa.Column('attributes', sa.JSON(), nullable=True))
    op.create_index('uq_visitors_interface_external_id', 'visitors', ['interface_id', 'external_id'], unique=True)
    op.add_column('interfaces', sa.Column('identity_secret', sa.String(length=SECRET_LEN), nullable=False,
                                          server_default=''))
    op.add_column('interfaces', sa.Column('prechat_form', sa.JSON(), nullable=True))
    _random_secrets()
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('interfaces', 'identity_secret', existing_type=sa.String(length=SECRET_LEN),
                        server_default=None)


def downgrade():
    op.drop_column('interfaces', 'prechat_form')
    op.drop_column('interfaces', 'identity_secret')
    op.drop_index('uq_visitors_interface_external_id', table_name='visitors')
    op.drop_column('visitors', 'attributes')
    op.drop_column('visitors', 'external_id')
    op.drop_column('visitors', 'email_verified')
