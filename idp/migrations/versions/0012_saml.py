"""SAML 2.0: service providers, the service providers of a login session, their consents,
the AuthnRequests answered; logout notices for SAML service providers too

Revision ID: 0012
Revises: 0009
Create Date: 2026-12-07 10:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('saml_service_provider',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('entity_id', sa.String(length=500), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('metadata_xml', sa.Text(), nullable=False),
    sa.Column('metadata_source', sa.String(length=500), nullable=True),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('nameid_format', sa.String(length=20), nullable=False),
    sa.Column('trusted', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('idp_initiated', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('logout_soap', sa.String(length=500), nullable=True),
    sa.Column('logout_redirect', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saml_service_provider')),
    sa.UniqueConstraint('entity_id', name=op.f('uq_saml_service_provider_entity_id'))
    )
    op.create_table('saml_answered_request',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('digest', name=op.f('pk_saml_answered_request'))
    )
    with op.batch_alter_table('saml_answered_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saml_answered_request_expires_at'), ['expires_at'], unique=False)

    op.create_table('saml_consent',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('sp_pk', sa.Integer(), nullable=False),
    sa.Column('granted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_saml_consent_account_id_account'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sp_pk'], ['saml_service_provider.id'], name=op.f('fk_saml_consent_sp_pk_saml_service_provider'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'sp_pk', name=op.f('pk_saml_consent'))
    )
    with op.batch_alter_table('saml_consent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saml_consent_sp_pk'), ['sp_pk'], unique=False)

    op.create_table('session_saml_sp',
    sa.Column('login_session_id', sa.Integer(), nullable=False),
    sa.Column('sp_pk', sa.Integer(), nullable=False),
    sa.Column('name_id', sa.String(length=255), nullable=False),
    sa.Column('name_id_format', sa.String(length=20), nullable=False),
    sa.Column('first_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['login_session_id'], ['login_session.id'], name=op.f('fk_session_saml_sp_login_session_id_login_session'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sp_pk'], ['saml_service_provider.id'], name=op.f('fk_session_saml_sp_sp_pk_saml_service_provider'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('login_session_id', 'sp_pk', name=op.f('pk_session_saml_sp'))
    )
    with op.batch_alter_table('session_saml_sp', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_session_saml_sp_sp_pk'), ['sp_pk'], unique=False)

    with op.batch_alter_table('logout_notice', schema=None) as batch_op:
        batch_op.add_column(sa.Column('saml_sp_pk', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('name_id_format', sa.String(length=20), nullable=True))
        batch_op.alter_column('client_pk', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_logout_notice_saml_sp_pk'), ['saml_sp_pk'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_logout_notice_saml_sp_pk_saml_service_provider'), 'saml_service_provider', ['saml_sp_pk'], ['id'], ondelete='CASCADE')


def downgrade():
    with op.batch_alter_table('logout_notice', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_logout_notice_saml_sp_pk_saml_service_provider'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_logout_notice_saml_sp_pk'))
    op.execute("DELETE FROM logout_notice WHERE client_pk IS NULL")
    with op.batch_alter_table('logout_notice', schema=None) as batch_op:
        batch_op.alter_column('client_pk', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('name_id_format')
        batch_op.drop_column('saml_sp_pk')
    op.drop_table('session_saml_sp')
    op.drop_table('saml_consent')
    op.drop_table('saml_answered_request')
    op.drop_table('saml_service_provider')
