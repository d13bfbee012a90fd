"""Email through a transactional outbox (docs/architecture.md, « Mail »).

`send(to, template, language, **context)` renders `templates/mail/<template>.txt` and `.html`
and adds the message to the caller's transaction: a rollback drops it with the change that
caused it. After the commit, a background thread (`idp.deferred`) sends it (the page does not
wait for the SMTP server); whatever fails waits in the outbox for `idp mail flush` (cron) or
`idp mail worker` (systemd), which retry with backoff (`delivery.py`).

One small sender per email sits beside the generic `send`, as `send_test_message` below.

The subject of an email is the `subject` variable that its `.txt` template sets; the `.html`
template receives it, to put in its title.
"""

import logging
from email.utils import make_msgid, parseaddr

from flask import current_app
from flask_babel import force_locale

from .. import clock, email_address, extensions
from ..deferred import wait_for_jobs
from ..extensions import db
from ..leased_queue import AfterCommit
from ..models import OutboxMessage
from .delivery import deliver, flush, purge, worker
from .sealing import seal

__all__ = ["deliver", "flush", "init_app", "purge", "send", "send_test_message", "wait_for_deliveries", "worker"]

log = logging.getLogger(__name__)

# The messages of a committed transaction leave at once, in the background.
AFTER_COMMIT = AfterCommit("idp.mail.queued", "MAIL_SEND_AFTER_COMMIT")


def send(to, template, language="fr", **context):
    """Write the email `template` to `to` in the caller's transaction (no commit); it leaves
    after the commit. Returns the outbox row. Raises ValueError for an address that is not
    one by the rule of every address (`idp.email_address`), checked before anything is
    written; the row holds the address's canonical form and the bodies sealed (`sealing.py`)."""
    recipient = email_address.canonical(to)
    if recipient is None:
        raise ValueError("not a single email address")
    languages = current_app.config["LANGUAGES"]
    language = language if language in languages else languages[0]
    subject, text, html = render(template, language, context)
    sender = current_app.config["MAIL_DEFAULT_SENDER"]
    moment = clock.now()
    message_id = make_msgid(domain=parseaddr(sender)[1].rpartition("@")[2] or "localhost")
    message = OutboxMessage(
        message_id=message_id,
        recipient=recipient,
        sender=sender,
        template=template,
        language=language,
        # The subject is the template's, the same for every recipient: no secret, no
        # personal data; kept clear, for whoever looks into the table.
        subject=subject,
        body_text=seal(text, message_id, "text"),
        body_html=seal(html, message_id, "html"),
        created_at=moment,
        next_attempt_at=moment,
    )
    db.session.add(message)
    AFTER_COMMIT.add([message])
    return message


def render(template, language, context):
    """(subject, text, html) of `mail/<template>`, rendered in `language`."""
    environment = current_app.jinja_env
    context = {**context, "language": language}
    with force_locale(language):
        text = environment.get_template(f"mail/{template}.txt").make_module(context)
        subject = " ".join(str(text.subject).split())
        html = environment.get_template(f"mail/{template}.html").render(context, subject=subject)
    return subject, str(text).strip() + "\n", html


def send_test_message(to, language="fr"):
    """The message of `idp mail test`: proves that the SMTP settings work."""
    config = current_app.config
    return send(to, "test", language, issuer=config["ISSUER"], server=f"{config['MAIL_SERVER']}:{config['MAIL_PORT']}")


def wait_for_deliveries(app=None, timeout=None):
    """Wait until the background sends started by earlier commits (of `app`, default the
    current one) have finished (and every other background job: `idp.deferred`)."""
    wait_for_jobs(app, timeout)


def init_app(app):
    config = app.config
    if config["MAIL_USE_TLS"] and config["MAIL_USE_SSL"]:
        raise ValueError("IDP_MAIL_USE_TLS (STARTTLS) and IDP_MAIL_USE_SSL (TLS from the start) exclude each other: choose one.")
    # The outbox decides what leaves, in tests too; smtplib's debug output would print the
    # AUTH exchange, hence the password.
    config["MAIL_SUPPRESS_SEND"] = False
    config["MAIL_DEBUG"] = 0
    extensions.mail.init_app(app)
    AFTER_COMMIT.listen(deliver)
