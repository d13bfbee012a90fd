"""The pages every State site links from its footer: legal notice, accessibility statement, contact."""

from flask import Blueprint, render_template

bp = Blueprint("pages", __name__)


@bp.get("/mentions-legales")
def legal():
    return render_template("pages/legal.html")


@bp.get("/accessibilite")
def accessibility():
    return render_template("pages/accessibility.html")


@bp.get("/contact")
def contact():
    return render_template("pages/contact.html")
