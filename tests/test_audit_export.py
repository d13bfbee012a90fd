"""The audit log kept a year: `idp audit export` (formats, period, one account, a file) and
the retention `idp purge` applies (AUDIT_RETENTION_DAYS), time injected."""

import csv
import io
import json
import re
import tracemalloc
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from idp import audit_export
from idp.audit import audit
from idp.extensions import db
from idp.models import AuditEvent
from idp.oidc.purge import purge_expired

from .conftest import PASSWORD
from .oidc_helpers import csrf_token
from .test_login import post_login
from .travel import frozen, moment

REQUEST_ID = "nginx-4f1c2a9e"


def stamp(when):
    return when.isoformat(timespec="seconds")


@pytest.fixture
def start():
    return moment(at="08:00")


@pytest.fixture
def history(app, client, parent, start):
    """Through the real login page: a wrong password at `start` (the proxy naming the
    request), a login an hour later, and an event of no account (a client added, from the
    command line) a day later."""
    with frozen(start) as traveller:
        page = client.get("/connexion")
        form = {"identifier": "jean.dupont1", "password": "wrong-password-1", "csrf_token": csrf_token(page.text)}
        client.post("/connexion", data=form, headers={"X-Request-Id": REQUEST_ID})
        traveller.shift(3600)
        assert post_login(client, "jean.dupont1", PASSWORD).status_code == 303
        traveller.shift(23 * 3600)
        with app.app_context():
            audit("client_added", ip="192.0.2.9")
            db.session.commit()


def run(app, *args):
    return app.test_cli_runner().invoke(args=["audit", "export", *args])


def test_export_as_json_lines_within_the_period(app, history, parent, start):
    result = run(app, "--since", stamp(start), "--until", stamp(start + timedelta(days=2)))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["event"] for line in lines] == ["login_failed", "login", "client_added"]
    first, second, third = lines
    assert first == {
        "id": first["id"],
        "at": stamp(start) + "Z",
        "event": "login_failed",
        "account_id": parent.id,
        "identifier": "jean.dupont1",
        "client_id": None,
        "ip": "127.0.0.1",
        "request_id": REQUEST_ID,
        "details": {"known": True},
    }
    assert re.fullmatch(r"[0-9a-f]{32}", second["request_id"])  # made up: the test client sends none
    assert third["request_id"] is None
    assert second["at"] == stamp(start + timedelta(hours=1)) + "Z"
    assert third["identifier"] is None and third["ip"] == "192.0.2.9"


def test_since_is_included_and_until_excluded(app, history, start):
    def events(since, until):
        result = run(app, "--since", stamp(since), "--until", stamp(until))
        assert result.exit_code == 0, result.output
        return [json.loads(line)["event"] for line in result.stdout.splitlines()]

    assert events(start, start + timedelta(hours=1)) == ["login_failed"]
    assert events(start + timedelta(seconds=1), start + timedelta(hours=1, seconds=1)) == ["login"]
    assert events(start - timedelta(days=1), start) == []


def test_until_defaults_to_now_and_a_day_is_a_day(app, history, start):
    with frozen(start + timedelta(days=3)):
        result = run(app, "--since", start.date().isoformat())
    assert len(result.stdout.splitlines()) == 3


def test_export_as_csv(app, history, start):
    result = run(app, "--since", stamp(start), "--until", stamp(start + timedelta(days=2)), "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert list(rows[0]) == list(audit_export.COLUMNS)
    assert [(row["event"], row["identifier"], row["at"]) for row in rows] == [
        ("login_failed", "jean.dupont1", stamp(start) + "Z"),
        ("login", "jean.dupont1", stamp(start + timedelta(hours=1)) + "Z"),
        ("client_added", "", stamp(start + timedelta(days=1)) + "Z"),
    ]
    assert json.loads(rows[0]["details"]) == {"known": True}


def test_export_of_one_account_to_a_file(app, history, start, tmp_path):
    path = tmp_path / "audit.jsonl"
    with frozen(start + timedelta(days=3)):
        result = run(app, "--since", stamp(start), "--account", " Jean.Dupont1 ", "--output", str(path))
    assert result.exit_code == 0, result.output
    assert result.output == f"2 événement(s) exporté(s) dans {path}.\n"
    assert [json.loads(line)["event"] for line in path.read_text().splitlines()] == ["login_failed", "login"]


def test_one_account_s_export_includes_the_throttled_attempts_on_its_identifier(app, history, start):
    with frozen(start + timedelta(days=2)) as traveller:
        with app.app_context():
            audit("login_throttled", identifier="jean.dupont1", retry_after=60)
            audit("login_throttled", identifier="someone.else1", retry_after=60)
            db.session.commit()
        traveller.shift(60)
        result = run(app, "--since", stamp(start), "--account", "jean.dupont1")
    assert [json.loads(line)["event"] for line in result.stdout.splitlines()] == ["login_failed", "login", "login_throttled"]


def test_an_empty_or_backwards_period_is_refused(app, history, start):
    result = run(app, "--since", stamp(start), "--until", stamp(start))
    assert result.exit_code == 1
    assert "--until doit être postérieur à --since" in result.stderr
    assert run(app, "--since", "hier").exit_code == 2  # click's own message: not a date


def test_the_export_streams_in_constant_memory(app, start):
    """Ten times more events take about the same memory: the rows are read in batches and
    written as they come, never held together (a materialised list would take ten times)."""
    rows = [
        {"at": start + timedelta(seconds=index), "event": "login_failed", "ip": "192.0.2.1", "details": {"known": False, "n": index}}
        for index in range(4000)
    ]
    with app.app_context():
        db.session.execute(insert(AuditEvent), rows)
        db.session.commit()

    def peak(seconds):
        with app.app_context():
            tracemalloc.start()
            try:
                events = audit_export.events(start, start + timedelta(seconds=seconds), batch=200)
                assert audit_export.write(events, _Counting(), "jsonl") == seconds
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
                db.session.rollback()

    small, large = peak(400), peak(4000)
    assert large < small * 2, (small, large)


class _Counting(io.TextIOBase):
    """A text stream that only counts what it is given."""

    def __init__(self):
        self.written = 0

    def write(self, text):
        self.written += len(text)
        return len(text)


# --- retention -----------------------------------------------------------------------------


def audit_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(AuditEvent))


def test_events_are_kept_a_year_to_the_second(app, history, start):
    total = audit_count(app)
    assert total == 3
    with frozen(start + timedelta(days=365)), app.app_context():
        assert purge_expired()["audit_events"] == 0  # exactly a year old: kept
    with frozen(start + timedelta(days=365, seconds=1)), app.app_context():
        assert purge_expired()["audit_events"] == 1  # the wrong password, a year and a second ago
    with frozen(start + timedelta(days=366, hours=1)), app.app_context():
        assert purge_expired(batch=1)["audit_events"] == 2
    assert audit_count(app) == 0


def test_the_retention_is_a_setting_and_zero_keeps_everything(make_app, settings, history, start):
    for days, expected in ((30, 3), (0, 0)):
        other = make_app(settings | {"AUDIT_RETENTION_DAYS": days}, command_line=True)
        with frozen(start + timedelta(days=400)), other.app_context():
            assert purge_expired()["audit_events"] == expected


def test_the_purge_command_applies_the_retention_and_records_its_outcome(app, history, start, audit_events):
    with frozen(start + timedelta(days=366)):
        result = app.test_cli_runner().invoke(args=["purge", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["audit_events"] == 2
    assert [event.details["audit_events"] for event in audit_events("purge")] == [2]
    # The purge's own row, and the event of the day after the start, stay.
    assert [event.event for event in audit_events()] == ["client_added", "purge"]


def test_an_unknown_format_is_refused_before_anything_is_written():
    output = io.StringIO()
    with pytest.raises(ValueError, match="xml"):
        audit_export.write(iter([]), output, "xml")
    assert output.getvalue() == ""
