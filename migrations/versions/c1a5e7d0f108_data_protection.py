"""data protection: erased visitors and conversations, retention per workspace

Revision ID: c1a5e7d0f108
Revises: c1a5e7d0f106
Create Date: 2026-12-01 06:10:00.000000

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f108'
down_revision = 'c1a5e7d0f106'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erased_at', sa.DateTime(), nullable=True))
        # The retention worker's search: closed conversations not yet erased, oldest first.
        batch_op.create_index('ix_conversations_closed_unerased', ['closed_at'], unique=False,
                              postgresql_where=sa.text('erased_at IS NULL'), sqlite_where=sa.text('erased_at IS NULL'))


def downgrade():
    with op.batch_alter_table('conversations', schema=None) as batch_op:
        batch_op.drop_index('ix_conversations_closed_unerased')
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('visitors', schema=None) as batch_op:
        batch_op.drop_column('erased_at')
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('retention_days')
