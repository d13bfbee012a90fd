"""Establishments, identified by their UAI (7 digits and a letter)."""

import re

from sqlalchemy import select

from ..errors import InvalidInput
from ..extensions import db
from ..models import Establishment

UAI = re.compile(r"^[0-9]{7}[A-Z]$")


def normalize_uai(uai):
    value = (uai or "").strip().upper()
    if not UAI.match(value):
        raise InvalidInput(f"UAI invalide : {uai!r} (7 chiffres suivis d'une lettre, par exemple 0140001A).")
    return value


def find_establishment(uai):
    return db.session.scalar(select(Establishment).where(Establishment.uai == normalize_uai(uai)))


def add_establishment(uai, name, academie="Normandie", degree="2d", address=None, phone=None, contact=None):
    uai = normalize_uai(uai)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Le nom de l'établissement est obligatoire.")
    check_degree(degree)
    if find_establishment(uai) is not None:
        raise InvalidInput(f"L'établissement {uai} existe déjà.")
    establishment = Establishment(uai=uai, name=name, academie=academie, degree=degree)
    update_establishment(establishment, address=address, phone=phone, contact=contact)
    db.session.add(establishment)
    return establishment


# An establishment's degree: "1d" (premier degré: écoles), "2d" (second degré: collèges,
# lycées). It makes the profile of the school claims (idp.oidc.claims: FrEduVecteur,
# FrEduCtPersonAffiliation) of its pupils and their parents.
DEGREES = ("1d", "2d")


def check_degree(degree):
    if degree not in DEGREES:
        raise InvalidInput("Le degré est 1d (école) ou 2d (collège, lycée).")
    return degree


# Contact details: at most so many characters and lines (the letter prints them).
MAX_ADDRESS = 300
MAX_ADDRESS_LINES = 4
MAX_CONTACT = 200
# A French number as people write it: 02 31 00 00 00, 02.31.00.00.00, +33 2 31 00 00 00.
PHONE_SEPARATORS = re.compile(r"[\s.\-]")
PHONE = re.compile(r"^(?:0|\+33|0033)([1-9][0-9]{8})$")


def normalize_phone(phone):
    """`phone` written '02 31 00 00 00', or None when empty; InvalidInput when it is not a
    French number."""
    value = (phone or "").strip()
    if not value:
        return None
    digits = PHONE_SEPARATORS.sub("", value).replace("(0)", "")
    match = PHONE.match(digits)
    if not match:
        raise InvalidInput(f"Téléphone invalide : {value[:40]!r} (un numéro français, par exemple 02 31 00 00 00 ou +33 2 31 00 00 00).")
    national = "0" + match.group(1)
    return " ".join(national[index : index + 2] for index in range(0, 10, 2))


def normalize_address(address):
    """The postal address as lines without blanks around them, or None when empty."""
    lines = [" ".join(line.split()) for line in (address or "").replace("\r\n", "\n").split("\n")]
    lines = [line for line in lines if line]
    if not lines:
        return None
    if any(not line.isprintable() for line in lines):
        raise InvalidInput("L'adresse contient un caractère de contrôle.")
    if len(lines) > MAX_ADDRESS_LINES:
        raise InvalidInput(f"L'adresse tient en {MAX_ADDRESS_LINES} lignes au plus.")
    value = "\n".join(lines)
    if len(value) > MAX_ADDRESS:
        raise InvalidInput(f"L'adresse fait {MAX_ADDRESS} caractères au plus.")
    return value


def normalize_contact(contact):
    """The contact line (one line), or None when empty."""
    value = " ".join((contact or "").split())
    if not value:
        return None
    if not value.isprintable():
        raise InvalidInput("La ligne de contact contient un caractère de contrôle.")
    if len(value) > MAX_CONTACT:
        raise InvalidInput(f"La ligne de contact fait {MAX_CONTACT} caractères au plus.")
    return value


def update_establishment(establishment, **changes):
    """Set the given fields among name, degree, address, phone and contact (an empty value
    clears an optional one); returns the names of the fields that changed. InvalidInput,
    nothing changed, when one is wrong."""
    values = {}
    if changes.get("name") is not None:
        name = " ".join(changes["name"].split())
        if not name:
            raise InvalidInput("Le nom de l'établissement est obligatoire.")
        if len(name) > 200:
            raise InvalidInput("Le nom de l'établissement fait 200 caractères au plus.")
        values["name"] = name
    if changes.get("degree") is not None:
        values["degree"] = check_degree(changes["degree"])
    for field, normalize in (("address", normalize_address), ("phone", normalize_phone), ("contact", normalize_contact)):
        if changes.get(field) is not None:
            values[field] = normalize(changes[field])
    changed = [field for field, value in values.items() if getattr(establishment, field) != value]
    for field in changed:
        setattr(establishment, field, values[field])
    return changed


def contact_lines(establishment):
    """How a family reaches the school, as printed lines: the contact line if set, else the
    address and phone; [] when none is known."""
    if establishment is None:
        return []
    if establishment.contact:
        return [establishment.contact]
    lines = (establishment.address or "").splitlines()
    if establishment.phone:
        lines.append(establishment.phone)
    return lines
