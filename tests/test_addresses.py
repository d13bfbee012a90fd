"""The one rule of an email address (idp.email_address, through idp.accounts.addresses):
what the forms, the imports and the mailer accept, and the form it is stored in."""

import pytest

from idp.accounts.addresses import address_problems, canonical_email, email_problems, is_email
from idp.email_address import canonical, shown

# What the attacker's probe typed, and what earlier let a page answer 500.
PROBES = ["é@é.é", "😀@x.fr", "\u202e@x.fr", "claire,x@parent.example", 'new"x@parent.example', "<script>@x.fr"]


@pytest.mark.parametrize(
    "address",
    [
        "jean@example.org",
        "Jean.Dupont@Example.ORG",
        "jean.dupont+ecole@mail.example.fr",
        "o'brien@example.ie",
        "a_b-c@sub-domain.example.co.uk",
        "x#y$z&w*v/u=t?s^r{q}p~o@example.org",
        "1234@example.org",
        "jean@xn--exemple--i1a.fr",
        "a" * 64 + "@example.org",
    ],
)
def test_addresses_the_rule_accepts(address):
    assert is_email(address)
    assert canonical(address) == address  # ASCII already: stored as typed


@pytest.mark.parametrize(
    "address",
    [
        *PROBES,
        "",
        "jean",
        "jean@",
        "@example.org",
        "jean@example",
        "jean@example.",
        "jean@example.org.",
        "jean@.example.org",
        "jean@example..org",
        "jean@-example.org",
        "jean@example-.org",
        "jean@example.123",
        "jean@[192.0.2.1]",
        ".jean@example.org",
        "jean.@example.org",
        "je..an@example.org",
        '"jean"@example.org',
        "jean dupont@example.org",
        "jean@exam ple.org",
        " jean@example.org",
        "jean@example.org\n",
        "jean@example.org\nBcc: x@example.org",
        "jean\t@example.org",
        "jean@exa\u200bmple.org",  # zero-width space
        "jean@exemple\u202e.fr",  # bidi override in the domain
        "jean\x00@example.org",
        "jean@example.org, marie@example.org",
        "Jean <jean@example.org>",
        "jean@marie@example.org",
        "andré@example.org",
        "jean@😀.fr",
        "bang!path@example.org",
        "percent%hack@example.org",
        "pipe|x@example.org",
        "back`tick@example.org",
        "a" * 65 + "@example.org",
        "jean@" + "a" * 64 + ".fr",
        "jean@" + ".".join(["a" * 60] * 5) + ".fr",
        None,
        42,
    ],
)
def test_addresses_the_rule_refuses(address):
    assert canonical(address) is None
    if isinstance(address, str):
        assert not is_email(address)


def test_an_international_domain_is_stored_in_ascii():
    assert canonical("jean@exemple-é.fr") == "jean@xn--exemple--i1a.fr"
    assert canonical("jean@EXEMPLE-É.fr") == "jean@xn--exemple--i1a.fr"
    assert canonical_email("  jean@exemple-é.fr ") == "jean@xn--exemple--i1a.fr"
    assert canonical_email("é@é.é") is None


def test_at_most_254_characters_once_the_domain_is_in_ascii():
    local = "a" * 60
    domain = ".".join(["b" * 60, "c" * 60, "d" * 60, "e" * 7, "fr"])
    assert len(f"{local}@{domain}") == 254 and is_email(f"{local}@{domain}")
    assert not is_email(f"{local}@e{domain}")
    accents = ("éèêëàâäîïôöùûüçœæÿ" * 3)[:40]  # 57 characters in ASCII
    long_unicode = ".".join([accents, "c" * 60, "d" * 60, "e" * 15, "fr"])
    assert len(f"{local}@{long_unicode}") == 242  # 259 in ASCII
    assert canonical(f"{local}@{long_unicode}") is None  # its ASCII form is longer


def test_the_french_messages(app):
    with app.test_request_context():
        for probe in PROBES:
            assert [str(message) for message in address_problems(probe)["email"]] == [
                "Saisissez une adresse mail valide, par exemple nom@exemple.fr."
            ]
        assert email_problems("jean@exemple-é.fr", "JEAN@xn--exemple--i1a.fr") == {}
        assert [str(message) for message in email_problems("jean@example.org", "jean@example.net")["email_confirmation"]] == [
            "Les deux adresses mail sont différentes."
        ]


def test_invisible_characters_are_shown_escaped():
    assert shown("\u202e@x.fr") == "\\u202e@x.fr"
    assert shown("a\x00b c") == "a\\u0000b c"
    assert shown("jean@example.org") == "jean@example.org"
