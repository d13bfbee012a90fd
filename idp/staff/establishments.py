"""An establishment's pages: dashboard and search, an account's page, the import of the
school's files. Every page takes the UAI from its address and answers 404 for a staff
member who does not work there; an account id that is not the establishment's is a 404 too.
"""

from flask import g, render_template, request
from flask_babel import gettext as _

from ..extensions import db
from ..schools.dashboard import account_history, figures, pupils_of_account, recent_imports, search_accounts
from ..schools.files import MAX_BYTES
from ..schools.imports import COUNTS, ImportRefused, import_files
from . import bp
from .access import account_or_404, establishment_or_404, staff_required
from .chart import STATE_LABELS, chart
from .forms import ImportForm, SearchForm

# An upload holds at most the two SIECLE exports, each within the importer's own limit.
IMPORT_MAX_CONTENT_LENGTH = 2 * MAX_BYTES + 2**20


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
        rows=rows,
        search=search,
        results=results,
        state_labels=STATE_LABELS,
    )


@bp.get("/etablissements/<uai>/comptes/<int:account_id>")
@staff_required
def account(uai, account_id):
    establishment = establishment_or_404(uai)
    found = account_or_404(establishment, account_id)
    return render_template(
        "staff/account.html",
        establishment=establishment,
        account=found,
        pupils=pupils_of_account(establishment, found),
        history=account_history(found),
        state_labels=STATE_LABELS,
    )


@bp.route("/etablissements/<uai>/import", methods=["GET", "POST"])
@staff_required
def import_pupils(uai):
    establishment = establishment_or_404(uai)
    request.max_content_length = IMPORT_MAX_CONTENT_LENGTH
    form = ImportForm()
    result = problems = None
    status = 200
    if form.validate_on_submit():
        files = [(upload.filename or "fichier", upload.read()) for upload in form.files.data or () if upload and upload.filename]
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
