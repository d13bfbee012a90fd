"""Claims per scope (README.md, « What a relying party gets », and docs/relying-parties.md),
with the ÉduConnect names French education RPs consume.

Claims are made of one query's rows: the account's columns, repeated on one row per pupil
the account stands for (a pupil's own record, or a parent's children), with the names the
school file gives the parent as that pupil's legal guardian. Userinfo adds the access
token's and its relying party's columns to that same query, so that it costs one round trip.

What a relying party receives is the claims of the scopes it was granted, narrowed to its
registration's list (idp.relying_parties.release), under the `sub` it knows the account by
(idp.relying_parties.subjects).
"""

from authlib.oidc.core import UserInfo
from sqlalchemy import and_, func

from ..models import Account, AccountKind, Establishment, Guardianship, LegalGuardian, Pupil
from ..models.oauth import CLAIMS_BY_SCOPE
from ..relying_parties.release import released_claims
from ..relying_parties.subjects import subject_for

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
    Pupil.school_key.label("pupil_school_key"),
    Pupil.left_on,
    Establishment.uai,
    Establishment.degree,
    LegalGuardian.given_name.label("guardian_given_name"),
    LegalGuardian.family_name.label("guardian_family_name"),
)
# What a relying party's registration brings to the claims (`user_info`'s `client`).
CLIENT_CLAIM_COLUMNS = ("subject_type", "claims", "redirect_uris")

# FrEduVecteur's profile digit: a legal guardian, a pupil; of a pupil in primary ("1d") or
# secondary ("2d") school.
VECTOR_PROFILES = {
    (AccountKind.PARENT, "1d"): "1",
    (AccountKind.PARENT, "2d"): "2",
    (AccountKind.ELEVE, "1d"): "3",
    (AccountKind.ELEVE, "2d"): "4",
}


def with_schooling(query):
    """Add to a query on Account the pupils it stands for: one row per pupil (or one row
    without pupil). A pupil account has its own record; a parent has guardianships, and the
    school file's legal guardian row that names the account, when there is one."""
    return (
        query.add_columns(*SCHOOLING_COLUMNS)
        .outerjoin(Guardianship, Guardianship.account_id == Account.id)
        .outerjoin(Pupil, Pupil.id == func.coalesce(Guardianship.pupil_id, Account.pupil_id))
        .outerjoin(Establishment, Establishment.id == Pupil.establishment_id)
        .outerjoin(LegalGuardian, and_(LegalGuardian.pupil_id == Pupil.id, LegalGuardian.account_id == Account.id))
        .order_by(Pupil.id)
    )


def school_vector(person, pupil):
    """The FrEduVecteur of `person` (a row of `with_schooling`) for `pupil` (one of its rows):
    `profile|lastName|firstName|attachmentId|UAI`. A parent's names are theirs as the school
    file spells them (the account's when no file row names it); a pupil's own vector has none.
    None for a pupil without a school file identifier: nothing an ENT could match it by."""
    if not pupil.pupil_school_key:
        return None
    profile = VECTOR_PROFILES[person.kind, pupil.degree]
    if person.kind == AccountKind.ELEVE:
        family_name = given_name = ""
    else:
        family_name = pupil.guardian_family_name or person.family_name
        given_name = pupil.guardian_given_name or person.given_name
    return "|".join((profile, family_name, given_name, pupil.pupil_school_key, pupil.uai))


def _scolarite(person, pupils):
    """The school claims of `person`, from the rows of its pupils still at an establishment."""
    if person.kind == AccountKind.ELEVE:
        claims = {"FrEduCtPersonAffiliation": f"eleve{pupils[0].degree if pupils else '2d'}"}
        if pupils:
            claims["FrEduCtEleveUAI"] = pupils[0].uai
            if pupils[0].ine:
                claims["FrEduCtEleveINE"] = pupils[0].ine
    else:
        degrees = {pupil.degree for pupil in pupils}
        children = [{"given_name": pupil.pupil_given_name, "family_name": pupil.pupil_family_name, "uai": pupil.uai} for pupil in pupils]
        claims = {"FrEduCtPersonAffiliation": f"resp{'2d' if '2d' in degrees or not degrees else '1d'}", "children": children}
    claims["FrEduVecteur"] = [vector for pupil in pupils if (vector := school_vector(person, pupil)) is not None]
    return claims


def user_info(rows, scope, client):
    """The claims `client` receives for the scopes `scope`, from the rows of a query made
    with `with_schooling`; `client` has the CLIENT_CLAIM_COLUMNS."""
    person = rows[0]
    scopes = set(scope.split())
    claims = {}
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
        # A pupil who left is no longer at an establishment: none of its claims.
        claims.update(_scolarite(person, [row for row in rows if row.uai is not None and row.left_on is None]))
    released = released_claims(scope, client)
    return UserInfo(sub=subject_for(client, person.sub), **{name: value for name, value in claims.items() if name in released})
