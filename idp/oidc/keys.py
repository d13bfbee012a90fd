"""ID token signing keys: the private halves in `KEYS_DIR`, the list of keys in the database.

Every node mounts the same keys folder (a secret, in a deployment) and reads the
`signing_key` table, so that every node publishes the same JWKS and signs with the same key:

- the table names each key (its kid, the RFC 7638 thumbprint), its public half, its
  generation and the moment it starts signing; the private half is the file `<kid>.pem`
  of the keys folder (any `*.pem` file there holding that key will do);
- the newest key whose moment has come signs. A key made by a rotation is published
  PUBLISH_AHEAD before it signs, so that relying parties and the other nodes know it
  before they meet a token it signed;
- a key stays published until every ID token it signed has expired: `ID_TOKEN_LIFETIME`
  plus CLOCK_SKEW after its successor starts signing. `idp keys prune` then deletes it.

A node reads the table at start, then at most every REFRESH_INTERVAL seconds: the JWKS and
the signing key come from memory in between. It never makes a key by itself once the
table has one (`idp keys rotate` does, once for the cluster). On an empty table the first
start registers the newest key of the folder, or creates one (development); when two
processes do so at once, the table's uniqueness keeps one key and the other process uses
it. A node whose folder lacks the key that signs, or the one that will, refuses to start
and says which file to copy. Nothing is written to the folder unless a key is created.
"""

import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from joserfc.jwk import KeySet, RSAKey
from sqlalchemy import delete, func, insert, inspect, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ..clock import now
from ..extensions import db
from ..models import SigningKey
from .key_files import KeyFolder, new_key

log = logging.getLogger("idp.keys")

CLOCK_SKEW = 300
# How long relying parties may keep the JWKS (its Cache-Control).
JWKS_MAX_AGE = 300
# A node notices the keys another one added or removed within this many seconds.
REFRESH_INTERVAL = 60
# A new key signs only once every JWKS that lacks it has been refreshed.
PUBLISH_AHEAD = timedelta(seconds=JWKS_MAX_AGE + REFRESH_INTERVAL)


class KeyFileMissing(RuntimeError):
    """The database names a key that this node's keys folder does not hold."""


class RotationConflict(RuntimeError):
    """Another process added a key at the same moment."""


@dataclass(frozen=True)
class KeyRecord:
    """A row of the `signing_key` table, with the end of its publication."""

    kid: str
    generation: int
    public_jwk: dict
    created_at: datetime
    signs_from: datetime
    # None while no successor signs (or is due to).
    published_until: datetime | None

    @property
    def file_name(self):
        return f"{self.kid}.pem"

    def is_published(self, moment):
        return self.published_until is None or moment < self.published_until


@dataclass(frozen=True)
class StoredKey:
    """A private key this node holds, as the signers use it."""

    kid: str
    key: RSAKey


def _seconds(moment):
    return moment.replace(tzinfo=UTC).timestamp()


def _records(rows, retention):
    """The table's rows, oldest generation first, each with the end of its publication."""
    rows = sorted(rows, key=lambda row: row.generation)
    records = []
    for index, row in enumerate(rows):
        successor = rows[index + 1] if index + 1 < len(rows) else None
        until = successor.signs_from + retention if successor is not None else None
        records.append(KeyRecord(row.kid, row.generation, row.public_jwk, row.created_at, row.signs_from, until))
    return records


def _signers(records, moment):
    """The records that may sign at `moment`, newest first: the newest generation whose
    moment has come, then every older one (they stand in while this node lacks its file).

    The generation decides, never the clock alone: a key registered by a node whose clock
    ran ahead (its `signs_from` in the future) still precedes its successors, and when no
    key is due yet, the oldest one signs."""
    due = [index for index, record in enumerate(records) if record.signs_from <= moment]
    newest = due[-1] if due else 0
    return records[newest::-1]


class _View:
    """What the table means at one moment, valid until the next change it foresees."""

    def __init__(self, records, moment, read_until):
        seconds = _seconds(moment)
        self.since = seconds
        published = [record for record in records if record.is_published(moment)]
        # The older ones stand in while this node lacks the newest one's file.
        self.signers = _signers(published, moment)
        self.version = tuple(record.kid for record in published)
        self.jwks = {"keys": [record.public_jwk for record in published]}
        events = [_seconds(record.signs_from) for record in records]
        events += [_seconds(record.published_until) for record in records if record.published_until is not None]
        self.until = min([read_until, *(event for event in events if event > seconds)])

    def covers(self, seconds):
        return self.since <= seconds < self.until


class KeyStore:
    def __init__(self, directory, id_token_lifetime, engine):
        self.folder = KeyFolder(directory)
        self.directory = self.folder.directory
        self.retention = timedelta(seconds=id_token_lifetime + CLOCK_SKEW)
        self.engine = engine
        self.started = False
        self._records = []
        self._keyset = KeySet([])
        self._read_at = -math.inf
        self._view = None
        self._private = {}
        self._looked_for = {}

    # --- the table ------------------------------------------------------------------

    def read(self):
        """The table as it is now (one query)."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(SigningKey)).all()
        return _records(rows, self.retention)

    def _load(self):
        self._records = self.read()
        self._keyset = KeySet([RSAKey.import_key(record.public_jwk) for record in self._records])
        self._read_at = time.time()
        self._view = None
        if self.started:
            # A key another node made: its missing file is logged long before it signs.
            moment = now()
            for record in self._records:
                if record.signs_from > moment:
                    self._private_key(record.kid, self._read_at)

    def start(self):
        """Read the table, registering a first key on an empty one; refuse to go on when
        this node lacks the key that signs or one that is about to."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table(SigningKey.__tablename__):
                raise RuntimeError("The database has no signing_key table: run 'idp db upgrade'.")
        self._load()
        if not self._records:
            self._register_first_key()
            self._load()
        moment = now()
        signer = _signers(self._records, moment)[0]
        needed = [record for record in self._records if record.generation >= signer.generation]
        missing = [record.kid for record in needed if self._private_key(record.kid, time.time()) is None]
        if missing:
            raise KeyFileMissing(self._missing_message(missing))
        self.started = True

    def _missing_message(self, kids):
        files = ", ".join(f"{kid}.pem (kid {kid})" for kid in kids)
        return (
            f"The database names signing keys that {self.directory} does not hold: {files}. "
            f"Copy these files from the keys folder where 'idp keys rotate' made them, or mount the "
            f"keys folder shared by every node, into {self.directory}; a node never makes its own key."
        )

    def _register_first_key(self):
        """On an empty table: the newest key of the folder, else a new one. Two processes
        may get here at once; the first to insert wins and the other uses its key."""
        found = self.folder.scan()
        written = None
        if found:
            key = found[-1][0]
        else:
            key = new_key()
            try:
                written = self.folder.write(key)
            except OSError as error:
                raise RuntimeError(
                    f"The database has no signing key yet and {self.directory} is not writable ({error}): "
                    "run 'idp keys rotate' with a writable IDP_KEYS_DIR, then copy the file it names here."
                ) from error
        moment = now()
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(SigningKey).values(**self._row(key, 1, moment, moment)))
        except IntegrityError:
            if written is not None:
                written.unlink(missing_ok=True)
            log.info("another process registered the first signing key at the same moment")
            return
        self._private[key.kid] = StoredKey(key.kid, key)
        log.info("first signing key %s registered (%s)", key.kid, "new" if written else "found in the keys folder")

    @staticmethod
    def _row(key, generation, created_at, signs_from):
        return {
            "kid": key.kid,
            "generation": generation,
            "public_jwk": key.as_dict(private=False),
            "created_at": created_at,
            "signs_from": signs_from,
        }

    # --- this node's private keys -----------------------------------------------

    def _private_key(self, kid, seconds):
        """This node's private key `kid`, or None; a missing file is looked for again at
        most every REFRESH_INTERVAL."""
        stored = self._private.get(kid)
        if stored is not None:
            return stored
        looked = self._looked_for.get(kid)
        if looked is not None and looked <= seconds < looked + REFRESH_INTERVAL:
            return None
        self._looked_for[kid] = seconds
        key = self.folder.find(kid)
        if key is None:
            if self.started:
                log.error(self._missing_message([kid]))
            return None
        stored = self._private[kid] = StoredKey(kid, key)
        return stored

    # --- the hot paths --------------------------------------------------------------

    def _current(self):
        seconds = time.time()
        view = self._view
        if view is not None and view.covers(seconds):
            return view
        if not self.started:
            self.start()
        if not self._read_at <= seconds < self._read_at + REFRESH_INTERVAL:
            try:
                self._load()
            except DBAPIError as error:
                # Degrade, never break: go on with the keys read last, try again later.
                log.warning("signing keys not re-read (%s): those read before stay in use", error)
                self._read_at = seconds
        view = self._view = _View(self._records, now(), self._read_at + REFRESH_INTERVAL)
        return view

    def signing_key(self):
        """The key that signs now; while this node lacks its file, the newest older one
        still published (the error is logged at every look for the file)."""
        view = self._current()
        seconds = time.time()
        for record in view.signers:
            stored = self._private_key(record.kid, seconds)
            if stored is not None:
                return stored
        if not view.signers:
            raise KeyFileMissing("The signing_key table is empty: run 'idp keys rotate'.")
        raise KeyFileMissing(self._missing_message([view.signers[0].kid]))

    def published_keys(self):
        """[(record, its StoredKey, or None when this node lacks its file)] of the keys
        published now, the newest first (the SAML metadata's certificates, idp.saml.keys)."""
        view = self._current()
        seconds = time.time()
        records = [record for record in self._records if record.kid in view.version]
        return [(record, self._private_key(record.kid, seconds)) for record in sorted(records, key=lambda record: -record.generation)]

    def signing_record(self):
        """The key that signs now, with its record."""
        stored = self.signing_key()
        return next(record for record in self._records if record.kid == stored.kid), stored

    def readiness(self):
        """ "ok" when this node holds the key that should sign now, "stand_in" when an older
        one signs in its place (its file missing here); KeyFileMissing when none can sign."""
        key = self.signing_key()
        return "ok" if key.kid == self._current().signers[0].kid else "stand_in"

    def version(self):
        """The kids published now: the JWKS changes when this does."""
        return self._current().version

    def jwks(self):
        return self._current().jwks

    def verification_keys(self):
        """Every key of the table, for the ID tokens offered back to us as hints."""
        self._current()
        return self._keyset

    # --- rotation -------------------------------------------------------------------

    def rotate(self):
        """A new key, published now, signing after PUBLISH_AHEAD (at once if it is the first)."""
        key = new_key()
        path = self.folder.write(key)
        moment = now()
        try:
            with self.engine.begin() as connection:
                latest = connection.scalar(select(func.max(SigningKey.generation)))
                signs_from = moment if latest is None else moment + PUBLISH_AHEAD
                connection.execute(insert(SigningKey).values(**self._row(key, (latest or 0) + 1, moment, signs_from)))
        except IntegrityError:
            path.unlink(missing_ok=True)
            raise RotationConflict("Another rotation happened at the same moment: see 'idp keys list'.") from None
        self._private[key.kid] = StoredKey(key.kid, key)
        self._load()
        return next(record for record in self._records if record.kid == key.kid)

    def prune(self):
        """Delete the keys no longer published, and their files here when this node may;
        return {kid: the file deleted, or None}."""
        moment = now()
        expired = [record.kid for record in self.read() if not record.is_published(moment)]
        if not expired:
            return {}
        with self.engine.begin() as connection:
            deleted = connection.scalars(delete(SigningKey).where(SigningKey.kid.in_(expired)).returning(SigningKey.kid)).all()
        files = self.folder.files()
        pruned = {}
        for kid in sorted(deleted):
            path = files.get(kid)
            try:
                if path is not None:
                    path.unlink()
            except OSError as error:
                log.warning("%s kept: %s", path, error)
                path = None
            pruned[kid] = path
            self._private.pop(kid, None)
        self._load()
        return pruned

    def describe(self):
        """Every key of the table, its state now and whether this node holds it."""
        moment = now()
        records = self.read()
        signer = _signers(records, moment)[0] if records else None
        files = self.folder.files()
        described = []
        for record in records:
            if record is signer:
                state = "signing"
            elif record.generation > signer.generation:
                state = "next"
            elif record.is_published(moment):
                state = "retired"
            else:
                state = "expired"
            described.append({"record": record, "state": state, "file": files.get(record.kid)})
        return described


def init_app(app):
    with app.app_context():
        engine = db.engine
    app.extensions["idp.keys"] = KeyStore(app.config["KEYS_DIR"], app.config["ID_TOKEN_LIFETIME"], engine)


def start(app):
    """Read the keys as a node starts (see KeyStore.start), unless the schema does not
    exist yet (`idp db upgrade` on an empty database) or the database cannot be reached:
    then at first use."""
    store = app.extensions["idp.keys"]
    try:
        with store.engine.connect() as connection:
            ready = inspect(connection).has_table(SigningKey.__tablename__)
    except OperationalError as error:
        log.warning("database unreachable, signing keys read at first use: %s", error)
        return
    if not ready:
        log.info("no signing_key table yet: signing keys read at first use")
        return
    try:
        store.start()
    except Exception:
        store.engine.dispose()  # the application is given up: leave no connection open
        raise


def key_store():
    return current_app.extensions["idp.keys"]
