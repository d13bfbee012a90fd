"""A plain `pip install .` gives a working provider: the wheel carries the pages, the static
files, the migrations and the compiled English catalogue (the .mo is not tracked: the build
compiles it), and once installed away from the checkout the `idp` command migrates a
database and logs its security events, and the application serves its pages in French
and in English.

The wheel is built from a copy of the sources without any .mo, with the test environment's
setuptools (no download), and installed with `pip install --target` into a folder laid out
like a virtualenv's site-packages.
"""

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from idp.cli import SCHEMA_BEHIND

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("setup.py", "setup.cfg", "pyproject.toml", "README.md", "idp", "templates")
PIP = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]


def _pip(*args):
    subprocess.run([*PIP, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("packaging")


@pytest.fixture(scope="module")
def wheel(work):
    source = work / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
        else:
            shutil.copy2(ROOT / name, source / name)
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "--wheel-dir", str(work / "dist"), str(source))
    (built,) = (work / "dist").glob("*.whl")
    return built


def _files(folder):
    return [path for path in folder.rglob("*") if path.is_file() and "__pycache__" not in path.parts]


def test_the_wheel_carries_templates_static_files_migrations_and_compiled_catalogues(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"idp/templates/{path.relative_to(ROOT / 'templates').as_posix()}" for path in _files(ROOT / "templates")}
    for folder in ("static", "migrations"):
        expected |= {path.relative_to(ROOT).as_posix() for path in _files(ROOT / "idp" / folder)}
    for po in (ROOT / "idp" / "translations").glob("*/LC_MESSAGES/*.po"):
        expected |= {po.relative_to(ROOT).as_posix(), po.with_suffix(".mo").relative_to(ROOT).as_posix()}
    assert "idp/templates/base.html" in expected and "idp/translations/en/LC_MESSAGES/messages.mo" in expected
    assert sorted(expected - names) == []
    (entry_points,) = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
    assert "idp = idp.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


SERVE = """
import json, idp
app = idp.create_app()
client = app.test_client()
french = client.get("/connexion", headers={"Accept-Language": "fr"})
english = client.get("/connexion?ui_locales=en")
print(json.dumps({
    "package": idp.__file__,
    "instance": app.instance_path,
    "keys": app.config["KEYS_DIR"],
    "listing": app.test_cli_runner().invoke(args=["client", "list"]).output,
    "french": [french.status_code, "Identifiant" in french.text],
    "english": [english.status_code, "Username" in english.text],
    "css": client.get("/static/idp.css").status_code,
}))
"""


def test_installed_away_from_the_checkout_the_command_and_the_pages_work(wheel, work):
    prefix = work / "venv"
    site = prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    _pip("install", "--no-deps", "--no-index", "--no-compile", "--target", str(site), str(wheel))
    env = {name: value for name, value in os.environ.items() if not name.startswith(("IDP_", "FLASK_"))}
    env |= {"PYTHONPATH": str(site), "IDP_DATABASE_URL": f"sqlite:///{work / 'idp.sqlite3'}", "IDP_SECRET_KEY": "packaging-test"}

    def run(*command):
        return subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=60)

    unmigrated = run(str(site / "bin" / "idp"), "client", "list")
    assert (unmigrated.returncode, unmigrated.stderr, unmigrated.stdout) == (1, SCHEMA_BEHIND + "\n", "")
    assert run(str(site / "bin" / "idp"), "db", "upgrade").returncode == 0
    added = run(str(site / "bin" / "idp"), "establishment", "add", "--uai", "0140001A", "--name", "Collège Jean Moulin")
    assert added.stdout == "Établissement 0140001A « Collège Jean Moulin » ajouté.\n"
    assert "establishment_added" in added.stderr  # the security events reach the log

    served = run(sys.executable, "-c", SERVE)
    assert served.returncode == 0, served.stderr
    served = json.loads(served.stdout)
    assert served["package"] == str(site / "idp" / "__init__.py")
    assert served["listing"] == "Aucun service enregistré.\n"
    # The instance folder is Flask's <virtualenv>/var/idp-instance, and the keys default
    # to a folder in it: not beside idp/ in site-packages.
    assert served["instance"] == str(prefix / "var" / "idp-instance")
    assert served["keys"] == str(prefix / "var" / "idp-instance" / "keys")
    assert list((prefix / "var" / "idp-instance" / "keys").glob("*.pem"))
    assert served["french"] == [200, True] and served["english"] == [200, True]
    assert served["css"] == 200
