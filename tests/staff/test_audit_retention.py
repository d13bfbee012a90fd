"""The audit's retention leaves the back office's per-establishment figures as they were:
they count accounts, never audit rows; only an account's history loses what is over a year old."""

from datetime import timedelta

from idp.extensions import db
from idp.oidc.purge import purge_expired
from idp.schools.dashboard import figures
from idp.schools.establishments import find_establishment

from .conftest import log_in


def dashboard_figures(app, uai):
    with app.app_context():
        return figures(find_establishment(uai))


def test_the_audit_purge_changes_no_establishment_figure(app, client, secretary, school, clock):
    before = {uai: dashboard_figures(app, uai) for uai in ("0140001A", "0610002B")}
    assert before["0140001A"].overall.total == 4
    clock.shift(timedelta(days=366))
    with app.app_context():
        assert purge_expired()["audit_events"] > 0  # the issue of every account, among others
        db.session.commit()
    assert {uai: dashboard_figures(app, uai) for uai in before} == before
    log_in(client, secretary)
    assert client.get("/gestion/etablissements/0140001A/").status_code == 200
    history = client.get(f"/gestion/etablissements/0140001A/comptes/{school['jean']}").text.split("<h2>Historique</h2>")[1]
    assert "Compte édité" not in history
