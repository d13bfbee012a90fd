"""The emails of the life cycle: one small sender each over the outbox's `send` (design §7).

Each renders `templates/mail/<name>.txt` and `.html` in the account's language; the only
secret an email carries is its link (and, for a password reset, the temporary password).
"""

from ..mail import send
from ..urls import public_url
from .deadlines import activation_deadline


def activation(account, token):
    send(
        account.email,
        "activation",
        language=account.language,
        account=account.identifier,
        name=account.full_name,
        link=public_url("auth.activation", token=token),
        deadline=activation_deadline(account),
    )
