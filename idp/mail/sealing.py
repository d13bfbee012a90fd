"""The bodies of the emails waiting in the outbox, encrypted at rest (docs/security.md,
« Emails waiting in the outbox »).

A body may carry the secret its email exists for (an activation or reset link, a temporary
password), and an email waits in the table while the SMTP server is down. `send()` seals
each body with AES-256-GCM, under a key derived by HKDF-SHA256 (label "idp outbox body")
from `MAIL_OUTBOX_KEY`, or from `HASH_KEY` when that setting is empty; the associated data
binds it to its message and part, so that a sealed body copied onto another row, or into
the other column, does not open. Delivery opens it with the current key, then with each of
`MAIL_OUTBOX_PREVIOUS_KEYS` (a rotation).

A stored body is `sealed1:` and the URL-safe base64 of nonce and ciphertext. A body without
the prefix is clear text, as queued before encryption existed (or by a node not yet
upgraded during a rolling upgrade); the migration 0007 sealed those already in the table.
An empty body is a blanked one (sent or given up) and stays empty.
"""

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PREFIX = "sealed1:"
LABEL = b"idp outbox body"
NONCE_BYTES = 12


class UnreadableBody(Exception):
    """A sealed body that no configured key opens (the key was changed without keeping the
    previous one in MAIL_OUTBOX_PREVIOUS_KEYS, or the row was altered). Delivery counts it
    as a failed attempt: the message waits, until given up, for the key to be configured."""


def derive_key(material):
    """The AES-256 key derived from the key material `material` (a setting's text)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=LABEL).derive(material.encode())


def _materials(config):
    current = config["MAIL_OUTBOX_KEY"] or config["HASH_KEY"]
    return [current, *(key for key in config["MAIL_OUTBOX_PREVIOUS_KEYS"] if key != current)]


def _bound_to(message_id, part):
    return f"outbox_message:{message_id}:{part}".encode()


def seal(text, message_id, part, config=None):
    """`text` (a body, `part` "text" or "html") sealed for the message `message_id`."""
    config = config or current_app.config
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(derive_key(_materials(config)[0])).encrypt(nonce, text.encode(), _bound_to(message_id, part))
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def is_sealed(stored):
    return stored.startswith(PREFIX)


def unseal(stored, message_id, part, config=None):
    """The clear body of a stored one (sealed, clear from before, or blanked); raises
    UnreadableBody when no key opens it."""
    if not is_sealed(stored):
        return stored
    config = config or current_app.config
    try:
        raw = base64.urlsafe_b64decode(stored[len(PREFIX) :].encode("ascii"))
    except (ValueError, UnicodeError):
        raise UnreadableBody("the sealed body is not base64") from None
    nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    for material in _materials(config):
        try:
            return AESGCM(derive_key(material)).decrypt(nonce, sealed, _bound_to(message_id, part)).decode()
        except (InvalidTag, ValueError):
            continue
    raise UnreadableBody("no key of MAIL_OUTBOX_KEY or MAIL_OUTBOX_PREVIOUS_KEYS opens the body")
