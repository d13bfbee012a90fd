"""Who may log in where: the checks every login path shares (docs/life-cycle.md, « States »).

`relying_party_refusal` is the one rule deciding whether an account may use a relying
party now; `relying_party_admits` is the same rule as a SQL condition, for the hot paths
that decide in their own statement (code exchange, refresh, userinfo, introspection).
Both are built from the same three checks, in the same order, and a test holds them equal.
"""

from datetime import timedelta
from functools import cache

from sqlalchemy import and_, bindparam, case, exists, literal, not_, or_, select
from sqlalchemy.orm import aliased, with_expression

from ..clock import now
from ..extensions import db
from ..models import Account, AccountKind, AccountState, Client, Guardianship, Pupil
from .identifiers import normalize

# States in which a person may open a session on the provider's own pages: a pending
# account must still reach them to resend its activation email or correct the address.
PROVIDER_STATES = {AccountState.ACTIVE, AccountState.PENDING_EMAIL}

# Why an active account may not use a relying party (besides its state, whose value is the
# reason when it is not active); the values name sections of the refusal pages.
PUPILS_LEFT = "pupils_left"
TELESERVICES_REFUSED = "teleservices_refused"

# Last use is what the 12-month invalidation counts from; hour precision is plenty, and
# spares a write on every single sign-on.
USE_PRECISION = timedelta(hours=1)


def note_use(account):
    """Record that the account was used now (a login, or a login to a relying party)."""
    moment = now()
    if account.last_login_at is None or moment - account.last_login_at >= USE_PRECISION:
        account.last_login_at = moment
        # A use answers the inactivity warning: the count starts again.
        account.inactivity_warned_at = None


def find_account(identifier):
    """The account named `identifier`, or None; loaded with what `relying_party_refusal`
    needs to know of its pupils, so that a login asks the database once."""
    return db.session.scalar(_account_lookup(), {"identifier": normalize(identifier)})


@cache
def _account_lookup():
    """Built once: the statement is the same for every login, only its parameter changes."""
    query = select(Account).options(with_expression(Account.pupils_left, _pupils_all_left()))
    return query.where(Account.identifier == bindparam("identifier"))


def provider_refusal(account):
    """Why `account` may not open a session here, or None."""
    if account.state in PROVIDER_STATES:
        return None
    return account.state.value


def pupils_of(account):
    """The pupils an account stands for: a pupil's own record, or a parent's children (the
    birth dates its first connection asks, the names its password may not hold, the schools
    its emails and letters name)."""
    if account.kind == AccountKind.ELEVE:
        return [account.pupil] if account.pupil is not None else []
    return account.children


def relying_party_refusal(account, client):
    """Why `account` may not log in to `client` now, or None (the reason names a page section).

    The account must be active; an account whose pupils have all left their establishment
    stops working everywhere; the reply coupon refuses `teleservice` relying parties and
    has no effect on the ENT. Every door to a relying party asks: authorization, code and
    refresh token exchange, userinfo, introspection; the hot paths that decide in their own
    statement use `relying_party_admits`. Both are `_refusals`: the pupils' check comes
    with the account when `find_account` loaded it, else this asks the database which check
    refuses, in one statement (rather than loading the pupils).
    """
    if account.state != AccountState.ACTIVE:
        return account.state.value
    if account.pupils_left is None:  # not loaded with the account: one statement decides
        return db.session.scalar(_refusal_statement(), {"account_id": account.id, "category": client.category})
    if account.pupils_left:
        return PUPILS_LEFT
    if client.category == "teleservice" and account.teleservices_refused:
        return TELESERVICES_REFUSED
    return None


@cache
def _refusal_statement():
    """The reason `_refusals` gives for an active account, the checks in their order."""
    _state, *others = _refusals(bindparam("category"))
    reason = case(*((check, literal(name)) for check, name in zip(others, (PUPILS_LEFT, TELESERVICES_REFUSED), strict=True)), else_=None)
    return select(reason).where(Account.id == bindparam("account_id"))


def _refusals(category):
    """The rule's checks as SQL conditions on the `account` row, each true when the account
    is refused, in the order of `relying_party_refusal`. `category` is a SQL expression (a
    column or a bound value).
    """
    return [
        Account.state != AccountState.ACTIVE,
        _pupils_all_left(),  # PUPILS_LEFT
        and_(category == "teleservice", Account.teleservices_refused.is_(True)),  # TELESERVICES_REFUSED
    ]


def _pupils_all_left():
    """True when the account stands for pupils (its own, or children) and none of them is
    still at their establishment.

    The pupil and guardianship tables are aliased so that the condition stays correlated to
    the account only, even in a query that already joins those tables (userinfo does).
    """
    own_pupil, child, link = aliased(Pupil), aliased(Pupil), aliased(Guardianship)
    has_link = exists().where(link.account_id == Account.id).correlate_except(link)
    current_own = exists().where(own_pupil.id == Account.pupil_id, own_pupil.left_on.is_(None)).correlate_except(own_pupil)
    current_child = (
        exists().where(link.account_id == Account.id, child.id == link.pupil_id, child.left_on.is_(None)).correlate_except(link, child)
    )
    return and_(or_(Account.pupil_id.is_not(None), has_link), not_(current_own), not_(current_child))


def accounts_all_left(pupil_ids):
    """A SELECT of the active accounts standing for one of `pupil_ids` whose pupils have
    now all left (after an import): they no longer reach any relying party."""
    stands_for = or_(
        Account.pupil_id.in_(pupil_ids),
        exists().where(Guardianship.account_id == Account.id, Guardianship.pupil_id.in_(pupil_ids)),
    )
    return select(Account.id).where(stands_for, Account.state == AccountState.ACTIVE, _pupils_all_left())


def relying_party_admits(category=None):
    """`relying_party_refusal(...) is None` as an SQL condition on the `account` row: true
    when the account may log in now to a relying party of `category`, a SQL expression
    (by default `client.category`, for a query that joins the client). Put it in a
    statement's WHERE (or select it)."""
    return not_(or_(*_refusals(Client.category if category is None else category)))
