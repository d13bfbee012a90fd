"""Seed the demonstration data, idempotently (called by examples/demo.sh).

- An establishment, a parent account jean.dupont1 (child Alice Dupont) and a pupil account
  lucas.martin1, both active, to log in at once.
- A staff member of the establishment for the back office (/gestion), whose enrolment link
  is printed until they have enrolled (password and second factor).
- A class imported from examples/demo-classe-6B.csv (3 pupils and their legal guardians)
  whose accounts are issued, as a school does: their letters go to a PDF beside the
  database. An account already issued is never issued again, so later runs print the
  path of the earlier PDF (a letter cannot be reprinted: its secret is not kept).
- The demo ENT as a trusted relying party. Its addresses are set again and its secret
  rotated at every run, because a secret is only readable when it is made.
- The demo ENT's directory (ENT_DIRECTORY, a JSON file), as the académie's directory feed
  gives an ENT its establishments' pupils and legal guardians: the ENT recognises a family by
  the FrEduVecteur claim in it (examples/ent/app.py, `recognise`).

Prints the ENT's client_id and client_secret on the first two lines of stdout, then what
to tell the person (the staff login, the letters); the progress goes to stderr.
Reads the provider's IDP_* settings like the `idp` command; ENT_BASE_URL gives the ENT's address.
"""

import json
import os
import sys
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from idp import create_app
from idp.accounts.access import find_account
from idp.audit import audit
from idp.extensions import db
from idp.models import Client, Pupil
from idp.relying_parties.registration import register_client, rotate_secret, update_client
from idp.schools.demo_accounts import create_active_account
from idp.schools.establishments import add_establishment, find_establishment
from idp.schools.imports import import_files
from idp.schools.issuing import issue_accounts
from idp.schools.letters import render_letters
from idp.staff_accounts.members import create_staff, enrolment_link, find_staff, restart_enrolment

UAI = "0140001A"
ENT_NAME = "L'Educ de Normandie"
PARENT = {"identifier": "jean.dupont1", "password": "S3cret-pass"}
PUPIL = {"identifier": "lucas.martin1", "password": "Cartable-2024"}
# The SIECLE identifiers (ELEVE_ID) of the two pupils made by hand: Alice, Jean Dupont's
# daughter, and Lucas Martin.
ALICE_KEY, LUCAS_KEY = "DEMO100", "DEMO101"
STAFF = {"email": "secretariat.0140001a@example.org", "given_name": "Claire", "family_name": "Petit"}
CLASS_NAME = "6B"
CLASS_FILE = Path(__file__).resolve().parent / "demo-classe-6B.csv"
LETTERS = "demo-lettres"


def say(message):
    print(message, file=sys.stderr)


def seed_people():
    if find_establishment(UAI) is None:
        add_establishment(UAI, "Collège Jean Moulin")
        say(f"Établissement {UAI} ajouté.")
    parent = find_account(PARENT["identifier"])
    if parent is None:
        child = {"given_name": "Alice", "family_name": "Dupont", "birthdate": "2012-05-04", "school_key": ALICE_KEY}
        create_active_account("parent", "Jean", "Dupont", PARENT["password"], UAI, email="jean@example.org", child=child)
        say(f"Compte parent {PARENT['identifier']} créé.")
    elif parent.children and parent.children[0].school_key is None:
        parent.children[0].school_key = ALICE_KEY  # a demo database seeded before the identifiers
    pupil = find_account(PUPIL["identifier"])
    if pupil is None:
        create_active_account("eleve", "Lucas", "Martin", PUPIL["password"], UAI, birthdate="2011-09-01", school_key=LUCAS_KEY)
        say(f"Compte élève {PUPIL['identifier']} créé.")
    elif pupil.pupil is not None and pupil.pupil.school_key is None:
        pupil.pupil.school_key = LUCAS_KEY


def seed_staff():
    """The establishment's staff member: (email, enrolment link, or None once enrolled)."""
    staff = find_staff(STAFF["email"])
    if staff is None:
        staff, token = create_staff(STAFF["email"], STAFF["given_name"], STAFF["family_name"], "etablissement", [UAI])
        db.session.flush()
        audit("staff_added", member=staff.email, role=staff.role.value, uais=[UAI])
        say(f"Personnel {staff.email} créé.")
    elif staff.enrolled_at is None:
        token = restart_enrolment(staff)
        say(f"Personnel {staff.email} pas encore inscrit : nouveau lien d'inscription.")
    else:
        return staff.email, None
    return staff.email, enrolment_link(token)


def letters_folder():
    """Beside the database when it is a SQLite file, else the instance folder."""
    url = db.engine.url
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).resolve().parent
    return Path(current_app.instance_path)


def earlier_letters(folder):
    """The demo's letters PDFs already written in `folder`, the newest last."""
    return sorted(folder.glob(f"{LETTERS}*.pdf"), key=lambda path: path.stat().st_mtime)


def seed_class(folder):
    """Import the demo class and issue what is missing: (letters PDF path or None, the PDF
    to write there after the commit or None, number issued).

    The letters are rendered here, while the secrets exist (they are never stored)."""
    establishment = find_establishment(UAI)
    result = import_files(establishment, [(CLASS_FILE.name, CLASS_FILE.read_bytes())])
    say("Classe de démonstration importée : " + ", ".join(f"{name} {count}" for name, count in result.counts.items() if count) + ".")
    issued = issue_accounts(establishment, CLASS_NAME)
    if not issued:
        earlier = earlier_letters(folder)
        return (earlier[-1] if earlier else None), None, 0
    path = folder / f"{LETTERS}.pdf"
    number = 1
    while path.exists():  # never overwrite letters printed before: their secrets are gone
        number += 1
        path = folder / f"{LETTERS}-{number}.pdf"
    say(f"{len(issued)} comptes délivrés.")
    return path, render_letters(issued), len(issued)


def notes(staff_email, staff_link, letters, issued_now):
    """What demo.sh prints at start about the staff login and the letters."""
    lines = ["  Gestion (back-office de l'établissement) : " + current_app.config["ISSUER"] + "/gestion"]
    if staff_link:
        lines += [
            f"    personnel {staff_email} : première connexion par ce lien d'inscription (mot de passe,",
            "    puis application d'authentification TOTP à scanner) :",
            f"    {staff_link}",
        ]
    else:
        lines.append(f"    personnel {staff_email} : connectez-vous avec votre mot de passe et votre code TOTP.")
    lines.append("")
    if letters is None:
        lines.append(f"  Lettres de la classe {CLASS_NAME} : déjà délivrées, PDF introuvable ; régénérez un compte depuis /gestion.")
    elif issued_now:
        lines.append(f"  Lettres de la classe {CLASS_NAME} ({issued_now} comptes délivrés) : {letters}")
    else:
        lines.append(f"  Lettres de la classe {CLASS_NAME} (délivrées lors d'un lancement précédent) : {letters}")
    return "\n".join(lines)


def ent_directory():
    """The demo ENT's directory: the establishment's present pupils that have a SIECLE
    identifier, with their legal guardians as the school file names them (or, for a pupil
    made by hand, the parent accounts linked to it), each with the ENT's own identifier."""
    pupils = db.session.scalars(
        select(Pupil).where(Pupil.establishment == find_establishment(UAI), Pupil.left_on.is_(None), Pupil.school_key.is_not(None))
    ).all()
    entries = []
    for pupil in sorted(pupils, key=lambda each: each.school_key):
        guardians = [(guardian.given_name, guardian.family_name) for guardian in pupil.legal_guardians]
        guardians = guardians or [(link.account.given_name, link.account.family_name) for link in pupil.guardianships]
        entries.append(
            {
                "id": f"ent-eleve-{pupil.school_key}",
                "uai": pupil.establishment.uai,
                "attachment_id": pupil.school_key,
                "given_name": pupil.given_name,
                "family_name": pupil.family_name,
                "class": pupil.class_name or "",
                "guardians": [
                    {"id": f"ent-resp-{pupil.school_key}-{rank}", "given_name": given, "family_name": family}
                    for rank, (given, family) in enumerate(guardians, start=1)
                ],
            }
        )
    return {"pupils": entries}


def write_ent_directory(path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(ent_directory(), ensure_ascii=False, indent=2), encoding="utf-8")
    say(f"Annuaire de l'ENT écrit : {path}.")


def seed_ent(base_url):
    # The demo ENT hears of the provider's logouts (examples/ent/app.py, /backchannel-logout).
    logout = {"backchannel_logout_uri": f"{base_url}/backchannel-logout", "backchannel_logout_session_required": True}
    client = db.session.scalar(select(Client).where(Client.name == ENT_NAME))
    if client is None:
        client, secret = register_client(
            ENT_NAME, "ent", [f"{base_url}/cb"], [f"{base_url}/logout-cb"], "client_secret_basic", trusted=True, **logout
        )
        say(f"Service « {ENT_NAME} » enregistré.")
    else:
        update_client(client, redirect_uris=[f"{base_url}/cb"], post_logout_redirect_uris=[f"{base_url}/logout-cb"], **logout)
        secret = rotate_secret(client)
        say(f"Service « {ENT_NAME} » déjà enregistré : nouveau secret.")
    return client.client_id, secret


def main():
    base_url = os.environ.get("ENT_BASE_URL", "http://127.0.0.1:8765").rstrip("/")
    with create_app().app_context():
        seed_people()
        staff_email, staff_link = seed_staff()
        letters, pdf, issued_now = seed_class(letters_folder())
        client_id, secret = seed_ent(base_url)
        db.session.commit()
        if os.environ.get("ENT_DIRECTORY"):
            write_ent_directory(os.environ["ENT_DIRECTORY"])
        if pdf is not None:
            letters.parent.mkdir(parents=True, exist_ok=True)
            letters.write_bytes(pdf)
        message = notes(staff_email, staff_link, letters, issued_now)
    print(client_id)
    print(secret)
    print(message)


if __name__ == "__main__":
    main()
