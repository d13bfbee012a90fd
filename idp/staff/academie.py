"""The académie's pages: establishments and staff (the relying parties: relying_parties.py)."""

import re

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..audit import audit
from ..errors import InvalidInput
from ..extensions import db
from ..models import Establishment, Pupil, StaffMember
from ..schools.establishments import add_establishment, find_establishment, update_establishment
from ..staff_accounts.members import InvalidStaff, create_staff, enrolment_link, restart_enrolment
from . import bp
from .access import academie_required
from .forms import ActionForm, EstablishmentEditForm, EstablishmentForm, StaffForm


@bp.route("/academie/etablissements", methods=["GET", "POST"])
@academie_required
def establishments():
    form = EstablishmentForm()
    if form.validate_on_submit():
        try:
            added = add_establishment(form.uai.data, form.name.data, degree=form.degree.data)
        except InvalidInput as error:
            form.uai.errors.append(str(error))
        else:
            audit("establishment_added", uai=added.uai, staff=g.staff.email)
            db.session.commit()
            flash(_("Établissement %(uai)s « %(name)s » ajouté.", uai=added.uai, name=added.name))
            return redirect(url_for("staff.establishments"), code=303)
    pupils = (
        select(Establishment, func.count(Pupil.id))
        .outerjoin(Pupil, (Pupil.establishment_id == Establishment.id) & Pupil.left_on.is_(None))
        .group_by(Establishment.id)
        .order_by(Establishment.uai)
    )
    rows = db.session.execute(pupils).all()
    return render_template("staff/academie/establishments.html", form=form, rows=rows)


@bp.route("/academie/etablissements/<uai>", methods=["GET", "POST"])
@academie_required
def edit_establishment(uai):
    """The name and degree of an establishment (the degree makes its families' school claims,
    docs/relying-parties.md)."""
    try:
        establishment = find_establishment(uai)
    except InvalidInput:
        abort(404)
    if establishment is None:
        abort(404)
    form = EstablishmentEditForm(obj=establishment) if request.method == "GET" else EstablishmentEditForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("staff/academie/establishment.html", establishment=establishment, form=form), status
    try:
        changed = update_establishment(establishment, name=form.name.data, degree=form.degree.data)
    except InvalidInput as error:
        form.name.errors.append(str(error))
        return render_template("staff/academie/establishment.html", establishment=establishment, form=form), 400
    if changed:
        audit("establishment_updated", uai=establishment.uai, fields=changed, staff=g.staff.email)
        db.session.commit()
        flash(_("Établissement %(uai)s modifié.", uai=establishment.uai))
    else:
        flash(_("Établissement %(uai)s inchangé.", uai=establishment.uai))
    return redirect(url_for("staff.establishments"), code=303)


def _staff_page(form, enrolment=None, status=200):
    members = db.session.scalars(select(StaffMember).order_by(StaffMember.family_name, StaffMember.given_name, StaffMember.email)).all()
    return render_template("staff/academie/staff.html", form=form, members=members, enrolment=enrolment, action=ActionForm()), status


@bp.route("/academie/personnels", methods=["GET", "POST"])
@academie_required
def staff_members():
    form = StaffForm()
    if not form.validate_on_submit():
        return _staff_page(form)
    uais = [uai for uai in re.split(r"[\s,;]+", form.uais.data or "") if uai] if form.role.data == "etablissement" else []
    try:
        member, token = create_staff(form.email.data, form.given_name.data, form.family_name.data, form.role.data, uais)
    except InvalidStaff as error:
        form[error.field].errors.append(str(error))
        return _staff_page(form)
    db.session.flush()
    uais = [each.uai for each in member.establishments]
    audit("staff_added", staff=g.staff.email, member=member.email, role=member.role.value, uais=uais)
    db.session.commit()
    # Until the mail outbox lands, the link is shown here, once.
    return _staff_page(StaffForm(formdata=None), enrolment=(member, enrolment_link(token)))


@bp.post("/academie/personnels/<id:member_id>/inscription")
@academie_required
def restart_staff_enrolment(member_id):
    member = db.session.get(StaffMember, member_id)
    if member is None:
        abort(404)
    token = restart_enrolment(member)
    audit("staff_enrolment_restarted", staff=g.staff.email, member=member.email)
    db.session.commit()
    return _staff_page(StaffForm(formdata=None), enrolment=(member, enrolment_link(token)))
