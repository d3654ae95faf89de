"""business hours on interfaces

Revision ID: c1a5e7d0f105
Revises: c1a5e7d0f102
Create Date: 2026-12-01 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f105'
down_revision = 'c1a5e7d0f102'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('interfaces', schema=None) as batch_op:
        batch_op.add_column(sa.Column('business_hours', sa.JSON(), nullable=True))


def downgrade():
    with op.batch_alter_table('interfaces', schema=None) as batch_op:
        batch_op.drop_column('business_hours')
