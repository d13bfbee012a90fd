"""Creating accounts directly, for demonstrations and tests (`idp demo-account create`).

Establishments import their pupils and issue accounts through letters (imports.py,
issuing.py); this path skips them: it makes the pupil of an establishment and an account
that is already active, with a password chosen by the operator.
"""

from datetime import date

from sqlalchemy import select

from ..accounts.addresses import canonical_email, shown
from ..accounts.identifiers import next_identifier
from ..accounts.passwords import hash_password, password_problems
from ..clock import now
from ..errors import InvalidInput
from ..extensions import db
from ..models import Account, AccountKind, AccountState, Guardianship, Pupil
from .establishments import find_establishment


def _parse_date(value, what):
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"{what} invalide : {value!r} (format AAAA-MM-JJ)") from None


def _required(value, what):
    value = (value or "").strip()
    if not value:
        raise InvalidInput(f"{what} est obligatoire")
    return value


def _school_key(value, establishment):
    """The pupil's identifier in the establishment's file (ELEVE_ID of SIECLE, id_eleve of a
    CSV: what FrEduVecteur carries), or None; refused when the establishment already has it."""
    value = (value or "").strip()
    if not value:
        return None
    if len(value) > 32 or not value.isprintable():
        raise InvalidInput(f"identifiant d'élève invalide : {value[:40]!r} (32 caractères au plus)")
    if db.session.scalar(select(Pupil.id).where(Pupil.establishment_id == establishment.id, Pupil.school_key == value)) is not None:
        raise InvalidInput(f"l'établissement a déjà un élève d'identifiant {value!r}")
    return value


def create_active_account(
    kind, given_name, family_name, password, establishment_uai, email=None, birthdate=None, ine=None, child=None, school_key=None
):
    """An active account; a parent gets a link to `child` (given_name, family_name, birthdate,
    and optionally ine and school_key). `school_key`: a pupil's identifier in the school file."""
    if kind not in (AccountKind.PARENT, AccountKind.ELEVE):
        raise InvalidInput(f"type de compte inconnu : {kind!r} (parent ou eleve)")
    given_name = _required(given_name, "le prénom")
    family_name = _required(family_name, "le nom")
    establishment = find_establishment(establishment_uai)
    if establishment is None:
        raise InvalidInput(f"établissement inconnu : {establishment_uai!r} (voir idp establishment add)")
    address = None
    if (email or "").strip():
        address = canonical_email(email)
        if address is None:
            raise InvalidInput(f"adresse mail invalide : {shown(email)!r}")

    identifier = next_identifier(given_name, family_name)
    pupil = None
    if kind == AccountKind.ELEVE:
        pupil = Pupil(
            given_name=given_name,
            family_name=family_name,
            birth_date=_parse_date(birthdate, "date de naissance"),
            ine=ine,
            establishment=establishment,
            school_key=_school_key(school_key, establishment),
        )
    elif child is not None:
        pupil = Pupil(
            given_name=_required(child.get("given_name"), "le prénom de l'enfant"),
            family_name=_required(child.get("family_name"), "le nom de l'enfant"),
            birth_date=_parse_date(child.get("birthdate"), "date de naissance de l'enfant"),
            ine=child.get("ine"),
            establishment=establishment,
            school_key=_school_key(child.get("school_key"), establishment),
        )

    problems = password_problems(password or "", identifier, (given_name, family_name))
    if problems:
        raise InvalidInput(" ".join(str(problem) for problem in problems))

    moment = now()
    account = Account(
        kind=kind,
        identifier=identifier,
        given_name=given_name,
        family_name=family_name,
        password_hash=hash_password(password),
        email=address,
        email_verified=address is not None,
        state=AccountState.ACTIVE,
        issued_at=moment,
        first_connection_at=moment,
        activated_at=moment,
    )
    if kind == AccountKind.ELEVE:
        account.pupil = pupil
    elif pupil is not None:
        account.guardianships.append(Guardianship(pupil=pupil))
    db.session.add(account)
    return account
