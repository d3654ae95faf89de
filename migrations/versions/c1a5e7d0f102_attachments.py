"""attachments: files uploaded into conversations, and stored files waiting to be removed

Revision ID: c1a5e7d0f102
Revises: c1a5e7d0f104
Create Date: 2026-12-01 05:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c1a5e7d0f102'
down_revision = 'c1a5e7d0f104'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('workspace_id', sa.Integer(), nullable=False),
        sa.Column('conversation_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
        sa.Column('uploader_type', sa.Enum('visitor', 'agent', name='uploadertype', native_enum=False, length=16),
                  nullable=False),
        sa.Column('uploader_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['conversation_id'], ['conversations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['message_id'], ['messages.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('storage_key'),
        sqlite_autoincrement=True,
    )
    op.create_index('ix_attachments_conversation_id', 'attachments', ['conversation_id'], unique=False)
    op.create_index('ix_attachments_unsent', 'attachments', ['message_id', 'created_at'], unique=False)
    op.create_index(op.f('ix_attachments_workspace_id'), 'attachments', ['workspace_id'], unique=False)
    op.create_table(
        'stored_file_deletions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('storage_key', sa.String(length=128), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sqlite_autoincrement=True,
    )


def downgrade():
    op.drop_table('stored_file_deletions')
    op.drop_index(op.f('ix_attachments_workspace_id'), table_name='attachments')
    op.drop_index('ix_attachments_unsent', table_name='attachments')
    op.drop_index('ix_attachments_conversation_id', table_name='attachments')
    op.drop_table('attachments')
