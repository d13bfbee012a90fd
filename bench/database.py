"""The benchmark's own database: created empty, migrated with `idp db upgrade`, then seeded
with an establishment, many parent accounts and one trusted confidential client.
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
from argon2 import PasswordHasher
from idp import create_app
from idp.extensions import db
from idp.models import Account
from idp.relying_parties.registration import register_client
from idp.schools.demo_accounts import create_active_account
from idp.schools.establishments import add_establishment
from psycopg import sql
from sqlalchemy import update

POSTGRES_SERVER = "postgres@127.0.0.1:5432"
# IDP_BENCH_DATABASE names another database, so that two checkouts can measure side by side.
DATABASE_NAME = os.environ.get("IDP_BENCH_DATABASE", "idp_bench")
PASSWORD = "S3cret-pass"  # noqa: S105 (every seeded account's, known to the load generator)
REDIRECT_URI = "http://127.0.0.1:8765/cb"
UAI = "0140001A"


@dataclass(frozen=True)
class Seed:
    client_id: str
    client_secret: str
    redirect_uri: str
    identifiers: list[str]
    password: str


def postgres_reachable():
    try:
        with psycopg.connect(f"postgresql://{POSTGRES_SERVER}/postgres", connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def fresh_postgres_database():
    """Drop and create `idp_bench` (or IDP_BENCH_DATABASE; never the test suite's database); return its URL."""
    with psycopg.connect(f"postgresql://{POSTGRES_SERVER}/postgres", autocommit=True) as connection:
        name = sql.Identifier(DATABASE_NAME)
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(name))
    return f"postgresql+psycopg://{POSTGRES_SERVER}/{DATABASE_NAME}"


def fresh_sqlite_database(directory):
    return f"sqlite:///{Path(directory) / 'idp_bench.sqlite3'}"


def migrate(environment):
    idp = Path(sys.executable).with_name("idp")
    subprocess.run([str(idp), "db", "upgrade"], env=os.environ | environment, check=True, capture_output=True)


def seed(settings, accounts):
    """Create the people and the client; `settings` is the server's configuration."""
    # Hashing hundreds of passwords at production cost would take most of a minute:
    # create the accounts with a cheap hash, then give them all one production-cost hash
    # (same password, so every login still pays a full argon2id verification).
    app = create_app(settings | {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024})
    with app.app_context():
        add_establishment(UAI, "Collège Jean Moulin")
        identifiers = []
        for number in range(accounts):
            child = {"given_name": "Alice", "family_name": f"Bench{number}", "birthdate": "2012-05-04"}
            account = create_active_account("parent", "Jean", f"Bench{number}", PASSWORD, UAI, email=f"p{number}@example.org", child=child)
            identifiers.append(account.identifier)
        hasher = PasswordHasher(settings["ARGON2_TIME_COST"], settings["ARGON2_MEMORY_COST"], parallelism=settings["ARGON2_PARALLELISM"])
        db.session.execute(update(Account).values(password_hash=hasher.hash(PASSWORD)))
        scopes = ["openid", "profile", "email", "scolarite", "offline_access"]
        client, secret = register_client("ENT (benchmark)", "ent", [REDIRECT_URI], scopes=scopes, trusted=True)
        db.session.commit()
        seeded = Seed(client.client_id, secret, REDIRECT_URI, identifiers, PASSWORD)
        db.engine.dispose()
    return seeded
