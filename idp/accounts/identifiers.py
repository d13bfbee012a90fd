"""Identifiers of the form `prenom.nomN` (the guide's `jean.dupont1`)."""

import re
import unicodedata

from sqlalchemy import select

from ..extensions import db
from ..models import Account

_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")


def fold(text):
    """Lower case without accents or ligatures: 'Jean-Éric' -> 'jean-eric', 'Œ' -> 'oe'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return plain.replace("æ", "ae").replace("œ", "oe").replace("ß", "ss")


def ascii_slug(name):
    """'Jean-Éric' -> 'jean-eric', "N'Diaye" -> 'ndiaye', 'Le Gall' -> 'legall'."""
    return _NOT_ALLOWED.sub("", fold(name)).strip("-")[:30] or "x"


def normalize(identifier):
    """How a typed identifier is compared: trimmed and lower-case."""
    return identifier.strip().lower()


def next_identifier(given_name, family_name):
    """The first free `prenom.nomN`, N counting from 1."""
    stem = f"{ascii_slug(given_name)}.{ascii_slug(family_name)}"
    taken = db.session.scalars(select(Account.identifier).where(Account.identifier.like(f"{stem}%"))).all()
    numbers = {int(rest) for rest in (value[len(stem) :] for value in taken) if rest.isdigit()}
    number = 1
    while number in numbers:
        number += 1
    return f"{stem}{number}"
