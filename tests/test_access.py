"""The one door rule (idp.accounts.access) at every door: authorization, code exchange,
refresh, userinfo and introspection, for both categories of relying party."""

import itertools
import re
from datetime import date
from types import SimpleNamespace

import pytest
from sqlalchemy import literal, select

from idp.accounts.access import find_account, relying_party_admits, relying_party_refusal
from idp.extensions import db
from idp.models import Account, AccountKind, AccountState, Establishment, Guardianship, Pupil
from idp.oidc.claims import with_schooling

from .conftest import PASSWORD
from .oidc_helpers import query_of
from .test_login import set_account
from .test_tokens import introspect, userinfo


def _left(app):
    with app.app_context():
        db.session.execute(db.update(Pupil).values(left_on=date(2026, 7, 4)))
        db.session.commit()


CONDITIONS = {
    "teleservices_refused": lambda app: set_account(app, "jean.dupont1", teleservices_refused=True),
    "pupils_left": _left,
    "invalidated": lambda app: set_account(app, "jean.dupont1", state=AccountState.INVALIDATED),
}
# Which (condition, category) the rule still lets through: the coupon has no effect on the ENT.
ALLOWED = {("teleservices_refused", "ent")}


@pytest.mark.both_paths
@pytest.mark.parametrize(("condition", "category"), list(itertools.product(CONDITIONS, ("ent", "teleservice"))))
def test_the_rule_holds_at_all_five_doors(app, make_rp, parent, condition, category):
    rp = make_rp("Service", category=category)
    tokens, _ = rp.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    code, _ = rp.log_in_and_get_code("jean.dupont1", PASSWORD)
    CONDITIONS[condition](app)
    allowed = (condition, category) in ALLOWED

    # Introspection says whether the relying party may still rely on the token.
    assert introspect(rp, tokens["access_token"]).json["active"] is allowed
    assert introspect(rp, tokens["refresh_token"], token_type_hint="refresh_token").json["active"] is allowed
    # Userinfo.
    assert userinfo(rp, tokens["access_token"]).status_code == (200 if allowed else 401)
    # Code exchange.
    exchanged = rp.exchange(code)
    assert exchanged.status_code == 200 if allowed else exchanged.json["error"] == "invalid_grant"
    # Refresh.
    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200 if allowed else refreshed.json["error"] == "invalid_grant"
    # Authorization (the browser still has its login session).
    response, _ = rp.authorize()
    if allowed:
        assert "code" in query_of(response.location)
    else:
        assert response.status_code == 403
        assert "Connexion impossible" in response.text


@pytest.mark.both_paths
def test_a_refused_family_keeps_nothing_of_its_teleservice_until_the_refusal_is_withdrawn(app, make_rp, parent):
    teleservice = make_rp("Paiement en ligne", category="teleservice")
    tokens, _ = teleservice.full_login("jean.dupont1", PASSWORD, scope="openid profile offline_access")
    set_account(app, "jean.dupont1", teleservices_refused=True)
    assert teleservice.refresh(tokens["refresh_token"]).json["error"] == "invalid_grant"
    set_account(app, "jean.dupont1", teleservices_refused=False)
    assert teleservice.refresh(tokens["refresh_token"]).status_code == 200


@pytest.mark.parametrize("reason", ["teleservices_refused", "pupils_left"])
def test_the_refusal_page_only_leads_back_to_the_service_with_access_denied(app, make_rp, parent, reason):
    teleservice = make_rp("Paiement en ligne", category="teleservice")
    teleservice.full_login("jean.dupont1", PASSWORD)
    CONDITIONS[reason](app)
    response, values = teleservice.authorize()
    assert response.status_code == 403
    main = response.text.split("<main", 1)[1].split("</main>", 1)[0]
    links = re.findall(r'href="([^"]+)"', main)
    assert len(links) == 1
    back = links[0].replace("&amp;", "&")
    assert back.startswith(teleservice.redirect_uri + "?")
    answer = query_of(back)
    assert (answer["error"], answer["state"], answer["iss"]) == ("access_denied", values["state"], "http://localhost")
    assert "Retour à Paiement en ligne" in response.text
    if reason == "teleservices_refused":
        assert "coupon réponse" in response.text and "L'ENT reste accessible" in response.text.replace("&#39;", "'")


def test_an_account_keeps_working_while_one_of_its_pupils_is_still_there(app, ent, parent):
    with app.app_context():
        account = db.session.scalar(db.select(Account).where(Account.identifier == "jean.dupont1"))
        establishment = db.session.scalar(db.select(Establishment))
        other = Pupil(given_name="Léo", family_name="Dupont", birth_date=date(2015, 2, 1), establishment=establishment)
        db.session.add(other)
        account.guardianships.append(Guardianship(pupil=other))
        account.children[0].left_on = date(2026, 7, 4)
        db.session.commit()
    ent.full_login("jean.dupont1", PASSWORD)


# --- the rule, as a reason and as a SQL condition, agrees with its statement -----------------

PUPIL_SETS = {
    "none": (),
    "own_current": ("own", None),
    "own_left": ("own", date(2026, 7, 4)),
    "child_current": ("child", None),
    "child_left": ("child", date(2026, 7, 4)),
    "children_one_left": ("children", (None, date(2026, 7, 4))),
    "children_all_left": ("children", (date(2026, 7, 4), date(2026, 6, 30))),
}


def _make(establishment, number, state, refused, pupils):
    account = Account(
        kind=AccountKind.ELEVE if pupils and pupils[0] == "own" else AccountKind.PARENT,
        identifier=f"case.twin{number}",
        given_name="Case",
        family_name="Twin",
        state=state,
        teleservices_refused=refused,
    )
    if pupils:
        where, left = pupils
        dates = left if where == "children" else (left,)
        made = [Pupil(given_name="P", family_name="Q", birth_date=date(2014, 1, 1), left_on=day) for day in dates]
        for pupil in made:
            pupil.establishment = establishment
        if where == "own":
            account.pupil = made[0]
        else:
            account.guardianships.extend(Guardianship(pupil=pupil) for pupil in made)
    db.session.add(account)
    return account


def _expected_refusal(state, refused, pupils, category):
    """The rule as docs/life-cycle.md (« States ») states it, written out plainly for each
    case."""
    if state != AccountState.ACTIVE:
        return state.value
    if pupils and all(left is not None for left in (pupils[1] if pupils[0] == "children" else (pupils[1],))):
        return "pupils_left"
    if category == "teleservice" and refused:
        return "teleservices_refused"
    return None


def test_the_sql_twin_agrees_with_the_python_rule(app, establishment):
    with app.app_context():
        school = db.session.get(Establishment, establishment.id)
        cases = [
            _make(school, number, state, refused, pupils)
            for number, (state, refused, pupils) in enumerate(itertools.product(AccountState, (False, True), PUPIL_SETS.values()))
        ]
        db.session.commit()
        specs = list(itertools.product(AccountState, (False, True), PUPIL_SETS.values()))
        for (account, spec), category in itertools.product(zip(cases, specs, strict=True), ("ent", "teleservice")):
            reason = relying_party_refusal(account, SimpleNamespace(category=category))
            assert reason == _expected_refusal(*spec, category), (spec, category)
            expected = reason is None
            alone = db.session.scalar(select(relying_party_admits(literal(category))).where(Account.id == account.id))
            # Also inside a query that already joins the pupils and guardianships (userinfo's).
            query = select(Account.id, relying_party_admits(literal(category)).label("allowed")).where(Account.id == account.id)
            joined = db.session.execute(with_schooling(query)).all()
            assert bool(alone) is expected, (account.state, account.teleservices_refused, category)
            assert {bool(row.allowed) for row in joined} == {expected}
        allowed = sum(relying_party_refusal(account, SimpleNamespace(category="teleservice")) is None for account in cases)
        assert 0 < allowed < len(cases)
        # Loaded by a login (find_account), the account brings its pupils' check along.
        identifiers = [account.identifier for account in cases]
        db.session.expunge_all()
        for (identifier, spec), category in itertools.product(zip(identifiers, specs, strict=True), ("ent", "teleservice")):
            loaded = find_account(identifier)
            assert loaded.pupils_left is not None
            assert relying_party_refusal(loaded, SimpleNamespace(category=category)) == _expected_refusal(*spec, category)
