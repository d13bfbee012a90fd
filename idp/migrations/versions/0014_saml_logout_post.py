"""SAML service providers' HTTP-POST SingleLogoutService, for those without a Redirect or SOAP one

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 13:00:00.000000

"""
import sqlalchemy as sa
from alembic import op
from defusedxml import ElementTree

METADATA = "{urn:oasis:names:tc:SAML:2.0:metadata}"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('saml_service_provider', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logout_post', sa.String(length=500), nullable=True))
    # The service providers registered before: their HTTP-POST SingleLogoutService, read
    # from the metadata they were registered with.
    connection = op.get_bind()
    table = sa.table('saml_service_provider', sa.column('id'), sa.column('metadata_xml'), sa.column('logout_post'))
    for sp_id, metadata in connection.execute(sa.select(table.c.id, table.c.metadata_xml)).all():
        services = ElementTree.fromstring(metadata).iter(f"{METADATA}SingleLogoutService")
        location = next((service.get("Location") for service in services if service.get("Binding") == POST), None)
        if location:
            connection.execute(table.update().where(table.c.id == sp_id).values(logout_post=location[:500]))


def downgrade():
    with op.batch_alter_table('saml_service_provider', schema=None) as batch_op:
        batch_op.drop_column('logout_post')
