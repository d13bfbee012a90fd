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
import sys

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, ProgrammingError

from . import audit_export, create_app
from . import config as settings
from .accounts.identifiers import normalize
from .accounts.sweep import sweep
from .audit import audit
from .cli_support import Refused, emit, former_name, json_option, table, transactional
from .clock import now
from .errors import InvalidInput, describe_database_error, is_database_error
from .extensions import db
from .logout.cli import logout_notices
from .mail.cli import mail
from .metrics import SWEEP_ACCOUNTS
from .models import Client
from .models.oauth import AUTH_METHODS, CATEGORIES
from .oidc.commands import keys, purge
from .relying_parties.registration import (
    SUBJECT_TYPES,
    changed_fields,
    describe,
    disable_client,
    enable_client,
    find_client,
    parse_overlap,
    register_client,
    remove_client,
    rotate_secret,
    update_client,
)
from .saml.cli import saml_sp
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
@click.option("--degree", type=click.Choice(["1d", "2d"]), help="1d : école ; 2d : collège, lycée.")
@click.option("--address", help="Adresse postale (lignes séparées par \\n) ; vide pour l'effacer.")
@click.option("--phone", help="Téléphone, par exemple 02 31 00 00 00 ; vide pour l'effacer.")
@click.option("--contact", help="Ligne de contact imprimée sur les courriers ; vide pour l'effacer.")
@transactional
def establishment_update(uai, name, degree, address, phone, contact):
    """Changer nom, degré ou coordonnées."""
    found = find_establishment(uai)
    if found is None:
        raise InvalidInput(f"Établissement inconnu : {uai}.")
    changed = update_establishment(found, name=name, degree=degree, address=_lines(address), phone=phone, contact=contact)
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
@click.option("--school-key", help="Identifiant de l'élève ou de l'enfant dans le fichier de l'établissement (FrEduVecteur).")
@transactional
def demo_account_create(
    kind, given_name, family_name, email, password, uai, birthdate, ine, child_given_name, child_family_name, child_birthdate, school_key
):
    """Créer un compte actif (démonstration, test)."""
    child = None
    if kind == "parent" and (child_given_name or child_family_name or child_birthdate):
        child = {"given_name": child_given_name, "family_name": child_family_name, "birthdate": child_birthdate, "school_key": school_key}
    own_key = school_key if kind == "eleve" else None
    created = create_active_account(
        kind, given_name, family_name, password, uai, email=email, birthdate=birthdate, ine=ine, child=child, school_key=own_key
    )
    db.session.flush()
    audit("account_created", account=created, kind=kind)
    return {"identifier": created.identifier, "sub": created.sub}, f"Compte {created.identifier} créé (actif)."


def _claims(value):
    """--claims a,b,c: a list (empty: every claim of the scopes); None when not given."""
    return None if value is None else [claim.strip() for claim in value.split(",") if claim.strip()]


def registration_options(command):
    """The options of `client add` and `client update` that are the same for both (the
    logout URIs and flags: registration.LOGOUT_URIS, LOGOUT_FLAGS)."""
    options = [
        click.option(
            "--backchannel-logout-uri", help="URI où envoyer le logout token (OpenID Connect Back-Channel Logout) ; vide pour l'effacer."
        ),
        click.option(
            "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
            default=None,
            help="Le logout token doit porter le sid de la session.",
        ),
        click.option(
            "--frontchannel-logout-uri", help="URI chargée dans la page de déconnexion (Front-Channel Logout) ; vide pour l'effacer."
        ),
        click.option(
            "--frontchannel-logout-session-required/--no-frontchannel-logout-session-required",
            default=None,
            help="Ajouter iss et sid à l'URI front-channel.",
        ),
        click.option("--subject-type", type=click.Choice(SUBJECT_TYPES), help="public : le sub du compte ; pairwise : un sub par secteur."),
        click.option("--claims", help="Informations transmises, séparées par des virgules ; vide : toutes celles des scopes."),
        click.option("--logo-uri", help="Logo montré sur la page de consentement (https) ; vide pour l'effacer."),
        click.option("--contact", help="Contact montré sur la page de consentement (adresse, téléphone) ; vide pour l'effacer."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@client.command("add")
@click.option("--name", required=True, help="Nom du service, montré aux familles.")
@click.option("--category", type=CATEGORY, required=True, help="ent, ou teleservice (refusé aux familles qui l'ont refusé).")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, help="URI de redirection (à répéter).")
@click.option("--post-logout-redirect-uri", "post_logout_uris", multiple=True, help="URI de retour après déconnexion (à répéter).")
@click.option("--auth-method", type=AUTH_METHOD, default="client_secret_basic", show_default=True, help="none : service public (PKCE).")
@click.option("--scope", "scopes", multiple=True, help="Scope autorisé (à répéter). Par défaut : openid profile email scolarite.")
@click.option("--trusted/--not-trusted", default=False, help="Un service de confiance ne demande pas le consentement.")
@registration_options
@transactional
def client_add(name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, subject_type, claims, **others):
    """Enregistrer un service.

    Le secret d'un service confidentiel n'est affiché qu'une fois ; seule son empreinte est gardée.
    """
    created, secret = register_client(
        name,
        category,
        redirect_uris,
        post_logout_uris,
        auth_method,
        scopes,
        trusted,
        subject_type=subject_type or "public",
        claims=_claims(claims),
        **others,
    )
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
        "claims": "informations transmises",
        "subject_type": "type de sub",
        "logo_uri": "logo",
        "contact": "contact",
        "disabled_at": "désactivé le",
        "previous_secret_expires_at": "ancien secret valide jusqu'au",
        "created_at": "enregistré le",
    }
    width = max(len(label) for label in labels.values())
    lines = []
    for key, label in labels.items():
        value = described[key]
        if key == "claims" and value is None:
            value = "toutes celles des scopes"
        elif isinstance(value, bool):
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
@registration_options
@transactional
def client_update(client_id, name, category, redirect_uris, post_logout_uris, auth_method, scopes, trusted, claims, **others):
    """Modifier un service.

    Seul ce qui est indiqué change ; une liste donnée remplace la liste enregistrée.
    """
    found = find_client(client_id)
    before = describe(found)
    # A repeated option not given at all leaves its list as registered.
    lists = [values or None for values in (redirect_uris, post_logout_uris, scopes)]
    secret = update_client(found, name, category, *lists[:2], lists[2], trusted, auth_method, claims=_claims(claims), **others)
    audit("client_updated", client=found, fields=changed_fields(before, describe(found)))
    data = describe(found) | ({"client_secret": secret} if secret else {})
    return data, f"Service « {found.name} » modifié." + (f"\nclient_secret : {secret}" if secret else "")


@client.command("rotate-secret")
@click.argument("client_id")
@click.option("--overlap", default="24h", show_default=True, help="Durée où l'ancien secret fonctionne encore : 0, 30m, 24h, 7d…")
@transactional
def client_rotate_secret(client_id, overlap):
    """Remplacer le secret d'un service.

    L'ancien secret fonctionne encore pendant --overlap (24 h par défaut ; 0 : il cesse aussitôt),
    le temps que le service passe au nouveau.
    """
    found = find_client(client_id)
    secret = rotate_secret(found, parse_overlap(overlap))
    until = found.previous_secret_expires_at
    audit("client_secret_rotated", client=found, overlap_until=until.isoformat(timespec="seconds") if until else None)
    data = {"client_id": found.client_id, "client_secret": secret}
    former = f"l'ancien fonctionne jusqu'au {until:%Y-%m-%d %H:%M} UTC" if until else "l'ancien ne fonctionne plus"
    return data, f"Nouveau secret ({former}) :\nclient_secret : {secret}"


@client.command("disable")
@click.argument("client_id")
@transactional
def client_disable(client_id):
    """Désactiver un service.

    Ses connexions et ses jetons sont refusés.

    Son enregistrement reste ; `idp client enable` le réactive.
    """
    found = find_client(client_id)
    if disable_client(found):
        audit("client_disabled", client=found)
        return describe(found), f"Service « {found.name} » désactivé."
    return describe(found), f"Service « {found.name} » : déjà désactivé."


@client.command("enable")
@click.argument("client_id")
@transactional
def client_enable(client_id):
    """Réactiver un service désactivé."""
    found = find_client(client_id)
    if enable_client(found):
        audit("client_enabled", client=found)
        return describe(found), f"Service « {found.name} » réactivé."
    return describe(found), f"Service « {found.name} » : déjà actif."


@client.command("remove")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Ne pas demander de confirmation.")
@transactional
def client_remove(client_id, yes):
    """Supprimer un service et révoquer ses jetons."""
    found = find_client(client_id)
    if not yes and not click.confirm(f"Supprimer « {found.name} » et révoquer ses jetons ?"):
        raise InvalidInput("Suppression annulée : rien n'a changé.")
    audit("client_removed", client=found, name=found.name)
    remove_client(found)
    return {"client_id": found.client_id, "removed": True}, f"Service « {found.name} » supprimé."


def _shown(name, value):
    """A setting's value as `idp settings` prints it: secrets masked, URLs without password,
    the SQLite file as the application resolves it."""
    if name in {"SECRET_KEY", "HASH_KEY", "MAIL_PASSWORD", "MAIL_OUTBOX_KEY", "METRICS_TOKEN"}:
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
    commands = (establishment, demo_account, accounts, pupils, staff, client, keys, purge, sweep_command, mail, logout_notices, saml_sp)
    for command in (*commands, settings_command, audit_group):
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
    else:
        for transition, count in counts.items():
            SWEEP_ACCOUNTS.labels(transition=transition).inc(count)
    prefix = "Simulation : " if dry_run else ""
    return counts, f"{prefix}{counts['expired']} compte(s) expiré(s), {counts['warned']} averti(s), {counts['invalidated']} invalidé(s)."


audit_group = AppGroup("audit", help="Journal d'audit.")
MOMENT = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"])


@audit_group.command("export")
@click.option("--since", required=True, type=MOMENT, help="Début, inclus : AAAA-MM-JJ ou AAAA-MM-JJTHH:MM:SS, en UTC.")
@click.option("--until", type=MOMENT, help="Fin, exclue (même forme) ; par défaut maintenant.")
@click.option("--format", "fmt", type=click.Choice(audit_export.FORMATS), default="jsonl", show_default=True, help="JSON lines ou CSV.")
@click.option("--account", "identifier", help="Seulement les événements de ce compte (identifiant).")
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Fichier à écrire ; par défaut la sortie standard.")
@with_appcontext
def audit_export_command(since, until, fmt, identifier, output):
    """Exporter le journal d'audit d'une période.

    Du plus ancien au plus récent, lus et écrits au fil de l'eau (mémoire constante) ; les
    heures sont en UTC. Avec --output, un message dit combien d'événements ont été écrits.
    """
    until = until or now()
    if until <= since:
        raise Refused("--until doit être postérieur à --since : rien n'a été exporté.")
    if identifier is not None:
        identifier = normalize(identifier)
    rows = audit_export.events(since, until, identifier)
    if output is None:
        audit_export.write(rows, sys.stdout, fmt)
        return
    with open(output, "w", encoding="utf-8", newline="") as handle:
        count = audit_export.write(rows, handle, fmt)
    click.echo(f"{count} événement(s) exporté(s) dans {output}.")
