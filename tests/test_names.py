"""French grammar of names on the letters, and the delays in words."""

import pytest

from idp.accounts.delays import inactivity_rule, months_or_days
from idp.schools.names import elides, is_feminine, normalize_civility, of_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Aïssatou", "d'Aïssatou"),
        ("Hugo", "d'Hugo"),
        ("Élodie", "d'Élodie"),
        ("Yanis", "de Yanis"),
        ("Zoé Le Gall-Hervé", "de Zoé Le Gall-Hervé"),
        ("Œlle", "d'Œlle"),
        ("ugo", "d'ugo"),
        ("Inès Martin, Oscar Martin", "d'Inès Martin, Oscar Martin"),
        ("Ambre", "d'Ambre"),
        ("Ulysse", "d'Ulysse"),
        ("Yasmine", "de Yasmine"),
    ],
)
def test_de_is_elided_before_a_vowel_or_a_mute_h(name, expected):
    assert of_name(name) == expected


def test_a_name_that_starts_with_no_letter_is_not_elided():
    assert not elides("") and not elides("1A")


@pytest.mark.parametrize(
    ("civility", "normalized", "feminine"),
    [
        ("MME", "MME", True),
        ("Mme", "MME", True),
        ("Madame", "MME", True),
        ("M.", "M.", False),
        ("M", "M.", False),
        ("", None, False),
        (None, None, False),
    ],
)
def test_the_civility_of_the_school_file(civility, normalized, feminine):
    assert normalize_civility(civility) == normalized
    assert is_feminine(civility) is feminine


def test_delays_in_months_when_they_are_whole(app):
    assert months_or_days(365) == ("months", 12)
    assert months_or_days(180) == ("months", 6)
    assert months_or_days(730) == ("months", 24)
    assert months_or_days(100) == ("days", 100)
    with app.test_request_context():
        assert inactivity_rule() == "Un compte inutilisé pendant 12 mois est invalidé."
        assert inactivity_rule(45) == "Un compte inutilisé pendant 45 jours est invalidé."
