"""The académie's pages of the SAML service providers: the list, the registration from the
service provider's metadata (a file or its address), one provider's registration, its
removal. The rules are idp.relying_parties.saml's, as for `idp saml-sp`."""

from flask import abort, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, DataRequired, Length, Optional

from ..audit import audit
from ..errors import InvalidInput
from ..extensions import db
from ..inputs import accepts_uploads
from ..models import SamlServiceProvider
from ..relying_parties.saml import (
    MAX_METADATA_BYTES,
    describe,
    describe_attributes,
    list_service_providers,
    read_metadata,
    read_metadata_url,
    register_service_provider,
    remove_service_provider,
)
from . import bp
from .access import academie_required
from .forms import TOO_LONG, ActionForm


class ServiceProviderForm(FlaskForm):
    name = StringField(_l("Nom du service"), validators=[DataRequired(message=_l("Saisissez le nom.")), Length(max=200, message=TOO_LONG)])
    category = RadioField(
        _l("Catégorie"),
        validate_choice=False,
        validators=[AnyOf(["ent", "teleservice"], message=_l("Choisissez la catégorie."))],
        choices=[SelectChoice("ent", _l("ENT")), SelectChoice("teleservice", _l("téléservice"))],
        default="ent",
    )
    metadata_file = FileField(_l("Fichier des métadonnées"))
    metadata_url = StringField(_l("Ou adresse des métadonnées"), validators=[Optional(), Length(max=500, message=TOO_LONG)])
    trusted = BooleanField(_l("Service de confiance : ne pas demander le consentement"))
    submit = SubmitField(_l("Enregistrer le service"))


def _list_page(form, status=200):
    return render_template("staff/academie/saml_sps.html", form=form, providers=list_service_providers()), status


@bp.route("/academie/saml", methods=["GET", "POST"])
@academie_required
@accepts_uploads(MAX_METADATA_BYTES + 16 * 1024)
def saml_service_providers():
    form = ServiceProviderForm()
    if not form.validate_on_submit():
        return _list_page(form)
    upload = form.metadata_file.data
    try:
        if upload and getattr(upload, "filename", ""):
            metadata, source = read_metadata(upload.read(MAX_METADATA_BYTES + 1)), upload.filename
        elif form.metadata_url.data:
            metadata, source = read_metadata(read_metadata_url(form.metadata_url.data.strip())), form.metadata_url.data.strip()
        else:
            raise InvalidInput(_("Donnez le fichier des métadonnées du service, ou leur adresse."))
        sp = register_service_provider(metadata, form.name.data, form.category.data, trusted=form.trusted.data, source=source)
    except InvalidInput as error:
        db.session.rollback()
        form.metadata_file.errors = [*form.metadata_file.errors, str(error)]
        return _list_page(form, 400)
    audit("saml_sp_added", sp=sp.entity_id, staff=g.staff.email)
    db.session.commit()
    flash(_("Service « %(name)s » enregistré.", name=sp.name))
    return redirect(url_for("staff.saml_service_provider", sp_id=sp.id), code=303)


def _found(sp_id):
    sp = db.session.get(SamlServiceProvider, sp_id)
    if sp is None:
        abort(404)
    return sp


@bp.get("/academie/saml/<id:sp_id>")
@academie_required
def saml_service_provider(sp_id):
    sp = _found(sp_id)
    return render_template(
        "staff/academie/saml_sp.html", sp=sp, facts=describe(sp), attributes=describe_attributes(sp.attributes), action=ActionForm()
    )


@bp.post("/academie/saml/<id:sp_id>/suppression")
@academie_required
def remove_saml_service_provider(sp_id):
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    sp = _found(sp_id)
    name, entity_id = sp.name, sp.entity_id
    remove_service_provider(sp)
    audit("saml_sp_removed", sp=entity_id, staff=g.staff.email)
    db.session.commit()
    flash(_("Service « %(name)s » supprimé.", name=name))
    return redirect(url_for("staff.saml_service_providers"), code=303)
