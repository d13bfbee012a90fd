"""Claims per scope (design §4), with the ÉduConnect names French education RPs consume.

Claims are made from the account's own columns plus, for `scolarite`, one query for the
pupils concerned (the pupil's own record, or a parent's children). Userinfo reads the
account's columns in the same query as the access token; the ID token reads them from the
account row the grant already holds.
"""

from authlib.oidc.core import UserInfo
from sqlalchemy import bindparam, select

from ..extensions import db
from ..models import Account, AccountKind, Establishment, Guardianship, Pupil

SCOPES = ("openid", "profile", "email", "scolarite", "offline_access")

CLAIMS_SUPPORTED = [
    "sub",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
    "FrEduCtPersonAffiliation",
    "FrEduCtEleveUAI",
    "FrEduCtEleveINE",
    "children",
]

# The account columns claims are made of; `user_info` accepts any object that has them
# (an Account, or a row selected with these columns).
IDENTITY_COLUMNS = (
    Account.id,
    Account.sub,
    Account.kind,
    Account.identifier,
    Account.given_name,
    Account.family_name,
    Account.email,
    Account.email_verified,
    Account.pupil_id,
)


def _pupils_where(condition):
    return (
        select(Pupil.given_name, Pupil.family_name, Pupil.ine, Establishment.uai, Establishment.degree)
        .join(Establishment, Pupil.establishment_id == Establishment.id)
        .where(condition)
        .order_by(Pupil.id)
    )


# Built once: SQLAlchemy then reuses their compiled form without recomputing cache keys.
OWN_PUPIL = _pupils_where(Pupil.id == bindparam("pupil_id"))
CHILDREN = _pupils_where(Pupil.id.in_(select(Guardianship.pupil_id).where(Guardianship.account_id == bindparam("account_id"))))


def _schooling(person):
    """(given_name, family_name, ine, uai, degree) of the pupils the person stands for."""
    if person.kind == AccountKind.ELEVE:
        return db.session.execute(OWN_PUPIL, {"pupil_id": person.pupil_id}).all()
    return db.session.execute(CHILDREN, {"account_id": person.id}).all()


def _scolarite(person):
    pupils = _schooling(person)
    if person.kind == AccountKind.ELEVE:
        claims = {"FrEduCtPersonAffiliation": f"eleve{pupils[0].degree if pupils else '2d'}"}
        if pupils:
            claims["FrEduCtEleveUAI"] = pupils[0].uai
            if pupils[0].ine:
                claims["FrEduCtEleveINE"] = pupils[0].ine
        return claims
    degrees = {pupil.degree for pupil in pupils}
    return {
        "FrEduCtPersonAffiliation": f"resp{'2d' if '2d' in degrees or not degrees else '1d'}",
        "children": [{"given_name": pupil.given_name, "family_name": pupil.family_name, "uai": pupil.uai} for pupil in pupils],
    }


def user_info(person, scope):
    scopes = set(scope.split())
    claims = UserInfo(sub=person.sub)
    if "profile" in scopes:
        claims.update(
            name=f"{person.given_name} {person.family_name}",
            given_name=person.given_name,
            family_name=person.family_name,
            preferred_username=person.identifier,
        )
    if "email" in scopes and person.email:
        claims.update(email=person.email, email_verified=person.email_verified)
    if "scolarite" in scopes:
        claims.update(_scolarite(person))
    return claims
