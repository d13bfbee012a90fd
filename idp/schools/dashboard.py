"""What an establishment's back office shows: its accounts by state and by class, the
activation rate, a search, an account's history. Counted by GROUP BY queries (an
establishment may have thousands of accounts; none is loaded to be counted).

An account belongs to an establishment through a pupil of it: a pupil's own account, or a
parent account linked to the pupil (a guardianship, or the legal guardian it was issued for).
"""

from dataclasses import dataclass, field

from sqlalchemy import distinct, func, or_, select, union

from ..extensions import db
from ..models import Account, AccountState, AuditEvent, Guardianship, LegalGuardian, Pupil, PupilImport

# Rows a search returns at most; a search narrower than that finds the family.
SEARCH_LIMIT = 50
HISTORY_LIMIT = 200


def account_links(establishment_id, present_only=False):
    """(account_id, pupil_id) of every account of the establishment, as a subquery."""

    def of(account_column, pupil_column, *where):
        query = select(account_column.label("account_id"), Pupil.id.label("pupil_id")).join(Pupil, pupil_column == Pupil.id)
        query = query.where(Pupil.establishment_id == establishment_id, *where)
        return query.where(Pupil.left_on.is_(None)) if present_only else query

    return union(
        of(Account.id, Account.pupil_id),
        of(Guardianship.account_id, Guardianship.pupil_id),
        of(LegalGuardian.account_id, LegalGuardian.pupil_id, LegalGuardian.account_id.is_not(None)),
    ).subquery()


@dataclass
class ClassFigures:
    name: str
    states: dict = field(default_factory=dict)
    # People listed in the school's files who have no account yet.
    pupils_to_issue: int = 0
    guardians_to_issue: int = 0

    @property
    def total(self):
        return sum(self.states.values())

    @property
    def active(self):
        return self.states.get(AccountState.ACTIVE, 0)

    @property
    def activation_rate(self):
        """Share of the accounts that are active, from 0 to 1 (None without accounts)."""
        return self.active / self.total if self.total else None


@dataclass
class Figures:
    overall: ClassFigures
    classes: list
    pupils: int


def figures(establishment):
    """The accounts of the establishment's present pupils by state, overall and by class."""
    links = account_links(establishment.id, present_only=True)
    overall = ClassFigures(name="")
    by_state = select(Account.state, func.count(distinct(Account.id))).join(links, links.c.account_id == Account.id).group_by(Account.state)
    for state, count in db.session.execute(by_state):
        overall.states[state] = count

    classes = {}

    def figures_of(name):
        return classes.setdefault(name or "", ClassFigures(name=name or ""))

    by_class = (
        select(Pupil.class_name, Account.state, func.count(distinct(Account.id)))
        .select_from(links)
        .join(Account, Account.id == links.c.account_id)
        .join(Pupil, Pupil.id == links.c.pupil_id)
        .group_by(Pupil.class_name, Account.state)
    )
    for class_name, state, count in db.session.execute(by_class):
        figures_of(class_name).states[state] = count

    present = (Pupil.establishment_id == establishment.id, Pupil.left_on.is_(None))
    own_account = select(Account.id).where(Account.pupil_id == Pupil.id).exists()
    pupils_to_issue = select(Pupil.class_name, func.count()).where(*present, ~own_account).group_by(Pupil.class_name)
    for class_name, count in db.session.execute(pupils_to_issue):
        figures_of(class_name).pupils_to_issue = count
    guardians_to_issue = (
        select(Pupil.class_name, func.count())
        .select_from(LegalGuardian)
        .join(Pupil, Pupil.id == LegalGuardian.pupil_id)
        .where(*present, LegalGuardian.account_id.is_(None))
        .group_by(Pupil.class_name)
    )
    for class_name, count in db.session.execute(guardians_to_issue):
        figures_of(class_name).guardians_to_issue = count
    overall.pupils_to_issue = sum(each.pupils_to_issue for each in classes.values())
    overall.guardians_to_issue = sum(each.guardians_to_issue for each in classes.values())

    pupils = db.session.scalar(select(func.count()).select_from(Pupil).where(*present))
    return Figures(overall=overall, classes=sorted(classes.values(), key=lambda each: each.name), pupils=pupils)


def class_names(establishment):
    """The classes of the establishment's present pupils, in order."""
    query = (
        select(Pupil.class_name)
        .distinct()
        .where(Pupil.establishment_id == establishment.id, Pupil.left_on.is_(None), Pupil.class_name.is_not(None))
        .order_by(Pupil.class_name)
    )
    return db.session.scalars(query).all()


def _like(text):
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_accounts(establishment, text):
    """Accounts of the establishment whose identifier, name, or child's name holds `text`
    (every word of it, in any case), with the pupil each is for: [(account, pupil)]."""
    links = account_links(establishment.id)
    query = (
        select(Account, Pupil)
        .join(links, links.c.account_id == Account.id)
        .join(Pupil, Pupil.id == links.c.pupil_id)
        .order_by(Pupil.class_name, Pupil.family_name, Pupil.given_name, Account.kind, Account.identifier)
        .limit(SEARCH_LIMIT)
    )
    for word in text.split():
        pattern = _like(word.lower())
        query = query.where(
            or_(
                *(
                    func.lower(column).like(pattern, escape="\\")
                    for column in (Account.identifier, Account.given_name, Account.family_name, Pupil.given_name, Pupil.family_name)
                )
            )
        )
    return db.session.execute(query).all()


def find_account_of(establishment, account_id):
    """The account `account_id` when it is one of the establishment's, else None."""
    links = account_links(establishment.id)
    return db.session.scalar(select(Account).where(Account.id == account_id, Account.id.in_(select(links.c.account_id))))


def pupils_of_account(establishment, account):
    """The establishment's pupils the account is for (a pupil's own, or a parent's children)."""
    links = account_links(establishment.id)
    query = (
        select(Pupil)
        .join(links, links.c.pupil_id == Pupil.id)
        .where(links.c.account_id == account.id)
        .order_by(Pupil.family_name, Pupil.given_name)
    )
    return db.session.scalars(query).all()


def account_history(account):
    """The account's audit events, newest first."""
    query = select(AuditEvent).where(AuditEvent.account_id == account.id).order_by(AuditEvent.id.desc()).limit(HISTORY_LIMIT)
    return db.session.scalars(query).all()


def recent_imports(establishment, limit=10):
    query = select(PupilImport).where(PupilImport.establishment_id == establishment.id).order_by(PupilImport.id.desc()).limit(limit)
    return db.session.scalars(query).all()
