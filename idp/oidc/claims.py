"""Claims per scope (README.md, « What a relying party gets »), with the ÉduConnect names French
education RPs consume.

Claims are made of one query's rows: the account's columns, repeated on one row per pupil
the account stands for (a pupil's own record, or a parent's children). Userinfo adds the
access token's columns to that same query, so that it costs one round trip.
"""

from authlib.oidc.core import UserInfo
from sqlalchemy import func

from ..models import Account, AccountKind, Establishment, Guardianship, Pupil
from ..models.oauth import CLAIMS_BY_SCOPE

CLAIMS_SUPPORTED = ["sub", *(claim for claims in CLAIMS_BY_SCOPE.values() for claim in claims)]

# What the claims are made of (`user_info`).
CLAIM_COLUMNS = (
    Account.sub,
    Account.kind,
    Account.identifier,
    Account.given_name,
    Account.family_name,
    Account.email,
    Account.email_verified,
)
SCHOOLING_COLUMNS = (
    Pupil.given_name.label("pupil_given_name"),
    Pupil.family_name.label("pupil_family_name"),
    Pupil.ine,
    Establishment.uai,
    Establishment.degree,
)


def with_schooling(query):
    """Add to a query on Account the pupils it stands for: one row per pupil (or one row
    without pupil). A pupil account has its own record; a parent has guardianships."""
    return (
        query.add_columns(*SCHOOLING_COLUMNS)
        .outerjoin(Guardianship, Guardianship.account_id == Account.id)
        .outerjoin(Pupil, Pupil.id == func.coalesce(Guardianship.pupil_id, Account.pupil_id))
        .outerjoin(Establishment, Establishment.id == Pupil.establishment_id)
        .order_by(Pupil.id)
    )


def _scolarite(kind, pupils):
    if kind == AccountKind.ELEVE:
        claims = {"FrEduCtPersonAffiliation": f"eleve{pupils[0].degree if pupils else '2d'}"}
        if pupils:
            claims["FrEduCtEleveUAI"] = pupils[0].uai
            if pupils[0].ine:
                claims["FrEduCtEleveINE"] = pupils[0].ine
        return claims
    degrees = {pupil.degree for pupil in pupils}
    return {
        "FrEduCtPersonAffiliation": f"resp{'2d' if '2d' in degrees or not degrees else '1d'}",
        "children": [{"given_name": pupil.pupil_given_name, "family_name": pupil.pupil_family_name, "uai": pupil.uai} for pupil in pupils],
    }


def user_info(rows, scope):
    """The claims of `scope`, from the rows of a query made with `with_schooling`."""
    person = rows[0]
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
        claims.update(_scolarite(person.kind, [row for row in rows if row.uai is not None]))
    return claims
