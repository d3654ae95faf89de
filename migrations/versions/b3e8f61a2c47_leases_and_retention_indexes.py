"""leases for periodic jobs; indexes the retention prune reads by

Revision ID: b3e8f61a2c47
Revises: b3e8f1c2d4a6
Create Date: 2026-11-30 23:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e8f61a2c47'
down_revision = 'b3e8f1c2d4a6'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'leases',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('holder', sa.String(length=128), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
    )
    op.create_index('ix_audit_entries_created_at', 'audit_entries', ['created_at'], unique=False)
    op.create_index('ix_notifications_resolved_at', 'notifications', ['resolved_at'], unique=False)


def downgrade():
    op.drop_index('ix_notifications_resolved_at', table_name='notifications')
    op.drop_index('ix_audit_entries_created_at', table_name='audit_entries')
    op.drop_table('leases')
