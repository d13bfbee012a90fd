"""The credential letters (docs/parents-journey.md, « The letter »): one A4 page per account,
with how to reach the school, the identifier, the provisional secret, the site, the
activation deadline and the inactivity rule, the guide's first steps and the detachable
reply coupon.

The letter is the only place the secret is ever shown: it cannot be reprinted, a lost
letter means a regeneration. The text layer carries `Identifiant : <identifier>` and
`Mot de passe provisoire : <secret>` on lines of their own, for screen readers.

Pages are drawn with fpdf2's `text` at computed positions: the paragraphs every letter
shares are wrapped once per language and PDF, so that ten thousand letters take seconds.
"""

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF

from ..accounts.deadlines import activation_deadline
from ..accounts.delays import inactivity_rule
from ..accounts.identifiers import ascii_slug
from ..clock import now
from ..models import AccountKind
from .establishments import contact_lines
from .issuing import letter_order
from .names import is_feminine, of_name

FONTS = Path(__file__).resolve().parent.parent / "static" / "fonts"
PARIS = ZoneInfo("Europe/Paris")

# Page geometry, in millimetres (A4 portrait).
LEFT = 20
WIDTH = 170
RIGHT_COLUMN = 112
CUT_LINE = 200
GREY = (90, 90, 90)
# The school's address, phone or contact line, in the left column of the header.
LETTERHEAD_WIDTH = RIGHT_COLUMN - LEFT - 6
LETTERHEAD_LINES = 8


def _local_date(moment):
    if isinstance(moment, datetime):
        return moment.replace(tzinfo=UTC).astimezone(PARIS).date()
    return moment


class _Texts:
    """The words of a letter in one language, the shared paragraphs wrapped once."""

    def __init__(self, pdf, language, dated_on):
        config = current_app.config
        self.language = language
        self.academies = {}
        self.dates = {}
        with force_locale(language):
            self.title = _("Votre compte Téléservices")
            self.greeting = _("Madame, Monsieur,")
            self.intro_parent = _("Voici les codes d'accès de votre compte Téléservices pour votre enfant :")
            self.intro_pupil = _("Voici les codes d'accès à votre compte Téléservices :")
            self.one_per_child = _("Vous disposez d'un compte par enfant.")
            self.identifier = _("Identifiant : ")
            self.secret = _("Mot de passe provisoire : ")
            self.site = _("Adresse du site : ")
            self.deadline = _("À activer avant le : ")
            self.inactivity = inactivity_rule()
            self.steps_title = _("Première connexion, en bref")
            site = config["ISSUER"]
            length = config["PASSWORD_MIN_LENGTH"]
            steps = [
                _(
                    "Connectez-vous sur %(site)s avec l'identifiant et le mot de passe provisoire ci-dessus, puis cliquez sur « Valider ».",
                    site=site,
                ),
                _(
                    "Choisissez un mot de passe de %(count)d caractères minimum, comportant des chiffres et des lettres, et confirmez-le.",
                    count=length,
                ),
                None,
                _(
                    "Ouvrez le lien reçu par courrier électronique pour activer le compte avant la date ci-dessus "
                    "(passé ce délai, contactez l'établissement, en haut de ce courrier) : "
                    "sans cela, vous ne pourrez pas vous connecter à l'ENT."
                ),
                _(
                    "Connectez-vous ensuite à %(ent)s (%(url)s) : choisissez « Élève ou parent de l'enseignement public », "
                    "puis saisissez votre identifiant et votre nouveau mot de passe.",
                    ent=config["ENT_NAME"],
                    url=config["ENT_URL"],
                ),
            ]
            parent_step = _("Entrez votre adresse mail et confirmez-la, puis la date de naissance de votre enfant.")
            pupil_step = _("Entrez votre adresse mail et confirmez-la, puis votre date de naissance.")
            keep = _(
                "Ce courrier ne peut pas être réimprimé : le mot de passe provisoire n'est pas conservé. "
                "En cas de perte, l'établissement peut vous attribuer un nouveau mot de passe provisoire."
            )
            self.cut = _("Coupon réponse à découper et à rendre à l'établissement")
            self.coupon_title = _("COUPON RÉPONSE")
            self.guardian = _("Responsable légal : ")
            self.guardian_feminine = _("Responsable légale : ")
            self.guardian_of = _("Responsable légal de ")
            self.guardian_of_feminine = _("Responsable légale de ")
            self.pupil = _("Élève : ")
            self.class_label = _("Classe : ")
            self.account = _("Compte : ")
            self.refuse = _("Je refuse l'utilisation des téléservices")
            self.no_effect = _("Ce coupon est sans effet pour l'ENT, %(ent)s étant le service d'un éditeur privé.", ent=config["ENT_NAME"])
            self.date = _("Date :")
            self.signature = _("Signature :")
            self.dated = _("Le %(date)s", date=self.long_date(dated_on))
        pdf.set_font("Sans", "", 10)
        self.steps = {
            kind: [_wrap(pdf, step or kind_step, WIDTH - 6) for step in steps]
            for kind, kind_step in ((AccountKind.PARENT, parent_step), (AccountKind.ELEVE, pupil_step))
        }
        pdf.set_font("Sans", "", 9)
        self.keep = _wrap(pdf, keep, WIDTH)

    def guardian_of_pupils(self, names, civility):
        """« Responsable légale d'Aïssatou Diallo »: the grammar of French (gender from the
        school file's civility, elision), the translated words in another language."""
        feminine = is_feminine(civility)
        if self.language == "fr":
            return f"{'Responsable légale' if feminine else 'Responsable légal'} {of_name(names)}"
        return (self.guardian_of_feminine if feminine else self.guardian_of) + names

    def long_date(self, day):
        if day not in self.dates:
            self.dates[day] = format_date(day, format="long", locale=self.language)
        return self.dates[day]

    def academie(self, name):
        if name not in self.academies:
            with force_locale(self.language):
                self.academies[name] = _("Académie de %(name)s", name=name)
        return self.academies[name]


def _wrap(pdf, paragraph, width):
    """The lines of `paragraph` in the current font, each at most `width` wide."""
    lines, line = [], ""
    for word in paragraph.split():
        candidate = f"{line} {word}" if line else word
        if line and pdf.get_string_width(candidate) > width:
            lines.append(line)
            candidate = word
        line = candidate
    return [*lines, line]


class _Letters(FPDF):
    def __init__(self):
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.set_auto_page_break(False)
        self.set_margins(LEFT, 15, LEFT)
        self.add_font("Sans", "", FONTS / "DejaVuSans.ttf")
        self.add_font("Sans", "B", FONTS / "DejaVuSans-Bold.ttf")
        self.add_font("Mono", "", FONTS / "DejaVuSansMono.ttf")
        self.add_font("Mono", "B", FONTS / "DejaVuSansMono-Bold.ttf")
        self.texts = {}
        self.widths = {}
        self.encoded = {}
        self.font_now = None

    def words(self, language, dated_on):
        if language not in self.texts:
            self.texts[language] = _Texts(self, language, dated_on)
            self.font_now = None
        return self.texts[language]

    def text(self, x, y, text=""):
        """fpdf2's `text` for the plain lines of a letter, keeping how each string is
        encoded in its font: most lines are the same on every letter, and encoding is most
        of the cost of a page. (Uses fpdf2 internals; tests read the letters back.)"""
        font = self.current_font
        key = (font.fontkey, text)
        encoded = self.encoded.get(key)
        if encoded is None:
            encoded = self.encoded[key] = font.encode_text(text)
        line = f"BT {x * self.k:.2f} {(self.h - y) * self.k:.2f} Td {encoded} ET"
        if self.fill_color != self.text_color:
            line = f"q {self.text_color.serialize().lower()} {line} Q"
        if not self.current_font_is_set_on_page:
            # Outside the q/Q above, so that the page keeps the font.
            line = f"{self._set_font_for_page(font, self.font_size_pt)} {line}"
        self._out(line)

    def write_at(self, x, y, text, family="Sans", style="", size=10, width=None):
        """One line of text whose baseline is at `y`, made smaller if it would be wider
        than `width` (names and identifiers are as long as they are)."""
        if width is not None:
            size = self.fitting_size(text, family, style, size, width)
        if (family, style, size) != self.font_now:
            self.set_font(family, style, size)
            self.font_now = (family, style, size)
        self.text(x, y, text)

    def fitting_size(self, text, family, style, size, width):
        # A monospace glyph is 0.6 em wide and no DejaVu Sans glyph reaches 0.8 em on
        # average over a line: only a long text needs measuring.
        em = size * 25.4 / 72
        if len(text) * em * (0.61 if family == "Mono" else 0.8) <= width:
            return size
        self.set_font(family, style, size)
        self.font_now = (family, style, size)
        return max(6, min(size, int(size * width / self.get_string_width(text) * 10) / 10))

    def labelled(self, x, y, label, value, family="Mono", style="B", size=13, label_size=11):
        """'Label : value' (the label is the same on every letter: measured once), on one
        line of the text layer."""
        key = (label, label_size)
        if key not in self.widths:
            self.set_font("Sans", "", label_size)
            self.font_now = ("Sans", "", label_size)
            self.widths[key] = self.get_string_width(label)
        self.write_at(x, y, label, size=label_size)
        start = x + self.widths[key]
        self.write_at(start, y, value, family, style, size, width=LEFT + WIDTH - 4 - start)

    def grey(self, x, y, text, size):
        self.set_text_color(*GREY)
        self.write_at(x, y, text, size=size)
        self.set_text_color(0)

    def letter(self, issued, words):
        account, secret, pupils = issued.account, issued.secret, issued.pupils
        civility = getattr(issued, "civility", None)
        establishment = pupils[0].establishment if pupils else None
        school = establishment.name if establishment else ""
        pupil_names = ", ".join(pupil.full_name for pupil in pupils)
        class_name = ", ".join(sorted({pupil.class_name for pupil in pupils if pupil.class_name}))
        is_parent = account.kind == AccountKind.PARENT
        column = column_width()

        self.add_page()
        self.write_at(LEFT, 20, school, style="B", size=13, width=WIDTH)
        if establishment is not None:
            self.grey(LEFT, 25.5, words.academie(establishment.academie), 9)
        self.write_at(RIGHT_COLUMN, 30, words.dated)
        y = 39
        self.write_at(RIGHT_COLUMN, y, account.full_name, style="B", size=11, width=column)
        if is_parent:
            y += 5.5
            self.write_at(RIGHT_COLUMN, y, words.guardian_of_pupils(pupil_names, civility), size=9, width=column)
        if class_name:
            y += 5
            self.write_at(RIGHT_COLUMN, y, words.class_label + class_name, size=9, width=column)
        if establishment is not None:
            # After the right column, so that the text layer keeps each on lines of its own.
            self.letterhead(establishment)

        y = 59
        self.write_at(LEFT, y, words.title, style="B", size=15)
        y += 8.5
        if is_parent:
            self.write_at(LEFT, y, words.greeting)
            y += 5.5
            self.write_at(LEFT, y, words.intro_parent)
            y += 6
            child = pupil_names + (f" ({class_name})" if class_name else "")
            self.write_at(LEFT + 6, y, child, style="B", width=WIDTH - 6)
            y += 5.5
            self.write_at(LEFT, y, words.one_per_child, size=9)
        else:
            self.write_at(LEFT, y, words.intro_pupil)
        y += 5

        self.set_fill_color(238, 242, 250)
        self.set_draw_color(0, 0, 145)
        self.set_line_width(0.5)
        self.rect(LEFT, y, WIDTH, 38, style="DF")
        self.labelled(LEFT + 6, y + 8.5, words.identifier, account.identifier)
        self.labelled(LEFT + 6, y + 17, words.secret, secret)
        self.labelled(LEFT + 6, y + 24.5, words.site, current_app.config["ISSUER"], style="", size=10, label_size=10)
        deadline = words.long_date(_local_date(activation_deadline(account)))
        self.labelled(LEFT + 6, y + 30, words.deadline, deadline, family="Sans", size=10, label_size=10)
        self.write_at(LEFT + 6, y + 35, words.inactivity, size=9, width=WIDTH - 10)

        y += 45
        self.write_at(LEFT, y, words.steps_title, style="B", size=11)
        y += 5.5
        steps = words.steps[account.kind]
        # Lines a little closer when a long site address or language needs it, so that
        # the steps never cross the cut line.
        count = sum(len(lines) for lines in steps) + len(words.keep)
        leading = min(4.4, (CUT_LINE - 4 - y - 0.8 * len(steps)) / count)
        for number, lines in enumerate(steps, start=1):
            self.write_at(LEFT, y, f"{number}.", style="B")
            for line in lines:
                self.write_at(LEFT + 6, y, line)
                y += leading
            y += 0.8
        for line in words.keep:
            self.grey(LEFT, y, line, 9)
            y += leading
        self.coupon(account, words, school, pupil_names, class_name, is_parent, civility)

    def letterhead(self, establishment):
        """How to reach the school, under its name: its contact line, or its address and
        phone (wrapped to the left column, at most LETTERHEAD_LINES lines)."""
        key = ("letterhead", establishment.id)
        lines = self.encoded.get(key)
        if lines is None:
            self.set_font("Sans", "", 9)
            self.font_now = ("Sans", "", 9)
            lines = [part for line in contact_lines(establishment) for part in _wrap(self, line, LETTERHEAD_WIDTH)]
            if len(lines) > LETTERHEAD_LINES:
                lines = [*lines[: LETTERHEAD_LINES - 1], " ".join(lines[LETTERHEAD_LINES - 1 :])]
            self.encoded[key] = lines
        # Closer lines when there are many, the last one above the title's.
        y, leading = 30.5, min(3.9, 23 / max(1, len(lines) - 1))
        for line in lines:
            self.write_at(LEFT, y, line, size=9 if leading > 3.4 else 8, width=LETTERHEAD_WIDTH)
            y += leading

    def coupon(self, account, words, school, pupil_names, class_name, is_parent, civility=None):
        self.set_draw_color(0)
        self.set_line_width(0.3)
        self.set_dash_pattern(dash=2, gap=1.5)
        self.line(LEFT - 5, CUT_LINE, LEFT + WIDTH + 10, CUT_LINE)
        self.set_dash_pattern()
        self.write_at(LEFT - 12, CUT_LINE + 1.5, "✂", size=12)
        self.grey(LEFT, CUT_LINE + 4.5, words.cut, 8)

        y = CUT_LINE + 13
        self.write_at(LEFT, y, f"{words.coupon_title} — {school}", style="B", size=11, width=WIDTH)
        y += 8
        if is_parent:
            label = words.guardian_feminine if is_feminine(civility) else words.guardian
            self.write_at(LEFT, y, label + account.full_name, width=WIDTH)
            y += 6
        pupil = words.pupil + pupil_names + (f" — {words.class_label}{class_name}" if class_name else "")
        self.write_at(LEFT, y, pupil, width=WIDTH)
        y += 6
        self.write_at(LEFT, y, words.account + account.identifier, width=WIDTH)
        y += 11
        self.set_line_width(0.5)
        self.rect(LEFT, y - 5, 6, 6)
        self.write_at(LEFT + 10, y, words.refuse, style="B", size=11)
        y += 6
        self.grey(LEFT + 10, y, words.no_effect, 9)
        y += 13
        self.write_at(LEFT, y, words.date)
        self.set_line_width(0.2)
        self.line(LEFT + 12, y + 1, LEFT + 60, y + 1)
        self.write_at(RIGHT_COLUMN - 22, y, words.signature)
        self.rect(RIGHT_COLUMN, y - 6, column_width(), 22)


def column_width():
    return LEFT + WIDTH - RIGHT_COLUMN


def render_letters(issued, as_of=None):
    """One PDF of the letters of `issued`, sorted by class then name so that a secretary can
    hand them out; `as_of` is the date printed on them (today).

    `issued` is a list of Issued records, which are sorted here, or an issue's Batch (or any
    iterable), which gives them in letter order and is read one letter at a time: no
    account object is kept once its page is drawn."""
    if isinstance(issued, (list, tuple)):
        issued = sorted(issued, key=_order)
    dated_on = _local_date(as_of or now())
    pdf = _Letters()
    pdf.set_title("Téléservices")
    pdf.set_lang("fr")
    pdf.set_creator("idp")
    for item in issued:
        pdf.letter(item, pdf.words(item.account.language, dated_on))
    return bytes(pdf.output())


def _order(item):
    account = item.account
    if not item.pupils:
        return ("", "", "", 0, True, ascii_slug(account.family_name), ascii_slug(account.given_name))
    return letter_order(item.pupils[0], account.kind, account.given_name, account.family_name)
