"""Delivery of the outbox: claim a due message, send it over SMTP, record the outcome.

Safe from several nodes at once: the outbox is a leased queue (idp.leased_queue), whose
claims and outcomes are committed at once, so a message goes out once; a sender that dies
mid-send leaves a lease that expires, and the message is then retried.

A message that cannot go out for a reason of its own never holds up the others: an address
that is not one by the rule of every address (`idp.email_address`, a row queued before the
rule) is given up at once; any other error while preparing or sending it (a body no
configured key opens, an encoding error, a header the mail library refuses, a refusal of
the server) is a failed attempt, retried with backoff and given up after `MAIL_RETRY_DAYS`
like any failure (a key forgotten in a rotation can still be added meanwhile), and the run
goes on with the next message. Only an unreachable server stops a run.

Logs name the message by id and template, and an error by its class, never its address or body.
"""

import logging
import smtplib
import ssl
from datetime import timedelta

import flask_mail
from flask import current_app

from .. import clock, email_address
from ..audit import audit
from ..extensions import db
from ..leased_queue import LeasedQueue, run_worker, sender_id
from ..models import MailStatus, OutboxMessage
from .sealing import UnreadableBody, unseal

log = logging.getLogger(__name__)

# Delays before the 2nd, 3rd, 4th and 5th attempts; then every RETRY_EVERY until MAIL_RETRY_DAYS.
BACKOFF = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
RETRY_EVERY = timedelta(hours=6)
# How long a sender may work on one message before another may take it over.
LEASE = timedelta(minutes=5)
OUTBOX = LeasedQueue(
    OutboxMessage,
    MailStatus.PENDING,
    (MailStatus.SENT, MailStatus.FAILED),
    (
        OutboxMessage.id,
        OutboxMessage.message_id,
        OutboxMessage.template,
        OutboxMessage.recipient,
        OutboxMessage.sender,
        OutboxMessage.subject,
        OutboxMessage.body_text,
        OutboxMessage.body_html,
        OutboxMessage.attempts,
        OutboxMessage.created_at,
    ),
    LEASE,
    "MAIL_KEEP_DAYS",
)
# Refusals that concern one message; the next one may still go out on the same connection.
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError, flask_mail.BadHeaderError)


class InvalidRecipient(Exception):
    """The row's address is not one by the rule of every address: it can never be sent."""


# Errors after which a message is given up at once, whatever its age.
UNDELIVERABLE = (InvalidRecipient,)
# Errors of one message whose text names no address nor body: kept in `last_error`.
DESCRIBED = (OSError, InvalidRecipient, UnreadableBody)


def backoff(attempts):
    """Delay before the next attempt of a message that has failed `attempts` times."""
    return BACKOFF[attempts - 1] if attempts <= len(BACKOFF) else RETRY_EVERY


def flush(limit=None, now=None, stop=None):
    """Send what is due (at most `limit` messages), purge old traces, and count:
    {"sent": sent now, "failed": attempts that failed now, "waiting": messages still to send}.
    Stops early when the SMTP server is unreachable, or when the event `stop` is set."""
    counts = _send_due(limit=limit, now=now, stop=stop)
    purge(now)
    counts["waiting"] = OUTBOX.waiting()
    db.session.commit()
    return counts


def deliver(ids, now=None):
    """Send the messages `ids` if they are due and nobody else is sending them."""
    return _send_due(ids=ids, now=now)


def worker(stop, interval=15, batch=50):
    """Flush until the event `stop` is set: at once while messages are due, else every `interval` seconds."""
    run_worker("mail", flush, stop, interval, batch)


def purge(now=None):
    """Delete the traces of messages sent or given up more than MAIL_KEEP_DAYS ago."""
    return OUTBOX.purge(now)


def _send_due(ids=None, limit=None, now=None, stop=None):
    counts = {"sent": 0, "failed": 0}
    sender = sender_id()
    smtp = _Smtp()
    try:
        while limit is None or counts["sent"] + counts["failed"] < limit:
            if stop is not None and stop.is_set():
                break
            claimed = OUTBOX.claim(sender, now or clock.now(), ids)
            if claimed is None:
                break
            try:
                smtp.send(_prepare(claimed))
            except (*UNDELIVERABLE, UnreadableBody, *MESSAGE_ERRORS) as error:
                _record_failure(claimed, error, now or clock.now())
                counts["failed"] += 1
            except OSError as error:  # unreachable, timed out, TLS or login refused: the server, not the message
                smtp.abandon()
                _record_failure(claimed, error, now or clock.now())
                counts["failed"] += 1
                break
            except Exception as error:  # whatever one message raises, the others go on
                # An encoding or header error may leave the SMTP transaction half done.
                smtp.reset()
                log.error("mail %s (%s): unexpected %s while sending it", claimed.id, claimed.template, type(error).__name__)
                _record_failure(claimed, error, now or clock.now())
                counts["failed"] += 1
            else:
                _record_sent(claimed, now or clock.now())
                counts["sent"] += 1
    finally:
        smtp.close()
    return counts


def _prepare(claimed):
    """The email of a claimed row: its address checked again (a row may predate the rule),
    its bodies opened."""
    recipient = email_address.canonical(claimed.recipient)
    if recipient is None:
        raise InvalidRecipient("the recipient is not an address by the rule of every address")
    message = flask_mail.Message(
        subject=claimed.subject,
        recipients=[recipient],
        body=unseal(claimed.body_text, claimed.message_id, "text"),
        html=unseal(claimed.body_html, claimed.message_id, "html"),
        sender=claimed.sender,
    )
    message.msgId = claimed.message_id
    return message


def _record_sent(claimed, now):
    # Whoever sent it, it is sent: no condition on the lease. The bodies may hold the secret
    # the email carried; only the trace stays.
    OUTBOX.finish(
        claimed.id,
        {
            "status": MailStatus.SENT,
            "attempts": OutboxMessage.attempts + 1,
            "last_attempt_at": now,
            "sent_at": now,
            "last_error": None,
            "body_text": "",
            "body_html": "",
        },
    )
    db.session.commit()
    log.info("mail %s (%s) sent", claimed.id, claimed.template)


def _record_failure(claimed, error, now):
    attempts = claimed.attempts + 1
    permanent = isinstance(error, UNDELIVERABLE) or (
        isinstance(error, smtplib.SMTPRecipientsRefused) and all(code >= 500 for code, _ in error.recipients.values())
    )
    give_up = permanent or now - claimed.created_at >= timedelta(days=current_app.config["MAIL_RETRY_DAYS"])
    values = {"attempts": attempts, "last_attempt_at": now, "last_error": _describe(error, detailed=True)}
    if give_up:
        values |= {"status": MailStatus.FAILED, "body_text": "", "body_html": ""}
    else:
        values["next_attempt_at"] = now + backoff(attempts)
    OUTBOX.finish(claimed.id, values, only_pending=True)
    reason = _describe(error)
    if give_up:
        audit("mail_given_up", mail_id=claimed.id, template=claimed.template, attempts=attempts, error=reason)
        log.warning("mail %s (%s) given up after %s attempt(s): %s", claimed.id, claimed.template, attempts, reason)
    else:
        log.warning(
            "mail %s (%s) attempt %s failed: %s; next attempt at %s",
            claimed.id,
            claimed.template,
            attempts,
            reason,
            values["next_attempt_at"].isoformat(timespec="seconds"),
        )
    db.session.commit()


def _describe(error, detailed=False):
    """The kind of failure and the SMTP code; `detailed` adds the server's words (for the
    table only: a refusal may quote the address, which the logs do not carry). Any other
    error is named by its class only: its text may quote the address or the body."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
    elif isinstance(error, smtplib.SMTPResponseException):
        code, text = error.smtp_code, error.smtp_error
    elif isinstance(error, DESCRIBED):
        code, text = None, str(error)
    else:
        code, text = None, ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    described = type(error).__name__ + (f" {code}" if code else "")
    if detailed and text:
        described += f": {' '.join(text.split())}"
    return described[:200]


class _Connection(flask_mail.Connection):
    """Flask-Mail's connection with a timeout and verified TLS certificates (smtplib's own
    default verifies none), and without smtplib's debug output (it prints the password)."""

    def configure_host(self):
        state = self.mail
        timeout = current_app.config["MAIL_TIMEOUT"]
        if state.use_ssl:
            host = smtplib.SMTP_SSL(state.server, state.port, timeout=timeout, context=ssl.create_default_context())
        else:
            host = smtplib.SMTP(state.server, state.port, timeout=timeout)
        try:
            if state.use_tls:
                host.starttls(context=ssl.create_default_context())
            if state.username and state.password:
                host.login(state.username, state.password)
        except BaseException:
            host.close()
            raise
        return host


class _Smtp:
    """One SMTP connection for a run of messages, opened at the first one."""

    def __init__(self):
        self.connection = None

    def send(self, message):
        if self.connection is None:
            self.connection = _Connection(current_app.extensions["mail"]).__enter__()
        self.connection.send(message)

    def reset(self):
        """After a message failed midway: end its SMTP transaction (RSET), or drop the
        connection if even that fails; the next message opens a new one."""
        if self.connection is None or self.connection.host is None:
            return
        try:
            self.connection.host.rset()
        except Exception:  # a connection in doubt is not reused
            self.abandon()

    def abandon(self):
        """Drop a connection that failed, without the courtesy of QUIT."""
        if self.connection is not None and self.connection.host is not None:
            self.connection.host.close()
        self.connection = None

    def close(self):
        if self.connection is None:
            return
        try:
            self.connection.host.quit()
        except OSError:
            self.connection.host.close()
        self.connection = None
