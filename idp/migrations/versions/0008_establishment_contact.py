"""How to reach an establishment (address, phone, contact line) and a guardian's civility, for the letters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 09:00:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('address', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('phone', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('contact', sa.String(length=200), nullable=True))
    with op.batch_alter_table('legal_guardian', schema=None) as batch_op:
        batch_op.add_column(sa.Column('civility', sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('legal_guardian', schema=None) as batch_op:
        batch_op.drop_column('civility')
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_column('contact')
        batch_op.drop_column('phone')
        batch_op.drop_column('address')
