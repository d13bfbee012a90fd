"""The académie's registration of relying parties (docs/operations.md, « Registering relying
parties on the web »): list, add, edit, disable and enable, renew the secret, remove, and
each one's history. Every rule and message is idp.relying_parties.registration's, which the
`idp client` commands call too; each change is audited with the staff member and the names
of the fields changed, never a secret.

A new secret is shown once, on the answer to the form that made it (never stored in clear,
never logged, never cached).
"""

from datetime import timedelta

from flask import abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from ..audit import audit
from ..errors import InvalidInput
from ..extensions import db
from ..models import AuditEvent, Client
from ..models.oauth import CLAIMS_BY_SCOPE, SCOPES
from ..relying_parties.lookup import query_client
from ..relying_parties.registration import (
    DEFAULT_SCOPES,
    changed_fields,
    describe,
    disable_client,
    enable_client,
    register_client,
    remove_client,
    rotate_secret,
    update_client,
)
from . import bp
from .access import academie_required
from .forms import ActionForm, ClientForm, RemoveClientForm, RotateSecretForm
from .labels import CLIENT_FIELD_LABELS, event_label

# The events a relying party's history shows: the changes of its registration.
REGISTRATION_EVENTS = ("client_added", "client_updated", "client_disabled", "client_enabled", "client_secret_rotated")
HISTORY_LENGTH = 200
ALL_CLAIMS = [claim for claims in CLAIMS_BY_SCOPE.values() for claim in claims]


def _client_or_404(client_id):
    client = query_client(client_id)
    if client is None:
        abort(404)
    return client


def _lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _client_form(client=None):
    """The registration form, filled from `client` on a first display (else from the request)."""
    form = ClientForm(formdata=None) if request.method == "GET" else ClientForm()
    form.scopes.choices = [(scope, scope) for scope in SCOPES]
    form.claims.choices = [(claim, claim) for claim in ALL_CLAIMS]
    if client is not None and request.method == "GET":
        form.name.data = client.name
        form.category.data = client.category
        form.consent.data = "trusted" if client.trusted else "ask"
        form.redirect_uris.data = "\n".join(client.redirect_uris)
        form.post_logout_redirect_uris.data = "\n".join(client.post_logout_redirect_uris)
        form.backchannel_logout_uri.data = client.backchannel_logout_uri or ""
        form.backchannel_logout_session_required.data = client.backchannel_logout_session_required
        form.frontchannel_logout_uri.data = client.frontchannel_logout_uri or ""
        form.frontchannel_logout_session_required.data = client.frontchannel_logout_session_required
        form.auth_method.data = client.auth_method
        form.scopes.data = client.scope_list
        form.claims_mode.data = "all" if client.claims is None else "chosen"
        form.claims.data = list(client.claims or [])
        form.subject_type.data = client.subject_type
        form.logo_uri.data = client.logo_uri or ""
        form.contact.data = client.contact or ""
    elif request.method == "GET":
        form.scopes.data = list(DEFAULT_SCOPES)
    return form


def _registration(form):
    """The form's answers as the registration functions take them."""
    chosen = form.claims_mode.data == "chosen"
    if chosen and not form.claims.data:
        raise InvalidInput(_("Cochez au moins une information transmise, ou choisissez « toutes celles des scopes autorisés »."))
    return {
        "name": form.name.data,
        "category": form.category.data,
        "redirect_uris": _lines(form.redirect_uris.data),
        "post_logout_redirect_uris": _lines(form.post_logout_redirect_uris.data),
        "auth_method": form.auth_method.data,
        "scopes": list(form.scopes.data or []),
        "trusted": form.consent.data == "trusted",
        "subject_type": form.subject_type.data,
        "claims": list(form.claims.data) if chosen else [],
        "logo_uri": (form.logo_uri.data or "").strip(),
        "contact": form.contact.data or "",
        "backchannel_logout_uri": (form.backchannel_logout_uri.data or "").strip(),
        "backchannel_logout_session_required": form.backchannel_logout_session_required.data,
        "frontchannel_logout_uri": (form.frontchannel_logout_uri.data or "").strip(),
        "frontchannel_logout_session_required": form.frontchannel_logout_session_required.data,
    }


def _form_page(form, client=None, problem=None, status=200):
    page = render_template(
        "staff/academie/client_form.html", form=form, client=client, problem=problem, claims_by_scope=CLAIMS_BY_SCOPE, scopes=SCOPES
    )
    return page, status


def _secret_page(client, secret, rotated=False):
    """The one page that shows a new secret: never cached, never shown again."""
    response = make_response(render_template("staff/academie/client_secret.html", client=client, secret=secret, rotated=rotated))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/academie/services")
@academie_required
def relying_parties():
    clients = db.session.scalars(select(Client).order_by(Client.name)).all()
    return render_template("staff/academie/relying_parties.html", clients=clients)


@bp.route("/academie/services/nouveau", methods=["GET", "POST"])
@academie_required
def add_relying_party():
    form = _client_form()
    if not form.validate_on_submit():
        return _form_page(form, status=400 if request.method == "POST" else 200)
    try:
        values = _registration(form)
        client, secret = register_client(**values)
        db.session.flush()
    except InvalidInput as error:
        db.session.rollback()
        return _form_page(form, problem=str(error), status=400)
    audit("client_added", client=client, staff=g.staff.email, name=client.name)
    db.session.commit()
    if secret is None:
        flash(_("Service « %(name)s » enregistré (service public : sans secret).", name=client.name))
        return redirect(url_for("staff.relying_party", client_id=client.client_id), code=303)
    return _secret_page(client, secret)


@bp.get("/academie/services/<client_id>")
@academie_required
def relying_party(client_id):
    client = _client_or_404(client_id)
    history = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.client_id == client.client_id, AuditEvent.event.in_(REGISTRATION_EVENTS))
        .order_by(AuditEvent.id.desc())
        .limit(HISTORY_LENGTH)
    ).all()
    return render_template(
        "staff/academie/client.html",
        client=client,
        history=history,
        event_label=event_label,
        field_labels=CLIENT_FIELD_LABELS,
        action=ActionForm(),
    )


@bp.route("/academie/services/<client_id>/modifier", methods=["GET", "POST"])
@academie_required
def edit_relying_party(client_id):
    client = _client_or_404(client_id)
    form = _client_form(client)
    if not form.validate_on_submit():
        return _form_page(form, client, status=400 if request.method == "POST" else 200)
    before = describe(client)
    try:
        secret = update_client(client, **_registration(form))
        db.session.flush()
    except InvalidInput as error:
        db.session.rollback()
        return _form_page(form, client, problem=str(error), status=400)
    changed = changed_fields(before, describe(client))
    if changed or secret:
        audit("client_updated", client=client, staff=g.staff.email, fields=changed)
    db.session.commit()
    if secret is not None:  # a public client that became confidential
        return _secret_page(client, secret)
    if changed:
        flash(_("Service « %(name)s » modifié.", name=client.name))
    else:
        flash(_("Rien n'a changé."))
    return redirect(url_for("staff.relying_party", client_id=client.client_id), code=303)


@bp.post("/academie/services/<client_id>/desactiver")
@academie_required
def disable_relying_party(client_id):
    client = _client_or_404(client_id)
    if disable_client(client):
        audit("client_disabled", client=client, staff=g.staff.email)
        db.session.commit()
    flash(_("Service « %(name)s » désactivé : ses connexions et ses jetons sont refusés.", name=client.name))
    return redirect(url_for("staff.relying_party", client_id=client.client_id), code=303)


@bp.post("/academie/services/<client_id>/reactiver")
@academie_required
def enable_relying_party(client_id):
    client = _client_or_404(client_id)
    if enable_client(client):
        audit("client_enabled", client=client, staff=g.staff.email)
        db.session.commit()
    flash(_("Service « %(name)s » réactivé.", name=client.name))
    return redirect(url_for("staff.relying_party", client_id=client.client_id), code=303)


def _overlap(form):
    """The overlap the form chose; InvalidInput for a number of hours that is none."""
    if form.overlap.data != "other":
        return timedelta(hours=int(form.overlap.data))
    hours = (form.hours.data or "").strip()
    if not hours.isdigit():
        raise InvalidInput(_("Saisissez un nombre d'heures entier, par exemple 48."))
    return timedelta(hours=int(hours))


@bp.route("/academie/services/<client_id>/secret", methods=["GET", "POST"])
@academie_required
def rotate_relying_party_secret(client_id):
    """Confirmation (with the overlap to choose), then the new secret, shown once."""
    client = _client_or_404(client_id)
    form = RotateSecretForm()
    problem = None
    if form.validate_on_submit():
        try:
            secret = rotate_secret(client, _overlap(form))
        except InvalidInput as error:
            db.session.rollback()
            problem = str(error)
        else:
            until = client.previous_secret_expires_at
            audit(
                "client_secret_rotated",
                client=client,
                staff=g.staff.email,
                overlap_until=until.isoformat(timespec="seconds") if until else None,
            )
            db.session.commit()
            return _secret_page(client, secret, rotated=True)
    status = 400 if request.method == "POST" else 200
    return render_template("staff/academie/client_rotate.html", client=client, form=form, problem=problem), status


@bp.route("/academie/services/<client_id>/supprimer", methods=["GET", "POST"])
@academie_required
def remove_relying_party(client_id):
    client = _client_or_404(client_id)
    form = RemoveClientForm()
    if form.validate_on_submit():
        audit("client_removed", client=client, staff=g.staff.email, name=client.name)
        name = client.name
        remove_client(client)
        db.session.commit()
        flash(_("Service « %(name)s » supprimé.", name=name))
        return redirect(url_for("staff.relying_parties"), code=303)
    return render_template("staff/academie/client_remove.html", client=client, form=form)
