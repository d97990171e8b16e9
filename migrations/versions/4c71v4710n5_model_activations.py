"""model activations: who switched the active model, from which to which, when

Revision ID: 4c71v4710n5
Revises: c0rr3c710n5a
Create Date: 2026-12-02 14:15:00

"""
from alembic import op
import sqlalchemy as sa


revision = '4c71v4710n5'
down_revision = 'c0rr3c710n5a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'model_activations',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=True),
        sa.Column('previous_id', sa.Integer(), nullable=True),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('via', sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_model_activations_model_version_id_model_versions'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['previous_id'], ['model_versions.id'], name=op.f('fk_model_activations_previous_id_model_versions'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_model_activations_user_id_users'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_model_activations')),
    )
    with op.batch_alter_table('model_activations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_activations_created_at'), ['created_at'], unique=False)


def downgrade():
    with op.batch_alter_table('model_activations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_activations_created_at'))
    op.drop_table('model_activations')
