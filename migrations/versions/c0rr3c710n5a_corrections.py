"""corrections: visitors' "wrong? tell us" pictures and the class they chose

Revision ID: c0rr3c710n5a
Revises: 250fd6653d84
Create Date: 2026-12-02 11:45:00

"""
from alembic import op
import sqlalchemy as sa


revision = 'c0rr3c710n5a'
down_revision = '250fd6653d84'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'corrections',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=True),
        sa.Column('predicted_label', sa.String(length=200), nullable=True),
        sa.Column('chosen_label', sa.String(length=200), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('image_name', sa.String(length=200), nullable=True),
        sa.Column('dataset_path', sa.String(length=1000), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), nullable=True),
        sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_corrections_model_version_id_model_versions'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_corrections_decided_by_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_corrections')),
    )
    with op.batch_alter_table('corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_corrections_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_corrections_status'), ['status'], unique=False)


def downgrade():
    with op.batch_alter_table('corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_corrections_status'))
        batch_op.drop_index(batch_op.f('ix_corrections_created_at'))
    op.drop_table('corrections')
