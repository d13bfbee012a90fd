"""The keys folder: one PEM file per private signing key, `<kid>.pem`.

Files are found by the key they hold (its RFC 7638 thumbprint is its kid), whatever their
name, so that the files of older versions (`<time>-<kid>.pem`) or a secret mounted under
other names serve as well. Nothing is written here unless a key is created.
"""

import hashlib
import logging
import os
from pathlib import Path

from joserfc.jwk import RSAKey

log = logging.getLogger("idp.keys")

PARAMETERS = {"use": "sig", "alg": "RS256"}


def new_key():
    return RSAKey.generate_key(2048, dict(PARAMETERS), auto_kid=True)


# Private keys parsed in this process, by the digest of their file's bytes: parsing checks
# the RSA key, tens of milliseconds, and an application starts by reading its keys (each
# test's application, each reload of a worker).
_parsed = {}


def _read(path):
    try:
        data = path.read_bytes()
        digest = hashlib.sha256(data).digest()
        key = _parsed.get(digest) or RSAKey.import_key(data, dict(PARAMETERS))
    except (OSError, ValueError, TypeError) as error:
        log.warning("%s ignored: not a readable RSA private key (%s)", path, error)
        return None
    if not key.is_private:
        log.warning("%s ignored: it holds a public key only", path)
        return None
    key.ensure_kid()
    _parsed[digest] = key
    return key


class KeyFolder:
    def __init__(self, directory):
        self.directory = Path(directory)

    def path(self, kid):
        """Where the key `kid` is expected."""
        return self.directory / f"{kid}.pem"

    def scan(self):
        """Every private key in the folder, as (key, path), oldest file first."""
        try:
            paths = sorted(self.directory.glob("*.pem"), key=lambda path: (path.stat().st_mtime, path.name))
        except OSError:
            return []
        found = []
        for path in paths:
            key = _read(path)
            if key is not None:
                found.append((key, path))
        return found

    def files(self):
        """kid → the file holding it."""
        return {key.kid: path for key, path in self.scan()}

    def find(self, kid):
        """The private key `kid`, or None: `<kid>.pem` first, then any file holding it."""
        path = self.path(kid)
        key = _read(path) if path.exists() else None
        if key is not None and key.kid == kid:
            return key
        return next((found for found, _ in self.scan() if found.kid == kid), None)

    def write(self, key):
        """Write `<kid>.pem`, readable by its owner only, whole or not at all."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(key.kid)
        temporary = self.directory / f".{key.kid}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(key.as_pem(private=True))
        temporary.replace(path)
        return path
