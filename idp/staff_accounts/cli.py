"""`idp staff add`: an académie administrator or an establishment's staff member, and the
enrolment link to hand them (printed until the mail outbox sends it)."""

import json

import click
from flask.cli import AppGroup
from flask_babel import gettext as _

from ..audit import audit
from ..errors import InvalidInput
from ..extensions import db
from ..models import StaffRole
from .members import create_staff, describe, enrolment_link

staff = AppGroup("staff", help="Personnels du back-office (gestion).")


@staff.command("add")
@click.option("--email", required=True, help="Adresse mail du personnel : son identifiant.")
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--establishment", "uais", multiple=True, help="UAI d'un établissement où il travaille (répétable).")
@click.option("--role", type=click.Choice([role.value for role in StaffRole]), help="academie : voit tous les établissements.")
@click.option("--json", "as_json", is_flag=True)
def staff_add(email, given_name, family_name, uais, role, as_json):
    """Créer un personnel (lien d'inscription)."""
    role = role or (StaffRole.ETABLISSEMENT.value if uais else None)
    if role is None:
        raise click.UsageError(_("Indiquez --establishment UAI (une ou plusieurs fois) ou --role academie."))
    try:
        member, token = create_staff(email, given_name, family_name, role, uais)
        db.session.flush()
        audit("staff_added", member=member.email, role=member.role.value, uais=[each.uai for each in member.establishments])
        db.session.commit()
    except InvalidInput as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    link = enrolment_link(token)
    if as_json:
        click.echo(json.dumps(describe(member) | {"enrolment_link": link}, ensure_ascii=False))
        return
    click.echo(_("Personnel %(email)s ajouté. Lien d'inscription (valable 7 jours, une seule fois) :", email=member.email))
    click.echo(link)
