"""Pupils and legal guardians written directly with the ORM (as an import would), and the
accounts issued for them, for the issuing, letters, regeneration and door-rule tests."""

import io
import re
from datetime import date
from types import SimpleNamespace

from pypdf import PdfReader

from idp.extensions import db
from idp.models import Account, Establishment, LegalGuardian, Pupil
from idp.schools.issuing import issue_accounts
from idp.schools.letters import render_letters


def add_pupil(app, uai, given_name, family_name, class_name="6A", guardians=(), left_on=None, birth_date=date(2013, 3, 14)):
    """A pupil of the establishment `uai` with its legal guardians: (given, family[, email])."""
    with app.app_context():
        establishment = db.session.scalar(db.select(Establishment).where(Establishment.uai == uai))
        count = db.session.scalar(db.select(db.func.count(Pupil.id)))
        pupil = Pupil(
            given_name=given_name,
            family_name=family_name,
            birth_date=birth_date,
            establishment=establishment,
            school_key=f"E{count + 1}",
            class_name=class_name,
            left_on=left_on,
        )
        for rank, guardian in enumerate(guardians, start=1):
            email = guardian[2] if len(guardian) > 2 else None
            pupil.legal_guardians.append(LegalGuardian(rank=rank, given_name=guardian[0], family_name=guardian[1], school_email=email))
        db.session.add(pupil)
        db.session.commit()
        return pupil.id


def issue(app, uai="0140001A", class_name=None, kind="all", letters=False):
    """Issue and commit; returns plain snapshots (identifier, sub, kind, secret, pupil_id)
    and, with letters=True, the PDF too."""
    with app.app_context():
        establishment = db.session.scalar(db.select(Establishment).where(Establishment.uai == uai))
        issued = issue_accounts(establishment, class_name, kind)
        pdf = render_letters(issued) if letters else None
        result = [
            SimpleNamespace(
                id=item.account.id,
                identifier=item.account.identifier,
                sub=item.account.sub,
                kind=item.account.kind.value,
                secret=item.secret,
                pupil_id=item.pupils[0].id,
                name=item.account.full_name,
            )
            for item in issued
        ]
        db.session.commit()
    return (result, pdf) if letters else result


def account_row(app, identifier="jean.dupont1"):
    """The account row of `identifier`, detached, to read its columns after a request."""
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == identifier))
        db.session.expunge(account)
        return account


def pdf_pages(pdf):
    """The text of each page of a PDF."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def page_value(text, label):
    """The value after `label` on a line of its own ('Identifiant : jean.dupont1')."""
    match = re.search(rf"^{re.escape(label)} : (\S+)$", text, re.MULTILINE)
    assert match, f"no line '{label} : …' in:\n{text}"
    return match.group(1)
