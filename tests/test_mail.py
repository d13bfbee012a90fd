"""Email through the outbox, against a real SMTP server (the `smtp_server` fixture).

A message is written with the change that causes it, leaves after the commit without
holding the page, waits in the outbox while the server is down, is retried with backoff
and goes out exactly once, even with two senders at work.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from flask import abort
from sqlalchemy import func, select

from idp import clock
from idp.extensions import db
from idp.mail import flush, send, send_test_message, wait_for_deliveries
from idp.mail.delivery import LEASE, OUTBOX
from idp.mail.sealing import unseal
from idp.models import MailStatus, OutboxMessage

from .travel import frozen, moment

SENDER = "Téléservices - Académie de Normandie <ne-pas-repondre@ac-normandie.fr>"


@pytest.fixture
def queued_only(settings):
    """Messages wait in the outbox until a flush (no sending after commit)."""
    settings["MAIL_SEND_AFTER_COMMIT"] = False
    return settings


@pytest.fixture
def smtp_login(settings, smtp_server):
    """The server asks for a login; the settings give it."""
    smtp_server.credentials = ("idp", "Sm7p-pass-w0rd")
    settings.update(MAIL_USERNAME="idp", MAIL_PASSWORD="Sm7p-pass-w0rd")
    return smtp_server.credentials


@pytest.fixture(params=[True, False], ids=["after-commit", "queued-only"])
def after_commit(request, settings):
    settings["MAIL_SEND_AFTER_COMMIT"] = request.param
    return request.param


@pytest.fixture
def run(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=list(args))


def outbox(app):
    with app.app_context():
        return db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()


def commit_test_message(app, to="jean@example.org", language="fr"):
    with app.app_context():
        message = send_test_message(to, language)
        db.session.commit()
        return message.id


def flush_in(app, **options):
    with app.app_context():
        return flush(**options)


def test_committed_message_is_delivered_with_a_text_and_an_html_part(app, smtp_server):
    mail_id = commit_test_message(app)
    (received,) = smtp_server.wait_for(1)
    assert smtp_server.envelopes == [("ne-pas-repondre@ac-normandie.fr", ["jean@example.org"])]
    assert received["From"] == SENDER
    assert received["To"] == "jean@example.org"
    assert received["Subject"] == "Message de test des Téléservices"
    text = received.get_body(("plain",))
    html = received.get_body(("html",))
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    sentence = "Ce message de test a été envoyé par les Téléservices (http://localhost) à travers le serveur de messagerie"
    assert sentence in text.get_content()
    assert "Ce message a été envoyé automatiquement, merci de ne pas y répondre." in text.get_content()
    assert sentence in html.get_content()
    assert '<html lang="fr">' in html.get_content()
    assert "<title>Message de test des Téléservices</title>" in html.get_content()
    wait_for_deliveries(app)
    (row,) = outbox(app)
    assert received["Message-ID"] == row.message_id
    assert (row.id, row.status, row.attempts) == (mail_id, MailStatus.SENT, 1)


def test_message_in_the_language_of_the_account(app, smtp_server):
    commit_test_message(app, language="en")
    (received,) = smtp_server.wait_for(1)
    assert received["Subject"] == "Téléservices test message"
    assert "This test message was sent by the Téléservices" in received.get_body(("plain",)).get_content()
    assert '<html lang="en">' in received.get_body(("html",)).get_content()


def test_message_of_a_transaction_that_rolls_back_is_never_sent(app, smtp_server):
    with app.app_context():
        send_test_message("annule@example.org")
        db.session.flush()  # the row reached the database, inside the transaction
        db.session.rollback()
        send_test_message("jean@example.org")
        db.session.commit()
    smtp_server.wait_for(1)
    wait_for_deliveries(app)
    assert flush_in(app) == {"sent": 0, "failed": 0, "waiting": 0}
    assert [recipients for _, recipients in smtp_server.envelopes] == [["jean@example.org"]]
    assert [row.recipient for row in outbox(app)] == ["jean@example.org"]


def test_message_of_a_request_that_fails_is_never_sent(app, client, smtp_server):
    def view():
        send_test_message("jean@example.org")
        db.session.flush()
        abort(400)

    app.add_url_rule("/mail-then-fail", view_func=view)
    assert client.get("/mail-then-fail").status_code == 400
    wait_for_deliveries(app)
    assert flush_in(app) == {"sent": 0, "failed": 0, "waiting": 0}
    assert outbox(app) == []
    assert smtp_server.messages == []


def test_page_does_not_wait_for_the_smtp_server(app, client, smtp_server):
    def view():
        send_test_message("jean@example.org")
        db.session.commit()
        return "ok"

    app.add_url_rule("/mail-demo", view_func=view)
    smtp_server.hold()  # the server answers nothing until released
    response = client.get("/mail-demo")
    assert response.status_code == 200
    assert smtp_server.messages == []
    smtp_server.release()
    assert len(smtp_server.wait_for(1)) == 1


def test_body_is_blanked_once_sent_and_the_trace_kept(queued_only, app, smtp_server):
    commit_test_message(app)
    (waiting,) = outbox(app)
    with app.app_context():
        assert "à travers le serveur de messagerie" in unseal(waiting.body_text, waiting.message_id, "text")
        assert "à travers le serveur de messagerie" in unseal(waiting.body_html, waiting.message_id, "html")
    assert flush_in(app) == {"sent": 1, "failed": 0, "waiting": 0}
    (sent,) = outbox(app)
    assert (sent.body_text, sent.body_html) == ("", "")
    assert (sent.recipient, sent.template, sent.attempts) == ("jean@example.org", "test", 1)
    assert sent.subject == "Message de test des Téléservices"
    assert sent.sent_at is not None and sent.created_at is not None


def test_message_waits_while_the_server_is_down_and_goes_out_once_when_it_is_back(app, smtp_server):
    smtp_server.stop()
    start = moment()
    with frozen(start) as traveller:
        commit_test_message(app)
        wait_for_deliveries(app)  # the attempt right after the commit failed
        (row,) = outbox(app)
        assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
        assert row.next_attempt_at == start + timedelta(minutes=1)
        assert row.last_error.startswith("ConnectionRefusedError")
        assert row.claimed_by is None and row.body_text  # lease released, body kept for the next attempt
        assert flush_in(app) == {"sent": 0, "failed": 0, "waiting": 1}  # not due yet

        traveller.shift(timedelta(minutes=1))
        assert flush_in(app) == {"sent": 0, "failed": 1, "waiting": 1}
        (row,) = outbox(app)
        assert (row.attempts, row.next_attempt_at) == (2, start + timedelta(minutes=6))

        smtp_server.start()
        traveller.shift(timedelta(minutes=5))
        assert flush_in(app) == {"sent": 1, "failed": 0, "waiting": 0}
        assert flush_in(app) == {"sent": 0, "failed": 0, "waiting": 0}
    assert len(smtp_server.wait_for(1)) == 1
    (row,) = outbox(app)
    assert (row.status, row.attempts, row.body_text) == (MailStatus.SENT, 3, "")


def test_retries_back_off_then_give_up_after_the_retry_days_audited(queued_only, app, smtp_server, audit_events):
    smtp_server.stop()
    with frozen() as traveller:
        commit_test_message(app)
        delays = []
        while True:
            assert flush_in(app)["failed"] == 1
            (row,) = outbox(app)
            if row.status != MailStatus.PENDING:
                break
            delays.append(row.next_attempt_at - clock.now())
            traveller.move_to(row.next_attempt_at.replace(tzinfo=UTC))
    minutes = [delay / timedelta(minutes=1) for delay in delays]
    assert minutes[:5] == [1, 5, 30, 120, 360]
    assert set(minutes[4:]) == {360}
    assert row.status == MailStatus.FAILED
    assert row.last_attempt_at - row.created_at >= timedelta(days=4)
    assert (row.body_text, row.body_html) == ("", "")
    (given_up,) = audit_events("mail_given_up")
    assert given_up.details == {"mail_id": row.id, "template": "test", "attempts": row.attempts, "error": "ConnectionRefusedError"}


def test_recipient_refused_by_the_server_is_given_up_at_once(queued_only, app, smtp_server, audit_events):
    smtp_server.refused = {"inconnu@example.org"}
    commit_test_message(app, "inconnu@example.org")
    commit_test_message(app, "jean@example.org")
    assert flush_in(app) == {"sent": 1, "failed": 1, "waiting": 0}
    refused, sent = outbox(app)
    assert (refused.status, refused.attempts, refused.body_text) == (MailStatus.FAILED, 1, "")
    assert refused.last_error == "SMTPRecipientsRefused 550: 5.1.1 No such user here"
    assert sent.status == MailStatus.SENT
    assert [event.details["error"] for event in audit_events("mail_given_up")] == ["SMTPRecipientsRefused 550"]


def test_two_senders_at_once_send_each_message_once_when_the_server_is_back(queued_only, app, smtp_server, make_app):
    senders = 2
    smtp_server.stop()
    with frozen() as traveller:
        for number in range(30):
            commit_test_message(app, f"parent{number}@example.org")
        # The run stops at the first failure: the server is down for every message alike.
        assert flush_in(app) == {"sent": 0, "failed": 1, "waiting": 30}
        smtp_server.start()
        traveller.shift(timedelta(minutes=1))
        apps = [make_app(queued_only) for _ in range(senders)]
        start = threading.Barrier(senders)
        results = [None] * senders

        def sender(index):
            with apps[index].app_context():
                start.wait()
                results[index] = flush()

        threads = [threading.Thread(target=sender, args=(index,)) for index in range(senders)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sum(result["sent"] for result in results) == 30
    assert all(result["failed"] == 0 for result in results)
    assert len(smtp_server.messages) == 30
    assert len({message["Message-ID"] for message in smtp_server.messages}) == 30
    assert sorted(recipients[0] for _, recipients in smtp_server.envelopes) == sorted(f"parent{n}@example.org" for n in range(30))


def test_message_of_a_sender_that_died_is_sent_when_its_lease_expires(queued_only, app, smtp_server):
    start = moment()
    with frozen(start) as traveller:
        commit_test_message(app)
        with app.app_context():
            assert OUTBOX.claim("node-that-dies", start) is not None  # then the process is killed
        assert flush_in(app) == {"sent": 0, "failed": 0, "waiting": 1}
        traveller.shift(LEASE + timedelta(seconds=1))
        assert flush_in(app) == {"sent": 1, "failed": 0, "waiting": 0}
    assert len(smtp_server.wait_for(1)) == 1


def test_traces_are_purged_after_the_keep_days(queued_only, app, smtp_server):
    with frozen() as traveller:
        commit_test_message(app)
        flush_in(app)
        traveller.shift(timedelta(days=7))
        commit_test_message(app, "marie@example.org")
        flush_in(app)
        assert [row.recipient for row in outbox(app)] == ["jean@example.org", "marie@example.org"]
        traveller.shift(timedelta(seconds=1))
        flush_in(app)
        assert [row.recipient for row in outbox(app)] == ["marie@example.org"]


def test_flush_command_prints_the_counts(queued_only, app, smtp_server, run):
    smtp_server.stop()
    commit_test_message(app)
    result = run("mail", "flush", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"sent": 0, "failed": 1, "waiting": 1}
    smtp_server.start()
    commit_test_message(app, "marie@example.org")
    result = run("mail", "flush")
    assert result.output.strip() == "Envoyés : 1, en échec : 0, en attente : 1."
    assert [message["To"] for message in smtp_server.messages] == ["marie@example.org"]


def test_test_command_sends_a_real_message(app, smtp_server, run):
    result = run("mail", "test", "--to", "exploitation@example.org")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Message de test envoyé à exploitation@example.org par 127.0.0.1:{smtp_server.port}."
    (received,) = smtp_server.messages
    assert received["To"] == "exploitation@example.org"
    assert f"serveur de messagerie 127.0.0.1:{smtp_server.port}" in received.get_body(("plain",)).get_content()


def test_test_command_says_when_the_server_is_down(after_commit, app, smtp_server, run):
    smtp_server.stop()
    result = run("mail", "test", "--to", "exploitation@example.org")
    assert result.exit_code == 1
    assert "n'a pas pris le message (ConnectionRefusedError" in result.output
    assert "idp mail flush" in result.output
    (row,) = outbox(app)
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)


def test_test_command_refuses_an_unknown_language(app, smtp_server, run):
    result = run("mail", "test", "--to", "exploitation@example.org", "--language", "de")
    assert result.exit_code == 1
    assert "Langue inconnue : de (langues : fr, en)." in result.output
    assert outbox(app) == []


@pytest.mark.parametrize("address", ["pas-une-adresse", "jean@example.org\nBcc: x@example.org", "a@example.org, b@example.org", ""])
def test_unusable_address_is_refused_and_nothing_queued(app, run, address):
    result = run("mail", "test", "--to", address)
    assert result.exit_code == 1
    assert "Adresse électronique invalide" in result.output
    with app.app_context():
        with pytest.raises(ValueError):
            send(address, "test", issuer="x", server="y")
        assert db.session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_smtp_login_works_and_neither_password_nor_address_is_logged(smtp_login, settings, app, make_app, smtp_server, run, caplog, capfd):
    caplog.set_level("DEBUG")
    debugging = make_app(settings | {"DEBUG": True, "LOG_LEVEL": "DEBUG"})
    mail_id = commit_test_message(debugging)
    smtp_server.wait_for(1)
    wait_for_deliveries(debugging)
    assert smtp_server.logins == ["idp"]
    ours = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("idp"))
    assert f"mail {mail_id} (test) sent" in ours
    assert "jean@example.org" not in ours
    assert "Sm7p-pass-w0rd" not in run("settings").output
    assert "IDP_MAIL_PASSWORD=***" in run("settings").output
    printed = capfd.readouterr()
    assert "Sm7p-pass-w0rd" not in printed.out + printed.err
    assert "AUTH" not in printed.err  # no SMTP conversation printed (it carries the password in base64)


def test_wrong_smtp_password_keeps_the_message_waiting(smtp_login, settings, make_app, app, smtp_server):
    settings["MAIL_PASSWORD"] = "a-wrong-one"
    app = make_app(settings)
    commit_test_message(app)
    wait_for_deliveries(app)
    (row,) = outbox(app)
    assert (row.status, row.attempts) == (MailStatus.PENDING, 1)
    assert row.last_error.startswith("SMTPAuthenticationError 535")
    assert smtp_server.messages == []


def test_starttls_and_ssl_together_are_refused(settings):
    from idp import create_app

    settings.update(MAIL_USE_TLS=True, MAIL_USE_SSL=True)
    with pytest.raises(ValueError, match="exclude each other"):
        create_app(settings)


def test_worker_sends_then_stops_cleanly_on_sigterm(queued_only, app, smtp_server, database_url, keys_dir):
    commit_test_message(app)
    environment = os.environ | {
        "IDP_DATABASE_URL": database_url,
        "IDP_KEYS_DIR": keys_dir,
        "IDP_SECRET_KEY": "test-secret-key",
        "IDP_MAIL_SERVER": "127.0.0.1",
        "IDP_MAIL_PORT": str(smtp_server.port),
    }
    idp = Path(sys.executable).with_name("idp")
    with subprocess.Popen([idp, "mail", "worker", "--interval", "60"], env=environment, stderr=subprocess.PIPE, text=True) as worker:
        try:
            assert len(smtp_server.wait_for(1, timeout=30)) == 1
            worker.send_signal(signal.SIGTERM)
            _, errors = worker.communicate(timeout=20)
        finally:
            worker.kill()
    assert worker.returncode == 0
    assert "mail worker stopped" in errors
    assert "Traceback" not in errors
    (row,) = outbox(app)
    assert row.status == MailStatus.SENT
