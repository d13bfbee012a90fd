"""The demo of examples/: its seed (staff login, the class whose letters it prints), its
mail server and the ENT's page "Boîte mail de démonstration"."""

import io
import smtplib
from email.message import EmailMessage

from pypdf import PdfReader

from idp.extensions import db
from idp.models import Account, AccountState
from idp.staff_accounts.members import find_by_enrolment_token, find_staff

from .conftest import _free_port
from .demo_helpers import load_example
from .test_browser_demo import load_ent_module

seed_demo = load_example("seed_demo")
smtp_catcher = load_example("smtp_catcher")


def seed(app, folder):
    """One run of the demo's seed (without the ENT): (staff email, link, letters path, issued now)."""
    with app.app_context():
        seed_demo.seed_people()
        email, link = seed_demo.seed_staff()
        path, pdf, issued = seed_demo.seed_class(folder)
        db.session.commit()
        if pdf is not None:
            path.write_bytes(pdf)
        return email, link, path, issued


def test_demo_seed_issues_the_class_once_and_prints_its_letters(app, tmp_path):
    _email, _link, letters, issued = seed(app, tmp_path)

    # 3 pupils and their 4 legal guardians; the letters in the folder, one page each.
    assert issued == 7
    assert letters == tmp_path / "demo-lettres.pdf"
    pages = [page.extract_text() for page in PdfReader(io.BytesIO(letters.read_bytes())).pages]
    assert len(pages) == 7
    assert any("Identifiant : sophie.leroy1" in text and "Emma Leroy" in text for text in pages)
    with app.app_context():
        issued_accounts = db.session.scalars(db.select(Account).where(Account.state == AccountState.ISSUED)).all()
        assert sorted(account.identifier for account in issued_accounts) == [
            "emma.leroy1",
            "hugo.bernard1",
            "karim.moreau1",
            "lea.moreau1",
            "marc.leroy1",
            "nathalie.bernard1",
            "sophie.leroy1",
        ]

    # Later runs issue nothing again and point at the earlier letters.
    again = seed(app, tmp_path)
    assert again[2:] == (letters, 0)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["demo-lettres.pdf"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Account.id)).where(Account.state == AccountState.ISSUED)) == 7


def test_demo_seed_gives_a_new_enrolment_link_until_the_staff_member_enrolled(app, tmp_path):
    email, first_link, _letters, _issued = seed(app, tmp_path)
    assert email == "secretariat.0140001a@example.org"
    assert first_link.startswith("http://localhost/gestion/inscription/")

    _email, second_link, _letters, _issued = seed(app, tmp_path)
    with app.app_context():
        assert second_link != first_link
        assert find_by_enrolment_token(first_link.rpartition("/")[2]) is None
        staff = find_by_enrolment_token(second_link.rpartition("/")[2])
        assert staff.email == email
        staff.enrolled_at = staff.created_at  # as the enrolment at /gestion does
        db.session.commit()

    assert seed(app, tmp_path)[:2] == (email, None)
    with app.app_context():
        assert find_staff(email).enrolled_at is not None


def ent_with_mailbox(folder):
    return load_ent_module().create_app(
        {"CLIENT_ID": "ent", "CLIENT_SECRET": "secret", "SECRET_KEY": "ent-test-key", "MAILBOX_DIR": str(folder or "")}
    )


def mail(subject, to, text):
    message = EmailMessage()
    message["From"] = "Téléservices <ne-pas-repondre@ac-normandie.fr>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content(text)
    message.add_alternative(f"<p>{text}</p>", subtype="html")
    return message


def test_demo_mailbox_lists_what_its_smtp_server_received_newest_first(tmp_path):
    port = _free_port()
    catcher = smtp_catcher.start(tmp_path / "mail", port=port)
    try:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(mail("Premier", "sophie@example.org", "Bonjour."))
            smtp.send_message(
                mail("Activez votre compte Téléservices", "karim@example.org", "Ouvrez http://127.0.0.1:5000/activation/abc<d> puis.")
            )
    finally:
        catcher.stop()

    page = ent_with_mailbox(tmp_path / "mail").test_client().get("/boite-mail")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<h1>Boîte mail de démonstration</h1>" in html
    assert html.index("Activez votre compte Téléservices") < html.index("Premier")
    assert "<dd>karim@example.org</dd>" in html
    # The text body, escaped, its address a link (without the sentence's punctuation).
    assert 'Ouvrez <a href="http://127.0.0.1:5000/activation/abc">http://127.0.0.1:5000/activation/abc</a>&lt;d&gt; puis.' in html
    assert "<p>Bonjour.</p>" not in html


def test_demo_ent_links_its_mailbox_only_when_it_has_one(tmp_path):
    with_mailbox = ent_with_mailbox(tmp_path).test_client()
    assert 'href="/boite-mail"' in with_mailbox.get("/").get_data(as_text=True)
    assert "Aucun courrier reçu pour le moment." in with_mailbox.get("/boite-mail").get_data(as_text=True)

    without = ent_with_mailbox(None).test_client()
    assert "/boite-mail" not in without.get("/").get_data(as_text=True)
    assert without.get("/boite-mail").status_code == 404
