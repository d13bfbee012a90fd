"""Forms of the first connection and of the activation pages, and the password and address
fields that the other pages' forms share; labels are the guide's words."""

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

from .forms import TOO_LONG

REQUIRED = _l("Ce champ est obligatoire.")


def parse_birth_date(text):
    """A date typed as JJ/MM/AAAA (the guide) or sent by a date input (AAAA-MM-JJ); None if neither."""
    text = (text or "").strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            parsed = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if date(1900, 1, 1) <= parsed:
            return parsed
    return None


def password_field(label, autocomplete="new-password"):
    return PasswordField(
        label,
        validators=[DataRequired(message=REQUIRED), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": autocomplete, "required": True},
    )


def email_field(label):
    return EmailField(
        label,
        validators=[DataRequired(message=REQUIRED), Length(max=254, message=TOO_LONG)],
        render_kw={"autocomplete": "email", "required": True, "spellcheck": "false"},
    )


class FirstConnectionForm(FlaskForm):
    password = password_field(_l("nouveau mot de passe"))
    password_confirmation = password_field(_l("confirmation du mot de passe"))
    email = email_field(_l("adresse mail"))
    email_confirmation = email_field(_l("confirmation de l'adresse mail"))
    birth_date = StringField(
        _l("date de naissance"),
        validators=[DataRequired(message=REQUIRED), Length(max=20, message=TOO_LONG)],
        render_kw={"autocomplete": "off", "inputmode": "numeric", "required": True, "placeholder": "JJ/MM/AAAA"},
    )
    submit = SubmitField(_l("Valider"))


class ResendForm(FlaskForm):
    submit = SubmitField(_l("Renvoyer le courrier électronique"))


class CorrectEmailForm(FlaskForm):
    email = email_field(_l("adresse mail"))
    email_confirmation = email_field(_l("confirmation de l'adresse mail"))
    submit = SubmitField(_l("Corriger l'adresse"))


class ActivateForm(FlaskForm):
    submit = SubmitField(_l("Activer mon compte"))
