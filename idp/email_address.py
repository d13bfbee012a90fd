"""The syntax of an email address the provider accepts, stores and sends to: one rule for
every form, every import and the mailer (docs/security.md, « Email addresses »).

Pure functions, without Flask, so that `mail/` (which sends) and `accounts/addresses.py`
(the domain's door, with the messages a person reads) share it.

- The local part (before the @) is an RFC 5322 dot-atom in ASCII: letters, digits and
  ``#$&'*+-/=?^_{}~``, dots neither first, last nor doubled, 64 characters at most. Four
  characters of RFC 5322's atext are refused: ``!`` and ``%`` (bang paths and the
  "percent hack", which some relays still follow to another host) and ``|`` and `````
  (pipes and command substitution in the aliases and scripts mail goes through); no
  family's address uses them. No quoted local part, no Unicode local part: the SMTP
  servers and the mailer speak ASCII (no SMTPUTF8).
- The domain is ASCII host names (letters, digits, hyphens; at least two labels, the last
  not all digits) or converts to them by IDNA 2008 (UTS #46 mapping). The stored and sent
  form is the ASCII one (`xn--…` labels): one form to compare, the one the mailer sends.
- Nothing invisible: no control or format character (bidi overrides, zero-width joiners),
  no space; 254 characters at most.
"""

import re
import unicodedata

import idna

MAX_LENGTH = 254
MAX_LOCAL_LENGTH = 64
MAX_DOMAIN_LENGTH = 253

_ATOM = r"[A-Za-z0-9#$&'*+/=?^_{}~-]+"
LOCAL_PART = re.compile(rf"{_ATOM}(?:\.{_ATOM})*")
LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def canonical(address):
    """`address` as it is stored and sent (its domain in ASCII), or None when it is not one
    address by the rule above. `address` is taken as given: callers strip it first."""
    if not isinstance(address, str) or not address or len(address) > MAX_LENGTH:
        return None
    if any(_invisible(character) for character in address):
        return None
    local, at, domain = address.rpartition("@")
    if not at or len(local) > MAX_LOCAL_LENGTH or not LOCAL_PART.fullmatch(local):
        return None
    domain = ascii_domain(domain)
    if domain is None:
        return None
    result = f"{local}@{domain}"
    return result if len(result) <= MAX_LENGTH else None


def is_address(address):
    """True when `address` is one address by the rule."""
    return canonical(address) is not None


def ascii_domain(domain):
    """The domain as ASCII host names, or None."""
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True, std3_rules=True, transitional=False).decode("ascii")
        except (UnicodeError, ValueError):  # idna.IDNAError is a UnicodeError
            return None
    labels = domain.split(".")
    if len(domain) > MAX_DOMAIN_LENGTH or len(labels) < 2 or labels[-1].isdigit():
        return None
    if not all(LABEL.fullmatch(label) for label in labels):
        return None
    return domain


def _invisible(character):
    # Cc controls, Cf format characters (bidi overrides, zero-width ones), Cs, Co, Cn;
    # Zs, Zl, Zp separators (spaces).
    return unicodedata.category(character)[0] in "CZ"


def shown(text):
    """`text` to quote in a message: its invisible characters written as \\uXXXX, so that
    a bidi override or a control character cannot disguise what the message says."""
    return "".join(f"\\u{ord(character):04x}" if _invisible(character) and character != " " else character for character in text)
