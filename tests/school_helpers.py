"""The school files of tests/fixtures, and importing them as a test needs."""

import io
import zipfile
from pathlib import Path

from idp.extensions import db
from idp.models import Pupil
from idp.schools.establishments import find_establishment
from idp.schools.imports import ImportRefused, import_files

FIXTURES = Path(__file__).parent / "fixtures"
HEADER = "id_eleve;nom;prenom;date_naissance;classe;nom_responsable;prenom_responsable;email_responsable;rang_responsable"


def fixture(name):
    """(name, bytes) of a fixture file, as an upload."""
    folder = "csv" if name.endswith(".csv") else "siecle"
    return name, (FIXTURES / folder / name).read_bytes()


def zipped(name, *members):
    """(name, bytes) of a zip holding `members` [(name, bytes)], as SIECLE downloads them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for member_name, content in members:
            archive.writestr(member_name, content)
    return name, buffer.getvalue()


def csv_file(*rows, name="eleves.csv"):
    return name, "\n".join([HEADER, *rows]).encode()


def importer(app, uai):
    """run(files, complete=False, staff=None): import and commit; the counts, or the ImportRefused."""

    def run(files, complete=False, staff=None):
        with app.app_context():
            try:
                result = import_files(find_establishment(uai), files, complete=complete, staff=staff)
            except ImportRefused as refused:
                db.session.rollback()
                return refused
            db.session.commit()
            return result.counts

    return run


def stored_pupils(app):
    """{school_key: (given, family, birth date, class, INE, left_on, [(rank, given, family, email, PERSONNE_ID)])}."""
    with app.app_context():
        return {
            pupil.school_key: (
                pupil.given_name,
                pupil.family_name,
                pupil.birth_date,
                pupil.class_name,
                pupil.ine,
                pupil.left_on,
                [(g.rank, g.given_name, g.family_name, g.school_email, g.school_key) for g in pupil.legal_guardians],
            )
            for pupil in db.session.scalars(db.select(Pupil).where(Pupil.school_key.is_not(None)).order_by(Pupil.school_key))
        }
