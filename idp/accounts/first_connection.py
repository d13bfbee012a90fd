"""First connection and activation (docs/parents-journey.md, « First connection » and
« Activation »; docs/life-cycle.md, « Transitions »).

With the letter in hand, a person chooses a password, gives an email twice and the child's
birth date (a pupil gives their own). Success makes the account `pending_email` and queues
the activation email; opening its link (and pressing the button) makes it `active`.
Every comparison of a birth date is counted before it is made, by one conditional UPDATE
whose returned value decides: at `BIRTH_DATE_ATTEMPTS` wrong dates the account is blocked until
the establishment regenerates it, however many requests arrive at once. A right date sets the
count back to zero. Nothing else on the page compares what was typed with a birth date (the
password rule forbids every date, `passwords.contains_date`), so the form tells nothing about
the date until the date itself is given.
"""

from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value

from ..audit import audit
from ..clock import now
from ..extensions import db
from ..metrics import ACTIVATIONS, FIRST_CONNECTIONS
from ..models import Account, AccountState, LinkPurpose
from . import emails
from .access import pupils_of
from .addresses import canonical_email, email_problems, is_email
from .deadlines import activation_deadline
from .links import find_link, new_link, spend
from .passwords import hash_password, new_password_problems

BIRTH_DATE_ATTEMPTS = 5


@dataclass
class Outcome:
    """What a first-connection attempt gave: problems per field, or success."""

    problems: dict = field(default_factory=dict)
    blocked: bool = False
    # A birth date was given and compared: whether it was wrong (for the throttle).
    birth_date_checked: bool = False
    wrong_birth_date: bool = False
    # Another request finished this first connection meanwhile: the form no longer applies.
    over: bool = False

    @property
    def ok(self):
        return not self.problems and not self.blocked and not self.over


def complete_first_connection(account, password, password_confirmation, email, email_confirmation, birth_date, language="fr"):
    """Check the form of the guide and, when everything is right, move to `pending_email`.

    The caller commits in every case: a wrong birth date is counted even when other fields
    are wrong too.
    """
    if account.state != AccountState.ISSUED:
        raise ValueError(f"first connection of an account in state {account.state}")
    email = (email or "").strip()
    problems = {**new_password_problems(account, password, password_confirmation), **email_problems(email, email_confirmation)}
    if birth_date is None:
        problems["birth_date"] = [_l("Saisissez la date de naissance au format JJ/MM/AAAA.")]
        return Outcome(problems)
    failures = count_birth_date_check(account)
    if failures is None:
        return Outcome(blocked=account.state == AccountState.BLOCKED, over=account.state != AccountState.BLOCKED)
    if birth_date not in {pupil.birth_date for pupil in pupils_of(account)}:
        audit("first_connection_birth_date_failed", account=account, failures=failures)
        if failures >= BIRTH_DATE_ATTEMPTS:
            account.state = AccountState.BLOCKED
            account.blocked_reason = "birth_date"
            audit("account_blocked", account=account, reason="birth_date")
            return Outcome(blocked=True, birth_date_checked=True, wrong_birth_date=True)
        problems["birth_date"] = [_l("La date de naissance ne correspond pas.")]
        return Outcome(problems, birth_date_checked=True, wrong_birth_date=True)
    account.birth_date_failures = 0
    if problems:
        return Outcome(problems, birth_date_checked=True)

    moment = now()
    account.password_hash = hash_password(password)
    account.provisional_secret_hash = None
    account.email = canonical_email(email)
    account.email_verified = False
    account.language = language
    account.first_connection_at = moment
    account.state = AccountState.PENDING_EMAIL
    audit("first_connection", account=account)
    FIRST_CONNECTIONS.inc()
    send_activation(account)
    return Outcome(birth_date_checked=True)


def count_birth_date_check(account):
    """Count the comparison about to be made, as a wrong date until proven right: the count
    it makes (1 for the first), or None when the account may not be checked any more
    (blocked, or no longer issued). One conditional UPDATE: on PostgreSQL, requests arriving
    together wait for each other's row lock and each sees the count its own increment made.
    """
    failures = db.session.scalar(
        update(Account)
        .where(Account.id == account.id, Account.state == AccountState.ISSUED, Account.birth_date_failures < BIRTH_DATE_ATTEMPTS)
        .values(birth_date_failures=Account.birth_date_failures + 1)
        .returning(Account.birth_date_failures)
        .execution_options(synchronize_session=False)
    )
    if failures is None:
        db.session.refresh(account, ["state"])
        return None
    set_committed_value(account, "birth_date_failures", failures)
    return failures


def send_activation(account):
    """A new activation link to the account's address (the older one stops working)."""
    token = new_link(account, LinkPurpose.ACTIVATION, account.email, activation_deadline(account))
    emails.activation(account, token)
    audit("activation_sent", account=account)


def resend_activation(account):
    """The button that sends the activation email again; problems per field (key "email")
    when the address was stored before the rule of every address and cannot be sent to."""
    if not is_email(account.email or ""):
        return {"email": [_l("Cette adresse ne peut pas recevoir de courrier électronique : corrigez-la ci-dessous.")]}
    send_activation(account)
    return {}


def change_pending_email(account, email, confirmation):
    """Correct the address of a pending account and send it a new link; problems per field."""
    email = (email or "").strip()
    problems = email_problems(email, confirmation)
    if problems:
        return problems
    account.email = canonical_email(email)
    account.email_verified = False
    audit("activation_email_corrected", account=account)
    send_activation(account)
    return {}


def find_activation(token):
    """The live activation link `token` opens, if its account still waits for it."""
    link = find_link(token, LinkPurpose.ACTIVATION)
    if link is None or link.account.state != AccountState.PENDING_EMAIL or link.email != link.account.email:
        return None
    return link


def activate(link):
    """The button "Activer mon compte": the address is confirmed, the account active; None
    when another request spent the link first."""
    account = link.account
    if not spend(link):
        return None
    account.state = AccountState.ACTIVE
    account.email_verified = True
    account.activated_at = now()
    audit("account_activated", account=account)
    ACTIVATIONS.inc()
    return account
