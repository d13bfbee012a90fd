"""The pages around the protocol: the login page names the service the person is going to,
« gérer son compte » reads as a person would, error pages are French through and through,
the footer's pages exist, and the design system's files are served from /static."""

import html
import re
from pathlib import Path

import pytest

from idp.self_service.devices import describe_device

from .conftest import PASSWORD
from .oidc_helpers import csrf_token

STATIC = Path(__file__).resolve().parent.parent / "idp" / "static"
FIREFOX_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def text_of(response):
    return html.unescape(response.text)


def main_of(response):
    """The page's own content, without the header's links (which carry the request's address)."""
    return text_of(response).split("<main", 1)[1].split("</main>", 1)[0]


def test_login_page_names_the_service_the_person_is_going_to(ent):
    page, _ = ent.authorize()
    assert "Connectez-vous pour accéder à L'Educ de Normandie." in text_of(page)


def test_login_page_names_the_service_of_a_request_without_redirect_uri(client, ent):
    # A client with one registered redirect URI may leave it out of the request.
    page = client.get("/connexion", query_string={"next": f"/authorize?client_id={ent.client_id}&response_type=code"})
    assert "Connectez-vous pour accéder à L'Educ de Normandie." in text_of(page)


def test_login_page_names_no_service_for_a_foreign_redirect_uri_or_a_direct_visit(client, ent):
    assert "pour accéder à" not in text_of(client.get("/connexion"))
    forged = f"/authorize?client_id={ent.client_id}&redirect_uri=https://evil.example.org/cb"
    assert "pour accéder à" not in text_of(client.get("/connexion", query_string={"next": forged}))


def test_account_page_is_titled_like_the_link_that_leads_to_it(ent, parent):
    ent.full_login("jean.dupont1", PASSWORD)
    page = ent.client.get("/compte/").text
    assert "<h1>Gérer son compte</h1>" in page
    assert "<title>Gérer son compte –" in page


def test_open_sessions_name_the_browser_and_the_device(app, parent):
    for user_agent in (FIREFOX_WINDOWS, SAFARI_IPHONE):
        browser = app.test_client()
        browser.environ_base["HTTP_USER_AGENT"] = user_agent
        form = browser.get("/connexion")
        browser.post("/connexion", data={"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(form.text)})
    page = browser.get("/compte/").text
    assert "<strong>Firefox sur Windows</strong>" in page
    assert "<strong>Safari sur iPhone</strong>" in page
    assert "Mozilla/5.0" not in page and "Gecko" not in page


@pytest.mark.parametrize(
    ("user_agent", "words"),
    [
        (FIREFOX_WINDOWS, "Firefox sur Windows"),
        (SAFARI_IPHONE, "Safari sur iPhone"),
        (
            "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0 Mobile/15E148 Safari/604.1",
            "Chrome sur iPad",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
            "Chrome sur Android",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0",
            "Edge sur Windows",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
            "Safari sur macOS",
        ),
        (
            "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36",
            "Chrome sur ChromeOS",
        ),
        ("curl/8.5.0", "curl"),
        ("", "Navigateur inconnu"),
        ("n'importe quoi", "Navigateur inconnu"),
    ],
)
def test_a_user_agent_reads_as_browser_and_device(app, user_agent, words):
    with app.test_request_context():
        assert describe_device(user_agent) == words


def test_device_names_follow_the_page_language(app):
    with app.test_request_context("/?ui_locales=en"):
        assert describe_device(FIREFOX_WINDOWS) == "Firefox on Windows"


def test_unknown_service_gets_a_french_page_that_says_why(ent):
    response, _ = ent.authorize(client_id="nobody")
    assert response.status_code == 400
    page = main_of(response)
    assert "Ce service n'est pas enregistré auprès des Téléservices, ou ne l'est plus." in page
    assert "invalid_client" in page
    assert "Invalid client" not in page and "client_id" not in page


def test_foreign_redirect_uri_gets_a_french_page_without_authlib_english(ent):
    response, _ = ent.authorize(redirect_uri="https://evil.example.org/cb")
    assert response.status_code == 400
    page = main_of(response)
    assert "l'adresse de retour qu'elle donne n'est pas celle que ce service a enregistrée" in page
    for english in ("Redirect URI", "is not supported", "redirect_uri", "evil.example.org"):
        assert english not in page, english


def test_error_pages_are_french_with_their_code(client):
    page = main_of(client.get("/nulle-part"))
    assert "Page introuvable" in page and "Erreur 404" in page
    assert "Not Found" not in page


@pytest.mark.parametrize(
    ("link", "path", "heading"),
    [
        ("Mentions légales", "/mentions-legales", "Mentions légales"),
        ("Accessibilité : partiellement conforme", "/accessibilite", "Déclaration d'accessibilité"),
        ("Contact", "/contact", "Contact"),
    ],
)
def test_footer_links_lead_to_real_pages(client, link, path, heading):
    assert f'href="{path}">{link}</a>' in text_of(client.get("/connexion"))
    page = client.get(path)
    assert page.status_code == 200
    assert f"<h1>{heading}</h1>" in text_of(page)


def test_accessibility_statement_follows_the_rgaa_model(client):
    page = text_of(client.get("/accessibilite"))
    parts = (
        "État de conformité",
        "partiellement conformes",
        "RGAA",
        "Contenus non accessibles",
        "Voies de recours",
        "Défenseur des droits",
    )
    for part in parts:
        assert part in page, part


def test_every_page_has_the_state_header_and_no_script(client):
    page = client.get("/connexion").text
    assert '<p class="fr-logo" lang="fr">République<br>française</p>' in page
    assert "Académie de Normandie" in page
    assert "<script" not in page
    assert "style=" not in page


def test_design_system_files_are_served_under_static(client):
    for path in ("dsfr/dsfr.min.css", "dsfr/fonts/Marianne-Regular.woff2", "dsfr/icons/system/fr--error-fill.svg", "idp.css"):
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        assert response.cache_control.max_age == 3600, path
        response.close()


def test_every_font_the_stylesheet_names_is_vendored():
    css = (STATIC / "dsfr" / "dsfr.min.css").read_text(encoding="utf-8")
    fonts = set(re.findall(r"url\((fonts/[^)]+)\)", css))
    assert fonts, "the stylesheet names no font"
    assert {font for font in fonts if not (STATIC / "dsfr" / font).is_file()} == set()
    assert all(font.endswith(".woff2") for font in fonts)


def test_style_sheets_stay_under_the_content_security_policy(client):
    policy = client.get("/connexion").headers["Content-Security-Policy"]
    assert "style-src 'self';" in policy
    assert "img-src 'self' data:;" in policy
