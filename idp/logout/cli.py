"""`idp logout-notices`: the back-channel logout notices waiting or given up, their retry,
and their delivery from cron or systemd."""

import json

import click
from flask.cli import AppGroup
from sqlalchemy import func, select

from ..cli_support import emit, json_option, run_until_stopped, table
from ..extensions import db
from ..models import Client, LogoutNotice, NoticeStatus, SamlServiceProvider
from .delivery import flush, retry, worker

logout_notices = AppGroup("logout-notices", help="Déconnexions annoncées aux services.")

STATUS_WORDS = {NoticeStatus.PENDING: "en attente", NoticeStatus.DELIVERED: "remis", NoticeStatus.FAILED: "abandonné"}


def _moment(value):
    return value.isoformat(timespec="seconds") if value else None


@logout_notices.command("list")
@click.option("--all", "everything", is_flag=True, help="Aussi les avis remis (sinon : en attente et abandonnés).")
@json_option
def list_command(everything, as_json):
    """Lister les avis en attente et abandonnés."""
    # A SAML service provider is named by its entity ID.
    query = (
        select(LogoutNotice, func.coalesce(Client.client_id, SamlServiceProvider.entity_id))
        .outerjoin(Client, Client.id == LogoutNotice.client_pk)
        .outerjoin(SamlServiceProvider, SamlServiceProvider.id == LogoutNotice.saml_sp_pk)
        .order_by(LogoutNotice.id)
    )
    if not everything:
        query = query.where(LogoutNotice.status != NoticeStatus.DELIVERED)
    found = [
        {
            "id": notice.id,
            "client_id": client_id,
            "status": notice.status.value,
            "reason": notice.reason,
            "attempts": notice.attempts,
            "created_at": _moment(notice.created_at),
            "next_attempt_at": _moment(notice.next_attempt_at) if notice.status == NoticeStatus.PENDING else None,
            "last_error": notice.last_error,
        }
        for notice, client_id in db.session.execute(query)
    ]
    rows = [
        (
            each["id"],
            each["client_id"],
            STATUS_WORDS[NoticeStatus(each["status"])],
            each["attempts"],
            each["next_attempt_at"] or "—",
            each["last_error"] or "—",
        )
        for each in found
    ]
    listing = (
        table(("ID", "CLIENT_ID", "ÉTAT", "ESSAIS", "PROCHAIN ESSAI", "DERNIÈRE ERREUR"), rows)
        if rows
        else "Aucun avis en attente ni abandonné."
    )
    emit(as_json, found, listing)


@logout_notices.command("retry")
@click.argument("ids", nargs=-1, type=int)
@json_option
def retry_command(ids, as_json):
    """Remettre en file les avis abandonnés.

    Tous, ou ceux dont les numéros sont indiqués.
    """
    count = retry(ids or None)
    emit(as_json, {"retried": count}, f"Avis remis en file : {count}.")


@logout_notices.command("flush")
@click.option("--limit", type=click.IntRange(min=1), help="Remettre au plus ce nombre d'avis.")
@json_option
def flush_command(limit, as_json):
    """Remet les avis dus (pour cron)."""
    counts = flush(limit=limit)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(f"Remis : {counts['delivered']}, en échec : {counts['failed']}, en attente : {counts['waiting']}.")


@logout_notices.command("worker")
@click.option("--interval", type=click.IntRange(min=1), default=15, show_default=True, help="Secondes entre deux passages sur la file.")
def worker_command(interval):
    """Remet les avis en continu (pour systemd)."""
    run_until_stopped("logout notices", worker, interval)
