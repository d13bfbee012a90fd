"""The SAML signing keys are the ID token signing keys (idp.oidc.keys): the same RSA keys,
in the same keys folder, named in the same `signing_key` table, rotated by `idp keys
rotate` and required at start in the same way. SAML wants an X.509 certificate: each key's
is self-signed, made from the key itself, and the same on every node (its fields come from
the key and its row: the serial from the kid, the validity from the row's creation), so
that nothing more is stored or copied.

The metadata publishes the certificate of every key the JWKS publishes, so a key made by a
rotation is in the metadata PUBLISH_AHEAD before it signs, and a retired one stays there
while assertions it signed may still be checked.

xmlsec1 reads keys and certificates from files: the key is the keys folder's own file when
it is named `<kid>.pem`, else a copy in this process's private temporary folder, where the
certificates are written too.
"""

import hashlib
import os
import tempfile
import threading
from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from flask import current_app

from ..oidc.keys import key_store

CERTIFICATE_YEARS = 20

_lock = threading.Lock()
_certificates = {}  # (kid, issuer, created_at) -> PEM
_folder = None


def _private_folder():
    global _folder
    if _folder is None:
        _folder = Path(tempfile.mkdtemp(prefix="idp-saml-"))  # mode 0700
    return _folder


def certificate_pem(kid, key, created_at):
    """The self-signed certificate of the key `kid` (PEM), the same wherever it is made."""
    issuer = current_app.config["ISSUER"]
    cached = _certificates.get((kid, issuer, created_at))
    if cached is not None:
        return cached
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, (issuer.split("//")[-1].split("/")[0] or "idp")[:64])])
    serial = int.from_bytes(hashlib.sha256(kid.encode()).digest()[:16], "big") >> 1
    start = created_at.replace(microsecond=0)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=365 * CERTIFICATE_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key.private_key, hashes.SHA256())  # PKCS#1 v1.5: deterministic
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    _certificates[(kid, issuer, created_at)] = pem
    return pem


def _body(pem):
    return "".join(line for line in pem.splitlines() if "CERTIFICATE" not in line)


def published_certificates():
    """The certificates (base64 bodies) of the keys published now, the signing one first."""
    found = []
    for record, stored in key_store().published_keys():
        if stored is not None:
            found.append(_body(certificate_pem(record.kid, stored.key, record.created_at)))
    return found


def signing_files():
    """(key file, certificate file) of the key that signs now, for xmlsec1."""
    store = key_store()
    record, stored = store.signing_record()
    pem = certificate_pem(stored.kid, stored.key, record.created_at)
    with _lock:
        folder = _private_folder()
        certificate = folder / f"{hashlib.sha256(pem.encode()).hexdigest()[:32]}.crt"
        if not certificate.exists():
            _write(certificate, pem.encode())
        key_file = store.folder.path(stored.kid)
        if not key_file.exists():
            key_file = folder / f"{stored.kid}.key"
            if not key_file.exists():
                _write(key_file, stored.key.as_pem(private=True))
    return str(key_file), str(certificate)


def _write(path, data):
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
    temporary.replace(path)
