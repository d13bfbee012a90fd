"""The `idp` command: database, establishments, accounts, relying parties, keys, settings.

Every command that changes something prints a short confirmation, or JSON with --json,
so operators can script it; bad input ends with a clear message and changes nothing.
"""

import json
from functools import wraps

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select

from . import config as settings
from .accounts.creation import create_active_account
from .admin import InvalidInput
from .admin.clients import describe, find_client, register_client, rotate_secret, update_client
from .audit import audit
from .extensions import db
from .models import Client
from .oidc.keys import key_store
from .schools.cli import pupils
from .schools.establishments import add_establishment
from .staff_accounts.cli import staff


def main():
    from . import create_app

    FlaskGroup(
        create_app=lambda: create_app(),
        add_default_commands=True,
        add_version_option=False,
        help="Administration of the Téléservices identity provider.",
    )()


def transactional(command):
    """Run `command` in one transaction; InvalidInput becomes a clean error, nothing saved."""

    @wraps(command)
    def wrapped(*args, **kwargs):
        try:
            result = command(*args, **kwargs)
            db.session.commit()
            return result
        except InvalidInput as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from None

    return wrapped


def _emit(as_json, data, message):
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else message)


establishment = AppGroup("establishment", help="Establishments (UAI).")
account = AppGroup("account", help="Accounts for demonstrations and tests.")
client = AppGroup("client", help="Relying parties (ENT, téléservices).")
keys = AppGroup("keys", help="ID token signing keys.")


@establishment.command("add")
@click.option("--uai", required=True, help="UAI code, e.g. 0140001A.")
@click.option("--name", required=True)
@click.option("--academie", default="Normandie", show_default=True)
@click.option("--degree", type=click.Choice(["1d", "2d"]), default="2d", show_default=True, help="1d: école; 2d: collège, lycée.")
@click.option("--json", "as_json", is_flag=True)
@transactional
def establishment_add(uai, name, academie, degree, as_json):
    created = add_establishment(uai, name, academie, degree)
    audit("establishment_added", uai=created.uai)
    _emit(as_json, {"uai": created.uai, "name": created.name}, f"Établissement {created.uai} « {created.name} » ajouté.")


@account.command("create")
@click.option("--kind", type=click.Choice(["parent", "eleve"]), required=True)
@click.option("--given-name", required=True)
@click.option("--family-name", required=True)
@click.option("--email")
@click.option("--password", required=True, help="The chosen password (8 characters or more, letters and digits).")
@click.option("--establishment", "uai", required=True, help="UAI of the establishment.")
@click.option("--birthdate", help="A pupil's own birth date (eleve), YYYY-MM-DD.")
@click.option("--ine", help="A pupil's INE (eleve).")
@click.option("--child-given-name")
@click.option("--child-family-name")
@click.option("--child-birthdate", help="YYYY-MM-DD")
@click.option("--json", "as_json", is_flag=True)
@transactional
def account_create(
    kind, given_name, family_name, email, password, uai, birthdate, ine, child_given_name, child_family_name, child_birthdate, as_json
):
    child = None
    if kind == "parent" and (child_given_name or child_family_name or child_birthdate):
        child = {"given_name": child_given_name, "family_name": child_family_name, "birthdate": child_birthdate}
    created = create_active_account(kind, given_name, family_name, password, uai, email=email, birthdate=birthdate, ine=ine, child=child)
    db.session.flush()
    audit("account_created", account=created, kind=kind)
    _emit(as_json, {"identifier": created.identifier, "sub": created.sub}, f"Compte {created.identifier} créé (actif).")


@client.command("add")
@click.option("--name", required=True)
@click.option("--category", type=click.Choice(["ent", "teleservice"]), required=True)
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True)
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True)
@click.option(
    "--auth-method",
    type=click.Choice(["client_secret_basic", "client_secret_post", "none"]),
    default="client_secret_basic",
    show_default=True,
)
@click.option("--scope", "scopes", multiple=True, help="Allowed scope (repeat). Default: openid profile email scolarite.")
@click.option("--trusted/--not-trusted", default=False, help="Trusted relying parties skip the consent page.")
@click.option("--json", "as_json", is_flag=True)
@transactional
def client_add(name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, as_json):
    created, secret = register_client(name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted)
    audit("client_added", client=created)
    data = {"client_id": created.client_id, "client_secret": secret}
    message = f"Service « {created.name} » enregistré.\nclient_id: {created.client_id}"
    if secret:
        message += f"\nclient_secret: {secret}\n(le secret n'est affiché qu'une fois)"
    _emit(as_json, data, message)


@client.command("list")
@click.option("--json", "as_json", is_flag=True)
def client_list(as_json):
    clients = db.session.scalars(select(Client).order_by(Client.name)).all()
    lines = [f"{each.client_id}  {each.category:<11} {'trusted ' if each.trusted else ''}{each.name}" for each in clients]
    _emit(as_json, [describe(each) for each in clients], "\n".join(lines) or "Aucun service enregistré.")


@client.command("show")
@click.argument("client_id")
@transactional
def client_show(client_id):
    click.echo(json.dumps(describe(find_client(client_id)), ensure_ascii=False, indent=2))


@client.command("update")
@click.argument("client_id")
@click.option("--name")
@click.option("--category", type=click.Choice(["ent", "teleservice"]))
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Replaces the registered list.")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True, help="Replaces the registered list.")
@click.option("--auth-method", type=click.Choice(["client_secret_basic", "client_secret_post", "none"]))
@click.option("--scope", "scopes", multiple=True, help="Replaces the allowed scopes.")
@click.option("--trusted/--not-trusted", default=None)
@click.option("--json", "as_json", is_flag=True)
@transactional
def client_update(client_id, name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, as_json):
    found = find_client(client_id)
    secret = update_client(found, name, category, redirect_uris, post_logout_uris, scopes, trusted, auth_method)
    audit("client_updated", client=found)
    data = describe(found) | ({"client_secret": secret} if secret else {})
    _emit(as_json, data, f"Service « {found.name} » modifié." + (f"\nclient_secret: {secret}" if secret else ""))


@client.command("rotate-secret")
@click.argument("client_id")
@click.option("--json", "as_json", is_flag=True)
@transactional
def client_rotate_secret(client_id, as_json):
    found = find_client(client_id)
    secret = rotate_secret(found)
    audit("client_secret_rotated", client=found)
    _emit(
        as_json,
        {"client_id": found.client_id, "client_secret": secret},
        f"Nouveau secret (l'ancien ne fonctionne plus) :\nclient_secret: {secret}",
    )


@client.command("remove")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@transactional
def client_remove(client_id, yes):
    found = find_client(client_id)
    if not yes:
        click.confirm(f"Supprimer « {found.name} » et révoquer ses jetons ?", abort=True)
    audit("client_removed", client=found)
    db.session.delete(found)
    click.echo(f"Service « {found.name} » supprimé.")


@keys.command("rotate")
def keys_rotate():
    """Create a new signing key; the previous one stays published until its tokens expire."""
    kid = key_store().rotate()
    audit("signing_key_rotated", kid=kid)
    db.session.commit()
    click.echo(f"Nouvelle clé de signature : {kid}")


@keys.command("prune")
def keys_prune():
    """Delete the retired keys whose ID tokens have all expired."""
    removed = key_store().prune()
    click.echo("\n".join(f"Clé retirée : {kid}" for kid in removed) or "Aucune clé à retirer.")


@keys.command("list")
def keys_list():
    store = key_store()
    published = {stored.kid for stored in store.published()}
    signer = store.signing_key().kid
    for stored in store.all_keys():
        status = "signe" if stored.kid == signer else ("publiée" if stored.kid in published else "retirée")
        click.echo(f"{stored.kid}  {status}")


@click.command("settings")
@click.option("--markdown", is_flag=True, help="The README's settings table.")
@with_appcontext
def settings_command(markdown):
    """Print the settings (names, defaults) or their Markdown table."""
    if markdown:
        click.echo(settings.markdown_table())
        return
    secret = {"SECRET_KEY", "HASH_KEY"}
    for setting in settings.SETTINGS:
        value = "(set)" if setting.name in secret and current_app.config[setting.name] else current_app.config[setting.name]
        click.echo(f"{setting.env}={value}")


def init_app(app):
    for group in (establishment, account, client, keys, settings_command):
        app.cli.add_command(group)
    app.cli.add_command(pupils)
    app.cli.add_command(staff)
    from .accounts.cli import accounts  # imported here: it uses this module's helpers

    app.cli.add_command(accounts)
