"""The life-cycle sweep (`idp sweep`): the deadlines (docs/life-cycle.md, « Deadlines ») applied
to every account.

One set-based statement per transition, never a loop over accounts; idempotent; safe from
two nodes at once (a row changed by one sweep no longer matches the other's condition, which
PostgreSQL re-checks after waiting for the row lock).
"""

from sqlalchemy import func, select, update

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import Account, AccountState
from . import emails
from .deadlines import activation_overdue, invalidation_due, warning_due
from .lifecycle import revoke_everything
from .logouts import Ending

# States that end an account's access: their sessions, tokens and links are revoked.
ENDED = (AccountState.EXPIRED, AccountState.INVALIDATED, AccountState.BLOCKED)


def sweep(as_of=None, dry_run=False):
    """Apply the deadlines as of `as_of` (default now); return the counts per transition."""
    as_of = as_of or now()
    conditions = {"expired": activation_overdue(as_of), "warned": warning_due(as_of), "invalidated": invalidation_due(as_of)}
    if dry_run:
        count = select(func.count()).select_from(Account)
        return {name: db.session.scalar(count.where(condition)) for name, condition in conditions.items()}

    counts = {}
    counts["expired"] = _update(conditions["expired"], state=AccountState.EXPIRED)
    counts["warned"] = emails.inactivity_warnings(conditions["warned"], as_of)
    counts["invalidated"] = _update(conditions["invalidated"], state=AccountState.INVALIDATED)
    revoked = revoke_ended_accounts()
    audit("sweep", as_of=as_of.isoformat(timespec="seconds"), **counts, **revoked)
    return counts


def _update(condition, **values):
    return db.session.execute(update(Account).where(condition).values(**values), execution_options={"synchronize_session": False}).rowcount


def revoke_ended_accounts():
    """End the sessions and revoke the tokens, codes and links that accounts in an ended
    state still hold."""
    return revoke_everything(select(Account.id).where(Account.state.in_(ENDED)), Ending.ACCOUNT_ENDED)
