"""Claims per scope (design §4), with the ÉduConnect names French education RPs consume."""

from authlib.oidc.core import UserInfo

from ..models import AccountKind

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


def _affiliation(account):
    if account.kind == AccountKind.ELEVE:
        degree = account.pupil.establishment.degree if account.pupil else "2d"
        return f"eleve{degree}"
    degrees = {child.establishment.degree for child in account.children}
    return f"resp{'2d' if '2d' in degrees or not degrees else '1d'}"


def user_info(account, scope):
    scopes = set(scope.split())
    claims = UserInfo(sub=account.sub)
    if "profile" in scopes:
        claims.update(
            name=account.full_name,
            given_name=account.given_name,
            family_name=account.family_name,
            preferred_username=account.identifier,
        )
    if "email" in scopes and account.email:
        claims.update(email=account.email, email_verified=account.email_verified)
    if "scolarite" in scopes:
        claims["FrEduCtPersonAffiliation"] = _affiliation(account)
        if account.kind == AccountKind.ELEVE and account.pupil is not None:
            claims["FrEduCtEleveUAI"] = account.pupil.establishment.uai
            if account.pupil.ine:
                claims["FrEduCtEleveINE"] = account.pupil.ine
        if account.kind == AccountKind.PARENT:
            claims["children"] = [
                {"given_name": child.given_name, "family_name": child.family_name, "uai": child.establishment.uai}
                for child in account.children
            ]
    return claims
