"""How every `idp` command speaks: JSON on demand, French messages, refusals without a
traceback, one transaction per command (the conventions listed in `idp.cli`), and the former
name of a renamed command for one release."""

import json
import signal
import threading
from functools import wraps

import click
from flask import current_app
from flask.cli import AppGroup

from .errors import InvalidInput
from .extensions import db


class Refused(click.ClickException):
    """A refusal printed as is (click would prefix it with an English "Error:"); exit status 1."""

    def show(self, file=None):
        click.echo(self.format_message(), err=True)


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Sortie en JSON.")(command)


def transactional(command):
    """Run `command` in one transaction, then print what it returns, `(data, message)`: the
    French message, or the data as JSON with the --json option this adds. Nothing is printed
    before the commit succeeds; InvalidInput becomes a clean refusal and nothing is saved."""

    @wraps(command)
    def wrapped(*args, as_json, **kwargs):
        try:
            data, message = command(*args, **kwargs)
            db.session.commit()
        except InvalidInput as error:
            db.session.rollback()
            raise Refused(str(error)) from None
        emit(as_json, data, message)

    return json_option(wrapped)


def emit(as_json, data, message):
    """Print `data` as JSON with --json, else the French `message`."""
    click.echo(json.dumps(data, ensure_ascii=False) if as_json else message)


def table(headers, rows):
    """Rows under a header line, in columns two spaces apart."""
    lines = [headers, *rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(*lines, strict=True)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines)


def former_name(group, name):
    """`group` under the name it had before, kept for one release: hidden from `idp --help`,
    it runs the same commands after a French note on standard error naming the new one."""

    class FormerName(AppGroup):
        def parse_args(self, ctx, args):
            if not ctx.resilient_parsing:  # not while a shell completes the command line
                click.echo(f"`idp {name}` est obsolète et sera retiré à la prochaine version : utilisez `idp {group.name}`.", err=True)
            return super().parse_args(ctx, args)

    return FormerName(name, commands=group.commands, help=group.help, hidden=True)


def run_until_stopped(name, worker, interval):
    """Run `worker(stop, interval=…)` until SIGTERM or SIGINT (a systemd service's worker)."""
    # Through app.logger, Flask attaches its stderr handler to the "idp" logger: the journal gets the log.
    current_app.logger.info("%s worker: looking at its queue every %s s", name, interval)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    worker(stop, interval=interval)
