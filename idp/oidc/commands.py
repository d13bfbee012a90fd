"""The `idp keys` and `idp purge` commands (see idp.oidc.keys and idp.oidc.purge)."""

import json

import click
from flask.cli import AppGroup, with_appcontext

from ..audit import audit
from ..cli_support import table
from ..extensions import db
from ..metrics import PURGE_ROWS
from .keys import RotationConflict, key_store
from .purge import purge_expired

keys = AppGroup("keys", help="Clés de signature des ID tokens.")

STATES = {"signing": "signe", "next": "à venir", "retired": "publiée", "expired": "à retirer"}


def _moment(value):
    return f"{value:%Y-%m-%d %H:%M:%S}" if value is not None else "-"


@keys.command("rotate")
@click.option("--json", "as_json", is_flag=True, help="Sortie en JSON.")
def keys_rotate(as_json):
    """Créer la prochaine clé de signature.

    Publiée aussitôt, elle signe six minutes plus tard : copiez d'ici là son fichier dans
    le dossier des clés de chaque nœud.
    """
    try:
        record = key_store().rotate()
    except (OSError, RotationConflict) as error:
        raise click.ClickException(str(error)) from None
    audit("signing_key_rotated", kid=record.kid)
    db.session.commit()
    path = key_store().directory / record.file_name
    if as_json:
        click.echo(json.dumps({"kid": record.kid, "file": str(path), "signs_from": record.signs_from.isoformat() + "Z"}))
        return
    click.echo(
        f"Nouvelle clé de signature : {record.kid}\n"
        f"Fichier : {path}\n"
        f"Publiée dès maintenant, elle signe à partir du {_moment(record.signs_from)} UTC : d'ici là, "
        f"copiez {record.file_name} dans le dossier des clés de chaque nœud (inutile si ce dossier est partagé)."
    )


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Sortie en JSON.")
def keys_list(as_json):
    """Lister les clés, leur état et leurs fichiers.

    Quelle clé signe, lesquelles sont publiées et jusqu'à quand, quels fichiers ce nœud a.
    """
    described = key_store().describe()
    if as_json:
        data = [
            {
                "kid": each["record"].kid,
                "generation": each["record"].generation,
                "state": each["state"],
                "created_at": each["record"].created_at.isoformat() + "Z",
                "signs_from": each["record"].signs_from.isoformat() + "Z",
                "published_until": each["record"].published_until.isoformat() + "Z" if each["record"].published_until else None,
                "file": str(each["file"]) if each["file"] else None,
            }
            for each in described
        ]
        click.echo(json.dumps(data))
        return
    if not described:
        click.echo("Aucune clé : la première est créée au premier démarrage, ou par « idp keys rotate ».")
        return
    headers = ("kid", "état", "signe à partir du (UTC)", "publiée jusqu'au (UTC)", "fichier sur ce nœud")
    rows = [
        (
            each["record"].kid,
            STATES[each["state"]],
            _moment(each["record"].signs_from),
            _moment(each["record"].published_until),
            each["file"].name if each["file"] else f"ABSENT ({each['record'].file_name})",
        )
        for each in described
    ]
    click.echo(table(headers, rows))


@keys.command("prune")
@click.option("--json", "as_json", is_flag=True, help="Sortie en JSON.")
def keys_prune(as_json):
    """Supprimer les clés qui ne sont plus publiées.

    Celles dont tous les ID tokens ont expiré, avec leur fichier dans le dossier de ce nœud.
    """
    pruned = key_store().prune()
    for kid in pruned:
        audit("signing_key_pruned", kid=kid)
    db.session.commit()
    if as_json:
        click.echo(json.dumps([{"kid": kid, "file_deleted": str(path) if path else None} for kid, path in pruned.items()]))
        return
    lines = [
        f"Clé retirée : {kid}" + (f" (fichier {path.name} supprimé)" if path else " (pas de fichier supprimé ici)")
        for kid, path in pruned.items()
    ]
    click.echo("\n".join(lines) or "Aucune clé à retirer.")


@click.command("purge")
@click.option("--json", "as_json", is_flag=True, help="Sortie en JSON.")
@with_appcontext
def purge(as_json):
    """Supprimer les données expirées.

    Codes, jetons, sessions des familles et du personnel, liens envoyés par courriel, une heure
    après leur expiration. Pour cron ou un timer systemd, sur un ou plusieurs nœuds à la fois ; affiche les nombres.
    Les événements d'audit sont gardés IDP_AUDIT_RETENTION_DAYS jours (365 par défaut).
    """
    counts = purge_expired()
    # Its outcome, for the operators and for /metrics (idp_last_purge_*), whatever the node.
    audit("purge", **counts)
    db.session.commit()
    for kind, count in counts.items():
        PURGE_ROWS.labels(kind=kind).inc(count)
    if as_json:
        click.echo(json.dumps(counts))
        return
    labels = {
        "codes": "Codes d'autorisation supprimés",
        "tokens": "Jetons supprimés",
        "sessions": "Sessions de connexion supprimées",
        "staff_sessions": "Sessions du personnel supprimées",
        "links": "Liens envoyés par courriel supprimés",
        "audit_events": "Événements d'audit supprimés",
    }
    click.echo("\n".join(f"{labels[kind]} : {count}" for kind, count in counts.items()))
