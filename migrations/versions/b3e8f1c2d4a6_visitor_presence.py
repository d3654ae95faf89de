"""visitor presence: when a visitor's socket was last seen, and when they were found gone

Both columns are nullable: a visitor without a socket yet is never judged absent.

Revision ID: b3e8f1c2d4a6
Revises: 7c41e2a9b5d0
Create Date: 2026-11-30 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e8f1c2d4a6'
down_revision = '7c41e2a9b5d0'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ADD COLUMN on SQLite too: a batch rebuild would drop the table's AUTOINCREMENT.
    op.add_column('visitors', sa.Column('presence_seen_at', sa.DateTime(), nullable=True))
    op.add_column('visitors', sa.Column('absent_at', sa.DateTime(), nullable=True))


def downgrade():
    op.drop_column('visitors', 'absent_at')
    op.drop_column('visitors', 'presence_seen_at')
