"""Email addresses: the one syntax every door checks (the first connection, « gérer son
compte », « identifiant oublié », staff accounts, the school files), and the messages of an
address a person types."""

import re

from flask_babel import lazy_gettext as _l

# Deliberately simple: one @, something before it, a dot in the domain, no spaces.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The size of every column that holds an address.
MAX_LENGTH = 254


def is_email(address):
    """True when `address` (a string) has the shape of an email address."""
    return len(address) <= MAX_LENGTH and EMAIL.match(address) is not None


def address_problems(email):
    """Messages per field for an address typed once (key: "email")."""
    if not is_email(email or ""):
        return {"email": [_l("Saisissez une adresse mail valide, par exemple nom@exemple.fr.")]}
    return {}


def email_problems(email, confirmation):
    """Messages per field for an address typed twice (keys: "email", "email_confirmation")."""
    problems = address_problems(email)
    if not problems and (confirmation or "").strip().lower() != email.strip().lower():
        problems["email_confirmation"] = [_l("Les deux adresses mail sont différentes.")]
    return problems
