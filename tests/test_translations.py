"""The English catalogue: every message of the sources translated, placeholders kept, and
the compiled catalogue the application loads in step with the tracked .po.

The messages are re-extracted from the current sources with Babel's API, with the mapping
file and keywords of the documented command:
    pybabel extract -F idp/translations/babel.cfg -k _l -o idp/translations/messages.pot .
The .mo is not tracked: CI compiles it (pybabel -q compile -d idp/translations) before pytest.
"""

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
TRANSLATIONS = ROOT / "idp" / "translations"
MAPPING = TRANSLATIONS / "babel.cfg"
PO = TRANSLATIONS / "en" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
COMPILE = ".venv/bin/pybabel -q compile -d idp/translations"

# printf-style conversions: %(name)s, %d, %.2f... ("%%" is a literal percent sign).
PLACEHOLDER = re.compile(r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?P<type>[diouxXeEfFgGcrsa%])")


def _ids(message):
    """The msgid(s) of a catalogue entry: one string, or the singular and plural."""
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def _strings(message):
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def _placeholders(text):
    return sorted((match["name"] or "", match["type"]) for match in PLACEHOLDER.finditer(text) if match["type"] != "%")


def _key(message_id):
    return message_id[0] if isinstance(message_id, (list, tuple)) else message_id


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The messages of the current sources, as a Catalog written to and read back from a temporary .pot."""
    with open(MAPPING, encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle, str(MAPPING))
    keywords = {**DEFAULT_KEYWORDS, "_l": None}
    catalog = Catalog()
    for filename, lineno, message, comments, context in extract_from_dir(str(ROOT), method_map, options_map, keywords=keywords):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    pot = tmp_path_factory.mktemp("babel") / "messages.pot"
    with open(pot, "wb") as handle:
        write_po(handle, catalog)
    with open(pot, "rb") as handle:
        return read_po(handle)


@pytest.fixture(scope="module")
def english():
    with open(PO, "rb") as handle:
        return read_po(handle, locale="en")


def _where(message):
    return ", ".join(f"{filename}:{lineno}" for filename, lineno in message.locations)


def test_sources_have_messages(template):
    # Guards the extraction itself: an empty result would make the next test pass vacuously.
    ids = {_key(message.id) for message in template if message.id}
    assert {"Identifiant", "Mot de passe", "Valider"} <= ids, sorted(ids)


def test_every_source_message_is_translated(template, english):
    missing = []
    for message in template:
        if not message.id:
            continue
        entry = english.get(message.id, message.context)
        if entry is None:
            problem = "not in the .po"
        elif entry.fuzzy:
            problem = "fuzzy"
        elif not all(string.strip() for string in _strings(entry)):
            problem = "empty translation"
        else:
            continue
        missing.append(f"{_key(message.id)!r} ({problem}; {_where(message)})")
    assert not missing, (
        f"{len(missing)} message(s) of the sources lack an English translation in {PO.relative_to(ROOT)}"
        " (extract, update, translate; see idp/translations/babel.cfg):\n  " + "\n  ".join(missing)
    )


def test_translations_keep_the_placeholders(english):
    wrong = []
    for entry in english:
        if not entry.id:
            continue
        expected = [_placeholders(message_id) for message_id in _ids(entry)]
        for index, string in enumerate(_strings(entry)):
            if not string:
                continue
            # Plural forms compare with the msgid_plural, except the first (singular).
            wanted = expected[min(index, len(expected) - 1)]
            if _placeholders(string) != wanted:
                wrong.append(f"{_key(entry.id)!r}: expected {wanted}, got {_placeholders(string)} in {string!r}")
    assert not wrong, "Placeholders differ between msgid and translation:\n  " + "\n  ".join(wrong)


def _translated(catalog):
    """{(context, msgid): translations} of the entries `pybabel compile` keeps (not fuzzy, translated)."""
    return {
        (entry.context or "", _key(entry.id)): _strings(entry) for entry in catalog if entry.id and not entry.fuzzy and all(_strings(entry))
    }


def _compiled_catalogue_problem():
    """Why the .mo the application loads does not reflect the tracked .po (None when it does)."""
    if not MO.exists():
        return f"{MO.relative_to(ROOT)} is missing: run `{COMPILE}` before pytest (as CI does)."
    with open(PO, "rb") as handle:
        source = _translated(read_po(handle, locale="en"))
    with open(MO, "rb") as handle:
        compiled = _translated(read_mo(handle))
    stale = [repr(key[1]) for key in sorted(source.keys() | compiled.keys()) if source.get(key) != compiled.get(key)]
    if stale:
        older = " and is older than the .po" if MO.stat().st_mtime < PO.stat().st_mtime else ""
        return (
            f"{MO.relative_to(ROOT)} does not match {PO.relative_to(ROOT)}{older}: run `{COMPILE}`."
            f" Out of date: {', '.join(stale[:10])}{' ...' if len(stale) > 10 else ''}"
        )
    return None


def test_compiled_catalogue_is_up_to_date():
    problem = _compiled_catalogue_problem()
    assert problem is None, problem


def test_login_page_in_english(client):
    problem = _compiled_catalogue_problem()
    assert problem is None, problem
    client.get("/langue/en")
    page = client.get("/connexion")
    assert page.status_code == 200
    assert '<html lang="en">' in page.text
    for word in ("Username", "Password", "Submit", "forgotten password", "forgotten username"):
        assert word in page.text, word
    for french in ("Identifiant", "Mot de passe", "Valider"):
        assert french not in page.text, french


# A space before a colon, semicolon, exclamation or question mark, and French quotation
# marks: French typography, wrong in English.
FRENCH_TYPOGRAPHY = re.compile(r"[ \u00a0\u202f][:;!?](?=\s|$)|[«»]")


def test_english_uses_english_typography(english):
    wrong = [
        f"{_key(entry.id)!r}: {string!r}" for entry in english if entry.id for string in _strings(entry) if FRENCH_TYPOGRAPHY.search(string)
    ]
    assert not wrong, "French typography in English:\n  " + "\n  ".join(wrong)


def test_the_pages_keep_their_punctuation_inside_the_translated_messages():
    """A colon typed beside a message in a template (`{{ _("x") }} :`) would stay French in
    English: the punctuation belongs inside the message."""
    outside = []
    for template in (ROOT / "templates").rglob("*.html"):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if re.search(r"\}\}\s*[:;!?](\s|<|$)", line):
                outside.append(f"{template.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not outside, "Punctuation outside a translated message:\n  " + "\n  ".join(outside)
