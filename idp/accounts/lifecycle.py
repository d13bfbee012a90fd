"""What the school changes in an account's life: its provisional secret, its regeneration, and
the reply coupon's refusal of the téléservices (docs/life-cycle.md, « Transitions » and
« The reply coupon »).

A provisional secret is printed once on a letter and stored as a keyed hash (docs/security.md,
« Generated secrets »): it is random, so a fast HMAC is enough, and issuing thousands of letters
stays quick.
"""

import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Select, delete, or_, select, update

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..models import Account, AccountLink, AccountState, AuthorizationCode, LegalGuardian, LoginSession, Pupil, Token
from ..security import keyed_hash
from .access import pupils_of
from .logouts import Ending, notify_relying_parties

# No look-alikes: neither 0/O nor 1/I (nor lower case, so no l). 32 symbols, 12 of them:
# 60 bits of entropy, printed in three groups of four (K7PM-4XQR-9HTW).
SECRET_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # noqa: S105 (symbols, not a secret)
SECRET_LENGTH = 12
SECRET_GROUP = 4
# What may separate the groups when the secret is typed: spaces, hyphens and their cousins.
_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212.]+")


@dataclass(frozen=True)
class Issued:
    """An account just issued or regenerated, with its provisional secret in memory only
    (for its letter) and the pupils the letter speaks of."""

    account: Account
    secret: str
    pupils: tuple[Pupil, ...]
    # A parent's civility in the school file (LegalGuardian.civility), for « Responsable légale ».
    civility: str | None = None


def new_provisional_secret():
    """A random secret as printed: 'K7PM-4XQR-9HTW'."""
    # 32 symbols divide 256: the low five bits of a random byte pick one without bias.
    symbols = "".join(SECRET_ALPHABET[byte & 31] for byte in secrets.token_bytes(SECRET_LENGTH))
    return "-".join(symbols[index : index + SECRET_GROUP] for index in range(0, SECRET_LENGTH, SECRET_GROUP))


def canonical_secret(typed):
    """A secret as typed, in the form its hash is made of: no separators, upper case."""
    return _SEPARATORS.sub("", typed).upper()


def provisional_secret_hash(secret):
    return keyed_hash(canonical_secret(secret))


def provisional_secret_matches(account, typed):
    """True when `typed` is the account's provisional secret, as printed or with other
    spacing, in either case (constant time)."""
    stored = account.provisional_secret_hash if account is not None else None
    candidate = provisional_secret_hash(typed)
    return hmac.compare_digest(candidate, stored or "0" * len(candidate)) and stored is not None


def _staff_details(staff):
    return {"staff": staff.email} if staff is not None else {}


def revoke_everything(accounts, ending, except_session=None):
    """End every login session of the account(s), revoke their tokens and unspent codes, and
    cancel every pending emailed link (email change, password reset, activation): what a
    password change, an email change, a reset, « se déconnecter partout », a regeneration and
    every exit from `active` all mean. The relying parties of the sessions ended hear of it
    (`logouts.notify_relying_parties`, `ending` says why). One set-based statement each;
    returns the counts of sessions ended, tokens revoked and links cancelled.

    `accounts` is an account's id, or a SELECT of ids (the sweep's ended accounts). With
    `except_session` (a password changed on « gérer son compte »), that session stays open
    with the codes and access tokens it gave; every refresh token is revoked all the same.
    """
    moment = now()
    notify_relying_parties(ending, accounts, login_session=except_session)

    def of(column):
        return column.in_(accounts) if isinstance(accounts, Select) else column == accounts

    sessions = update(LoginSession).where(of(LoginSession.account_id), LoginSession.ended_at.is_(None))
    tokens = update(Token).where(of(Token.account_id), Token.revoked_at.is_(None))
    codes = update(AuthorizationCode).where(
        of(AuthorizationCode.account_id), AuthorizationCode.used_at.is_(None), AuthorizationCode.expires_at > moment
    )
    if except_session is not None:
        kept = except_session.id
        sessions = sessions.where(LoginSession.id != kept)
        tokens = tokens.where(or_(Token.login_session_id.is_(None), Token.login_session_id != kept, Token.refresh_token_hash.is_not(None)))
        codes = codes.where(or_(AuthorizationCode.login_session_id.is_(None), AuthorizationCode.login_session_id != kept))
    options = {"synchronize_session": False}
    ended = db.session.execute(sessions.values(ended_at=moment), execution_options=options).rowcount
    revoked = db.session.execute(tokens.values(revoked_at=moment), execution_options=options).rowcount
    db.session.execute(codes.values(expires_at=moment), execution_options=options)
    cancelled = db.session.execute(delete(AccountLink).where(of(AccountLink.account_id)), execution_options=options).rowcount
    return {"sessions_ended": ended, "tokens_revoked": revoked, "links_cancelled": cancelled}


def regenerate(account, staff=None):
    """A new provisional secret for the same account, identifier and `sub`, back to `issued`.

    For a lost letter, or an expired, invalidated or blocked account. The old secret, the
    chosen password and every emailed link (activation, password reset) stop working, the
    address is forgotten (the person confirms one again at first connection), and every
    session, token, code and link of the account is revoked.
    Returns the Issued to print; the caller commits.
    """
    secret = new_provisional_secret()
    account.provisional_secret_hash = provisional_secret_hash(secret)
    account.password_hash = None
    account.state = AccountState.ISSUED
    account.issued_at = now()
    account.email = None
    account.email_verified = False
    account.birth_date_failures = 0
    account.blocked_reason = None
    account.first_connection_at = None
    account.activated_at = None
    account.inactivity_warned_at = None
    revoke_everything(account.id, Ending.ACCOUNT_ENDED)
    audit("account_regenerated", account=account, **_staff_details(staff))
    civility = db.session.scalar(select(LegalGuardian.civility).where(LegalGuardian.account_id == account.id))
    return Issued(account, secret, tuple(pupils_of(account)), civility)


def set_refusal(account, refused, staff=None):
    """Record the reply coupon (`refused=True`: no `teleservice` relying party), or undo it.

    Returns True when it changed something. The relying parties' doors read the flag at
    every use, so the account's téléservice tokens stop (or resume) working at once.
    """
    refused = bool(refused)
    if account.teleservices_refused == refused:
        return False
    account.teleservices_refused = refused
    if refused:
        notify_relying_parties(Ending.TELESERVICES_REFUSED, account.id)
    audit("teleservices_refused" if refused else "teleservices_refusal_withdrawn", account=account, **_staff_details(staff))
    return True
