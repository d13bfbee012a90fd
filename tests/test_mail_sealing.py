"""The bodies of the emails waiting in the outbox are encrypted (idp/mail/sealing.py): the
table never holds the link nor the temporary password while the SMTP server is down; the
email the server receives does. Key rotation, rows queued in clear before, and the
migration that sealed them."""

import re
from datetime import timedelta

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from idp import MIGRATIONS, clock
from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.mail import flush, send_test_message, wait_for_deliveries
from idp.mail.sealing import PREFIX, UnreadableBody, seal, unseal
from idp.models import MailStatus, OutboxMessage

from .oidc_helpers import csrf_token
from .travel import frozen, moment

LINK = re.compile(r"http://localhost/mot-de-passe-oublie/([A-Za-z0-9_-]+)")
TEMPORARY = re.compile(r"^Mot de passe temporaire : (\S+)$", re.MULTILINE)


def stored_rows(app):
    with app.app_context():
        return [tuple(row) for row in db.session.execute(text("SELECT * FROM outbox_message ORDER BY id"))]


def flush_in(app):
    with app.app_context():
        return flush()


def queue_test_message(app, to="jean@example.org"):
    with app.app_context():
        message = send_test_message(to)
        db.session.commit()
        return message.id


def test_a_reset_email_waiting_through_an_outage_keeps_no_secret_in_clear(app, client, parent, smtp_server):
    smtp_server.stop()
    start = moment()
    with frozen(start) as traveller:
        page = client.get("/mot-de-passe-oublie")
        client.post("/mot-de-passe-oublie", data={"identifier": "jean.dupont1", "csrf_token": csrf_token(page.text)})
        wait_for_jobs(app)  # the decision, after the answer
        wait_for_deliveries(app)
        waiting = stored_rows(app)  # every column, as a dump would show them
        assert len(waiting) == 1 and "password_reset" in waiting[0]
        smtp_server.start()
        traveller.shift(timedelta(minutes=1))
        assert flush_in(app)["sent"] == 1
    (received,) = smtp_server.wait_for(1)
    body = received.get_body(("plain",)).get_content().replace("\r\n", "\n")
    token, temporary = LINK.search(body).group(1), TEMPORARY.search(body).group(1)
    assert token in received.get_body(("html",)).get_content()
    dumped = " ".join(str(value) for value in waiting[0])
    for secret in (token, temporary, temporary.replace("-", "")):
        assert secret not in dumped
    assert "Mot de passe temporaire" not in dumped
    with app.app_context():
        message = db.session.scalar(select(OutboxMessage))
        assert message.status == MailStatus.SENT
    assert any(str(value).startswith(PREFIX) for value in waiting[0])
    assert "Mot de passe oublié : votre lien et votre mot de passe temporaire" in waiting[0]  # the subject stays clear


def test_a_sealed_body_opens_only_for_its_message_and_part(app):
    with app.app_context():
        sealed = seal("Bonjour, votre lien", "<one@example.org>", "text")
        assert sealed.startswith(PREFIX) and "Bonjour" not in sealed
        assert unseal(sealed, "<one@example.org>", "text") == "Bonjour, votre lien"
        for message_id, part in (("<two@example.org>", "text"), ("<one@example.org>", "html")):
            with pytest.raises(UnreadableBody):
                unseal(sealed, message_id, part)
        with pytest.raises(UnreadableBody):
            unseal(PREFIX + "not base64!", "<one@example.org>", "text")
        # Rows queued in clear before, and blanked ones, read as they are.
        assert unseal("Bonjour", "<one@example.org>", "text") == "Bonjour"
        assert unseal("", "<one@example.org>", "text") == ""


def test_rotation_the_previous_key_still_opens_what_was_queued_before(settings, make_app, smtp_server):
    settings.update(MAIL_SEND_AFTER_COMMIT=False, MAIL_OUTBOX_KEY="first-outbox-key")
    before = make_app(settings)
    queue_test_message(before, "avant@example.org")
    rotated = make_app(settings | {"MAIL_OUTBOX_KEY": "second-outbox-key", "MAIL_OUTBOX_PREVIOUS_KEYS": ["first-outbox-key"]})
    queue_test_message(rotated, "apres@example.org")
    assert flush_in(rotated) == {"sent": 2, "failed": 0, "waiting": 0}
    assert sorted(message["To"] for message in smtp_server.wait_for(2)) == ["apres@example.org", "avant@example.org"]
    assert "à travers le serveur de messagerie" in smtp_server.messages[0].get_body(("plain",)).get_content()


def test_a_body_no_key_opens_waits_for_its_key_and_the_others_go_out(settings, make_app, smtp_server):
    settings.update(MAIL_SEND_AFTER_COMMIT=False, MAIL_OUTBOX_KEY="forgotten-outbox-key")
    start = moment()
    with frozen(start) as traveller:
        forgotten = queue_test_message(make_app(settings), "oublie@example.org")
        other = make_app(settings | {"MAIL_OUTBOX_KEY": "new-outbox-key"})
        queue_test_message(other, "jean@example.org")
        assert flush_in(other) == {"sent": 1, "failed": 1, "waiting": 1}
        assert [message["To"] for message in smtp_server.wait_for(1)] == ["jean@example.org"]
        with other.app_context():
            row = db.session.get(OutboxMessage, forgotten)
            assert (row.status, row.attempts, row.next_attempt_at) == (MailStatus.PENDING, 1, start + timedelta(minutes=1))
            assert row.last_error == "UnreadableBody: no key of MAIL_OUTBOX_KEY or MAIL_OUTBOX_PREVIOUS_KEYS opens the body"
        # The rotation is put right: the forgotten key is named as a previous one.
        fixed = make_app(settings | {"MAIL_OUTBOX_KEY": "new-outbox-key", "MAIL_OUTBOX_PREVIOUS_KEYS": ["forgotten-outbox-key"]})
        traveller.shift(timedelta(minutes=1))
        assert flush_in(fixed) == {"sent": 1, "failed": 0, "waiting": 0}
    assert [message["To"] for message in smtp_server.wait_for(2)] == ["jean@example.org", "oublie@example.org"]


def test_the_hash_key_is_the_default_key_material(settings, make_app, smtp_server):
    settings.update(MAIL_SEND_AFTER_COMMIT=False, HASH_KEY="the-hash-key")
    queue_test_message(make_app(settings))
    # Setting MAIL_OUTBOX_KEY later: the hash key, named as a previous key, still opens it.
    later = make_app(settings | {"MAIL_OUTBOX_KEY": "a-dedicated-key", "MAIL_OUTBOX_PREVIOUS_KEYS": ["the-hash-key"]})
    assert flush_in(later)["sent"] == 1


def test_a_row_queued_in_clear_before_encryption_is_still_sent(settings, app, smtp_server):
    with app.app_context():
        message = send_test_message("jean@example.org")
        message.body_text, message.body_html = "Bonjour en clair\n", "<p>Bonjour en clair</p>"
        db.session.commit()
    wait_for_deliveries(app)
    (received,) = smtp_server.wait_for(1)
    assert received.get_body(("plain",)).get_content().strip() == "Bonjour en clair"


def test_idp_settings_masks_the_outbox_keys(make_app, settings):
    other = make_app(settings | {"MAIL_OUTBOX_KEY": "outbox-key-one", "MAIL_OUTBOX_PREVIOUS_KEYS": ["outbox-key-zero"]}, command_line=True)
    output = other.test_cli_runner().invoke(args=["settings"]).output
    assert "outbox-key" not in output
    assert "IDP_MAIL_OUTBOX_KEY=***" in output.splitlines()
    assert "IDP_MAIL_OUTBOX_PREVIOUS_KEYS=***" in output.splitlines()


def test_the_migration_seals_the_bodies_queued_in_clear_and_its_downgrade_opens_them(settings, make_app, tmp_path, smtp_server):
    database = f"sqlite:///{tmp_path / 'before.sqlite3'}"
    before = make_app(settings | {"DATABASE_URL": database, "MAIL_SEND_AFTER_COMMIT": False}, command_line=True)
    with before.app_context():
        upgrade(directory=str(MIGRATIONS), revision="0005")
        now = clock.now()
        for number, status in ((1, "pending"), (2, "sent")):
            db.session.execute(
                text(
                    "INSERT INTO outbox_message (id, message_id, recipient, sender, template, language, subject, body_text, "
                    "body_html, status, attempts, created_at, next_attempt_at) VALUES (:id, :mid, 'jean@example.org', "
                    "'ne-pas-repondre@ac-normandie.fr', 'test', 'fr', 'Sujet', :text, :html, :status, 0, :now, :now)"
                ),
                {
                    "id": number,
                    "mid": f"<m{number}@x>",
                    "text": "Lien secret",
                    "html": "<p>Lien secret</p>" if number == 1 else "",
                    "status": status,
                    "now": now,
                },
            )
        db.session.commit()
        upgrade(directory=str(MIGRATIONS))
        (text_1, html_1), (text_2, html_2) = db.session.execute(text("SELECT body_text, body_html FROM outbox_message ORDER BY id")).all()
        assert text_1.startswith(PREFIX) and html_1.startswith(PREFIX) and "secret" not in text_1 + html_1
        assert (text_2, html_2) == ("Lien secret", "")  # not pending: left alone (a sent row's bodies are blank)
        assert unseal(text_1, "<m1@x>", "text") == "Lien secret"
        downgrade(directory=str(MIGRATIONS), revision="0005")
        assert db.session.execute(text("SELECT body_text, body_html FROM outbox_message WHERE id = 1")).one() == (
            "Lien secret",
            "<p>Lien secret</p>",
        )
        upgrade(directory=str(MIGRATIONS))
        assert flush()["sent"] == 1
        db.engine.dispose()
    (received,) = smtp_server.wait_for(1)
    assert received.get_body(("plain",)).get_content().strip() == "Lien secret"
