"""Single-use links sent by email: activation, email change, password reset (docs/security.md,
« Generated secrets »).

The link carries a random token; the table keeps only its keyed hash. One live link per
account and purpose: a new one replaces the older, which stops working at once; except the
password reset's, which keeps the live ones (their number is bounded by the emails' budget,
`forgotten_credentials`), so that asking again never cancels a link already on its way.
"""

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm.attributes import set_committed_value

from ..clock import now
from ..extensions import db
from ..models import AccountLink
from ..security import keyed_hash, new_token


def new_link(account, purpose, email, expires_at, secret=None, replace=True):
    """Create the link and return its token; the account's older links of that purpose are
    forgotten (with `replace=False`, only those no longer usable)."""
    older = delete(AccountLink).where(AccountLink.account_id == account.id, AccountLink.purpose == purpose)
    if not replace:
        older = older.where(or_(AccountLink.used_at.is_not(None), AccountLink.expires_at <= now()))
    db.session.execute(older)
    token = new_token()
    db.session.add(
        AccountLink(
            account=account,
            purpose=purpose,
            token_hash=keyed_hash(token),
            email=email,
            secret_hash=keyed_hash(secret) if secret is not None else None,
            expires_at=expires_at,
        )
    )
    return token


def find_link(token, purpose):
    """The live link of this purpose that `token` opens, or None (used, expired or unknown)."""
    if not token or len(token) > 100:
        return None
    link = db.session.scalar(select(AccountLink).where(AccountLink.token_hash == keyed_hash(token), AccountLink.purpose == purpose))
    if link is None or link.used_at is not None or link.expires_at <= now():
        return None
    return link


def spend(link):
    """Mark the link used, once: True for the one request that did, False for any other that
    raced it (one conditional UPDATE, so that two clicks at once cannot both go through)."""
    moment = now()
    spent = db.session.execute(
        update(AccountLink).where(AccountLink.id == link.id, AccountLink.used_at.is_(None)).values(used_at=moment),
        execution_options={"synchronize_session": False},
    )
    if spent.rowcount != 1:
        return False
    set_committed_value(link, "used_at", moment)
    return True
