"""The demo ENT recognises a family by FrEduVecteur in its own directory (examples/ent/app.py,
`recognise`), the directory the demo's seed writes from the school file's pupils, and the
`--school-key` of `idp demo-account create` that gives a pupil made by hand its identifier."""

import json

import pytest

from idp.extensions import db
from idp.models import Pupil

from .demo_helpers import load_example
from .test_browser_demo import load_ent_module
from .test_cli import run  # noqa: F401 (fixture)
from .test_demo import seed

ent_app = load_ent_module()
seed_demo = load_example("seed_demo")

DIRECTORY = [
    {
        "id": "ent-eleve-E1",
        "uai": "0140001A",
        "attachment_id": "E1",
        "given_name": "Emma",
        "family_name": "Leroy",
        "class": "6B",
        "guardians": [
            {"id": "ent-resp-E1-1", "given_name": "Sophie", "family_name": "Leroy"},
            {"id": "ent-resp-E1-2", "given_name": "Marc", "family_name": "Leroy"},
        ],
    },
    {
        "id": "ent-eleve-E9",
        "uai": "0141234X",
        "attachment_id": "E9",
        "given_name": "Léo",
        "family_name": "Leroy",
        "class": "CP",
        "guardians": [{"id": "ent-resp-E9-1", "given_name": "Sophie", "family_name": "LEROY"}],
    },
]


def test_a_parent_is_recognised_by_each_childs_vector():
    found = ent_app.recognise(["2|Leroy|Sophie|E1|0140001A", "1|Léroy|sophie|E9|0141234X"], DIRECTORY)
    assert found["profile"] == "parent"
    assert found["ent_ids"] == ["ent-resp-E1-1", "ent-resp-E9-1"]
    assert [child["given_name"] for child in found["children"]] == ["Emma", "Léo"]


def test_a_pupil_is_recognised_by_their_own_vector():
    found = ent_app.recognise(["4|||E1|0140001A"], DIRECTORY)
    assert found == {"profile": "eleve", "ent_ids": ["ent-eleve-E1"], "children": []}


@pytest.mark.parametrize(
    "vectors",
    [
        None,
        [],
        ["2|Leroy|Sophie|E1|0999999Z"],  # another establishment
        ["2|Leroy|Sophie|E2|0140001A"],  # another pupil
        ["2|Martin|Karim|E1|0140001A"],  # not one of the pupil's guardians
        ["5|Leroy|Sophie|E1|0140001A"],  # no such profile
        ["2|Leroy|Sophie|E1"],  # malformed
    ],
)
def test_nobody_is_recognised_without_a_matching_vector(vectors):
    assert ent_app.recognise(vectors, DIRECTORY) is None


def test_the_directory_is_a_file_or_a_function(tmp_path):
    path = tmp_path / "annuaire.json"
    assert ent_app.read_directory(str(path)) == []
    assert ent_app.read_directory("") == []
    path.write_text(json.dumps({"pupils": DIRECTORY}), encoding="utf-8")
    assert ent_app.read_directory(str(path)) == DIRECTORY
    assert ent_app.read_directory(lambda: {"pupils": DIRECTORY[:1]}) == DIRECTORY[:1]


def test_the_seed_writes_the_ent_directory_from_the_school_file(app, tmp_path):
    seed(app, tmp_path)
    path = tmp_path / "ent" / "annuaire.json"
    with app.app_context():
        seed_demo.write_ent_directory(path)
    pupils = json.loads(path.read_text(encoding="utf-8"))["pupils"]
    by_key = {pupil["attachment_id"]: pupil for pupil in pupils}
    assert sorted(by_key) == ["DEMO001", "DEMO002", "DEMO003", "DEMO100", "DEMO101"]
    guardians = [(each["given_name"], each["family_name"]) for each in by_key["DEMO001"]["guardians"]]
    assert guardians == [("Sophie", "Leroy"), ("Marc", "Leroy")]
    # Alice was made by hand: her guardian is the parent account linked to her.
    assert by_key["DEMO100"]["guardians"] == [{"id": "ent-resp-DEMO100-1", "given_name": "Jean", "family_name": "Dupont"}]
    assert by_key["DEMO101"]["guardians"] == []
    # Every vector the provider gives these families is found there.
    assert ent_app.recognise(["2|Leroy|Marc|DEMO001|0140001A"], pupils)["ent_ids"] == ["ent-resp-DEMO001-2"]
    assert ent_app.recognise(["4|||DEMO101|0140001A"], pupils)["ent_ids"] == ["ent-eleve-DEMO101"]


def test_a_demo_database_seeded_before_the_identifiers_gets_them(app, tmp_path):
    seed(app, tmp_path)
    with app.app_context():
        for pupil in db.session.scalars(db.select(Pupil).where(Pupil.school_key.in_(["DEMO100", "DEMO101"]))):
            pupil.school_key = None
        db.session.commit()
        seed_demo.seed_people()
        db.session.commit()
        assert sorted(db.session.scalars(db.select(Pupil.school_key).where(Pupil.school_key.like("DEMO1%")))) == ["DEMO100", "DEMO101"]


def test_demo_accounts_take_the_school_key(run, app, establishment):  # noqa: F811
    common = ["--password", "Cartable-2024", "--establishment", "0140001A"]
    pupil = run(
        "demo-account", "create", "--kind", "eleve", "--given-name", "Zoé", "--family-name", "Martin",
        "--birthdate", "2012-01-02", "--school-key", "4242", *common,
    )  # fmt: skip
    assert pupil.exit_code == 0, pupil.output
    parent = run(
        "demo-account", "create", "--kind", "parent", "--given-name", "Jean", "--family-name", "Martin",
        "--child-given-name", "Léa", "--child-family-name", "Martin", "--child-birthdate", "2014-01-02", "--school-key", "4243", *common,
    )  # fmt: skip
    assert parent.exit_code == 0, parent.output
    again = run(
        "demo-account", "create", "--kind", "eleve", "--given-name", "Paul", "--family-name", "Martin",
        "--birthdate", "2012-01-02", "--school-key", "4242", *common,
    )  # fmt: skip
    assert again.exit_code == 1 and "l'établissement a déjà un élève d'identifiant '4242'" in again.output
    too_long = run(
        "demo-account", "create", "--kind", "eleve", "--given-name", "Paul", "--family-name", "Martin",
        "--birthdate", "2012-01-02", "--school-key", "x" * 33, *common,
    )  # fmt: skip
    assert too_long.exit_code == 1 and "identifiant d'élève invalide" in too_long.output
    with app.app_context():
        assert sorted(db.session.scalars(db.select(Pupil.school_key).where(Pupil.school_key.is_not(None)))) == ["4242", "4243"]
