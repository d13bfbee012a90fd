"""Back-channel logout notices (OpenID Connect Back-Channel Logout 1.0): written by
`idp.accounts.logouts` in the transaction that ends a session, delivered after its commit
in background threads of their own, one job per notice (the page never waits for a relying
party, and one that does not answer holds up no other), and what fails waits for
`idp logout-notices flush` (cron) or `idp logout-notices worker` (systemd), which retry with
backoff (`delivery.py`): a leased queue, like the mail outbox (idp.leased_queue).
"""

from ..leased_queue import AfterCommit
from .delivery import deliver, flush, worker

__all__ = ["deliver", "flush", "init_app", "queue", "worker"]

AFTER_COMMIT = AfterCommit("idp.logout.queued", deliver, "LOGOUT_SEND_AFTER_COMMIT", pool="idp.deferred.logout", one_by_one=True)


def queue(ids):
    """Deliver the notices `ids` once the caller's transaction has committed."""
    AFTER_COMMIT.add(ids)


def init_app(app):
    AFTER_COMMIT.listen()
