"""canned responses (shared and personal) and private notes in conversations

Revision ID: c1a5e7d0f103
Revises: c1a5e7d0f101
Create Date: 2026-12-01 05:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f103'
down_revision = 'c1a5e7d0f101'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('canned_responses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=True),
    sa.Column('shortcut', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_canned_responses_owner_id_users'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_canned_responses_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canned_responses')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('canned_responses', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canned_responses_workspace_id'), ['workspace_id'], unique=False)
        batch_op.create_index('uq_canned_responses_shared_shortcut', ['workspace_id', 'shortcut'], unique=True, postgresql_where=sa.text('owner_id IS NULL'), sqlite_where=sa.text('owner_id IS NULL'))
        batch_op.create_index('uq_canned_responses_personal_shortcut', ['owner_id', 'shortcut'], unique=True, postgresql_where=sa.text('owner_id IS NOT NULL'), sqlite_where=sa.text('owner_id IS NOT NULL'))

    op.create_table('notes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('workspace_id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.Integer(), nullable=False),
    sa.Column('author_id', sa.Integer(), nullable=True),
    sa.Column('author_name', sa.String(length=120), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('mentions', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['author_id'], ['users.id'], name=op.f('fk_notes_author_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], name=op.f('fk_notes_conversation_id_conversations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_notes_workspace_id_workspaces'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notes')),
    sqlite_autoincrement=True
    )
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.create_index('ix_notes_conversation_id_id', ['conversation_id', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_notes_workspace_id'), ['workspace_id'], unique=False)


def downgrade():
    with op.batch_alter_table('notes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notes_workspace_id'))
        batch_op.drop_index('ix_notes_conversation_id_id')
    op.drop_table('notes')
    with op.batch_alter_table('canned_responses', schema=None) as batch_op:
        batch_op.drop_index('uq_canned_responses_personal_shortcut', postgresql_where=sa.text('owner_id IS NOT NULL'), sqlite_where=sa.text('owner_id IS NOT NULL'))
        batch_op.drop_index('uq_canned_responses_shared_shortcut', postgresql_where=sa.text('owner_id IS NULL'), sqlite_where=sa.text('owner_id IS NULL'))
        batch_op.drop_index(batch_op.f('ix_canned_responses_workspace_id'))
    op.drop_table('canned_responses')
