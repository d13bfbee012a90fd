"""The académie registers relying parties on the web (idp/staff/relying_parties.py): each
action through the real routes, with the rules and messages of the `idp client` commands,
CSRF, the role check, and the history of each change."""

import base64
import re

import pytest

from idp.extensions import db
from idp.models import AuditEvent, Client

from ..oidc_helpers import csrf_token
from .conftest import bound_labels, log_in

SECRET = re.compile(r'<input class="fr-input" id="client-secret" type="text" readonly value="([A-Za-z0-9_-]+)"')
SERVICES = "/gestion/academie/services"


def form_data(**changes):
    data = {
        "name": "Cantine en ligne",
        "category": "teleservice",
        "consent": "ask",
        "redirect_uris": "https://cantine.example.org/cb\r\nhttps://cantine.example.org/cb2",
        "post_logout_redirect_uris": "https://cantine.example.org/bye",
        "backchannel_logout_uri": "",
        "frontchannel_logout_uri": "",
        "auth_method": "client_secret_basic",
        "scopes": ["openid", "profile", "email"],
        "claims_mode": "all",
        "subject_type": "public",
        "logo_uri": "https://cantine.example.org/logo.png",
        "contact": "cantine@ville.example",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def post(client, path, data=None, page=None):
    page = client.get(page or path)
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(page.text)})


def stored(app, client_id=None, name=None):
    with app.app_context():
        query = db.select(Client).where(Client.client_id == client_id) if client_id else db.select(Client).where(Client.name == name)
        found = db.session.scalar(query)
        if found is not None:
            db.session.expunge(found)
        return found


def accepts(app, client_id, secret):
    """True when the stored registration of `client_id` takes `secret` now."""
    with app.app_context():
        return db.session.scalar(db.select(Client).where(Client.client_id == client_id)).check_client_secret(secret)


def register(client, **changes):
    response = post(client, f"{SERVICES}/nouveau", form_data(**changes))
    assert response.status_code == 200, response.text
    return response


def test_the_academie_registers_a_service_and_sees_its_secret_once(app, client, administrator, clock, audit_events):
    log_in(client, administrator)
    listing = client.get(SERVICES)
    assert 'href="/gestion/academie/services/nouveau"' in listing.text
    page = client.get(f"{SERVICES}/nouveau")
    assert page.status_code == 200 and bound_labels(page.text) and "<script" not in page.text
    assert 'value="openid" id="scopes-openid" checked' in page.text  # the default scopes are checked

    response = register(client)
    assert response.headers["Cache-Control"] == "no-store"
    assert "n'est affiché qu'une fois" in response.text
    secret = SECRET.search(response.text).group(1)
    registered = stored(app, name="Cantine en ligne")
    assert accepts(app, registered.client_id, secret) and secret not in registered.secret_hash
    assert registered.redirect_uris == ["https://cantine.example.org/cb", "https://cantine.example.org/cb2"]
    assert registered.post_logout_redirect_uris == ["https://cantine.example.org/bye"]
    assert registered.scope_list == ["openid", "profile", "email"] and registered.claims is None
    assert registered.logo_uri == "https://cantine.example.org/logo.png"
    assert (registered.contact, registered.trusted) == ("cantine@ville.example", False)
    (added,) = audit_events("client_added")
    assert added.client_id == registered.client_id
    assert added.details == {"staff": administrator.email, "name": "Cantine en ligne"}
    assert secret not in str([event.details for event in audit_events()])

    # Never shown again: neither on the service's page nor in the list.
    detail = client.get(f"{SERVICES}/{registered.client_id}")
    assert detail.status_code == 200 and secret not in detail.text
    assert "Service connecté ajouté" in detail.text and administrator.email in detail.text
    assert secret not in client.get(SERVICES).text


def test_bad_input_shows_the_rule_s_message_and_changes_nothing(app, client, administrator, clock):
    log_in(client, administrator)
    cases = [
        ({"redirect_uris": "https://cantine.example.org/*"}, "pas de joker"),
        ({"redirect_uris": "https://a.example.org/cb\nhttps://b.example.org/cb", "subject_type": "pairwise"}, "même hôte"),
        ({"scopes": ["profile"]}, "Le scope openid est obligatoire."),
        ({"claims_mode": "chosen", "claims": ["FrEduCtEleveUAI"]}, "hors des scopes du service"),
        ({"claims_mode": "chosen"}, "Cochez au moins une information"),
        ({"logo_uri": "http://cantine.example.org/logo.png"}, "http n&#39;est admis que sur"),
        ({"contact": "x" * 201}, "trop long"),
        ({"name": ""}, "Saisissez le nom du service."),
        ({"category": "banque"}, "Choisissez la catégorie."),
    ]
    for changes, message in cases:
        response = post(client, f"{SERVICES}/nouveau", form_data(**changes))
        assert response.status_code == 400, changes
        assert message in response.text, (changes, response.text[:3000])
        assert not SECRET.search(response.text)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Client)) == 0


def test_editing_records_who_changed_which_fields(app, client, administrator, clock, audit_events):
    log_in(client, administrator)
    register(client)
    client_id = stored(app, name="Cantine en ligne").client_id
    edit = f"{SERVICES}/{client_id}/modifier"
    page = client.get(edit)
    assert page.status_code == 200 and bound_labels(page.text)
    assert "https://cantine.example.org/cb\nhttps://cantine.example.org/cb2" in page.text
    changes = form_data(
        consent="trusted",
        subject_type="pairwise",
        claims_mode="chosen",
        claims=["name", "email"],
        post_logout_redirect_uris="",
        backchannel_logout_uri="https://cantine.example.org/bc",
        backchannel_logout_session_required="y",
    )
    response = post(client, edit, changes)
    assert response.status_code == 303
    changed = stored(app, client_id)
    assert changed.trusted and changed.subject_type == "pairwise" and changed.claims == ["name", "email"]
    assert changed.post_logout_redirect_uris == [] and changed.backchannel_logout_uri == "https://cantine.example.org/bc"
    assert changed.backchannel_logout_session_required
    (updated,) = audit_events("client_updated")
    assert updated.details["staff"] == administrator.email
    assert sorted(updated.details["fields"]) == sorted(
        ["post_logout_redirect_uris", "claims", "trusted", "subject_type", "backchannel_logout_uri", "backchannel_logout_session_required"]
    )
    history = client.get(response.location).text
    assert "Service connecté modifié" in history and "informations transmises" in history

    # Refused: the form again with the rule's message, and nothing changed.
    two_hosts = "https://a.example.org/cb\nhttps://b.example.org/cb"
    refused = post(client, edit, form_data(name="Autre nom", redirect_uris=two_hosts, subject_type="pairwise"))
    assert refused.status_code == 400 and "même hôte" in refused.text
    assert stored(app, client_id).name == "Cantine en ligne"
    # Nothing changed: nothing audited.
    assert post(client, edit, changes).status_code == 303
    assert len(audit_events("client_updated")) == 1


def test_disable_enable_rotate_remove(app, client, administrator, clock, audit_events):
    log_in(client, administrator)
    first = SECRET.search(register(client).text).group(1)
    client_id = stored(app, name="Cantine en ligne").client_id
    detail = f"{SERVICES}/{client_id}"

    assert post(client, f"{detail}/desactiver", page=detail).status_code == 303
    assert stored(app, client_id).disabled_at is not None
    assert "Service désactivé depuis" in client.get(detail).text
    assert post(client, f"{detail}/reactiver", page=detail).status_code == 303
    assert stored(app, client_id).disabled_at is None

    confirmation = client.get(f"{detail}/secret")
    assert confirmation.status_code == 200 and bound_labels(confirmation.text)
    assert re.search(r"<input checked[^>]*value=\"24\"", confirmation.text), confirmation.text  # 24 hours by default
    refused = post(client, f"{detail}/secret", {"overlap": "other", "hours": "douze"})
    assert refused.status_code == 400 and "nombre d&#39;heures entier" in refused.text
    refused = post(client, f"{detail}/secret", {"overlap": "other", "hours": "9000"})
    assert refused.status_code == 400 and "de 0 à 30 jours" in refused.text
    assert accepts(app, client_id, first) and stored(app, client_id).previous_secret_hash is None

    rotated = post(client, f"{detail}/secret", {"overlap": "other", "hours": "48"})
    assert rotated.status_code == 200 and rotated.headers["Cache-Control"] == "no-store"
    second = SECRET.search(rotated.text).group(1)
    assert accepts(app, client_id, second) and accepts(app, client_id, first)
    clock.shift(48 * 3600)
    assert not accepts(app, client_id, first)
    log_in(client, administrator)  # the staff session ended meanwhile

    immediate = post(client, f"{detail}/secret", {"overlap": "0"})
    assert not accepts(app, client_id, second)
    assert accepts(app, client_id, SECRET.search(immediate.text).group(1))

    events = [event.event for event in audit_events() if event.client_id == client_id]
    assert events == ["client_added", "client_disabled", "client_enabled", "client_secret_rotated", "client_secret_rotated"]
    history = client.get(detail).text
    for label in ("Service connecté désactivé", "Service connecté réactivé", "Secret d'un service connecté renouvelé"):
        assert label in history

    confirm = client.get(f"{detail}/supprimer")
    assert confirm.status_code == 200 and "Supprimer définitivement le service" in confirm.text
    assert stored(app, client_id) is not None  # the confirmation page changes nothing
    removed = post(client, f"{detail}/supprimer")
    assert removed.status_code == 303 and removed.location == SERVICES
    assert stored(app, client_id) is None
    assert audit_events("client_removed")[-1].details == {"staff": administrator.email, "name": "Cantine en ligne"}
    assert client.get(detail).status_code == 404


def test_a_public_service_has_no_secret_page(app, client, administrator, clock):
    log_in(client, administrator)
    response = post(client, f"{SERVICES}/nouveau", form_data(auth_method="none"))
    assert response.status_code == 303
    client_id = stored(app, name="Cantine en ligne").client_id
    assert response.location == f"{SERVICES}/{client_id}"
    page = client.get(response.location).text
    assert "service public : sans secret" in page and "Renouveler le secret" not in page
    assert client.post(f"{SERVICES}/{client_id}/secret", data={"overlap": "0", "csrf_token": csrf_token(page)}).status_code == 400
    # Becoming confidential gives it a secret, shown once.
    became = post(client, f"{SERVICES}/{client_id}/modifier", form_data(auth_method="client_secret_post"))
    assert became.status_code == 200 and accepts(app, client_id, SECRET.search(became.text).group(1))


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/nouveau"),
        ("post", "/{id}/modifier"),
        ("post", "/{id}/desactiver"),
        ("post", "/{id}/reactiver"),
        ("post", "/{id}/secret"),
        ("post", "/{id}/supprimer"),
    ],
)
def test_every_change_needs_the_csrf_token(app, client, administrator, ent, clock, method, path):
    log_in(client, administrator)
    response = client.post(SERVICES + path.format(id=ent.client_id), data=form_data() | {"overlap": "0"})
    assert response.status_code == 400
    found = stored(app, ent.client_id)
    assert found is not None and found.disabled_at is None and accepts(app, ent.client_id, ent.secret)
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Client)) == 1
        assert db.session.scalar(db.select(db.func.count()).select_from(AuditEvent).where(AuditEvent.event.like("client_%"))) == 0


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", ""),
        ("get", "/nouveau"),
        ("post", "/nouveau"),
        ("get", "/{id}"),
        ("get", "/{id}/modifier"),
        ("post", "/{id}/modifier"),
        ("post", "/{id}/desactiver"),
        ("post", "/{id}/reactiver"),
        ("get", "/{id}/secret"),
        ("post", "/{id}/secret"),
        ("get", "/{id}/supprimer"),
        ("post", "/{id}/supprimer"),
    ],
)
def test_establishment_staff_get_a_404_and_change_nothing(app, client, secretary, ent, clock, method, path):
    log_in(client, secretary)
    token = csrf_token(client.get("/gestion/", follow_redirects=True).text)  # the logout button's
    url = SERVICES + path.format(id=ent.client_id)
    data = form_data() | {"overlap": "0", "csrf_token": token}
    response = client.get(url) if method == "get" else client.post(url, data=data)
    assert response.status_code == 404
    found = stored(app, ent.client_id)
    assert found is not None and found.disabled_at is None and accepts(app, ent.client_id, ent.secret)


def test_without_a_staff_session_the_pages_ask_to_log_in(client, ent):
    response = client.get(f"{SERVICES}/{ent.client_id}/modifier")
    assert response.status_code == 302 and response.location.startswith("/gestion/connexion")


def test_an_unknown_service_is_a_404(client, administrator, clock):
    log_in(client, administrator)
    assert client.get(f"{SERVICES}/inconnu").status_code == 404
    assert client.get(f"{SERVICES}/inconnu/secret").status_code == 404


def test_the_secret_never_reaches_the_log(app, client, administrator, clock, caplog):
    log_in(client, administrator)
    secret = SECRET.search(register(client).text).group(1)
    client_id = stored(app, name="Cantine en ligne").client_id
    rotated = SECRET.search(post(client, f"{SERVICES}/{client_id}/secret", {"overlap": "24"}).text).group(1)
    assert secret not in caplog.text and rotated not in caplog.text
    assert base64.b64encode(secret.encode()).decode() not in caplog.text
