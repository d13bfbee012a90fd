"""Forms of the login pages; labels are the words of the parents' guide."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, PasswordField, StringField, SubmitField
from wtforms.validators import DataRequired, Length

TOO_LONG = _l("Ce champ est trop long.")
# The login form's fields: never parameters of the authorization request the form answers
# when the authorization endpoint shows it.
LOGIN_FIELDS = frozenset({"identifier", "password", "next", "submit", "csrf_token"})


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
