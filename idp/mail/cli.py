"""`idp mail`: send what waits in the outbox (cron or systemd), and a test message."""

import json

import click
from flask import current_app
from flask.cli import AppGroup

from ..cli_support import run_until_stopped
from ..extensions import db
from ..models import MailStatus, OutboxMessage
from . import deliver, flush, send_test_message, wait_for_deliveries, worker

mail = AppGroup("mail", help="Courriels : la file d'envoi.")


@mail.command("flush")
@click.option("--limit", type=click.IntRange(min=1), help="Envoyer au plus ce nombre de messages.")
@click.option("--json", "as_json", is_flag=True)
def flush_command(limit, as_json):
    """Envoie les courriels dus (pour cron)."""
    counts = flush(limit=limit)
    if as_json:
        click.echo(json.dumps(counts))
    else:
        click.echo(f"Envoyés : {counts['sent']}, en échec : {counts['failed']}, en attente : {counts['waiting']}.")


@mail.command("worker")
@click.option("--interval", type=click.IntRange(min=1), default=15, show_default=True, help="Secondes entre deux passages sur la file.")
def worker_command(interval):
    """Envoie en continu (pour systemd)."""
    run_until_stopped("mail", worker, interval)


@mail.command("test")
@click.option("--to", "address", required=True, help="Adresse qui reçoit le message d'essai.")
@click.option("--language", default=None, help="Langue du message (par défaut : la première de IDP_LANGUAGES).")
def test_command(address, language):
    """Envoie un message d'essai (réglages SMTP)."""
    config = current_app.config
    language = language or config["LANGUAGES"][0]
    if language not in config["LANGUAGES"]:
        raise click.ClickException(f"Langue inconnue : {language} (langues : {', '.join(config['LANGUAGES'])}).")
    try:
        message = send_test_message(address, language)
    except ValueError:
        raise click.ClickException(f"Adresse électronique invalide : {address!r}.") from None
    db.session.commit()
    wait_for_deliveries()
    deliver([message.id])  # when IDP_MAIL_SEND_AFTER_COMMIT is off
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message.id)
    server = f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}"
    if message.status == MailStatus.FAILED:
        raise click.ClickException(f"Le serveur {server} a refusé le message ({message.last_error}).")
    if message.status == MailStatus.PENDING:
        raise click.ClickException(
            f"Le serveur {server} n'a pas pris le message ({message.last_error}). "
            "Il reste dans la file d'attente : `idp mail flush` le réessaiera."
        )
    click.echo(f"Message de test envoyé à {address} par {server}.")
