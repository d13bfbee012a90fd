"""Email addresses: the one syntax every door checks (the first connection, « gérer son
compte », « identifiant oublié », staff accounts, the school files), and the messages of an
address a person types.

The rule itself is `idp.email_address` (the mailer applies it too, before it queues a
message and again before it sends one): an ASCII local part, a domain in ASCII or that
converts by IDNA, nothing invisible, 254 characters at most. An address is stored in its
canonical form (`canonical_email`: the domain in ASCII).
"""

from flask_babel import lazy_gettext as _l

from .. import email_address

# The size of every column that holds an address.
MAX_LENGTH = email_address.MAX_LENGTH


def is_email(address):
    """True when `address` (a string) is an address by the rule."""
    return email_address.is_address(address)


def canonical_email(address):
    """The form of `address` that is stored and compared (its domain in ASCII), or None when
    it is not an address. `address` is stripped first."""
    return email_address.canonical((address or "").strip())


def shown(text):
    """`text` quoted safely in a message (invisible characters written as \\uXXXX)."""
    return email_address.shown(text)


def address_problems(email):
    """Messages per field for an address typed once (key: "email")."""
    if not is_email(email or ""):
        return {"email": [_l("Saisissez une adresse mail valide, par exemple nom@exemple.fr.")]}
    return {}


def email_problems(email, confirmation):
    """Messages per field for an address typed twice (keys: "email", "email_confirmation")."""
    problems = address_problems(email)
    if not problems and _compared(confirmation) != _compared(email):
        problems["email_confirmation"] = [_l("Les deux adresses mail sont différentes.")]
    return problems


def _compared(address):
    address = (address or "").strip()
    return (email_address.canonical(address) or address).lower()
