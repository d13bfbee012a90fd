"""Importing a school's pupils and their legal guardians (docs/life-cycle.md,
« Who gets an account »).

Pupils are keyed by (establishment, the school's own key: `id_eleve` or `ELEVE_ID`), so
importing the same or a newer file again updates and never duplicates. A pupil has left
when SIECLE gives a past `DATE_SORTIE`, or when an import declared complete does not list
them; a partial file (one class) never makes anyone leave. A pupil listed again comes back.

The legal guardians of every pupil in the files become the files' own. A stored guardian
who is still there (same SIECLE PERSONNE_ID, or the same names) keeps its row, and so the
parent account issued for it; one who is gone is removed, and the account issued for it
loses its link to the pupil (the account stays, for the history, and can no longer reach a
relying party through that child).

The work is set-based: the establishment's pupils and guardians are loaded in one query
each and written in bulk, so the number of SQL statements does not grow with the files;
the tables' statistics are then refreshed (idp.statistics). Nothing is committed here; when
the files are refused nothing is written at all.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, insert, select, tuple_, update

from ..accounts.access import accounts_all_left
from ..accounts.addresses import canonical_email
from ..accounts.lifecycle import revoke_everything
from ..accounts.logouts import Ending
from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import Account, Establishment, Guardianship, LegalGuardian, Pupil, PupilImport
from ..statistics import refresh_statistics
from .files import printable, read_files
from .records import ImportRefused, Problem, person_key

__all__ = ["COUNTS", "ImportRefused", "ImportResult", "Problem", "import_files", "school_today"]

COUNTS = (
    "pupils_created",
    "pupils_updated",
    "pupils_unchanged",
    "pupils_left",
    "guardians_created",
    "guardians_updated",
    "guardians_removed",
)
PARIS = ZoneInfo("Europe/Paris")
# Rows per statement when deleting by a list of keys (well under every driver's limit).
CHUNK = 500


@dataclass
class ImportResult:
    counts: dict
    record: PupilImport
    source: str


def school_today():
    """Today's date in France, the date a departure is recorded with."""
    return now().replace(tzinfo=UTC).astimezone(PARIS).date()


def import_files(establishment, files, complete=False, staff=None, progress=None):
    """Import `files` [(filename, bytes)] into `establishment`.

    `complete`: the files list every pupil of the establishment, so those absent have left.
    `progress(message)` is told what is being done (for a command line or a page).
    Raises ImportRefused(problems) before writing anything when a file is wrong.
    """
    data = read_files(files, establishment.uai, progress)
    if progress:
        progress(_("Enregistrement de %(count)s élèves…", count=len(data.pupils)))
    db.session.flush()
    # One import at a time per establishment (PostgreSQL; SQLite has one writer anyway).
    db.session.execute(select(Establishment.id).where(Establishment.id == establishment.id).with_for_update())
    counts = dict.fromkeys(COUNTS, 0)
    left = []
    pupil_ids = _import_pupils(establishment.id, data.pupils, complete, school_today(), counts, left)
    if data.guardians is not None:
        _import_guardians(establishment.id, data.guardians, pupil_ids, counts)
    if left:
        # Accounts whose pupils have now all left reach no relying party any more.
        revoke_everything(accounts_all_left(left), Ending.PUPILS_LEFT)
    record = PupilImport(
        establishment_id=establishment.id,
        staff_id=staff.id if staff is not None else None,
        source=data.source,
        filenames=", ".join(printable(filename) for filename, _data in files)[:500],
        complete=complete,
        counts=counts,
    )
    db.session.add(record)
    audit("pupils_imported", uai=establishment.uai, staff_id=record.staff_id, source=data.source, complete=complete, **counts)
    _expire_people()
    db.session.flush()
    if any(counts[name] for name in COUNTS if name != "pupils_unchanged"):
        refresh_statistics(Pupil, LegalGuardian)
    return ImportResult(counts, record, data.source)


_PUPIL_FIELDS = ("given_name", "family_name", "birth_date", "class_name", "ine", "left_on")


def _import_pupils(establishment_id, pupils, complete, today, counts, left):
    """Create, update and mark as left (their ids added to `left`); {school_key: pupil id}
    of the files' pupils kept."""
    columns = [getattr(Pupil, name) for name in ("id", "school_key", *_PUPIL_FIELDS)]
    stored = {
        row.school_key: row
        for row in db.session.execute(select(*columns).where(Pupil.establishment_id == establishment_id, Pupil.school_key.is_not(None)))
    }
    ids, created, changed = {}, [], []
    for key, record in pupils.items():
        left_on = record.left_on if record.left_on is not None and record.left_on <= today else None
        row = stored.get(key)
        if row is None:
            # A pupil who had already left before ever being imported is not created.
            if left_on is None:
                created.append({"establishment_id": establishment_id, "school_key": key, **_values(record, None, None)})
            continue
        ids[key] = row.id
        values = _values(record, row.ine, left_on)
        if all(getattr(row, name) == value for name, value in values.items()):
            counts["pupils_unchanged"] += 1
            continue
        changed.append({"id": row.id, **values})
        leaves = left_on is not None and row.left_on is None
        counts["pupils_left" if leaves else "pupils_updated"] += 1
        if leaves:
            left.append(row.id)
    if complete:
        departed = [{"id": row.id, "left_on": today} for key, row in stored.items() if key not in pupils and row.left_on is None]
        counts["pupils_left"] += len(departed)
        left.extend(row["id"] for row in departed)
        changed.extend(departed)
    if created:
        # Core inserts: every row has every column, so they go as one executemany (the ORM's
        # bulk insert would split the rows wherever a value is None).
        for row in db.session.execute(insert(Pupil.__table__).returning(Pupil.id, Pupil.school_key), created):
            ids[row.school_key] = row.id
        counts["pupils_created"] = len(created)
    _update(Pupil, changed)
    return ids


def _values(record, stored_ine, left_on):
    return {
        "given_name": record.given_name,
        "family_name": record.family_name,
        "birth_date": record.birth_date,
        "class_name": record.class_name,
        # A file without INE (every CSV) keeps the one SIECLE gave.
        "ine": record.ine or stored_ine,
        "left_on": left_on,
    }


def _update(model, rows):
    """UPDATE rows [{"id": …, column: value}] by primary key: one executemany per set of columns."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(row)].append(row)
    table = model.__table__
    for columns, batch in groups.items():
        names = [name for name in columns if name != "id"]
        statement = update(table).where(table.c.id == bindparam("row_id")).values({name: bindparam(f"new_{name}") for name in names})
        db.session.execute(statement, [{"row_id": row["id"], **{f"new_{name}": row[name] for name in names}} for row in batch])


def _import_guardians(establishment_id, guardians, pupil_ids, counts):
    columns = [getattr(LegalGuardian, name) for name in ("id", "pupil_id", "rank", "school_key", "given_name", "family_name")]
    columns += [LegalGuardian.school_email, LegalGuardian.civility, LegalGuardian.account_id]
    stored = defaultdict(list)
    query = select(*columns).join(Pupil, Pupil.id == LegalGuardian.pupil_id).where(Pupil.establishment_id == establishment_id)
    for row in db.session.execute(query):
        stored[row.pupil_id].append(row)

    created, changed, moved, removed = [], [], [], []
    for key, records in guardians.items():
        pupil_id = pupil_ids.get(key)
        if pupil_id is None:
            continue
        pairs, gone = _match(stored[pupil_id], records)
        removed.extend(gone)
        for row, record in pairs:
            values = {
                "rank": record.rank,
                "school_key": record.school_key or (row.school_key if row is not None else None),
                "given_name": record.given_name,
                "family_name": record.family_name,
                "school_email": canonical_email(record.email) if record.email else None,
                "civility": record.civility or (row.civility if row is not None and record.school_key is None else None),
            }
            if row is None:
                created.append({"pupil_id": pupil_id, **values})
            elif any(getattr(row, name) != value for name, value in values.items()):
                changed.append({"id": row.id, **values})
                if row.rank != record.rank:
                    # Ranks are unique per pupil: two guardians swapping go through free ranks.
                    moved.append({"id": row.id, "rank": record.rank + 10})

    _remove_guardians(removed)
    _update(LegalGuardian, moved)
    _update(LegalGuardian, changed)
    if created:
        db.session.execute(insert(LegalGuardian.__table__), created)
    counts["guardians_created"] = len(created)
    counts["guardians_updated"] = len(changed)
    counts["guardians_removed"] = len(removed)


def _match(rows, records):
    """([(stored row or None, record)], [stored rows no longer listed]): the same person by
    SIECLE's PERSONNE_ID first, then by names."""
    remaining = list(rows)
    found = {}
    for index, record in enumerate(records):
        row = next((row for row in remaining if record.school_key and row.school_key == record.school_key), None)
        if row is not None:
            found[index] = row
            remaining.remove(row)
    for index, record in enumerate(records):
        if index in found:
            continue
        wanted = person_key(record.given_name, record.family_name)
        row = next((row for row in remaining if person_key(row.given_name, row.family_name) == wanted), None)
        if row is not None:
            found[index] = row
            remaining.remove(row)
    return [(found.get(index), record) for index, record in enumerate(records)], remaining


def _remove_guardians(rows):
    """Delete the guardians' rows; an account issued for one keeps its row but loses its link to the pupil."""
    links = [(row.account_id, row.pupil_id) for row in rows if row.account_id is not None]
    pupil_of = dict(links)
    for chunk in _chunks(links):
        db.session.execute(delete(Guardianship).where(tuple_(Guardianship.account_id, Guardianship.pupil_id).in_(chunk)))
        for account in db.session.scalars(select(Account).where(Account.id.in_([account_id for account_id, _pupil in chunk]))):
            audit("guardian_removed_by_import", account=account, pupil_id=pupil_of[account.id])
    for chunk in _chunks([row.id for row in rows]):
        db.session.execute(delete(LegalGuardian).where(LegalGuardian.id.in_(chunk)))


def _chunks(items):
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _expire_people():
    """The bulk statements bypassed the session: objects it holds would show old values."""
    for instance in list(db.session.identity_map.values()):
        if isinstance(instance, (Establishment, Pupil, LegalGuardian, Guardianship, Account)):
            db.session.expire(instance)
