"""The INE is no longer unique: a pupil who changes establishment is listed by both until the old one imports again

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 09:00:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('pupil', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_pupil_ine'), type_='unique')
        batch_op.create_index(batch_op.f('ix_pupil_ine'), ['ine'], unique=False)


def downgrade():
    with op.batch_alter_table('pupil', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pupil_ine'))
        batch_op.create_unique_constraint(batch_op.f('uq_pupil_ine'), ['ine'])
