"""Creating staff members, their enrolment link, their password and what they may see."""

import re
from datetime import timedelta

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from ..accounts.addresses import canonical_email, shown
from ..accounts.identifiers import ascii_slug
from ..accounts.passwords import hash_password, verify_password
from ..clock import now
from ..errors import InvalidInput
from ..extensions import db
from ..models import Establishment, StaffMember, StaffRecoveryCode, StaffRole, StaffSession
from ..schools.establishments import find_establishment
from ..security import keyed_hash, new_token
from .recovery_codes import new_recovery_codes, use_recovery_code
from .totp import check_code, encrypt_secret, spend_code

# The enrolment link works this long, once.
ENROLMENT_LIFETIME = timedelta(days=7)
# Where the enrolment link leads (the back office's page that sets the password).
ENROLMENT_PATH = "/gestion/inscription/{token}"
# Staff see every family of their establishments: a longer password than the families'.
PASSWORD_MIN_LENGTH = 12


class InvalidStaff(InvalidInput):
    """Bad input for a staff member; `field` names the form field it is about."""

    def __init__(self, message, field):
        super().__init__(message)
        self.field = field


def normalize_email(email):
    """The address as staff accounts store it: canonical (idp.accounts.addresses), in lower case."""
    value = canonical_email((email or "").lower())
    if value is None:
        raise InvalidStaff(_("Adresse mail invalide : %(email)s", email=shown(email or "")), "email")
    return value


def find_staff(email):
    """The staff member with this email (any case), or None. An address stored before the
    canonical form (a Unicode domain) is found by the form typed too."""
    try:
        canonical = normalize_email(email)
    except InvalidInput:
        return None
    forms = {canonical, email.strip().lower()}
    return db.session.scalars(select(StaffMember).where(StaffMember.email.in_(forms)).order_by(StaffMember.id)).first()


def create_staff(email, given_name, family_name, role, uais=()):
    """A new staff member and the token of their enrolment link (shown or mailed once).

    An establishment's staff is bound to one or more existing establishments; an académie
    administrator to none (they see them all).
    """
    email = normalize_email(email)
    given_name, family_name = (given_name or "").strip(), (family_name or "").strip()
    if not given_name or not family_name:
        raise InvalidStaff(_("Le prénom et le nom sont obligatoires."), "given_name")
    if len(given_name) > 100 or len(family_name) > 100:
        raise InvalidStaff(_("Le prénom ou le nom est trop long."), "given_name")
    try:
        role = StaffRole(role)
    except ValueError:
        raise InvalidStaff(_("Rôle inconnu : %(role)s (etablissement ou academie).", role=role), "role") from None
    establishments = [_existing_establishment(uai) for uai in dict.fromkeys(uai.strip().upper() for uai in uais)]
    if role is StaffRole.ETABLISSEMENT and not establishments:
        raise InvalidStaff(_("Un personnel d'établissement est rattaché à au moins un établissement (UAI)."), "uais")
    if role is StaffRole.ACADEMIE and establishments:
        raise InvalidStaff(_("Un administrateur de l'académie voit tous les établissements : n'indiquez pas d'UAI."), "uais")
    if find_staff(email) is not None:
        raise InvalidStaff(_("Un personnel a déjà l'adresse %(email)s.", email=email), "email")
    staff = StaffMember(email=email, given_name=given_name, family_name=family_name, role=role, establishments=establishments)
    db.session.add(staff)
    return staff, new_enrolment_token(staff)


def _existing_establishment(uai):
    try:
        establishment = find_establishment(uai)
    except InvalidInput as error:
        raise InvalidStaff(str(error), "uais") from None
    if establishment is None:
        raise InvalidStaff(_("Établissement inconnu : %(uai)s.", uai=uai), "uais")
    return establishment


def new_enrolment_token(staff):
    """A fresh enrolment token for `staff` (the previous link stops working)."""
    token = new_token()
    staff.enrolment_token_hash = keyed_hash(token)
    staff.enrolment_expires_at = now() + ENROLMENT_LIFETIME
    return token


def enrolment_link(token):
    return current_app.config["ISSUER"] + ENROLMENT_PATH.format(token=token)


def restart_enrolment(staff):
    """A staff member who lost their password or second factor starts again from a new
    enrolment link: password, TOTP secret, recovery codes and sessions are gone."""
    staff.password_hash = None
    staff.totp_secret_encrypted = None
    staff.totp_last_step = None
    staff.enrolled_at = None
    staff.recovery_codes.clear()
    end_staff_sessions(staff)
    return new_enrolment_token(staff)


def find_by_enrolment_token(token):
    """The staff member whose enrolment link carries `token`, while it works; else None."""
    if not token or len(token) > 100:
        return None
    staff = db.session.scalar(select(StaffMember).where(StaffMember.enrolment_token_hash == keyed_hash(token)))
    if staff is None or staff.disabled_at is not None or staff.enrolment_expires_at <= now():
        return None
    return staff


def password_problems(staff, password):
    """What is wrong with a staff member's new password (empty when it is fine)."""
    problems = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(_("Le mot de passe doit comporter au moins %(count)d caractères.", count=PASSWORD_MIN_LENGTH))
    if not (re.search(r"[0-9]", password) and re.search(r"[^\W\d_]", password)):
        problems.append(_("Le mot de passe doit comporter des chiffres et des lettres."))
    lowered = ascii_slug(password)
    personal = [ascii_slug(staff.email.split("@")[0])] + [ascii_slug(name) for name in (staff.given_name, staff.family_name)]
    if any(len(part) >= 3 and part in lowered for part in personal):
        problems.append(_("Le mot de passe ne doit contenir ni votre adresse mail ni votre nom."))
    return problems


def set_password(staff, password):
    """Spend the enrolment link: the password is set; the second factor is enrolled next."""
    problems = password_problems(staff, password)
    if problems:
        raise InvalidInput(" ".join(problems))
    staff.password_hash = hash_password(password)
    staff.enrolment_token_hash = None
    staff.enrolment_expires_at = None


def check_password(email, password):
    """The staff member with this email and password, or None (same time either way)."""
    staff = find_staff(email)
    if staff is not None and staff.disabled_at is not None:
        staff = None
    return staff if verify_password(staff, password) else None


def enrol_second_factor(staff, secret, code):
    """Enrol `secret` when `code` proves the application holds it: returns the ten recovery
    codes to show once, or None when the code is wrong (nothing is enrolled)."""
    if not spend_code(staff, secret, code):
        return None
    staff.totp_secret_encrypted = encrypt_secret(secret, staff.id)
    staff.enrolled_at = now()
    return new_recovery_codes(staff)


def check_second_factor(staff, typed):
    """How `typed` proves the second factor: "totp", "recovery_code", or None (wrong or spent)."""
    typed = (typed or "").strip().replace(" ", "")
    if check_code(staff, typed):
        return "totp"
    if use_recovery_code(staff, typed):
        return "recovery_code"
    return None


def end_staff_sessions(staff):
    db.session.execute(
        update(StaffSession).where(StaffSession.staff_id == staff.id, StaffSession.ended_at.is_(None)).values(ended_at=now())
    )


def remaining_recovery_codes(staff):
    query = select(db.func.count()).where(StaffRecoveryCode.staff_id == staff.id, StaffRecoveryCode.used_at.is_(None))
    return db.session.scalar(query)


def visible_establishments(staff):
    """The establishments `staff` works for, by UAI: all of them for the académie."""
    if staff.role is StaffRole.ACADEMIE:
        return db.session.scalars(select(Establishment).order_by(Establishment.uai)).all()
    return list(staff.establishments)


def may_see(staff, establishment):
    return staff.role is StaffRole.ACADEMIE or establishment in staff.establishments


def describe(staff):
    return {
        "email": staff.email,
        "role": staff.role.value,
        "establishments": [establishment.uai for establishment in staff.establishments],
    }
