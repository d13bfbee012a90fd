"""Benchmark of issuing: one establishment's 10,000 accounts (pupils and their legal
guardians) issued and their letters printed in one PDF, as a secretary does at the start of
the year. The issue's target: seconds, not minutes.

    .venv/bin/python bench/issue_letters.py                      # PostgreSQL idp_bench when reachable
    .venv/bin/python bench/issue_letters.py --accounts 2000 --database sqlite
    .venv/bin/python bench/issue_letters.py --letters /tmp/lettres.pdf   # keep the PDF

The database is made afresh (`idp_bench`, dropped and created again, as bench/run.py does)
and seeded with set-based inserts; then the timed part runs in-process: issue_accounts,
render_letters, commit.
"""

import argparse
import random
import secrets
import tempfile
import time
from datetime import date
from pathlib import Path

from idp import create_app
from idp.extensions import db
from idp.models import Establishment, LegalGuardian, Pupil
from idp.schools.issuing import issue_accounts
from idp.schools.letters import render_letters

import database

GIVEN_NAMES = [
    "Alice",
    "Chloé",
    "Emma",
    "Inès",
    "Jade",
    "Léa",
    "Louise",
    "Lina",
    "Manon",
    "Mila",
    "Rose",
    "Zoé",
    "Camille",
    "Sarah",
    "Juliette",
    "Anna",
    "Lucie",
    "Ambre",
    "Éléonore",
    "Maëlys",
    "Gabriel",
    "Léo",
    "Raphaël",
    "Louis",
    "Arthur",
    "Jules",
    "Adam",
    "Lucas",
    "Hugo",
    "Noah",
    "Paul",
    "Nathan",
    "Tom",
    "Théo",
    "Mathis",
    "Sacha",
    "Aurélien",
    "Noé",
    "Éthan",
    "Timéo",
]
FAMILY_NAMES = [
    "Martin",
    "Bernard",
    "Thomas",
    "Petit",
    "Robert",
    "Richard",
    "Durand",
    "Dubois",
    "Moreau",
    "Laurent",
    "Simon",
    "Michel",
    "Lefèvre",
    "Leroy",
    "Roux",
    "David",
    "Bertrand",
    "Morel",
    "Fournier",
    "Girard",
    "Bonnet",
    "Dupont",
    "Lambert",
    "Fontaine",
    "Rousseau",
    "Vincent",
    "Muller",
    "Lefebvre",
    "Faure",
    "André",
    "Mercier",
    "Blanc",
    "Guérin",
    "Boyer",
    "Garnier",
    "Chevalier",
    "François",
    "Legrand",
    "Gauthier",
    "Garcia",
    "Perrin",
    "Robin",
    "Clément",
    "Morin",
    "Nicolas",
    "Henry",
    "Roussel",
    "Mathieu",
    "Gautier",
    "Masson",
    "Marchand",
    "Duval",
    "Denis",
    "Dumont",
    "Marie",
    "Lemaire",
    "Noël",
    "Meyer",
    "Dufour",
    "Meunier",
    "Brun",
    "Blanchard",
    "Giraud",
    "Joly",
    "Rivière",
    "Lucas",
    "Brunet",
    "Gaillard",
    "Barbier",
    "Arnaud",
    "Martinez",
    "Gérard",
    "Roche",
    "Renard",
    "Schmitt",
    "Roy",
    "Leroux",
    "Colin",
    "Vidal",
    "Caron",
    "Picard",
    "Roger",
    "Fabre",
    "Aubert",
    "Lemoine",
    "Renaud",
    "Dumas",
    "Lacroix",
    "Olivier",
    "Philippe",
    "Bourgeois",
    "Pierre",
    "Benoît",
    "Rey",
    "Leclerc",
    "Payet",
    "Rolland",
    "Le-Gall",
    "N'Diaye",
]
CLASSES = [f"{level}{letter}" for level in (6, 5, 4, 3) for letter in "ABCDEF"]


def arguments():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["auto", "postgresql", "sqlite"], default="auto", help="auto: PostgreSQL when reachable")
    parser.add_argument("--accounts", type=int, default=10_000, help="accounts to issue: 2 in 5 pupils, the rest guardians (default 10000)")
    parser.add_argument("--letters", type=Path, help="write the letters there (default: a temporary file, deleted)")
    return parser.parse_args()


def seed(app, accounts):
    """One establishment whose pupils and legal guardians add up to `accounts` accounts."""
    rng = random.Random(6)
    pupils = accounts * 2 // 5
    two_guardians = accounts - 2 * pupils  # pupils with a second guardian
    with app.app_context():
        establishment = Establishment(uai="0140001A", name="Collège Jean Moulin")
        db.session.add(establishment)
        db.session.flush()
        pupil_rows = [
            {
                "given_name": rng.choice(GIVEN_NAMES),
                "family_name": rng.choice(FAMILY_NAMES),
                "birth_date": date(2011 + number % 4, 1 + number % 12, 1 + number % 28),
                "establishment_id": establishment.id,
                "school_key": str(100000 + number),
                "class_name": CLASSES[number % len(CLASSES)],
            }
            for number in range(pupils)
        ]
        db.session.execute(Pupil.__table__.insert(), pupil_rows)
        ids = db.session.scalars(db.select(Pupil.id).order_by(Pupil.id)).all()
        guardian_rows = []
        for number, (pupil_id, pupil) in enumerate(zip(ids, pupil_rows, strict=True)):
            for rank in (1, 2) if number < two_guardians else (1,):
                given = rng.choice(GIVEN_NAMES)
                guardian_rows.append(
                    {"pupil_id": pupil_id, "rank": rank, "given_name": given, "family_name": pupil["family_name"], "school_email": None}
                )
        db.session.execute(LegalGuardian.__table__.insert(), guardian_rows)
        db.session.commit()
        db.engine.dispose()
    return pupils, len(guardian_rows)


def main():
    options = arguments()
    with tempfile.TemporaryDirectory(prefix="idp-bench-issue-") as directory:
        if options.database == "postgresql" or (options.database == "auto" and database.postgres_reachable()):
            kind, url = "postgresql", database.fresh_postgres_database()
        else:
            kind, url = "sqlite", database.fresh_sqlite_database(directory)
        overrides = {"DATABASE_URL": url, "KEYS_DIR": str(Path(directory) / "keys"), "SECRET_KEY": secrets.token_hex(32)}
        database.migrate({f"IDP_{key}": value for key, value in overrides.items()})
        app = create_app(overrides)
        pupils, guardians = seed(app, options.accounts)
        print(f"database: {kind} ({url}); {pupils} pupils, {guardians} legal guardians")

        letters = options.letters or Path(directory) / "letters.pdf"
        with app.app_context():
            establishment = db.session.scalar(db.select(Establishment))
            started, cpu = time.perf_counter(), time.process_time()
            issued = issue_accounts(establishment)
            after_issue = time.perf_counter()
            pdf = render_letters(issued)
            after_letters = time.perf_counter()
            db.session.commit()
            letters.write_bytes(pdf)
            finished, cpu = time.perf_counter(), time.process_time() - cpu
        print(f"issued {len(issued)} accounts: {after_issue - started:.2f} s")
        print(f"letters, {len(issued)} pages, {len(pdf) / 1e6:.1f} MB: {after_letters - after_issue:.2f} s")
        print(f"commit and write: {finished - after_letters:.2f} s")
        print(f"total: {finished - started:.2f} s ({cpu:.2f} s of this process's CPU); letters in {letters}")


if __name__ == "__main__":
    main()
