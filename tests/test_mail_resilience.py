"""A message that cannot be sent never holds up the others (docs/architecture.md, « Mail »):
an address that is not one by the rule (a row queued before it) is given up at once, any
other error of one message is a failed attempt, and `flush`, the worker and the sending
after commit go on with the next message, against a real SMTP server."""

import logging
import smtplib
import threading
from datetime import UTC, timedelta
from email.errors import HeaderParseError

import pytest
from sqlalchemy import select

from idp import clock, email_address
from idp.extensions import db
from idp.mail import delivery, flush, send_test_message, wait_for_deliveries, worker
from idp.models import MailStatus, OutboxMessage

from .travel import frozen, moment


@pytest.fixture
def queued_only(settings):
    settings["MAIL_SEND_AFTER_COMMIT"] = False
    return settings


def outbox(app):
    with app.app_context():
        return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def queue(app, *addresses):
    with app.app_context():
        messages = [send_test_message(address) for address in addresses]
        db.session.commit()
        return [message.id for message in messages]


def old_row(app, recipient):
    """A pending row written before the address rule, bodies in clear, as such rows are."""
    with app.app_context():
        moment_ = clock.now()
        row = OutboxMessage(
            message_id="<old-row@ac-normandie.fr>",
            recipient=recipient,
            sender="ne-pas-repondre@ac-normandie.fr",
            template="password_reset",
            language="fr",
            subject="Mot de passe oublié : votre lien et votre mot de passe temporaire",
            body_text="Bonjour,\nMot de passe temporaire : AAAA-BBBB-CCCC\n",
            body_html="<p>Bonjour</p>",
            created_at=moment_,
            next_attempt_at=moment_,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


@pytest.fixture
def failing_for(monkeypatch):
    """failing_for(address, error): preparing the message to `address` raises `error`."""

    def install(address, error):
        prepare = delivery._prepare

        def prepared(claimed):
            if claimed.recipient == address:
                raise error
            return prepare(claimed)

        monkeypatch.setattr(delivery, "_prepare", prepared)

    return install


@pytest.mark.parametrize("recipient", ["é@é.é", "😀@x.fr", "\u202e@x.fr", "<script>@x.fr", "claire,x@parent.example"])
def test_an_old_row_with_an_address_the_rule_refuses_is_given_up_and_the_next_one_goes_out(
    queued_only, app, smtp_server, audit_events, caplog, recipient
):
    caplog.set_level(logging.INFO)
    old = old_row(app, recipient)
    (good,) = queue(app, "jean@example.org")
    assert flush_counts(app) == {"sent": 1, "failed": 1, "waiting": 0}
    (received,) = smtp_server.wait_for(1)
    assert received["To"] == "jean@example.org"
    rows = {row.id: row for row in outbox(app)}
    assert (rows[old].status, rows[old].attempts, rows[old].body_text, rows[old].body_html) == (MailStatus.FAILED, 1, "", "")
    assert rows[old].last_error == "InvalidRecipient: the recipient is not an address by the rule of every address"
    assert rows[good].status == MailStatus.SENT
    (given_up,) = audit_events("mail_given_up")
    assert given_up.details == {"mail_id": old, "template": "password_reset", "attempts": 1, "error": given_up.details["error"]}
    assert given_up.details["error"].startswith("InvalidRecipient")
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"mail {old} (password_reset) given up after 1 attempt(s): InvalidRecipient" in logged
    assert recipient not in logged and "AAAA-BBBB-CCCC" not in logged


def test_the_encoding_error_of_the_old_rule_is_a_failed_attempt_and_the_next_one_goes_out(queued_only, app, smtp_server, monkeypatch):
    """What the probe did: é@é.é reached the mail library, which cannot encode it."""
    monkeypatch.setattr(email_address, "canonical", lambda address: address)  # the rule of before
    old = old_row(app, "é@é.é")
    (good,) = queue(app, "jean@example.org")
    start = moment()
    with frozen(start):
        assert flush_counts(app) == {"sent": 1, "failed": 1, "waiting": 1}
    assert [recipients for _, recipients in smtp_server.envelopes] == [["jean@example.org"]]
    rows = {row.id: row for row in outbox(app)}
    assert (rows[old].status, rows[old].attempts, rows[old].last_error) == (MailStatus.PENDING, 1, "UnicodeEncodeError")
    assert rows[old].next_attempt_at == start + timedelta(minutes=1)
    assert rows[good].status == MailStatus.SENT


def test_an_error_midway_through_the_smtp_exchange_leaves_the_connection_usable(queued_only, app, smtp_server, monkeypatch):
    """MAIL FROM went out, then RCPT TO failed before the server answered: the connection is
    reset, and the next message goes out."""
    rcpt = smtplib.SMTP.rcpt

    def refusing(self, recipient, options=()):
        if recipient == "jean-bad@example.org":
            raise UnicodeEncodeError("ascii", recipient, 0, 1, "as smtplib would")
        return rcpt(self, recipient, options)

    monkeypatch.setattr(smtplib.SMTP, "rcpt", refusing)
    bad, good = queue(app, "jean-bad@example.org", "jean@example.org")
    assert flush_counts(app) == {"sent": 1, "failed": 1, "waiting": 1}
    assert [recipients for _, recipients in smtp_server.envelopes] == [["jean@example.org"]]
    rows = {row.id: row for row in outbox(app)}
    assert (rows[bad].status, rows[bad].last_error, rows[good].status) == (MailStatus.PENDING, "UnicodeEncodeError", MailStatus.SENT)


@pytest.mark.parametrize(
    "error",
    [
        UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)"),
        ValueError("jean-bad@example.org is odd"),
        HeaderParseError("bad header"),
        RuntimeError("anything else"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_any_error_of_one_message_is_a_failed_attempt_retried_then_given_up(
    queued_only, app, smtp_server, failing_for, audit_events, caplog, error
):
    caplog.set_level(logging.INFO)
    failing_for("jean-bad@example.org", error)
    start = moment()
    with frozen(start) as traveller:
        bad, good = queue(app, "jean-bad@example.org", "jean@example.org")
        assert flush_counts(app) == {"sent": 1, "failed": 1, "waiting": 1}
        rows = {row.id: row for row in outbox(app)}
        assert (rows[bad].status, rows[bad].attempts) == (MailStatus.PENDING, 1)
        assert rows[bad].last_error == type(error).__name__  # its text may quote the address: not kept
        assert rows[bad].next_attempt_at == start + timedelta(minutes=1)
        assert rows[bad].claimed_by is None
        assert rows[good].status == MailStatus.SENT
        # Retried with the same backoff as any failure, given up after MAIL_RETRY_DAYS.
        while outbox(app)[0].status == MailStatus.PENDING:
            traveller.move_to(outbox(app)[0].next_attempt_at.replace(tzinfo=UTC))
            flush_counts(app)
    (row, _) = outbox(app)
    assert row.status == MailStatus.FAILED and row.last_attempt_at - row.created_at >= timedelta(days=4)
    assert [event.details["error"] for event in audit_events("mail_given_up")] == [type(error).__name__]
    assert len(smtp_server.messages) == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert f"mail {bad} (test): unexpected {type(error).__name__} while sending it" in logged
    assert "jean-bad@example.org" not in logged


def test_the_flush_command_goes_on_past_a_failing_message(queued_only, app, smtp_server, failing_for):
    failing_for("jean-bad@example.org", RuntimeError("boom"))
    queue(app, "jean-bad@example.org", "jean@example.org")
    old_row(app, "é@é.é")
    result = app.test_cli_runner().invoke(args=["mail", "flush", "--json"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == '{"sent": 1, "failed": 2, "waiting": 1}'
    assert [message["To"] for message in smtp_server.messages] == ["jean@example.org"]


def test_the_worker_survives_an_error_in_one_message(queued_only, app, smtp_server, failing_for):
    failing_for("jean-bad@example.org", RuntimeError("boom"))
    queue(app, "jean-bad@example.org", "jean@example.org")
    stop = threading.Event()
    errors = []

    def run():
        with app.app_context():
            try:
                worker(stop, interval=0.2)
            except BaseException as error:  # the test fails on it below
                errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        smtp_server.wait_for(1)
        queue(app, "marie@example.org")  # still at work after the failure
        smtp_server.wait_for(2)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive() and errors == []
    assert sorted(message["To"] for message in smtp_server.messages) == ["jean@example.org", "marie@example.org"]
    bad = next(row for row in outbox(app) if row.recipient == "jean-bad@example.org")
    assert (bad.status, bad.attempts, bad.last_error) == (MailStatus.PENDING, 1, "RuntimeError")


def test_the_sending_after_commit_goes_on_past_a_failing_message(app, smtp_server, failing_for, caplog):
    failing_for("jean-bad@example.org", UnicodeEncodeError("ascii", "é", 0, 1, "ordinal not in range(128)"))
    with app.app_context():
        send_test_message("jean-bad@example.org")
        send_test_message("jean@example.org")
        db.session.commit()
    smtp_server.wait_for(1)
    wait_for_deliveries(app)
    assert [message["To"] for message in smtp_server.messages] == ["jean@example.org"]
    bad, good = outbox(app)
    assert (bad.status, bad.attempts, bad.last_error) == (MailStatus.PENDING, 1, "UnicodeEncodeError")
    assert good.status == MailStatus.SENT
    assert "sending after commit failed" not in caplog.text


def flush_counts(app):
    with app.app_context():
        return flush()
