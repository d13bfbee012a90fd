"""The life cycle's delays in words, as the letter states them (docs/life-cycle.md,
« Deadlines »): « 12 mois » rather than « 365 jours »."""

from flask import current_app
from flask_babel import gettext as _
from flask_babel import ngettext


def months_or_days(days):
    """('months', n) when `days` is a whole number of years (365 a year) or of 30-day
    months, else ('days', days)."""
    if days and days % 365 == 0:
        return "months", days // 365 * 12
    if days and days % 30 == 0:
        return "months", days // 30
    return "days", days


def delay_in_words(days):
    """« 12 mois », « 45 jours », in the current language."""
    unit, count = months_or_days(days)
    if unit == "months":
        return ngettext("%(num)d mois", "%(num)d mois", count)
    return ngettext("%(num)d jour", "%(num)d jours", count)


def inactivity_rule(days=None):
    """« Un compte inutilisé pendant 12 mois est invalidé. » (the guide's words) from
    INACTIVITY_DAYS: the letter, the activated page and « gérer son compte » say it."""
    delay = delay_in_words(current_app.config["INACTIVITY_DAYS"] if days is None else days)
    return _("Un compte inutilisé pendant %(delay)s est invalidé.", delay=delay)
