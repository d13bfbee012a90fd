"""Issuing accounts from an establishment's pupils and legal guardians (docs/life-cycle.md,
« Who gets an account » and « Transitions »).

As the guide says, a parent gets one account per child ("un compte par enfant"): one per
LegalGuardian row, which then names it; a pupil gets an account of their own. Each account
starts `issued`, with a provisional secret that only its letter shows. Issuing is
idempotent: a guardian or pupil who has an account is skipped (a lost letter is a
regeneration). Inserts are set-based, so that thousands of accounts take seconds.
"""

from sqlalchemy import bindparam, exists, insert, select, text, update
from sqlalchemy.orm.attributes import set_committed_value

from ..accounts.identifiers import allocate_identifiers, ascii_slug
from ..accounts.lifecycle import Issued, new_provisional_secret, provisional_secret_hash
from ..audit import audit_many
from ..clock import now
from ..errors import InvalidInput
from ..extensions import db
from ..models import Account, AccountKind, AccountState, Guardianship, LegalGuardian, Pupil

KINDS = ("parent", "eleve", "all")
# PostgreSQL advisory lock space of "issuing for this establishment" (the key is its id).
ISSUE_LOCK_SPACE = 0x1D15


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


def letter_order(pupil, account_kind, given_name, family_name):
    """How letters are handed out: by class, then pupil, the pupil's own letter first, then
    the parents' by name."""
    return (
        (pupil.class_name or "").upper(),
        ascii_slug(pupil.family_name),
        ascii_slug(pupil.given_name),
        pupil.id,
        account_kind != AccountKind.ELEVE,
        ascii_slug(family_name),
        ascii_slug(given_name),
    )


def _current_pupils(establishment, class_name):
    query = select(Pupil).where(Pupil.establishment_id == establishment.id, Pupil.left_on.is_(None))
    if class_name is not None:
        query = query.where(Pupil.class_name == class_name)
    return query


def _to_issue(establishment, class_name, kind):
    """(pupil, guardian or None) of every account to issue, in letter order."""
    wanted = []
    if kind in ("parent", "all"):
        current = _current_pupils(establishment, class_name).subquery()
        rows = db.session.execute(
            select(LegalGuardian, Pupil)
            .join(current, current.c.id == LegalGuardian.pupil_id)
            .join(Pupil, Pupil.id == LegalGuardian.pupil_id)
            .where(LegalGuardian.account_id.is_(None))
        ).all()
        wanted += [(pupil, guardian) for guardian, pupil in rows]
    if kind in ("eleve", "all"):
        pupils = db.session.scalars(_current_pupils(establishment, class_name).where(~exists().where(Account.pupil_id == Pupil.id))).all()
        wanted += [(pupil, None) for pupil in pupils]

    def order(item):
        pupil, guardian = item
        person = guardian or pupil
        return letter_order(pupil, AccountKind.PARENT if guardian else AccountKind.ELEVE, person.given_name, person.family_name)

    return sorted(wanted, key=order)


def _load(model, column, values):
    """The rows of `model` whose `column` is in `values`, in the order of `values`."""
    found = {}
    for start in range(0, len(values), 1000):
        chunk = values[start : start + 1000]
        found.update((getattr(row, column.key), row) for row in db.session.scalars(select(model).where(column.in_(chunk))))
    return [found[value] for value in values]


def issue_accounts(establishment, class_name=None, kind="all", staff=None):
    """Issue the accounts the establishment's current pupils (of `class_name`, if given) and
    their legal guardians do not have yet; `kind` is "parent", "eleve" or "all".

    Returns one Issued per new account, in letter order, each with its provisional secret
    (in memory only: print the letters before the transaction ends; the caller commits).
    """
    if kind not in KINDS:
        raise InvalidInput(f"Type de compte inconnu : {kind!r} (parent, eleve ou all).")
    if class_name is not None:
        class_name = class_name.strip()
        known = db.session.scalar(select(exists().where(Pupil.establishment_id == establishment.id, Pupil.class_name == class_name)))
        if not known:
            raise InvalidInput(f"Classe inconnue dans l'établissement {establishment.uai} : {class_name!r}.")
    _lock_establishment(establishment)
    wanted = _to_issue(establishment, class_name, kind)
    if not wanted:
        return []

    identifiers = allocate_identifiers([(person.given_name, person.family_name) for person in (g or p for p, g in wanted)])
    moment = now()
    secrets = [new_provisional_secret() for _ in wanted]
    rows = []
    for (pupil, guardian), identifier, secret in zip(wanted, identifiers, secrets, strict=True):
        person = guardian or pupil
        rows.append(
            {
                "kind": AccountKind.PARENT if guardian else AccountKind.ELEVE,
                "identifier": identifier,
                "given_name": person.given_name,
                "family_name": person.family_name,
                "state": AccountState.ISSUED,
                "provisional_secret_hash": provisional_secret_hash(secret),
                "pupil_id": None if guardian else pupil.id,
                "issued_at": moment,
            }
        )
    # Core statements with a list of rows: executemany, in batches (ORM bulk inserts of
    # these models would go row by row).
    db.session.execute(insert(Account.__table__), rows)
    accounts = _load(Account, Account.identifier, identifiers)

    links = [(guardian, pupil, account) for (pupil, guardian), account in zip(wanted, accounts, strict=True) if guardian]
    if links:
        guardianships = [{"account_id": account.id, "pupil_id": pupil.id} for _, pupil, account in links]
        db.session.execute(insert(Guardianship.__table__), guardianships)
        db.session.execute(GUARDIAN_ACCOUNT, [{"guardian_id": guardian.id, "new_account_id": account.id} for guardian, _, account in links])
        for guardian, _, account in links:
            set_committed_value(guardian, "account_id", account.id)

    details = {"uai": establishment.uai}
    if staff is not None:
        details["staff"] = staff.email
    audit_many("account_issued", [account.id for account in accounts], **details)
    return [Issued(account, secret, (pupil,)) for account, secret, (pupil, _) in zip(accounts, secrets, wanted, strict=True)]
