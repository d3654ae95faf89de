"""ratings, transcript auto-send, workspace time zone, report indexes

Revision ID: c1a5e7d0f107
Revises: c1a5e7d0f108
Create Date: 2026-12-01 06:10:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f107'
down_revision = 'c1a5e7d0f108'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'ratings',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('interface_id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.Integer(), nullable=False),
        sa.Column('visitor_id', sa.Integer(), nullable=True),
        sa.Column('agent_id', sa.Integer(), nullable=True),
        sa.Column('score', sa.SmallInteger(), nullable=False),
        sa.Column('comment', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('score BETWEEN 1 AND 5', name='ck_ratings_score'),
        sa.ForeignKeyConstraint(['agent_id'], ['users.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['interface_id'], ['interfaces.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['visitor_id'], ['visitors.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('conversation_id'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('ratings', schema=None) as batch_op:
        batch_op.create_index('ix_ratings_workspace_created', ['workspace_id', 'created_at'], unique=False)
        batch_op.create_index('ix_ratings_agent_created', ['agent_id', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_interface_id'), ['interface_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ratings_visitor_id'), ['visitor_id'], unique=False)

    # Plain ADD COLUMN (a constant default): a batch would rebuild these tables on SQLite and lose AUTOINCREMENT.
    op.add_column('interfaces', sa.Column('transcript_auto_send', sa.Boolean(), server_default=sa.false(),
                                          nullable=False))
    op.add_column('workspaces', sa.Column('timezone', sa.String(length=64), server_default=sa.text("'UTC'"),
                                          nullable=False))
    with op.batch_alter_table('live_requests', schema=None) as batch_op:
        batch_op.create_index('ix_live_requests_workspace_created', ['workspace_id', 'created_at'], unique=False)
    with op.batch_alter_table('offline_submissions', schema=None) as batch_op:
        batch_op.create_index('ix_offline_submissions_workspace_created', ['workspace_id', 'created_at'],
                              unique=False)
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversation_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_outbox_mails_conversation_id'), ['conversation_id'], unique=False)


def downgrade():
    with op.batch_alter_table('outbox_mails', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_outbox_mails_conversation_id'))
        batch_op.drop_column('conversation_id')
    with op.batch_alter_table('offline_submissions', schema=None) as batch_op:
        batch_op.drop_index('ix_offline_submissions_workspace_created')
    with op.batch_alter_table('live_requests', schema=None) as batch_op:
        batch_op.drop_index('ix_live_requests_workspace_created')
    with op.batch_alter_table('workspaces', schema=None) as batch_op:
        batch_op.drop_column('timezone')
    with op.batch_alter_table('interfaces', schema=None) as batch_op:
        batch_op.drop_column('transcript_auto_send')
    op.drop_table('ratings')
