"""An establishment's pages: dashboard and search, an account's page, the import of the
school's files. Every page takes the UAI from its address and answers 404 for a staff
member who does not work there; an account id that is not the establishment's is a 404 too.
"""

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import format_decimal
from flask_babel import gettext as _
from werkzeug.utils import secure_filename
from wtforms.fields.choices import SelectChoice

from ..accounts.lifecycle import regenerate, set_refusal
from ..audit import audit
from ..clock import now
from ..errors import InvalidInput
from ..extensions import db
from ..inputs import accepts_uploads
from ..schools.dashboard import account_history, class_names, figures, pupils_of_account, recent_imports, search_accounts
from ..schools.establishments import normalize_address, normalize_contact, normalize_phone, update_establishment
from ..schools.imports import COUNTS, ImportRefused, import_files
from ..schools.issuing import count_to_issue, issue_batch
from . import bp
from .access import account_or_404, establishment_or_404, staff_required
from .chart import chart, compact_chart
from .forms import EstablishmentContactForm, ImportForm, IssueForm, RefusalForm, RegenerateForm, SearchForm
from .labels import STATE_LABEL, STATE_LABELS, event_label


def import_max_content_length(config):
    """An upload holds at most the two SIECLE exports, each within the importer's own limit."""
    return 2 * config["IMPORT_MAX_BYTES"] + 2**20


@bp.get("/etablissements/<uai>/")
@staff_required
def dashboard(uai):
    establishment = establishment_or_404(uai)
    search = SearchForm(request.args)
    results = None
    if search.q.data and search.validate():
        results = search_accounts(establishment, search.q.data)
    numbers = figures(establishment)
    rows = [(_("Établissement"), numbers.overall)] + [(each.name or _("sans classe"), each) for each in numbers.classes]
    return render_template(
        "staff/dashboard.html",
        establishment=establishment,
        figures=numbers,
        chart=chart(rows),
        compact_chart=compact_chart(rows),
        rows=rows,
        search=search,
        results=results,
        state_labels=STATE_LABELS,
        state_label=STATE_LABEL,
        contact_form=EstablishmentContactForm(formdata=None, obj=establishment),
    )


def _account_page(establishment, found, regenerate_form=None, status=200):
    return render_template(
        "staff/account.html",
        establishment=establishment,
        account=found,
        pupils=pupils_of_account(establishment, found),
        history=account_history(found),
        state_label=STATE_LABEL,
        event_label=event_label,
        regenerate_form=regenerate_form or RegenerateForm(formdata=None),
        refusal_form=RefusalForm(formdata=None, refused="0" if found.teleservices_refused else "1"),
    ), status


def _letters(issued, *names):
    """The letters PDF of `issued` (Issued records, or an issue's Batch read as it is drawn),
    as a download named after `names` and today. It holds provisional secrets: no cache (the
    browser's, a proxy's) may keep a copy."""
    filename = secure_filename("-".join(("courriers", *names, now().strftime("%Y%m%d")))) + ".pdf"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    from ..schools.letters import render_letters  # here: fpdf2 weighs 29 MB per worker

    return render_letters(issued), 200, {"Content-Type": "application/pdf", **headers}


@bp.get("/etablissements/<uai>/comptes/<id:account_id>")
@staff_required
def account(uai, account_id):
    establishment = establishment_or_404(uai)
    return _account_page(establishment, account_or_404(establishment, account_id))


@bp.post("/etablissements/<uai>/comptes/<id:account_id>/regeneration")
@staff_required
def regenerate_account(uai, account_id):
    """A new provisional secret and its letter (downloaded), for the same account."""
    establishment = establishment_or_404(uai)
    found = account_or_404(establishment, account_id)
    form = RegenerateForm()
    if not form.validate_on_submit():
        return _account_page(establishment, found, regenerate_form=form, status=400)
    issued = regenerate(found, staff=g.staff)
    # The letter is made before the commit: if it failed, the old secret would still work.
    response = _letters([issued], found.identifier)
    db.session.commit()
    return response


@bp.post("/etablissements/<uai>/comptes/<id:account_id>/refus")
@staff_required
def record_refusal(uai, account_id):
    """The reply coupon: record the refusal of the téléservices, or withdraw it."""
    establishment = establishment_or_404(uai)
    found = account_or_404(establishment, account_id)
    form = RefusalForm()
    if not form.validate_on_submit():
        return _account_page(establishment, found, status=400)
    refused = form.refused.data == "1"
    set_refusal(found, refused, staff=g.staff)
    db.session.commit()
    if refused:
        flash(_("Refus des téléservices enregistré : les téléservices n'acceptent plus ce compte ; l'ENT reste accessible."))
    else:
        flash(_("Refus des téléservices annulé : le compte peut de nouveau utiliser les téléservices."))
    return redirect(url_for("staff.account", uai=establishment.uai, account_id=found.id), code=303)


@bp.route("/etablissements/<uai>/edition", methods=["GET", "POST"])
@staff_required
def issue(uai):
    """Issue the accounts a class (or the establishment) lacks; the letters download."""
    establishment = establishment_or_404(uai)
    classes = class_names(establishment)
    form = IssueForm()
    form.class_name.choices = [SelectChoice("", _("toutes les classes"))] + [SelectChoice(name, name) for name in classes]
    status = 200
    limit = current_app.config["LETTERS_PER_FILE"]
    if form.validate_on_submit():
        class_name = form.class_name.data or None
        try:
            # At most `limit` accounts per click, whole classes while they fit: one PDF, one
            # transaction, a worker's memory bounded whatever the establishment's size.
            batch = issue_batch(establishment, class_name, form.kind.data, staff=g.staff, limit=limit)
        except InvalidInput as error:
            form.class_name.errors.append(str(error))
            status = 400
        else:
            if batch:
                first, last = batch.classes
                names = [class_name or ""] if not batch.more else [first or _("sans classe"), last or _("sans classe")]
                response = _letters(batch, establishment.uai, *names)
                if batch.more:
                    left = count_to_issue(establishment, class_name, form.kind.data)
                    flash(
                        _(
                            "%(count)s comptes édités (classes %(first)s à %(last)s) : le fichier des courriers en contient au plus"
                            " %(max)s. Il reste %(left)s comptes à éditer : cliquez de nouveau sur « Éditer » pour les suivants.",
                            count=format_decimal(len(batch)),
                            first=first or _("sans classe"),
                            last=last or _("sans classe"),
                            max=format_decimal(limit),
                            left=format_decimal(left),
                        )
                    )
                db.session.commit()
                return response
            flash(_("Aucun compte à éditer : tous ont déjà le leur. Un courrier perdu se remplace depuis la page du compte (régénérer)."))
    page = render_template("staff/issue.html", establishment=establishment, form=form, figures=figures(establishment), limit=limit)
    return page, status


@bp.route("/etablissements/<uai>/import", methods=["GET", "POST"])
@accepts_uploads(import_max_content_length)
@staff_required
def import_pupils(uai):
    establishment = establishment_or_404(uai)
    form = ImportForm()
    result = problems = None
    status = 200
    if form.validate_on_submit():
        # The uploads' streams (on disk past 500 KiB), which the import reads as it goes.
        files = [(upload.filename, upload.stream) for upload in form.files.data or () if upload and upload.filename]
        try:
            result = import_files(establishment, files, complete=form.complete.data, staff=g.staff)
        except ImportRefused as refused:
            db.session.rollback()
            problems = refused.problems
            status = 422
        else:
            db.session.commit()
    return render_template(
        "staff/import.html",
        establishment=establishment,
        form=form,
        result=result,
        problems=problems,
        counts=COUNTS,
        imports=recent_imports(establishment),
    ), status


# The contact fields, each with its check.
_CONTACT_FIELDS = {"address": normalize_address, "phone": normalize_phone, "contact": normalize_contact}


@bp.route("/etablissements/<uai>/coordonnees", methods=["GET", "POST"])
@staff_required
def establishment_contact(uai):
    """The address, phone and contact line the letters print: the establishment's staff and
    the académie may change them (establishment_or_404)."""
    establishment = establishment_or_404(uai)
    form = EstablishmentContactForm(obj=establishment) if request.method == "GET" else EstablishmentContactForm()
    status = 200
    if request.method == "POST":
        status = 400
        if form.validate_on_submit():
            try:
                changed = _update_contact(establishment, form)
            except _FieldRefused as refused:
                getattr(form, refused.field).errors.append(refused.message)
            else:
                if changed:
                    audit("establishment_updated", uai=establishment.uai, fields=changed, staff=g.staff.email)
                    db.session.commit()
                    flash(_("Coordonnées de l'établissement enregistrées : elles figurent sur les prochains courriers."))
                else:
                    flash(_("Coordonnées de l'établissement inchangées."))
                return redirect(url_for("staff.establishment_contact", uai=establishment.uai), code=303)
    return render_template("staff/establishment_contact.html", establishment=establishment, contact_form=form), status


class _FieldRefused(Exception):
    def __init__(self, field, message):
        super().__init__(message)
        self.field, self.message = field, message


def _update_contact(establishment, form):
    """Check each field on its own (so that its message sits beside it), then change them all."""
    values = {}
    for field, normalize in _CONTACT_FIELDS.items():
        raw = getattr(form, field).data or ""
        try:
            normalize(raw)
        except InvalidInput as error:
            raise _FieldRefused(field, _FIELD_MESSAGES[field]()) from error
        values[field] = raw
    return update_establishment(establishment, **values)


_FIELD_MESSAGES = {
    "address": lambda: _("Saisissez une adresse de 4 lignes et 300 caractères au plus."),
    "phone": lambda: _("Saisissez un numéro de téléphone français, par exemple 02 31 00 00 00 ou +33 2 31 00 00 00."),
    "contact": lambda: _("Saisissez une ligne de contact de 200 caractères au plus, sans caractère de contrôle."),
}
