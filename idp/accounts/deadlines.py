"""When the deadlines of the life cycle fall (docs/life-cycle.md, « Deadlines »), in Python and
as SQL.

- an issued account must be activated within `ACTIVATION_DAYS` of its issue (the
  activation link lives as long), or it becomes `expired`;
- an active account unused for `INACTIVITY_DAYS` becomes `invalidated`, after a warning
  email `INACTIVITY_WARNING_DAYS` before. The warning always gives the family that long:
  a sweep that runs late warns late, and the invalidation waits the whole warning delay.

Each deadline is one Python function (pages, letters, emails) with its SQL twin beside it
(the sweep, which applies it to every account at once); `tests/test_deadlines.py` holds
each pair equal over a grid of dates and states.
"""

from datetime import timedelta

from flask import current_app
from sqlalchemy import case, func

from ..models import Account, AccountState

# States that wait for activation, and so for its deadline.
AWAITING_ACTIVATION = (AccountState.ISSUED, AccountState.PENDING_EMAIL)


def _days(name):
    return timedelta(days=current_app.config[name])


# --- activation ------------------------------------------------------------------------


def activation_deadline(account):
    """When an issued account must be activated by, and its activation link dies."""
    return account.issued_at + _days("ACTIVATION_DAYS")


def activation_overdue_at(account, as_of):
    """True when the sweep, run at `as_of`, expires the account."""
    return account.state in AWAITING_ACTIVATION and activation_deadline(account) <= as_of


def activation_overdue(as_of):
    """SQL twin of `activation_overdue_at`: a condition on the `account` table."""
    return Account.state.in_(AWAITING_ACTIVATION) & (Account.issued_at <= as_of - _days("ACTIVATION_DAYS"))


# --- inactivity ------------------------------------------------------------------------


def last_use(account):
    """What inactivity counts from: the latest of the last login, the activation and the
    issue. A regenerated account keeps its last login from before, but counts from its new
    issue (and activation), not from that login."""
    return max(moment for moment in (account.last_login_at, account.activated_at, account.issued_at) if moment is not None)


def _later(first, second):
    return case((first >= second, first), else_=second)


# SQL twin of `last_use` (GREATEST is PostgreSQL's, not SQLite's; the NULLs stand for the issue).
LAST_USE = _later(
    _later(func.coalesce(Account.last_login_at, Account.issued_at), func.coalesce(Account.activated_at, Account.issued_at)),
    Account.issued_at,
)


def warning_date(account):
    """When an active account not yet warned is due its warning, else None."""
    if account.state != AccountState.ACTIVE or account.inactivity_warned_at is not None:
        return None
    return last_use(account) + _days("INACTIVITY_DAYS") - _days("INACTIVITY_WARNING_DAYS")


def warning_due_at(account, as_of):
    """True when the sweep, run at `as_of`, warns the account."""
    due = warning_date(account)
    return due is not None and due <= as_of


def warning_due(as_of):
    """SQL twin of `warning_due_at`."""
    warn_from = as_of - _days("INACTIVITY_DAYS") + _days("INACTIVITY_WARNING_DAYS")
    return (Account.state == AccountState.ACTIVE) & (warn_from >= LAST_USE) & Account.inactivity_warned_at.is_(None)


def invalidation_date(account):
    """When the sweep invalidates a warned, active account: `INACTIVITY_DAYS` after its
    last use and `INACTIVITY_WARNING_DAYS` after its warning, whichever is later (the date
    the warning email announces). None while the account is not active or not warned: the
    warning sets the date."""
    if account.state != AccountState.ACTIVE or account.inactivity_warned_at is None:
        return None
    return max(last_use(account) + _days("INACTIVITY_DAYS"), account.inactivity_warned_at + _days("INACTIVITY_WARNING_DAYS"))


def invalidation_due_at(account, as_of):
    """True when the sweep, run at `as_of`, invalidates the account."""
    due = invalidation_date(account)
    return due is not None and due <= as_of


def invalidation_due(as_of):
    """SQL twin of `invalidation_due_at`: the later of the two dates has come when both have."""
    return (
        (Account.state == AccountState.ACTIVE)
        & (as_of - _days("INACTIVITY_DAYS") >= LAST_USE)
        & (Account.inactivity_warned_at <= as_of - _days("INACTIVITY_WARNING_DAYS"))
    )
