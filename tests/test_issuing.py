"""Issuing accounts: one per (legal guardian, pupil) and one per pupil, `prenom.nomN`
identifiers allocated in batches and unique under concurrency, provisional secrets."""

import math
import threading
from datetime import date

import pytest
from sqlalchemy import event

from idp.accounts.identifiers import allocate_identifiers
from idp.accounts.lifecycle import SECRET_ALPHABET, canonical_secret, provisional_secret_matches
from idp.errors import InvalidInput
from idp.extensions import db
from idp.models import Account, AccountState, AuditEvent, Establishment, Guardianship, LegalGuardian
from idp.schools.issuing import issue_accounts
from idp.security import keyed_hash

from .issuing_helpers import account_row, add_pupil, issue
from .travel import frozen, moment


@pytest.fixture
def class_6a(app, establishment):
    """Alice Dupont (two guardians) and Zoé Le Gall-Hervé (one), in 6A; Marc Petit in 5B."""
    add_pupil(app, "0140001A", "Alice", "Dupont", "6A", [("Jean", "Dupont", "jean@example.org"), ("Marie", "Dupont")])
    add_pupil(app, "0140001A", "Zoé", "Le Gall-Hervé", "6A", [("Anne", "Le Gall")])
    add_pupil(app, "0140001A", "Marc", "Petit", "5B", [("Paul", "Petit")])


def test_one_parent_account_per_guardian_and_child_and_one_per_pupil(app, class_6a):
    issued = issue(app)
    assert sorted((each.kind, each.identifier) for each in issued) == [
        ("eleve", "alice.dupont1"),
        ("eleve", "marc.petit1"),
        ("eleve", "zoe.legall-herve1"),
        ("parent", "anne.legall1"),
        ("parent", "jean.dupont1"),
        ("parent", "marie.dupont1"),
        ("parent", "paul.petit1"),
    ]
    with app.app_context():
        for guardian in db.session.scalars(db.select(LegalGuardian)):
            account = guardian.account
            assert account.kind == "parent" and account.full_name == guardian.full_name
            assert [pupil.id for pupil in account.children] == [guardian.pupil_id]
        alice = db.session.scalar(db.select(Account).where(Account.identifier == "alice.dupont1"))
        assert alice.pupil.full_name == "Alice Dupont" and alice.children == []


def test_issued_accounts_are_issued_with_the_date_and_no_address_yet(app, class_6a):
    issued_at = moment(days=1)  # the day after the pupils were imported
    with frozen(issued_at):
        issue(app)
    jean = account_row(app, "jean.dupont1")
    assert jean.state == AccountState.ISSUED
    assert jean.issued_at == issued_at
    # The school file's address only pre-fills the first-connection form.
    assert jean.email is None and jean.email_verified is False
    assert jean.password_hash is None


def test_issuing_again_issues_nothing_twice(app, class_6a):
    first = issue(app)
    assert issue(app) == []
    add_pupil(app, "0140001A", "Léo", "Dupont", "6A", [("Jean", "Dupont")])
    again = issue(app)
    # The same father gets another account for his other child ("un compte par enfant").
    assert sorted(each.identifier for each in again) == ["jean.dupont2", "leo.dupont1"]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Account.id))) == len(first) + 2


def test_a_class_and_a_kind_can_be_issued_alone(app, class_6a):
    parents = issue(app, class_name="6A", kind="parent")
    assert sorted(each.identifier for each in parents) == ["anne.legall1", "jean.dupont1", "marie.dupont1"]
    pupils = issue(app, class_name="6A", kind="eleve")
    assert sorted(each.identifier for each in pupils) == ["alice.dupont1", "zoe.legall-herve1"]
    assert sorted(each.identifier for each in issue(app)) == ["marc.petit1", "paul.petit1"]


def test_unknown_class_or_kind_is_refused_and_changes_nothing(app, class_6a):
    with app.app_context():
        establishment = db.session.scalar(db.select(Establishment))
        with pytest.raises(InvalidInput, match="Classe inconnue"):
            issue_accounts(establishment, "6Z")
        with pytest.raises(InvalidInput, match="Type de compte inconnu"):
            issue_accounts(establishment, kind="teacher")
        assert db.session.scalar(db.select(db.func.count(Account.id))) == 0


def test_pupils_who_left_get_no_account(app, establishment):
    add_pupil(app, "0140001A", "Paul", "Parti", "3C", [("Luc", "Parti")], left_on=date(2026, 7, 4))
    add_pupil(app, "0140001A", "Rita", "Reste", "3C", [("Eva", "Reste")])
    assert sorted(each.identifier for each in issue(app)) == ["eva.reste1", "rita.reste1"]


def test_identifiers_take_the_smallest_free_number(app, establishment, make_account):
    make_account(given_name="Jean", family_name="Dupont")  # jean.dupont1, active
    make_account(given_name="Jean", family_name="Dupont")  # jean.dupont2
    with app.app_context():
        db.session.execute(db.update(Account).where(Account.identifier == "jean.dupont1").values(identifier="jean.dupont3"))
        db.session.commit()
    for child in ("Alice", "Bruno", "Chloé"):
        add_pupil(app, "0140001A", child, "Dupont", "6A", [("Jean", "Dupont")])
    parents = issue(app, kind="parent")
    # 1 is free again, 2 and 3 are taken: then 4 and 5, in the order of the letters.
    assert [each.identifier for each in parents] == ["jean.dupont1", "jean.dupont4", "jean.dupont5"]


def test_names_are_folded_to_ascii(app, establishment):
    add_pupil(app, "0140001A", "Jean-Éric", "N'Diaye", "6A", [("Æsa", "Œuvray-Straße")])
    assert sorted(each.identifier for each in issue(app)) == ["aesa.oeuvray-strasse1", "jean-eric.ndiaye1"]


def test_identifiers_are_looked_up_in_batches_not_one_query_per_account(app, establishment):
    for number in range(60):
        add_pupil(app, "0140001A", "Lucas", "Martin" if number % 2 else "Bernard", f"6{'AB'[number % 2]}", [("Anne", "Martin")])
    statements = []
    with app.app_context():
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            issued = issue_accounts(db.session.scalar(db.select(Establishment)))
            db.session.commit()
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
    assert len(issued) == 120
    lookups = [sql for sql in statements if "account.identifier IN" in sql]
    # Three stems with 30 to 60 homonyms: a few widening rounds, never one per account.
    assert 1 <= len(lookups) <= 6, len(lookups)
    assert len(statements) < 25, statements
    with app.app_context():
        stored = db.session.scalars(db.select(Account.identifier).where(Account.identifier.like("lucas.martin%"))).all()
    numbers = sorted(int(value.removeprefix("lucas.martin")) for value in stored)
    assert numbers == list(range(1, 31))


def test_identifier_numbers_never_collide_across_stems_ending_in_a_digit(app, establishment):
    with app.app_context():
        # "jean.bench1" + 21 and "jean.bench12" + 1 would both be jean.bench121.
        identifiers = allocate_identifiers([("Jean", "Bench1")] * 21 + [("Jean", "Bench12")])
        assert len(set(identifiers)) == 22
        assert identifiers[-1] == "jean.bench122"


# --- provisional secrets ---------------------------------------------------------------


def test_secrets_have_sixty_bits_from_an_alphabet_without_look_alikes(app, class_6a):
    issued = issue(app)
    assert not set("01OIl") & set(SECRET_ALPHABET)
    assert len(SECRET_ALPHABET) == len(set(SECRET_ALPHABET)) == 32
    for each in issued:
        groups = each.secret.split("-")
        assert [len(group) for group in groups] == [4, 4, 4]
        assert set("".join(groups)) <= set(SECRET_ALPHABET)
    assert math.log2(len(SECRET_ALPHABET)) * 12 >= 60
    assert len({each.secret for each in issued}) == len(issued)


def test_the_secret_is_stored_as_a_keyed_hash_of_its_canonical_form(app, class_6a):
    issued = issue(app)
    jean = next(each for each in issued if each.identifier == "jean.dupont1")
    with app.app_context():
        account = db.session.get(Account, jean.id)
        assert jean.secret.replace("-", "") not in account.provisional_secret_hash
        assert account.provisional_secret_hash == keyed_hash(jean.secret.replace("-", ""))
        for typed in (jean.secret, jean.secret.lower(), jean.secret.replace("-", " "), jean.secret.replace("-", ""), f" {jean.secret} "):
            assert provisional_secret_matches(account, typed), typed
        assert not provisional_secret_matches(account, jean.secret[:-1] + ("A" if jean.secret[-1] != "A" else "B"))
        assert not provisional_secret_matches(account, "")
        assert not provisional_secret_matches(None, jean.secret)
    assert canonical_secret("k7pm 4xqr–9htw") == "K7PM4XQR9HTW"


def test_issuing_is_audited_per_account_without_the_secret(app, class_6a, audit_events):
    issued = issue(app)
    events = audit_events("account_issued")
    assert sorted(event.account_id for event in events) == sorted(each.id for each in issued)
    assert all(event.details == {"uai": "0140001A"} for event in events)
    with app.app_context():
        text = " ".join(str(row.details) for row in db.session.scalars(db.select(AuditEvent)))
    assert not any(each.secret in text or each.secret.replace("-", "") in text for each in issued)


# --- concurrency (PostgreSQL) --------------------------------------------------------------


def _issue_in_threads(apps_and_uais):
    """Issue from several applications (connection pools) at once; returns what each got."""
    barrier = threading.Barrier(len(apps_and_uais))
    results, errors = {}, []

    def run(app, uai):
        try:
            with app.app_context():
                establishment = db.session.scalar(db.select(Establishment).where(Establishment.uai == uai))
                barrier.wait(timeout=10)
                issued = issue_accounts(establishment)
                results[(id(app), uai)] = [item.account.identifier for item in issued]
                db.session.commit()
        except Exception as error:  # reported by the test
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in apps_and_uais]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results, errors


def test_two_processes_issuing_homonyms_never_share_an_identifier(postgresql, app, establishment, settings, make_app):
    with app.app_context():
        db.session.add(Establishment(uai="0140002B", name="Lycée Malherbe"))
        db.session.commit()
    for uai in ("0140001A", "0140002B"):
        for number in range(40):
            add_pupil(app, uai, "Lucas", "Martin" if number % 2 else "Dupont", "2A", [("Jean", "Martin"), ("Marie", "Dupont")])
    results, errors = _issue_in_threads([(make_app(settings), "0140001A"), (make_app(settings), "0140002B")])
    assert errors == []
    identifiers = [identifier for issued in results.values() for identifier in issued]
    assert len(identifiers) == 2 * 40 * 3
    assert len(set(identifiers)) == len(identifiers)
    with app.app_context():
        stored = db.session.scalars(db.select(Account.identifier).where(Account.identifier.like("jean.martin%"))).all()
    # Both establishments drew from one numbering: 1 to 80, no gap, no duplicate.
    assert sorted(int(value.removeprefix("jean.martin")) for value in stored) == list(range(1, 81))


def test_two_processes_issuing_one_establishment_issue_each_account_once(postgresql, app, establishment, settings, make_app):
    for number in range(30):
        add_pupil(app, "0140001A", "Inès", f"Durand{'ABC'[number % 3]}", "4A", [("Paul", "Durand")])
    results, errors = _issue_in_threads([(make_app(settings), "0140001A"), (make_app(settings), "0140001A")])
    assert errors == []
    assert sorted(len(issued) for issued in results.values()) == [0, 60]
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(Account.id))) == 60
        assert db.session.scalar(db.select(db.func.count(Guardianship.id))) == 30
