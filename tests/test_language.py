"""The language of the pages: French, because parents follow a French paper guide, unless
the person chose English on a page or the relying party asked for it with ui_locales."""

from urllib.parse import urlencode


def test_a_browser_set_to_english_alone_still_gets_french(client):
    page = client.get("/connexion", headers={"Accept-Language": "en"})
    assert '<html lang="fr">' in page.text
    assert 'value="Valider"' in page.text
    assert "Submit" not in page.text


def test_english_once_chosen_is_remembered_on_every_page(client):
    response = client.get("/langue/en?" + urlencode({"next": "/connexion"}))
    assert response.location == "/connexion"
    for path in ("/connexion", "/contact", "/nulle-part"):
        page = client.get(path, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
        assert '<html lang="en">' in page.text, path
    assert 'value="Submit"' in client.get("/connexion").text
    # The link back to French is there, in French.
    assert 'lang="fr" hreflang="fr">Français</a>' in client.get("/connexion").text


def test_ui_locales_of_the_relying_party_selects_english_for_the_whole_visit(ent, parent):
    page, _ = ent.authorize(ui_locales="en")
    assert '<html lang="en">' in page.text
    assert 'value="Submit"' in page.text
    assert '<html lang="en">' in ent.client.get("/contact").text


def test_an_unknown_language_link_changes_nothing(client):
    client.get("/langue/de")
    assert '<html lang="fr">' in client.get("/connexion").text


def test_the_page_frame_follows_the_language_back_and_forth(client, app):
    """The frame's fixed parts are rendered once per language, never served in another."""
    for language, legal, other in (("fr", "Mentions légales", "Legal notice"), ("en", "Legal notice", "Mentions légales")) * 2:
        client.get(f"/langue/{language}")
        page = client.get("/contact").text
        assert f'<html lang="{language}">' in page
        assert legal in page and other not in page
    assert {key[1] for key in app.extensions["idp.fragments"]} == {"fr", "en"}
