"""Screenshots of every page a family and a school's staff see, at desktop width and at a
phone's (375 px), for a reviewer to look at them all.

    .venv/bin/python examples/screenshots.py            # into docs/screenshots/, README's list updated
    .venv/bin/python examples/screenshots.py --out /tmp/shots --no-readme

Builds a provider on a temporary SQLite database with a school, a class issued, a family
already active, an establishment's secretary and an académie administrator (both enrolled,
their second factor computed here), serves it on a free port of 127.0.0.1 with a mail
catcher beside it, and walks the pages in the system Chromium (Playwright, never a
downloaded browser): the guide's path from the letter to the activation, « gérer son
compte », the recovery pages, the static and error pages, then the back office.
"""

import argparse
import re
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pyotp
from aiosmtpd.controller import Controller
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from idp import create_app  # noqa: E402
from idp.clock import now  # noqa: E402
from idp.extensions import db  # noqa: E402
from idp.models import Account, AccountState  # noqa: E402
from idp.overload import gate  # noqa: E402
from idp.relying_parties.registration import register_client  # noqa: E402
from idp.schools.demo_accounts import create_active_account  # noqa: E402
from idp.schools.establishments import add_establishment, find_establishment  # noqa: E402
from idp.schools.imports import import_files  # noqa: E402
from idp.schools.issuing import issue_accounts  # noqa: E402
from idp.staff_accounts.members import create_staff, set_password  # noqa: E402
from idp.staff_accounts.recovery_codes import new_recovery_codes  # noqa: E402
from idp.staff_accounts.totp import encrypt_secret, new_secret  # noqa: E402

WIDTHS = {"desktop": 1280, "phone": 375}
UAI = "0140001A"
PASSWORD = "Soleil-rouge-x7"
STAFF_PASSWORD = "Bureau-de-vie-2024"
CLASS = (
    "id_eleve;nom;prenom;date_naissance;classe;nom_responsable;prenom_responsable;email_responsable;rang_responsable\n"
    "E001;Diallo;Aïssatou;14/03/2013;6A;Diallo;Mariam;mariam.diallo@example.org;1\n"
    "E002;Martin;Hugo;02/09/2012;6A;Martin;Paul;;1\n"
)
LINK = re.compile(r"http://127\.0\.0\.1:\d+(/[\w/-]*/[A-Za-z0-9_-]{20,})")
README_START, README_END = "<!-- screenshots: start -->", "<!-- screenshots: end -->"


class Mailbox:
    """The emails the provider sends, as text."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(envelope.content.decode("utf-8", "replace").replace("=\r\n", "").replace("=3D", "="))
        return "250 OK"

    def last_link(self, path_start):
        for message in reversed(self.messages):
            for path in LINK.findall(message):
                if path.startswith(path_start):
                    return path
        raise LookupError(f"no email with a link under {path_start}")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def seed(app):
    """The people of the walk: {"secret": the letter's secret of mariam.diallo1, "staff": (email, totp), "admin": (email, totp)}."""
    with app.app_context():
        db.create_all()
        add_establishment(UAI, "Collège Jean Moulin")
        add_establishment("0610002B", "Lycée Marie Curie")
        child = {"given_name": "Alice", "family_name": "Dupont", "birthdate": "2012-05-04"}
        create_active_account("parent", "Jean", "Dupont", PASSWORD, UAI, email="jean@example.org", child=child)
        blocked = create_active_account("parent", "Luc", "Bloqué", PASSWORD, UAI, email="luc@example.org", child=child)
        blocked.state, blocked.blocked_reason = AccountState.BLOCKED, "birth_date"
        import_files(find_establishment(UAI), [("eleves.csv", CLASS.encode())])
        issued = issue_accounts(find_establishment(UAI), "6A")
        secret = next(item.secret for item in issued if item.account.identifier.startswith("mariam"))
        people = {"secret": secret}
        for key, email, role, uais in (
            ("staff", "secretariat@college.example", "etablissement", [UAI]),
            ("admin", "admin@ac-normandie.example", "academie", []),
        ):
            member, _ = create_staff(email, "Claire", "Petit", role, uais)
            db.session.flush()
            set_password(member, STAFF_PASSWORD)
            totp = new_secret()
            member.totp_secret_encrypted = encrypt_secret(totp, member.id)
            member.enrolled_at = now()
            new_recovery_codes(member)
            people[key] = (email, totp)
        register_client("ENT L'Educ de Normandie", "ent", ["https://ent.example/callback"], trusted=True)
        canteen, _secret = register_client(
            "Cantine en ligne",
            "teleservice",
            ["https://cantine.example/callback"],
            scopes=["openid", "profile", "email"],
            contact="cantine@college.example",
            backchannel_logout_uri="https://cantine.example/deconnexion",
        )
        db.session.commit()
        people["account_id"] = db.session.scalar(db.select(Account.id).where(Account.identifier == "jean.dupont1"))
        people["canteen"] = canteen.client_id
        return people


class Walk:
    """One browser context per width; `shot(name)` saves the page as it stands."""

    def __init__(self, browser, base, out, width_name):
        self.context = browser.new_context(viewport={"width": WIDTHS[width_name], "height": 900}, locale="fr-FR")
        self.page = self.context.new_page()
        self.base, self.out, self.width = base, out / width_name, width_name
        self.out.mkdir(parents=True, exist_ok=True)
        self.names = []

    def go(self, path):
        self.page.goto(self.base + path)

    def shot(self, name):
        self.page.screenshot(path=str(self.out / f"{name}.png"), full_page=True)
        self.names.append(name)

    def submit(self, **fields):
        for name, value in fields.items():
            self.page.fill(f"#{name}", value)
        self.page.locator("form [type=submit]").last.click()
        self.page.wait_for_load_state()

    def new_browser(self):
        """Forget cookies: another person, or the same one in a new browser."""
        self.context.clear_cookies()


def parents(walk, people, mailbox):
    walk.go("/")
    walk.shot("01-accueil")
    walk.go("/connexion")
    walk.shot("02-connexion")
    walk.submit(identifier="jean.dupont1", password="pas-le-bon-1")
    walk.shot("03-connexion-erreur")
    walk.submit(identifier="mariam.diallo1", password=people["secret"])
    walk.shot("04-premiere-connexion")
    walk.submit(password="court", password_confirmation="court", email="x", email_confirmation="y", birth_date="")
    walk.shot("05-premiere-connexion-erreurs")
    walk.submit(
        password=PASSWORD,
        password_confirmation=PASSWORD,
        email="mariam.diallo@example.org",
        email_confirmation="mariam.diallo@example.org",
        birth_date="14/03/2013",
    )
    walk.shot("06-activation-en-attente")
    walk.new_browser()  # the guide: close the browser, open the email's link
    walk.go(mailbox_wait(mailbox, "/activation/"))
    walk.shot("07-activation")
    walk.page.locator("form [type=submit]").click()
    walk.shot("08-compte-active")

    walk.go("/connexion")
    walk.submit(identifier="jean.dupont1", password=PASSWORD)
    walk.go("/compte/")
    walk.shot("09-gerer-son-compte")
    walk.go("/compte/mot-de-passe")
    walk.shot("10-changer-de-mot-de-passe")
    walk.go("/compte/adresse-mail")
    walk.shot("11-changer-d-adresse-mail")
    walk.go("/")
    walk.page.locator("form[action$='/deconnexion'] [type=submit]").first.click()
    walk.page.wait_for_load_state()
    walk.shot("12-deconnecte")

    walk.new_browser()
    walk.go("/mot-de-passe-oublie")
    walk.shot("13-mot-de-passe-oublie")
    walk.submit(identifier="jean.dupont1")
    walk.shot("14-mot-de-passe-oublie-envoye")
    walk.go(mailbox_wait(mailbox, "/mot-de-passe-oublie/"))
    walk.shot("15-nouveau-mot-de-passe")
    walk.go("/identifiant-oublie")
    walk.shot("16-identifiant-oublie")
    walk.go("/connexion")
    walk.submit(identifier="luc.bloque1", password=PASSWORD)
    walk.shot("17-compte-bloque")
    for path, name in (("/accessibilite", "18-accessibilite"), ("/mentions-legales", "19-mentions-legales"), ("/contact", "20-contact")):
        walk.go(path)
        walk.shot(name)
    walk.go("/page-inconnue")
    walk.shot("21-page-introuvable")
    walk.go("/langue/en?next=/connexion")
    walk.go("/connexion")
    walk.shot("22-login-in-english")
    walk.go("/langue/fr?next=/")

    # A téléservice not trusted asks once what it may see.
    walk.go("/connexion")
    walk.submit(identifier="jean.dupont1", password=PASSWORD)
    query = "response_type=code&scope=openid+profile+email&state=s1&nonce=n1&redirect_uri=https://cantine.example/callback"
    walk.go(f"/authorize?client_id={people['canteen']}&{query}")
    walk.shot("23-consentement")
    with gate(people["app"]).all_taken():  # the rentrée morning: every login slot of the worker taken
        walk.new_browser()
        walk.go("/connexion")
        walk.shot("24-trop-de-connexions")


def mailbox_wait(mailbox, path_start, tries=50):
    """The link of the newest email under `path_start`, once it has come (sent in the background)."""
    for _ in range(tries):
        try:
            return mailbox.last_link(path_start)
        except LookupError:
            time.sleep(0.1)
    return mailbox.last_link(path_start)


def back_office(walk, people):
    walk.new_browser()
    email, totp = people["staff"]
    walk.go("/gestion/connexion")
    walk.shot("30-gestion-connexion")
    walk.submit(email=email, password=STAFF_PASSWORD)
    walk.shot("31-gestion-code")
    walk.submit(code=pyotp.TOTP(totp).now())
    walk.shot("32-gestion-accueil")
    for path, name in (
        (f"/gestion/etablissements/{UAI}/", "33-gestion-tableau-de-bord"),
        (f"/gestion/etablissements/{UAI}/import", "34-gestion-import"),
        (f"/gestion/etablissements/{UAI}/edition", "35-gestion-edition"),
        (f"/gestion/etablissements/{UAI}/comptes/{people['account_id']}", "36-gestion-compte"),
    ):
        walk.go(path)
        walk.shot(name)

    walk.new_browser()
    email, totp = people["admin"]
    walk.go("/gestion/connexion")
    walk.submit(email=email, password=STAFF_PASSWORD)
    walk.submit(code=pyotp.TOTP(totp).now())
    for path, name in (
        ("/gestion/academie/etablissements", "37-academie-etablissements"),
        ("/gestion/academie/personnels", "38-academie-personnels"),
        ("/gestion/academie/services", "39-academie-services"),
        (f"/gestion/academie/services/{people['canteen']}", "40-academie-service"),
        ("/gestion/academie/services/nouveau", "41-academie-nouveau-service"),
        ("/gestion/academie/saml", "42-academie-saml"),
    ):
        walk.go(path)
        walk.shot(name)


@contextmanager
def serving():
    """A provider on a temporary SQLite database and a free port, its mail caught: (app, base URL, mailbox)."""
    mailbox = Mailbox()
    mail_port = free_port()
    catcher = Controller(mailbox, hostname="127.0.0.1", port=mail_port)
    catcher.start()
    server = make_server("127.0.0.1", 0, None, threaded=True)
    base = f"http://127.0.0.1:{server.port}"
    with tempfile.TemporaryDirectory() as folder:
        settings = {
            "DATABASE_URL": f"sqlite:///{folder}/screens.db",
            "KEYS_DIR": f"{folder}/keys",
            "SECRET_KEY": "screenshots-" * 4,
            "ISSUER": base,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": mail_port,
            "MAIL_USE_TLS": False,
            "ENT_URL": "http://127.0.0.1:8765/",
        }
        server.app = app = create_app(settings, command_line=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield app, base, mailbox
        finally:
            server.shutdown()
            server.server_close()
            catcher.stop()


def update_readme(out, walks):
    try:
        shown = out.resolve().relative_to(ROOT)
    except ValueError:
        return
    lines = [README_START, "", "| page | desktop (1280 px) | phone (375 px) |", "|---|---|---|"]
    for name in walks[0].names:
        cells = [f"[{width}]({shown}/{width}/{name}.png)" for width in WIDTHS]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", README_END]
    readme = ROOT / "README.md"
    text = readme.read_text()
    block = re.compile(re.escape(README_START) + ".*?" + re.escape(README_END), re.S)
    if block.search(text):
        readme.write_text(block.sub(lambda _: "\n".join(lines), text))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--no-readme", action="store_true", help="leave README's list alone")
    options = parser.parse_args()

    walks = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium")
        for width_name in WIDTHS:  # a provider of its own for each width: the walk changes its people
            with serving() as (app, base, mailbox):
                people = seed(app) | {"app": app}
                walk = Walk(browser, base, options.out, width_name)
                parents(walk, people, mailbox)
                back_office(walk, people)
                walks.append(walk)
        browser.close()
    if not options.no_readme:
        update_readme(options.out, walks)
    print(f"{len(walks[0].names)} pages × {len(WIDTHS)} widths in {options.out}")


if __name__ == "__main__":
    main()
