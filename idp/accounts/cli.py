"""`idp accounts`: issue an establishment's accounts with their letters, show an account,
regenerate it, record or withdraw the reply coupon's refusal.

JSON output never carries a provisional secret: it is only on the letters.
"""

import os
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..admin import InvalidInput
from ..cli import _emit
from ..extensions import db
from ..models import Establishment
from ..schools.issuing import KINDS, issue_accounts
from ..schools.letters import render_letters
from .access import find_account, pupils_of
from .lifecycle import regenerate, set_refusal

accounts = AppGroup("accounts", help="Issued accounts: issue with letters, show, regenerate, refuse.")


def _establishment(uai):
    found = db.session.scalar(select(Establishment).where(Establishment.uai == (uai or "").strip().upper()))
    if found is None:
        raise InvalidInput(f"Établissement inconnu : {uai!r} (voir idp establishment add).")
    return found


def _account(identifier):
    found = find_account(identifier)
    if found is None:
        raise InvalidInput(f"Compte inconnu : {identifier!r}.")
    return found


def _pupil(pupil):
    return {"given_name": pupil.given_name, "family_name": pupil.family_name, "class": pupil.class_name, "uai": pupil.establishment.uai}


def _issued(item):
    account = item.account
    return {"identifier": account.identifier, "sub": account.sub, "kind": account.kind.value, "pupil": _pupil(item.pupils[0])}


def describe(account):
    """An account as `idp accounts show --json` prints it."""
    return {
        "identifier": account.identifier,
        "sub": account.sub,
        "kind": account.kind.value,
        "state": account.state.value,
        "email": account.email,
        "refused": account.teleservices_refused,
        "pupils": [_pupil(pupil) for pupil in pupils_of(account)],
    }


def _commit_with_letters(path, issued):
    """Write the letters beside `path`, commit, then put them in place: a failed commit
    leaves no letters of accounts that do not exist, a failed write issues nothing."""
    path = Path(path)
    partial = path.with_name(path.name + ".part")
    try:
        partial.write_bytes(render_letters(issued))
    except OSError as error:
        raise InvalidInput(f"Impossible d'écrire les lettres dans {str(path)!r} : {error.strerror}.") from None
    try:
        db.session.commit()
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def _run(action):
    """Run `action`; bad input becomes a clean error and nothing is saved."""
    try:
        return action()
    except InvalidInput as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None


@accounts.command("issue")
@click.option("--establishment", "uai", required=True, help="UAI of the establishment.")
@click.option("--class", "class_name", help="Only the pupils of this class (and their guardians).")
@click.option("--kind", type=click.Choice(KINDS), default="all", show_default=True)
@click.option("--letters", "letters", required=True, type=click.Path(dir_okay=False), help="Where to write the letters (PDF).")
@click.option("--json", "as_json", is_flag=True)
def issue(uai, class_name, kind, letters, as_json):
    """Issue the accounts the establishment's pupils and legal guardians lack, with their letters."""

    def action():
        issued = issue_accounts(_establishment(uai), class_name, kind)
        data = {"issued": [_issued(item) for item in issued]}
        if issued:
            _commit_with_letters(letters, issued)
        parents = sum(1 for entry in data["issued"] if entry["kind"] == "parent")
        message = (
            f"{len(issued)} compte(s) émis ({parents} parent(s), {len(issued) - parents} élève(s)) ; lettres : {letters}"
            if issued
            else "Aucun compte à émettre : tous ont déjà le leur (aucune lettre écrite)."
        )
        _emit(as_json, data, message)

    _run(action)


@accounts.command("show")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True)
def show(identifier, as_json):
    """An account's state, refusal and pupils."""

    def action():
        data = describe(_account(identifier))
        pupils = ", ".join(f"{each['given_name']} {each['family_name']} ({each['class'] or '-'}, {each['uai']})" for each in data["pupils"])
        message = (
            f"{data['identifier']} ({data['kind']}) : {data['state']}"
            f"{', téléservices refusés' if data['refused'] else ''}\nélève(s) : {pupils or '-'}"
        )
        _emit(as_json, data, message)

    _run(action)


@accounts.command("regenerate")
@click.argument("identifier")
@click.option("--letters", "letters", required=True, type=click.Path(dir_okay=False), help="Where to write the new letter (PDF).")
@click.option("--json", "as_json", is_flag=True)
def regenerate_command(identifier, letters, as_json):
    """A new provisional secret and letter for the same account (identifier and sub kept)."""

    def action():
        issued = regenerate(_account(identifier))
        data = describe(issued.account)
        _commit_with_letters(letters, [issued])
        _emit(as_json, data, f"Compte {data['identifier']} régénéré ; nouvelle lettre : {letters}")

    _run(action)


def _refusal(identifier, refused, as_json):
    def action():
        account = _account(identifier)
        changed = set_refusal(account, refused)
        data = describe(account)
        db.session.commit()
        if refused:
            message = "Refus des téléservices enregistré." if changed else "Le refus des téléservices était déjà enregistré."
        else:
            message = "Refus des téléservices annulé." if changed else "Aucun refus des téléservices n'était enregistré."
        _emit(as_json, data, f"{data['identifier']} : {message}")

    _run(action)


@accounts.command("refuse")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True)
def refuse(identifier, as_json):
    """Record the reply coupon: no téléservices for this account (the ENT is not affected)."""
    _refusal(identifier, True, as_json)


@accounts.command("unrefuse")
@click.argument("identifier")
@click.option("--json", "as_json", is_flag=True)
def unrefuse(identifier, as_json):
    """Withdraw a recorded refusal of the téléservices."""
    _refusal(identifier, False, as_json)
