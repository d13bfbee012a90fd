"""Where the login page and the language links send the person next: this site only."""

from urllib.parse import quote, urlsplit

from idp.security import safe_next

from .conftest import PASSWORD
from .test_login import post_login

# Each is another site (or a script) once a browser has read the Location header.
BYPASSES = [
    "//evil.com",
    "/\t/evil.com",
    "\t//evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    " //evil.com",
    "\\\\evil.com",
    "/\\evil.com",
    "\\/evil.com",
    "/%2F/evil.com",
    "/%2f%2fevil.com",
    "%2F%2Fevil.com",
    "/%5Cevil.com",
    "/%5cevil.com",
    "/%09/evil.com",
    "https://evil.com",
    "http:evil.com",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "evil.com",
    "",
]


def browser_location(location):
    """The URL a browser goes to from a Location header (WHATWG: strip, drop tabs and newlines)."""
    cleaned = location.strip("".join(chr(code) for code in range(0x21)))
    return cleaned.replace("\t", "").replace("\n", "").replace("\r", "").replace("\\", "/")


def stays_on_this_site(location):
    target = browser_location(location)
    parts = urlsplit(target)
    return target.startswith("/") and not target.startswith("//") and not parts.scheme and not parts.netloc


def test_language_link_never_leaves_the_site(client):
    for target in BYPASSES:
        response = client.get("/langue/en", query_string={"next": target})
        assert response.status_code == 302
        assert stays_on_this_site(response.location), (target, response.location)
        assert response.location == "/"


def test_login_never_sends_the_person_to_another_site(client, parent):
    for target in BYPASSES:
        response = post_login(client, "jean.dupont1", PASSWORD, next_url=target or None)
        assert response.status_code == 303
        assert response.location == "/compte/", (target, response.location)


# Refused before any view reads them (idp.inputs); safe_next refuses them too.
CONTROLS = ["\x00//evil.com", "/\x1f/evil.com", "/\x0b/evil.com"]


def test_next_with_control_characters_is_refused(client, parent):
    for target in CONTROLS:
        assert client.get("/langue/en", query_string={"next": target}).status_code == 400
        assert post_login(client, "jean.dupont1", PASSWORD, next_url=target).status_code == 400


def test_header_injection_in_next_gives_a_plain_local_redirect(client):
    response = client.get("/langue/en?next=" + quote("/compte/\r\nSet-Cookie: stolen=1"))
    assert response.status_code == 302
    assert "stolen" not in response.headers.get("Set-Cookie", "")
    assert response.location == "/compte/Set-Cookie: stolen=1".replace(" ", "%20")


def test_local_paths_are_kept(client, parent):
    assert client.get("/langue/en", query_string={"next": "/connexion?next=/compte/"}).location == "/connexion?next=/compte/"
    assert post_login(client, "jean.dupont1", PASSWORD, next_url="/compte/?onglet=1").location == "/compte/?onglet=1"


def test_safe_next_returns_the_path_a_browser_reads():
    assert safe_next("  /compte/\t") == "/compte/"
    assert safe_next("/a\\b") == "/a/b"
    assert safe_next(None) is None
    for target in BYPASSES + CONTROLS:
        assert safe_next(target) is None, target
