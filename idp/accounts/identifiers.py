"""Identifiers of the form `prenom.nomN` (the guide's `jean.dupont1`)."""

import re
import unicodedata
import zlib
from collections import Counter

from sqlalchemy import select, text

from ..extensions import db
from ..models import Account

_NOT_ALLOWED = re.compile(r"[^a-z0-9-]+")


def fold(text):
    """Lower case without accents or ligatures: 'Jean-Éric' -> 'jean-eric', 'Œ' -> 'oe'."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(char for char in decomposed if not unicodedata.combining(char)).lower()
    return plain.replace("æ", "ae").replace("œ", "oe").replace("ß", "ss")


def ascii_slug(name):
    """'Jean-Éric' -> 'jean-eric', "N'Diaye" -> 'ndiaye', 'Le Gall' -> 'legall'."""
    return _NOT_ALLOWED.sub("", fold(name)).strip("-")[:30] or "x"


def normalize(identifier):
    """How a typed identifier is compared: trimmed and lower-case."""
    return identifier.strip().lower()


def identifier_stem(given_name, family_name):
    return f"{ascii_slug(given_name)}.{ascii_slug(family_name)}"


def next_identifier(given_name, family_name):
    """The first free `prenom.nomN`, N counting from 1."""
    return allocate_identifiers([(given_name, family_name)])[0]


# Advisory locks (PostgreSQL) that serialise the allocation of identifiers sharing a stem:
# a stem hashes to one of a few buckets, so that a large issue takes a bounded number of
# locks, always in increasing order (no deadlock between two issues).
LOCK_SPACE = 0x1D0E
LOCK_BUCKETS = 256
# People whose identifiers one query looks up; each stem is looked up for a few more
# numbers than it needs, and again, further, when those are taken.
BATCH = 1000
SLACK = 3


def lock_stems(names):
    """Lock the stems of `names` [(given_name, family_name)] until the transaction ends
    (PostgreSQL): what an issue in several allocations takes first, all at once and in
    order, so that its later allocations wait for nothing (and never for each other)."""
    _lock_stems({identifier_stem(given_name, family_name) for given_name, family_name in names})


def _lock_stems(stems):
    if db.session.get_bind().dialect.name != "postgresql":
        # SQLite (the demo) has a single writer; the unique constraint still guards.
        return
    buckets = sorted({zlib.crc32(stem.encode()) % LOCK_BUCKETS for stem in stems})
    db.session.execute(
        text("SELECT count(pg_advisory_xact_lock(:space, bucket)) FROM unnest(CAST(:buckets AS integer[])) AS bucket"),
        {"space": LOCK_SPACE, "buckets": buckets},
    )


def _numbers(stems, allocated):
    """{stem: the smallest free numbers, as many as `stems[stem]` asks}, skipping the
    identifiers in the database and those in `allocated` (which it extends)."""
    found = {stem: [] for stem in stems}
    window = {stem: (1, needed + SLACK) for stem, needed in stems.items()}
    while window:
        candidates = [f"{stem}{number}" for stem, (low, high) in window.items() for number in range(low, high + 1)]
        taken = set(db.session.scalars(select(Account.identifier).where(Account.identifier.in_(candidates))))
        for stem, (low, high) in list(window.items()):
            for number in range(low, high + 1):
                identifier = f"{stem}{number}"
                if identifier not in taken and identifier not in allocated:
                    allocated.add(identifier)
                    found[stem].append(number)
                    if len(found[stem]) == stems[stem]:
                        break
            if len(found[stem]) == stems[stem]:
                del window[stem]
            else:
                window[stem] = (high + 1, 2 * high)
    return found


def allocate_identifiers(names):
    """Free identifiers for `names`, a list of (given_name, family_name), in that order.

    Homonyms get increasing numbers in list order, each the smallest free N >= 1. One query
    looks up the taken identifiers of a batch of people. On PostgreSQL, the stems are
    locked until the transaction ends, so that two processes never hand out the same
    identifier: allocate once per transaction (or `lock_stems` every name first), and insert
    the accounts before the next allocation and before committing.
    """
    stems = [identifier_stem(given_name, family_name) for given_name, family_name in names]
    _lock_stems(set(stems))
    identifiers, allocated = [], set()
    for start in range(0, len(stems), BATCH):
        batch = stems[start : start + BATCH]
        numbers = _numbers(Counter(batch), allocated)
        identifiers.extend(f"{stem}{numbers[stem].pop(0)}" for stem in batch)
    return identifiers
