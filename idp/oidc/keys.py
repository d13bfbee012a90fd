"""Signing keys under `KEYS_DIR`: creation on first start, rotation with overlap, the JWKS.

One PEM file per RSA key, named `<creation time>-<kid>.pem`, the kid being the key's
RFC 7638 thumbprint. The newest key signs. An older key stays published until every
ID token it signed has expired, that is `ID_TOKEN_LIFETIME` (plus a margin for clock
skew) after its successor was created; ID tokens offered back to us as hints are checked
against every key still on disk.
"""

import fcntl
import itertools
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from joserfc.jwk import KeySet, RSAKey

CLOCK_SKEW = 300


@dataclass(frozen=True)
class StoredKey:
    created: int
    kid: str
    key: RSAKey
    path: Path


def _read(directory):
    keys = []
    for path in directory.glob("*.pem"):
        created, _, kid = path.stem.partition("-")
        if not created.isdigit() or not kid:
            continue
        key = RSAKey.import_key(path.read_bytes(), {"kid": kid, "use": "sig", "alg": "RS256"})
        keys.append(StoredKey(int(created), kid, key, path))
    return sorted(keys, key=lambda stored: (stored.created, stored.kid))


@contextmanager
def _locked(directory):
    with open(directory / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _write_new_key(directory):
    key = RSAKey.generate_key(2048)
    kid = key.thumbprint()
    path = directory / f"{int(time.time())}-{kid}.pem"
    temporary = directory / f".{kid}.tmp"
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    temporary.rename(path)
    return kid


class KeyStore:
    def __init__(self, directory, id_token_lifetime):
        self.directory = Path(directory)
        self.retention = id_token_lifetime + CLOCK_SKEW
        self._cache = (None, [])
        self._published = (None, 0, [])

    def ensure(self):
        """Create the folder and a first key if there is none (safe from several processes)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with _locked(self.directory):
            if not _read(self.directory):
                _write_new_key(self.directory)

    def all_keys(self):
        stamp = os.stat(self.directory).st_mtime_ns
        cached_stamp, keys = self._cache
        if stamp != cached_stamp:
            keys = _read(self.directory)
            self._cache = (stamp, keys)
        return keys

    def signing_key(self):
        keys = self.all_keys()
        if not keys:
            raise RuntimeError(f"no signing key in {self.directory}: run 'idp keys rotate'")
        return keys[-1]

    def published(self):
        """The signing key and the retired keys whose tokens may still be valid."""
        keys = self.all_keys()
        moment = time.time()
        cached_keys, until, kept = self._published
        if cached_keys is keys and moment < until:
            return kept
        kept, until = [keys[-1]] if keys else [], math.inf
        for older, successor in itertools.pairwise(keys):
            retired_until = successor.created + self.retention
            if retired_until > moment:
                kept.append(older)
                until = min(until, retired_until)
        kept.sort(key=lambda stored: stored.created)
        self._published = (keys, until, kept)
        return kept

    def jwks(self):
        return {"keys": [stored.key.as_dict(private=False) for stored in self.published()]}

    def verification_keys(self):
        return KeySet([stored.key for stored in self.all_keys()])

    def rotate(self):
        with _locked(self.directory):
            kid = _write_new_key(self.directory)
        self.prune()
        return kid

    def prune(self):
        """Delete the keys that are no longer published; return their kids."""
        with _locked(self.directory):
            keys = _read(self.directory)
            published = {stored.kid for stored in self.published()}
            removed = [stored for stored in keys if stored.kid not in published]
            for stored in removed:
                stored.path.unlink()
        return [stored.kid for stored in removed]


def init_app(app):
    store = KeyStore(app.config["KEYS_DIR"], app.config["ID_TOKEN_LIFETIME"])
    store.ensure()
    app.extensions["idp.keys"] = store


def key_store():
    return current_app.extensions["idp.keys"]
