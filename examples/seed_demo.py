"""Seed the demonstration data, idempotently (called by examples/demo.sh).

An establishment, a parent account jean.dupont1 (child Alice Dupont), a pupil account
lucas.martin1, and the demo ENT as a trusted relying party. What already exists is kept;
the ENT's addresses are set again and its secret rotated at every run, because a secret
is only readable when it is made.

Prints the ENT's client_id and client_secret on two lines of stdout; the rest goes to stderr.
Reads the provider's IDP_* settings like the `idp` command; ENT_BASE_URL gives the ENT's address.
"""

import os
import sys

from sqlalchemy import select

from idp import create_app
from idp.accounts.access import find_account
from idp.accounts.creation import create_active_account
from idp.admin.clients import register_client, rotate_secret, update_client
from idp.extensions import db
from idp.models import Client
from idp.schools.establishments import add_establishment, find_establishment

UAI = "0140001A"
ENT_NAME = "L'Educ de Normandie"
PARENT = {"identifier": "jean.dupont1", "password": "S3cret-pass"}
PUPIL = {"identifier": "lucas.martin1", "password": "Cartable-2024"}


def say(message):
    print(message, file=sys.stderr)


def seed_people():
    if find_establishment(UAI) is None:
        add_establishment(UAI, "Collège Jean Moulin")
        say(f"Établissement {UAI} ajouté.")
    if find_account(PARENT["identifier"]) is None:
        child = {"given_name": "Alice", "family_name": "Dupont", "birthdate": "2012-05-04"}
        create_active_account("parent", "Jean", "Dupont", PARENT["password"], UAI, email="jean@example.org", child=child)
        say(f"Compte parent {PARENT['identifier']} créé.")
    if find_account(PUPIL["identifier"]) is None:
        create_active_account("eleve", "Lucas", "Martin", PUPIL["password"], UAI, birthdate="2011-09-01")
        say(f"Compte élève {PUPIL['identifier']} créé.")


def seed_ent(base_url):
    client = db.session.scalar(select(Client).where(Client.name == ENT_NAME))
    if client is None:
        client, secret = register_client(
            ENT_NAME, "ent", [f"{base_url}/cb"], [f"{base_url}/logout-cb"], "client_secret_basic", trusted=True
        )
        say(f"Service « {ENT_NAME} » enregistré.")
    else:
        update_client(client, redirect_uris=[f"{base_url}/cb"], post_logout_redirect_uris=[f"{base_url}/logout-cb"])
        secret = rotate_secret(client)
        say(f"Service « {ENT_NAME} » déjà enregistré : nouveau secret.")
    return client.client_id, secret


def main():
    base_url = os.environ.get("ENT_BASE_URL", "http://127.0.0.1:8765").rstrip("/")
    with create_app().app_context():
        seed_people()
        client_id, secret = seed_ent(base_url)
        db.session.commit()
    print(client_id)
    print(secret)


if __name__ == "__main__":
    main()
