"""The `idp` command: database, establishments, accounts, relying parties, keys, purge, settings.

Conventions every command follows, so that operators can script them:
- a one-line help (the docstring's first line);
- whatever it prints, it prints as JSON with --json; lists have a header line;
- messages are French, one language per message;
- bad input ends with a clear message, exit status 1, and nothing changed (`transactional`);
- a database whose schema is behind the code gives one message, exit status 1, and no
  traceback (`IdpGroup.invoke`, the one place every command passes through).
"""

import logging

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import config as settings
from . import create_app
from .accounts.sweep import sweep
from .audit import audit
from .cli_support import Refused, emit, former_name, json_option, table, transactional
from .errors import InvalidInput, describe_database_error, is_database_error
from .extensions import db
from .logout.cli import logout_notices
from .mail.cli import mail
from .models import Client
from .models.oauth import AUTH_METHODS, CATEGORIES
from .oidc.commands import keys, purge
from .relying_parties.registration import describe, find_client, register_client, rotate_secret, update_client
from .schools.accounts_cli import accounts
from .schools.cli import pupils
from .schools.demo_accounts import create_active_account
from .schools.establishments import add_establishment, find_establishment, update_establishment
from .staff_accounts.cli import staff

log = logging.getLogger("idp")

DATABASE_REFUSED = "La base de données a refusé l'opération : la commande s'arrête, sa transaction en cours est annulée (détail ci-dessus)."
SCHEMA_BEHIND = "La base de données n'est pas à jour : lancez `idp db upgrade`."
# PostgreSQL's undefined_table and undefined_column; SQLite says it in words.
UNDEFINED_TABLE_OR_COLUMN = {"42P01", "42703"}


def _schema_is_behind(error):
    if getattr(error.orig, "sqlstate", None) in UNDEFINED_TABLE_OR_COLUMN:
        return True
    message = str(error.orig)
    return message.startswith(("no such table", "no such column")) or " has no column named " in message


class IdpGroup(FlaskGroup):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (OperationalError, ProgrammingError) as error:
            if _schema_is_behind(error):
                raise Refused(SCHEMA_BEHIND) from None
            raise _database_refused(error) from None
        except Exception as error:
            if is_database_error(error):
                raise _database_refused(error) from None
            raise


def _database_refused(error):
    """A database error that no command expected: logged without the statement's values nor
    PostgreSQL's DETAIL (idp.errors.describe_database_error), then one French line, exit 1."""
    log.error("database error: %s", describe_database_error(error))
    return Refused(DATABASE_REFUSED)


main = IdpGroup(
    name="idp",
    create_app=lambda: create_app(command_line=True),
    add_default_commands=True,
    add_version_option=False,
    load_dotenv=False,
    help="Administration du fournisseur d'identité Téléservices.\n\n"
    "Réglages : les variables IDP_* de l'environnement, comme le serveur ; `idp settings` les affiche.",
)
# FlaskGroup's --app, --env-file and --debug: the application is ours and the settings
# come from the environment only.
main.params = [param for param in main.params if param.name not in {"app", "env_file", "debug"}]


establishment = AppGroup("establishment", help="Établissements (UAI).")
demo_account = AppGroup("demo-account", help="Comptes pour les démonstrations et les tests.")
client = AppGroup("client", help="Services : ENT et téléservices.")

CATEGORY = click.Choice(CATEGORIES)
AUTH_METHOD = click.Choice(AUTH_METHODS)


@establishment.command("add")
@click.option("--uai", required=True, help="Code UAI, par exemple 0140001A.")
@click.option("--name", required=True, help="Nom de l'établissement.")
@click.option("--academie", default="Normandie", show_default=True, help="Académie.")
@click.option("--degree", type=click.Choice(["1d", "2d"]), default="2d", show_default=True, help="1d : école ; 2d : collège, lycée.")
@click.option("--address", help="Adresse postale (lignes séparées par \\n), imprimée sur les courriers.")
@click.option("--phone", help="Téléphone, par exemple 02 31 00 00 00.")
@click.option("--contact", help="Ligne de contact imprimée sur les courriers à la place de l'adresse et du téléphone.")
@transactional
def establishment_add(uai, name, academie, degree, address, phone, contact):
    """Ajouter un établissement."""
    created = add_establishment(uai, name, academie, degree, address=_lines(address), phone=phone, contact=contact)
    audit("establishment_added", uai=created.uai)
    return _establishment_dict(created), f"Établissement {created.uai} « {created.name} » ajouté."


@establishment.command("update")
@click.argument("uai")
@click.option("--name", help="Nom de l'établissement.")
@click.option("--address", help="Adresse postale (lignes séparées par \\n) ; vide pour l'effacer.")
@click.option("--phone", help="Téléphone, par exemple 02 31 00 00 00 ; vide pour l'effacer.")
@click.option("--contact", help="Ligne de contact imprimée sur les courriers ; vide pour l'effacer.")
@transactional
def establishment_update(uai, name, address, phone, contact):
    """Changer nom, adresse, téléphone ou contact."""
    found = find_establishment(uai)
    if found is None:
        raise InvalidInput(f"Établissement inconnu : {uai}.")
    changed = update_establishment(found, name=name, address=_lines(address), phone=phone, contact=contact)
    if changed:
        audit("establishment_updated", uai=found.uai, fields=changed)
    message = f"Établissement {found.uai} modifié : {', '.join(changed)}." if changed else f"Établissement {found.uai} : rien à modifier."
    return {**_establishment_dict(found), "changed": changed}, message


def _lines(address):
    """An address typed on one command line: '\\n' separates its lines."""
    return None if address is None else address.replace("\\n", "\n")


def _establishment_dict(found):
    fields = ("uai", "name", "academie", "degree", "address", "phone", "contact")
    return {field: getattr(found, field) for field in fields}


@demo_account.command("create")
@click.option("--kind", type=click.Choice(["parent", "eleve"]), required=True, help="Parent ou élève.")
@click.option("--given-name", required=True, help="Prénom.")
@click.option("--family-name", required=True, help="Nom.")
@click.option("--email", help="Adresse mail (tenue pour vérifiée).")
@click.option("--password", required=True, help="Mot de passe choisi (8 caractères ou plus, lettres et chiffres).")
@click.option("--establishment", "uai", required=True, help="UAI de l'établissement.")
@click.option("--birthdate", help="Date de naissance d'un élève (eleve), AAAA-MM-JJ.")
@click.option("--ine", help="INE d'un élève (eleve).")
@click.option("--child-given-name", help="Prénom de l'enfant (parent).")
@click.option("--child-family-name", help="Nom de l'enfant (parent).")
@click.option("--child-birthdate", help="Date de naissance de l'enfant (parent), AAAA-MM-JJ.")
@transactional
def demo_account_create(
    kind, given_name, family_name, email, password, uai, birthdate, ine, child_given_name, child_family_name, child_birthdate
):
    """Créer un compte actif (démonstration, test)."""
    child = None
    if kind == "parent" and (child_given_name or child_family_name or child_birthdate):
        child = {"given_name": child_given_name, "family_name": child_family_name, "birthdate": child_birthdate}
    created = create_active_account(kind, given_name, family_name, password, uai, email=email, birthdate=birthdate, ine=ine, child=child)
    db.session.flush()
    audit("account_created", account=created, kind=kind)
    return {"identifier": created.identifier, "sub": created.sub}, f"Compte {created.identifier} créé (actif)."


@client.command("add")
@click.option("--name", required=True, help="Nom du service, montré aux familles.")
@click.option("--category", type=CATEGORY, required=True, help="ent, ou teleservice (refusé aux familles qui l'ont refusé).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="URI de redirection (à répéter).")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True, help="URI de retour après déconnexion (à répéter).")
@click.option("--auth-method", type=AUTH_METHOD, default="client_secret_basic", show_default=True, help="none : service public (PKCE).")
@click.option("--scope", "scopes", multiple=True, help="Scope autorisé (à répéter). Par défaut : openid profile email scolarite.")
@click.option("--trusted/--not-trusted", default=False, help="Un service de confiance ne demande pas le consentement.")
@click.option("--backchannel-logout-uri", help="URI où envoyer le logout token (OpenID Connect Back-Channel Logout) ; vide pour l'effacer.")
@click.option(
    "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
    default=None,
    help="Le logout token doit porter le sid de la session.",
)
@click.option("--frontchannel-logout-uri", help="URI chargée dans la page de déconnexion (Front-Channel Logout) ; vide pour l'effacer.")
@click.option(
    "--frontchannel-logout-session-required/--no-frontchannel-logout-session-required",
    default=None,
    help="Ajouter iss et sid à l'URI front-channel.",
)
@transactional
def client_add(name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, **logout):
    """Enregistrer un service.

    Le secret d'un service confidentiel n'est affiché qu'une fois ; seule son empreinte est gardée.
    """
    created, secret = register_client(name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, **logout)
    audit("client_added", client=created)
    data = {"client_id": created.client_id, "client_secret": secret}
    message = f"Service « {created.name} » enregistré.\nclient_id : {created.client_id}"
    if secret:
        message += f"\nclient_secret : {secret}\n(le secret n'est affiché qu'une fois)"
    return data, message


@client.command("list")
@json_option
def client_list(as_json):
    """Lister les services enregistrés."""
    clients = db.session.scalars(select(Client).order_by(Client.name)).all()
    rows = [(each.client_id, each.category, each.auth_method, "oui" if each.trusted else "non", each.name) for each in clients]
    listing = table(("CLIENT_ID", "CATÉGORIE", "AUTHENTIFICATION", "CONFIANCE", "NOM"), rows) if rows else "Aucun service enregistré."
    emit(as_json, [describe(each) for each in clients], listing)


def _client_lines(described):
    labels = {
        "client_id": "client_id",
        "name": "nom",
        "category": "catégorie",
        "auth_method": "authentification",
        "trusted": "de confiance",
        "redirect_uris": "URI de redirection",
        "post_logout_redirect_uris": "URI de retour après déconnexion",
        "backchannel_logout_uri": "déconnexion back-channel",
        "backchannel_logout_session_required": "sid exigé (back-channel)",
        "frontchannel_logout_uri": "déconnexion front-channel",
        "frontchannel_logout_session_required": "sid exigé (front-channel)",
        "scopes": "scopes",
        "created_at": "enregistré le",
    }
    width = max(len(label) for label in labels.values())
    lines = []
    for key, label in labels.items():
        value = described[key]
        if isinstance(value, bool):
            value = "oui" if value else "non"
        elif isinstance(value, list):
            value = " ".join(value) or "—"
        elif value is None:
            value = "—"
        lines.append(f"{label.ljust(width)} : {value}")
    return "\n".join(lines)


@client.command("show")
@click.argument("client_id")
@transactional
def client_show(client_id):
    """Afficher un service."""
    described = describe(find_client(client_id))
    return described, _client_lines(described)


@client.command("update")
@click.argument("client_id")
@click.option("--name", help="Nouveau nom.")
@click.option("--category", type=CATEGORY, help="Nouvelle catégorie.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, help="Remplace la liste enregistrée (à répéter).")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True, help="Remplace la liste enregistrée (à répéter).")
@click.option("--auth-method", type=AUTH_METHOD, help="Nouvelle méthode ; un service qui devient confidentiel reçoit un secret.")
@click.option("--scope", "scopes", multiple=True, help="Remplace les scopes autorisés (à répéter).")
@click.option("--trusted/--not-trusted", default=None, help="Demander ou non le consentement.")
@click.option("--backchannel-logout-uri", help="URI où envoyer le logout token (OpenID Connect Back-Channel Logout) ; vide pour l'effacer.")
@click.option(
    "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
    default=None,
    help="Le logout token doit porter le sid de la session.",
)
@click.option("--frontchannel-logout-uri", help="URI chargée dans la page de déconnexion (Front-Channel Logout) ; vide pour l'effacer.")
@click.option(
    "--frontchannel-logout-session-required/--no-frontchannel-logout-session-required",
    default=None,
    help="Ajouter iss et sid à l'URI front-channel.",
)
@transactional
def client_update(client_id, name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, **logout):
    """Modifier un service.

    Seul ce qui est indiqué change ; une liste donnée remplace la liste enregistrée.
    """
    found = find_client(client_id)
    secret = update_client(found, name, category, redirect_uris, post_logout_uris, scopes, trusted, auth_method, **logout)
    audit("client_updated", client=found)
    data = describe(found) | ({"client_secret": secret} if secret else {})
    return data, f"Service « {found.name} » modifié." + (f"\nclient_secret : {secret}" if secret else "")


@client.command("rotate-secret")
@click.argument("client_id")
@transactional
def client_rotate_secret(client_id):
    """Remplacer le secret d'un service.

    L'ancien secret cesse aussitôt de fonctionner.
    """
    found = find_client(client_id)
    secret = rotate_secret(found)
    audit("client_secret_rotated", client=found)
    data = {"client_id": found.client_id, "client_secret": secret}
    return data, f"Nouveau secret (l'ancien ne fonctionne plus) :\nclient_secret : {secret}"


@client.command("remove")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Ne pas demander de confirmation.")
@transactional
def client_remove(client_id, yes):
    """Supprimer un service et révoquer ses jetons."""
    found = find_client(client_id)
    if not yes and not click.confirm(f"Supprimer « {found.name} » et révoquer ses jetons ?"):
        raise InvalidInput("Suppression annulée : rien n'a changé.")
    audit("client_removed", client=found)
    db.session.delete(found)
    return {"client_id": found.client_id, "removed": True}, f"Service « {found.name} » supprimé."


def _shown(name, value):
    """A setting's value as `idp settings` prints it: secrets masked, URLs without password,
    the SQLite file as the application resolves it."""
    if name in {"SECRET_KEY", "HASH_KEY", "MAIL_PASSWORD", "MAIL_OUTBOX_KEY"}:
        return "***" if value else ""
    if name == "MAIL_OUTBOX_PREVIOUS_KEYS":
        return ["***" for _ in value]
    if name == "DATABASE_URL":
        return db.engine.url.render_as_string(hide_password=True)
    if name == "REDIS_URL" and value:
        return make_url(value).render_as_string(hide_password=True)
    return value


@click.command("settings")
@click.option("--markdown", is_flag=True, help="Le tableau des réglages du README.")
@json_option
@with_appcontext
def settings_command(markdown, as_json):
    """Afficher les réglages en vigueur.

    Tels que l'application les utilise : la base de données (fichier SQLite compris) et le
    dossier des clés ; mots de passe et clés secrètes masqués.
    """
    if markdown:
        click.echo(settings.markdown_table())
        return
    values = {setting.env: _shown(setting.name, current_app.config[setting.name]) for setting in settings.SETTINGS}
    emit(as_json, values, "\n".join(f"{name}={','.join(value) if isinstance(value, list) else value}" for name, value in values.items()))


def init_app(app):
    for command in (
        establishment,
        demo_account,
        accounts,
        pupils,
        staff,
        client,
        keys,
        purge,
        sweep_command,
        mail,
        logout_notices,
        settings_command,
    ):
        app.cli.add_command(command)
    # Renamed commands keep their former name for one release (README, « Administration »).
    app.cli.add_command(former_name(demo_account, "account"))


@click.command("sweep")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), help="Évaluer les délais à cette date.")
@click.option("--dry-run", is_flag=True, help="Compter sans rien changer.")
@with_appcontext
@transactional
def sweep_command(as_of, dry_run):
    """Appliquer les délais du cycle de vie."""
    counts = sweep(as_of=as_of, dry_run=dry_run)
    if dry_run:
        db.session.rollback()
    prefix = "Simulation : " if dry_run else ""
    return counts, f"{prefix}{counts['expired']} compte(s) expiré(s), {counts['warned']} averti(s), {counts['invalidated']} invalidé(s)."
