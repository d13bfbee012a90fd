"""`idp accounts`: issue an establishment's accounts with their letters, show an account,
regenerate it, record or withdraw the reply coupon's refusal: what the establishment's pages
of the back office do, from the command line.

JSON output never carries a provisional secret: it is only on the letters. The commands
follow the conventions of `idp.cli` (French messages, --json, refusals without traceback).
"""

import gc
import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from ..accounts.access import find_account, pupils_of
from ..accounts.lifecycle import regenerate, set_refusal
from ..cli_support import Refused, emit, json_option
from ..errors import InvalidInput
from ..extensions import db
from .establishments import find_establishment
from .issuing import KINDS, issue_batch

accounts = AppGroup("accounts", help="Comptes émis par les établissements.")

LETTERS = click.Path(dir_okay=False, path_type=Path)


def _establishment(uai):
    try:
        found = find_establishment(uai)
    except InvalidInput:  # a malformed UAI names no establishment either
        found = None
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
    leaves no letters of accounts that do not exist, a failed write issues nothing.
    `issued` is a list of Issued, or an issue's Batch, read as its letters are drawn."""
    from .letters import render_letters  # here: fpdf2 weighs 29 MB, loaded only to print

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


def _run(action, as_json):
    """Run `action`, which commits and returns `(data, message)`, then print; bad input
    becomes a clean refusal and nothing is saved."""
    try:
        data, message = action()
    except InvalidInput as error:
        db.session.rollback()
        raise Refused(str(error)) from None
    emit(as_json, data, message)


@accounts.command("issue")
@click.option("--establishment", "uai", required=True, help="UAI de l'établissement.")
@click.option("--class", "class_name", help="Seulement les élèves de cette classe (et leurs responsables).")
@click.option("--kind", type=click.Choice(KINDS), default="all", show_default=True, help="parent, eleve ou all.")
@click.option(
    "--letters",
    required=True,
    type=LETTERS,
    help="Fichier PDF où écrire les lettres (lettres.pdf, puis lettres-2.pdf… au-delà de IDP_LETTERS_PER_FILE comptes).",
)
@json_option
def issue(uai, class_name, kind, letters, as_json):
    """Émettre les comptes et leurs lettres.

    Un compte par responsable légal et par enfant, un compte par élève ; ceux qui ont déjà
    le leur sont laissés tels quels. Le mot de passe provisoire n'est que sur les lettres.
    Au plus IDP_LETTERS_PER_FILE comptes par fichier, par classes entières : chaque fichier
    est enregistré avec ses comptes avant le suivant.
    """

    def action():
        establishment = _establishment(uai)
        data = {"issued": [], "letters": []}
        counts = {"parent": 0, "eleve": 0}
        # One batch, one PDF, one commit after another, until nothing is left: the memory of
        # the command is that of one batch, whatever the establishment's size (and, with
        # --json, a few words per account for the output).
        while batch := issue_batch(establishment, class_name, kind, limit=current_app.config["LETTERS_PER_FILE"]):
            path = letters if not data["letters"] else letters.with_name(f"{letters.stem}-{len(data['letters']) + 1}{letters.suffix}")
            _commit_with_letters(path, _noted(batch, counts, data["issued"] if as_json else None))
            data["letters"].append(str(path))
            if not batch.more:
                break
            # The batch's objects (ORM states, the PDF's pages) hold reference cycles: a full
            # collection frees them before the next batch is drawn, rather than whenever the
            # interpreter would run one.
            del batch
            gc.collect()
        count = counts["parent"] + counts["eleve"]
        if not count:
            return data, "Aucun compte à émettre : tous ont déjà le leur (aucune lettre écrite)."
        parents = counts["parent"]
        return data, f"{count} compte(s) émis ({parents} parent(s), {count - parents} élève(s)) ; lettres : {', '.join(data['letters'])}"

    _run(action, as_json)


def _noted(batch, counts, entries=None):
    """The Issued of `batch`, each counted by kind in `counts` and described in `entries`
    (unless None) as it goes by."""
    for item in batch:
        counts[item.account.kind.value] += 1
        if entries is not None:
            entries.append(_issued(item))
        yield item


@accounts.command("show")
@click.argument("identifier")
@json_option
def show(identifier, as_json):
    """Afficher un compte : état, refus, élèves."""

    def action():
        data = describe(_account(identifier))
        pupils = ", ".join(f"{each['given_name']} {each['family_name']} ({each['class'] or '-'}, {each['uai']})" for each in data["pupils"])
        refused = ", téléservices refusés" if data["refused"] else ""
        return data, f"{data['identifier']} ({data['kind']}) : {data['state']}{refused}\nélève(s) : {pupils or '-'}"

    _run(action, as_json)


@accounts.command("regenerate")
@click.argument("identifier")
@click.option("--letters", required=True, type=LETTERS, help="Fichier PDF où écrire la nouvelle lettre.")
@json_option
def regenerate_command(identifier, letters, as_json):
    """Régénérer un compte (nouvelle lettre).

    Un nouveau mot de passe provisoire, sur une nouvelle lettre.

    Même identifiant, même compte pour les services ; l'ancien mot de passe, les sessions
    et les jetons cessent de fonctionner.
    """

    def action():
        issued = regenerate(_account(identifier))
        data = describe(issued.account)
        _commit_with_letters(letters, [issued])
        return data, f"Compte {data['identifier']} régénéré ; nouvelle lettre : {letters}"

    _run(action, as_json)


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
        return data, f"{data['identifier']} : {message}"

    _run(action, as_json)


@accounts.command("refuse")
@click.argument("identifier")
@json_option
def refuse(identifier, as_json):
    """Enregistrer le refus des téléservices.

    Le coupon réponse : plus aucun téléservice pour ce compte ; l'ENT reste accessible.
    """
    _refusal(identifier, True, as_json)


@accounts.command("unrefuse")
@click.argument("identifier")
@json_option
def unrefuse(identifier, as_json):
    """Annuler le refus des téléservices."""
    _refusal(identifier, False, as_json)
