"""The second factor: TOTP (RFC 6238, 30-second steps, 6 digits), enrolled by scanning a QR code.

The secret must be read back to check a code, so it is encrypted (AES-GCM under a key
derived from HASH_KEY, bound to the staff member's row), never hashed. A code is accepted
once: the step it belongs to is spent by one conditional UPDATE, so that a code seen over a
shoulder, or sent twice at once, does not open a second session. One step either side of
the present is accepted, for a phone whose clock drifts a little.
"""

import base64
import os
import re

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app
from markupsafe import Markup
from sqlalchemy import or_, update

from .. import clock
from ..extensions import db
from ..models import StaffMember

STEP = 30
DIGITS = 6
# Steps accepted either side of the present one.
WINDOW = 1
ISSUER_NAME = "Téléservices – gestion"
TOTP_CODE = re.compile(r"^[0-9]{6}$")


def new_secret():
    """160 random bits in base32, as authenticator applications expect them."""
    return pyotp.random_base32()


def _cipher():
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"idp staff totp secret").derive(
        current_app.config["HASH_KEY"].encode()
    )
    return AESGCM(key)


def _bound_to(staff_id):
    # Associated data: a ciphertext copied onto another staff row does not decrypt there.
    return f"staff_member:{staff_id}".encode()


def encrypt_secret(secret, staff_id):
    nonce = os.urandom(12)
    sealed = _cipher().encrypt(nonce, secret.encode(), _bound_to(staff_id))
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt_secret(stored, staff_id):
    """The secret, or None when `stored` was not sealed for this staff member with this key."""
    try:
        raw = base64.urlsafe_b64decode(stored.encode())
        return _cipher().decrypt(raw[:12], raw[12:], _bound_to(staff_id)).decode()
    except (InvalidTag, ValueError):
        return None


def provisioning_uri(secret, staff):
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP).provisioning_uri(name=staff.email, issuer_name=ISSUER_NAME)


def qr_code_svg(uri, title, description):
    """The QR code of `uri` as inline SVG markup: no style attribute (the CSP allows none),
    a title and a description for screen readers, dark modules on a white square."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=4, dark="#000", light="#fff", title=title, desc=description, svgclass="qr")
    # segno escapes the title and the description; the rest is its own markup.
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704


def grouped(secret):
    """The secret in groups of four, as typed into an application that cannot scan."""
    return " ".join(secret[index : index + 4] for index in range(0, len(secret), 4))


def is_totp_code(typed):
    return bool(TOTP_CODE.match(typed))


def _matching_step(secret, code, after_step):
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP)
    present = clock.timestamp() // STEP
    for step in range(present - WINDOW, present + WINDOW + 1):
        if (after_step is None or step > after_step) and pyotp.utils.strings_equal(totp.generate_otp(step), code):
            return step
    return None


def spend_code(staff, secret, code):
    """True when `code` is valid now for `secret` and was not accepted before (it is spent)."""
    step = _matching_step(secret, code, staff.totp_last_step)
    if step is None:
        return False
    spent = db.session.execute(
        update(StaffMember)
        .where(StaffMember.id == staff.id, or_(StaffMember.totp_last_step.is_(None), StaffMember.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:
        return False
    staff.totp_last_step = step
    return True


def check_code(staff, code):
    """True when `code` is the enrolled staff member's current TOTP code, not used before."""
    if staff.totp_secret_encrypted is None or not is_totp_code(code):
        return False
    secret = decrypt_secret(staff.totp_secret_encrypted, staff.id)
    return secret is not None and spend_code(staff, secret, code)
