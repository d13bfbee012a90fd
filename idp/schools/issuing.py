"""Issuing accounts from an establishment's pupils and legal guardians (docs/life-cycle.md,
« Who gets an account » and « Transitions »).

As the guide says, a parent gets one account per child ("un compte par enfant"): one per
LegalGuardian row, which then names it; a pupil gets an account of their own. Each account
starts `issued`, with a provisional secret that only its letter shows. Issuing is
idempotent: a guardian or pupil who has an account is skipped (a lost letter is a
regeneration). Inserts are set-based, so that thousands of accounts take seconds.

An issue is planned, then done as it is read (`issue_batch`): the plan holds a few columns
of at most `limit` people, whole classes when they fit, in letter order; the accounts are
then inserted CHUNK at a time, and each chunk's objects are handed out (to the letters) and
forgotten before the next. The memory of an issue therefore depends on its limit (the
setting LETTERS_PER_FILE at the doors), never on the establishment's size; the doors commit
once per batch, and a command line runs batches until nothing is left.
"""

from collections import defaultdict
from dataclasses import dataclass
from itertools import islice
from operator import attrgetter

from sqlalchemy import bindparam, exists, func, insert, or_, select, text, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from ..accounts.identifiers import allocate_identifiers, ascii_slug, lock_stems
from ..accounts.lifecycle import Issued, new_provisional_secret, provisional_secret_hash
from ..audit import audit_many
from ..clock import now
from ..errors import InvalidInput
from ..extensions import db
from ..models import Account, AccountKind, AccountState, Guardianship, LegalGuardian, Pupil
from ..statistics import refresh_statistics

KINDS = ("parent", "eleve", "all")
# PostgreSQL advisory lock space of "issuing for this establishment" (the key is its id).
ISSUE_LOCK_SPACE = 0x1D15
# Accounts inserted, and their objects loaded, together.
CHUNK = 500
# Classes whose people one query lists, when planning.
CLASSES_PER_QUERY = 50


def batched(items, size):
    """Lists of `size` items (the last one shorter) of `items` (itertools.batched, Python 3.12)."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


GUARDIAN_ACCOUNT = (
    update(LegalGuardian.__table__)
    .where(LegalGuardian.__table__.c.id == bindparam("guardian_id"))
    .values(account_id=bindparam("new_account_id"))
)


def _lock_establishment(establishment):
    """Two issues for one establishment run one after the other (PostgreSQL), so that the
    second sees the accounts of the first and issues nothing twice."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:space, :key)"), {"space": ISSUE_LOCK_SPACE, "key": establishment.id})


def letter_key(class_name, pupil_family_name, pupil_given_name, pupil_id, is_parent, family_name, given_name):
    """How letters are handed out: by class, then pupil, the pupil's own letter first, then
    the parents' by name."""
    return (
        (class_name or "").upper(),
        ascii_slug(pupil_family_name),
        ascii_slug(pupil_given_name),
        pupil_id,
        is_parent,
        ascii_slug(family_name),
        ascii_slug(given_name),
    )


def letter_order(pupil, account_kind, given_name, family_name):
    """letter_key of an account of `account_kind` named so, issued for `pupil`."""
    return letter_key(
        pupil.class_name, pupil.family_name, pupil.given_name, pupil.id, account_kind != AccountKind.ELEVE, family_name, given_name
    )


@dataclass(frozen=True)
class _Person:
    """Someone to issue an account for: a pupil (guardian_id None) or a legal guardian."""

    key: tuple
    pupil_id: int
    guardian_id: int | None
    class_name: str | None
    given_name: str
    family_name: str
    civility: str | None = None


def _current_pupils(establishment, class_names=None):
    conditions = [Pupil.establishment_id == establishment.id, Pupil.left_on.is_(None)]
    if class_names is not None:
        named = [Pupil.class_name.in_([name for name in class_names if name is not None])]
        if None in class_names:
            named.append(Pupil.class_name.is_(None))
        conditions.append(or_(*named))
    return conditions


def _class_groups(establishment, class_name):
    """The class names to issue, in groups that sort as one (6a and 6A), in letter order."""
    if class_name is not None:
        return [[class_name]]
    names = db.session.scalars(select(Pupil.class_name).distinct().where(*_current_pupils(establishment)))
    groups = defaultdict(list)
    for name in names:
        groups[(name or "").upper()].append(name)
    return [groups[key] for key in sorted(groups)]


def _people(establishment, class_names, kind):
    """The people of the classes `class_names` who have no account yet, by class group."""
    found = defaultdict(list)
    if kind in ("parent", "all"):
        query = (
            select(
                LegalGuardian.id,
                LegalGuardian.given_name,
                LegalGuardian.family_name,
                LegalGuardian.civility,
                Pupil.id.label("pupil_id"),
                Pupil.class_name,
                Pupil.given_name.label("pupil_given_name"),
                Pupil.family_name.label("pupil_family_name"),
            )
            .join(Pupil, Pupil.id == LegalGuardian.pupil_id)
            .where(*_current_pupils(establishment, class_names), LegalGuardian.account_id.is_(None))
        )
        for row in db.session.execute(query):
            key = letter_key(
                row.class_name, row.pupil_family_name, row.pupil_given_name, row.pupil_id, True, row.family_name, row.given_name
            )
            found[key[0]].append(_Person(key, row.pupil_id, row.id, row.class_name, row.given_name, row.family_name, row.civility))
    if kind in ("eleve", "all"):
        query = select(Pupil.id, Pupil.class_name, Pupil.given_name, Pupil.family_name).where(
            *_current_pupils(establishment, class_names), ~exists().where(Account.pupil_id == Pupil.id)
        )
        for row in db.session.execute(query):
            key = letter_key(row.class_name, row.family_name, row.given_name, row.id, False, row.family_name, row.given_name)
            found[key[0]].append(_Person(key, row.id, None, row.class_name, row.given_name, row.family_name))
    return found


def _plan(establishment, class_name, kind, limit):
    """(the people of the batch in letter order, at most `limit` and whole classes while they
    fit, True when others are left for the next batch)."""
    planned = []
    for window in batched(_class_groups(establishment, class_name), CLASSES_PER_QUERY):
        found = _people(establishment, [name for group in window for name in group], kind)
        for group in window:
            people = sorted(found.pop((group[0] or "").upper(), ()), key=attrgetter("key"))
            if limit is not None and len(planned) + len(people) > limit:
                # A class too big for one batch is cut; otherwise it starts the next batch.
                return (planned or people[:limit]), True
            planned.extend(people)
    return planned, False


def count_to_issue(establishment, class_name=None, kind="all"):
    """How many accounts an issue of `class_name` (every class if None) and `kind` would make."""
    classes = None if class_name is None else [class_name]
    count = 0
    if kind in ("parent", "all"):
        query = (
            select(func.count(LegalGuardian.id))
            .join(Pupil, Pupil.id == LegalGuardian.pupil_id)
            .where(*_current_pupils(establishment, classes), LegalGuardian.account_id.is_(None))
        )
        count += db.session.scalar(query)
    if kind in ("eleve", "all"):
        query = select(func.count(Pupil.id)).where(*_current_pupils(establishment, classes), ~exists().where(Account.pupil_id == Pupil.id))
        count += db.session.scalar(query)
    return count


def _load(model, column, values):
    """The rows of `model` whose `column` is in `values`, in the order of `values`."""
    found = {}
    for chunk in batched(values, 1000):
        found.update((getattr(row, column.key), row) for row in db.session.scalars(select(model).where(column.in_(chunk))))
    return [found[value] for value in values]


class Batch:
    """The accounts of one batch, planned: `len()` of them; iterating issues them, CHUNK at a
    time, and gives one Issued each in letter order (the provisional secrets in memory only:
    print the letters before the transaction ends; the caller commits). Iterate once."""

    def __init__(self, establishment, people, more, staff):
        self.establishment = establishment
        self.people = people
        # Others are left to issue: the batch reached its limit.
        self.more = more
        self.staff = staff

    def __len__(self):
        return len(self.people)

    @property
    def classes(self):
        """The first and last class of the batch (None for pupils without a class)."""
        return (self.people[0].class_name, self.people[-1].class_name) if self.people else (None, None)

    def __iter__(self):
        for chunk in batched(self.people, CHUNK):
            yield from self._issue(chunk)
        if self.people:
            refresh_statistics(Account, Guardianship, LegalGuardian)

    def _issue(self, chunk):
        pupils = {pupil.id: pupil for pupil in db.session.scalars(select(Pupil).where(Pupil.id.in_({each.pupil_id for each in chunk})))}
        identifiers = allocate_identifiers([(each.given_name, each.family_name) for each in chunk])
        moment = now()
        secrets = [new_provisional_secret() for _ in chunk]
        rows = [
            {
                "kind": AccountKind.PARENT if each.guardian_id else AccountKind.ELEVE,
                "identifier": identifier,
                "given_name": each.given_name,
                "family_name": each.family_name,
                "state": AccountState.ISSUED,
                "provisional_secret_hash": provisional_secret_hash(secret),
                "pupil_id": None if each.guardian_id else each.pupil_id,
                "issued_at": moment,
            }
            for each, identifier, secret in zip(chunk, identifiers, secrets, strict=True)
        ]
        # Core statements with a list of rows: executemany, in batches (ORM bulk inserts of
        # these models would go row by row).
        db.session.execute(insert(Account.__table__), rows)
        accounts = _load(Account, Account.identifier, identifiers)

        links = [(each.guardian_id, each.pupil_id, account.id) for each, account in zip(chunk, accounts, strict=True) if each.guardian_id]
        if links:
            db.session.execute(insert(Guardianship.__table__), [{"account_id": account, "pupil_id": pupil} for _, pupil, account in links])
            db.session.execute(GUARDIAN_ACCOUNT, [{"guardian_id": guardian, "new_account_id": account} for guardian, _, account in links])
            for guardian, _, account in links:
                # A guardian this session holds learns its account, as if it had been loaded now.
                loaded = db.session.identity_map.get(identity_key(LegalGuardian, guardian))
                if loaded is not None:
                    set_committed_value(loaded, "account_id", account)

        details = {"uai": self.establishment.uai}
        if self.staff is not None:
            details["staff"] = self.staff.email
        audit_many("account_issued", [account.id for account in accounts], **details)
        return [
            Issued(account, secret, (pupils[each.pupil_id],), each.civility)
            for account, secret, each in zip(accounts, secrets, chunk, strict=True)
        ]


def issue_batch(establishment, class_name=None, kind="all", staff=None, limit=None):
    """Plan the issue of the accounts the establishment's current pupils (of `class_name`, if
    given) and their legal guardians do not have yet; `kind` is "parent", "eleve" or "all";
    at most `limit` of them (None: all). Returns the Batch, which issues them as it is read.
    """
    if kind not in KINDS:
        raise InvalidInput(f"Type de compte inconnu : {kind!r} (parent, eleve ou all).")
    if class_name is not None:
        class_name = class_name.strip()
        known = db.session.scalar(select(exists().where(Pupil.establishment_id == establishment.id, Pupil.class_name == class_name)))
        if not known:
            raise InvalidInput(f"Classe inconnue dans l'établissement {establishment.uai} : {class_name!r}.")
    _lock_establishment(establishment)
    people, more = _plan(establishment, class_name, kind, limit)
    # Every stem of the batch at once, in order: its allocations, chunk after chunk, then
    # wait for nothing (and two batches never wait for each other in a circle).
    lock_stems([(each.given_name, each.family_name) for each in people])
    return Batch(establishment, people, more, staff)


def issue_accounts(establishment, class_name=None, kind="all", staff=None):
    """Issue every account the establishment's current pupils (of `class_name`) and their
    legal guardians lack, in one batch: a list of Issued, in letter order."""
    return list(issue_batch(establishment, class_name, kind, staff))
