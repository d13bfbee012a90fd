"""After activation in a new browser (the guide says to close it and come back), the page
offers the ENT's address from the ENT_URL setting; the demo sets it to the demo ENT, so that
no link of the demo leads to the real site."""

import os
import re
import subprocess
from pathlib import Path

import pytest

from idp import config as idp_config
from idp.extensions import db

from .demo_helpers import load_example
from .fc_helpers import first_connection_done, issue_family, link_of
from .issuing_helpers import pdf_pages
from .oidc_helpers import csrf_token
from .travel import frozen, moment

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.sh"
DEMO_ENT = "http://127.0.0.1:8765/"
REAL_ENT = "l-educdenormandie.fr"


@pytest.fixture
def settings(settings):
    return settings | {"ENT_URL": DEMO_ENT}


@pytest.fixture
def family(app, establishment):
    with frozen(moment()):
        yield issue_family(app)


def test_after_activation_in_a_new_browser_the_page_offers_the_configured_ent(app, family, smtp_server):
    first_connection_done(app, app.test_client(), "jean.dupont1", family["parent"].secret)
    link = link_of(smtp_server.wait_for(1)[0])
    # The guide: close the browser, open the email, and come back in a new one.
    browser = app.test_client()
    page = browser.get(link)
    done = browser.post(link, data={"csrf_token": csrf_token(page.text), "submit": "Activer mon compte"})
    assert done.status_code == 200
    assert "Votre compte jean.dupont1 est activé." in done.text
    assert re.search(rf'<a [^>]*href="{re.escape(DEMO_ENT)}"[^>]*>Aller sur L&#39;Educ de Normandie</a>', done.text), done.text
    assert REAL_ENT not in done.text
    assert "Continuer" not in done.text  # nothing of the first browser's session here


def test_the_demo_letters_send_families_to_the_configured_ent(app, tmp_path):
    seed_demo = load_example("seed_demo")
    with app.app_context():
        seed_demo.seed_people()
        _path, pdf, _issued = seed_demo.seed_class(tmp_path)
        db.session.commit()
    for text in pdf_pages(pdf):
        assert f"L'Educ de Normandie ({DEMO_ENT})" in " ".join(text.split())
        assert REAL_ENT not in text


def _demo_environment():
    """The variables examples/demo.sh exports before it starts anything (its `export` lines,
    run by bash), as the provider and the seed receive them."""
    script = DEMO.read_text()
    exports = "\n".join(line for line in script.splitlines() if line.startswith("export "))
    # Only what the script sets, not this test's own environment.
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PWD": str(DEMO.parent.parent)}
    output = subprocess.run(["bash", "-c", f"set -eu\n{exports}\nenv -0"], env=clean, capture_output=True, check=True).stdout
    return dict(item.split("=", 1) for item in output.decode().split("\0") if "=" in item)


def test_the_demo_points_the_ent_address_to_the_demo_ent():
    environment = _demo_environment()
    assert environment["IDP_ENT_URL"] == environment["ENT_BASE_URL"] + "/"
    # The provider reads it as its ENT_URL setting.
    saved = dict(os.environ)
    try:
        os.environ.update({name: value for name, value in environment.items() if name.startswith("IDP_")})
        loaded = idp_config.load({"SECRET_KEY": "x"})
    finally:
        os.environ.clear()
        os.environ.update(saved)
    assert loaded["ENT_URL"] == "http://127.0.0.1:8765/"
    # Set before the seed prints the letters and before the provider starts.
    script = DEMO.read_text()
    assert script.index("IDP_ENT_URL=") < script.index("seed_demo.py") < script.index("gunicorn")
