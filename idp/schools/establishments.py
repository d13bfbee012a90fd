"""Establishments, identified by their UAI (7 digits and a letter)."""

import re

from sqlalchemy import select

from ..admin import InvalidInput
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


def add_establishment(uai, name, academie="Normandie", degree="2d"):
    uai = normalize_uai(uai)
    name = (name or "").strip()
    if not name:
        raise InvalidInput("Le nom de l'établissement est obligatoire.")
    if degree not in ("1d", "2d"):
        raise InvalidInput("Le degré est 1d (école) ou 2d (collège, lycée).")
    if find_establishment(uai) is not None:
        raise InvalidInput(f"L'établissement {uai} existe déjà.")
    establishment = Establishment(uai=uai, name=name, academie=academie, degree=degree)
    db.session.add(establishment)
    return establishment
