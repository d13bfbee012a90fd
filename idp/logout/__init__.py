"""Back-channel logout notices (OpenID Connect Back-Channel Logout 1.0): written by
`idp.accounts.logouts` in the transaction that ends a session, delivered after its commit
in background threads of their own, one job per notice (the page never waits for a relying
party, and one that does not answer holds up no other), and what fails waits for
`idp logout-notices flush` (cron) or `idp logout-notices worker` (systemd), which retry with
backoff (`delivery.py`): a leased queue, like the mail outbox (idp.leased_queue).
"""

from ..accounts.logouts import AFTER_COMMIT
from .delivery import deliver, flush, worker

__all__ = ["deliver", "flush", "init_app", "worker"]


def init_app(app):
    AFTER_COMMIT.listen(deliver)
