"""Forms of the login pages; labels are the words of the parents' guide."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

TOO_LONG = _l("Ce champ est trop long.")


class LoginForm(FlaskForm):
    identifier = StringField(
        _l("Identifiant"),
        validators=[DataRequired(message=_l("Saisissez votre identifiant.")), Length(max=64, message=TOO_LONG)],
        render_kw={"autocomplete": "username", "autocapitalize": "none", "spellcheck": "false"},
    )
    password = PasswordField(
        _l("Mot de passe"),
        validators=[DataRequired(message=_l("Saisissez votre mot de passe.")), Length(max=256, message=TOO_LONG)],
        render_kw={"autocomplete": "current-password"},
    )
    next = HiddenField()
    submit = SubmitField(_l("Valider"))
