"""French grammar around people's names on the letters: « Responsable légal de Hugo »,
« Responsable légale d'Aïssatou ».

`of_name` elides « de » before a vowel or a mute h (d'Aïssatou, d'Élodie, d'Hugo) and
keeps it before a consonant, a y included (de Yanis). An initial h is taken as mute, as
it is for almost every first name (d'Hugo, d'Hélène).
"""

import unicodedata

VOWELS = set("aeiouœæ")
# LC_CIVILITE values of SIECLE that mean a woman.
FEMININE_CIVILITIES = {"MME", "MADAME", "MLLE", "MELLE", "MADEMOISELLE"}


def _first_letter(name):
    """The first character of `name`, lower case and without its accent."""
    name = name.strip()
    return unicodedata.normalize("NFD", name[0].lower())[0] if name else ""


def elides(name):
    """True when « de » becomes « d' » before `name`: a vowel or a mute h."""
    return _first_letter(name) in VOWELS | {"h"}


def of_name(name):
    """« de Yanis », « d'Aïssatou »."""
    return f"d'{name}" if elides(name) else f"de {name}"


def is_feminine(civility):
    """True when the school file's civility (« MME ») says the person is a woman."""
    return (civility or "").strip().rstrip(".").upper() in FEMININE_CIVILITIES


def normalize_civility(value):
    """SIECLE's LC_CIVILITE kept as « M. » or « MME », anything else as None."""
    word = (value or "").strip().rstrip(".").upper()
    if word in FEMININE_CIVILITIES:
        return "MME"
    if word in {"M", "MR", "MONSIEUR"}:
        return "M."
    return None
