"""What the school files say, once read: pupils, their legal guardians, and the problems
that make a file refused. The parsers (SIECLE, CSV) produce these; the import applies them.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ..accounts.addresses import is_email, shown
from ..clock import now

# Column sizes of the tables the records go to.
MAX_NAME = 100
MAX_CLASS = 40
MAX_KEY = 32

# What name_problem speaks of, translated only when there is a problem to tell.
FAMILY_NAME = _l("le nom")
GIVEN_NAME = _l("le prénom")
GUARDIAN_FAMILY_NAME = _l("le nom du responsable")
GUARDIAN_GIVEN_NAME = _l("le prénom du responsable")

INE = re.compile(r"^[0-9A-Z]{11}$")
# Control characters (Unicode category Cc) other than tab and line breaks, which `clean`
# turns into spaces: nothing a person types holds them, PostgreSQL refuses NUL in text, and
# the others would print as nothing on a letter.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# Problems listed for one file at most: past them the file is refused without reading on,
# the list being long enough to show what is wrong.
MAX_PROBLEMS = 200
FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


@dataclass(frozen=True)
class Problem:
    """Why a file is refused: a line as a spreadsheet numbers it (the header is line 1; the
    source line for XML) and a column, or `line` None for the whole file."""

    line: int | None
    column: str | None
    reason: str
    file: str | None = None

    def __str__(self):
        where = []
        if self.file:
            where.append(self.file)
        if self.line is not None:
            where.append(_("ligne %(line)s", line=self.line))
        if self.column:
            where.append(_("colonne %(column)s", column=self.column))
        if not where:
            return self.reason
        return _("%(where)s : %(reason)s", where=", ".join(where), reason=self.reason)

    def as_dict(self):
        return {"file": self.file, "line": self.line, "column": self.column, "reason": self.reason}


class ImportRefused(Exception):
    """The files are refused as a whole; `problems` lists every reason found."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class Problems:
    """The problems of one file, as a parser finds them: `add` them, `refuse()` at the end if
    there are any. Past MAX_PROBLEMS the file is refused at once, with a last line saying
    that the list stops there."""

    def __init__(self, filename):
        self.filename = filename
        self.found = {}

    def add(self, line, column, reason):
        self.found.setdefault(Problem(line, column, reason, self.filename))
        if len(self.found) >= MAX_PROBLEMS:
            more = _(
                "%(count)s problèmes : la lecture du fichier s'arrête là. Corrigez-les, puis importez-le à nouveau.", count=MAX_PROBLEMS
            )
            raise ImportRefused([*self.found, Problem(None, None, more, self.filename)])

    def __bool__(self):
        return bool(self.found)

    def refuse(self):
        """Raise ImportRefused with the problems found, if any."""
        if self.found:
            raise ImportRefused(self.found)


@dataclass(frozen=True)
class Limits:
    """How much of a school file is read before it is refused (IMPORT_MAX_BYTES and
    IMPORT_MAX_ROWS): bytes of a file, or unpacked from an archive; rows of a CSV, or records
    of one kind (pupils, persons, links) in a SIECLE export."""

    max_bytes: int
    max_rows: int

    @classmethod
    def from_config(cls, config):
        return cls(config["IMPORT_MAX_BYTES"], config["IMPORT_MAX_ROWS"])

    def size(self):
        """The byte limit in the words of a secretary: "50 Mo"."""
        return in_megabytes(self.max_bytes)

    def rows(self):
        return format_decimal(self.max_rows)


def in_megabytes(size):
    return _("%(size)s Mo", size=format_decimal(round(size / 2**20, 1)))


@dataclass(frozen=True)
class PupilRecord:
    school_key: str
    given_name: str
    family_name: str
    birth_date: date
    class_name: str | None
    # None when the file has no INE for the pupil (a CSV never has one): the stored one stays.
    ine: str | None = None
    # SIECLE's DATE_SORTIE.
    left_on: date | None = None
    line: int | None = None
    file: str | None = None


@dataclass(frozen=True)
class GuardianRecord:
    rank: int
    given_name: str
    family_name: str
    email: str | None = None
    # SIECLE's PERSONNE_ID (None in a CSV).
    school_key: str | None = None
    # SIECLE's LC_CIVILITE as « M. » or « MME » (None in a CSV, or unknown).
    civility: str | None = None


@dataclass
class SchoolData:
    """The pupils of the files, keyed by the school's own key, and their legal guardians.

    `guardians` is None when the files say nothing about guardians (a SIECLE pupils export
    without its ResponsablesAvecAdresses): the stored guardians then stay as they are.
    """

    source: str
    pupils: dict[str, PupilRecord] = field(default_factory=dict)
    guardians: dict[str, list[GuardianRecord]] | None = None


def control_problem(value):
    """A reason when `value`, as found in the file, holds a control character; None otherwise."""
    found = CONTROL.search(value or "")
    if found is None:
        return None
    return _(
        "contient un caractère de contrôle invisible (code U+%(code)s) : effacez-le dans le fichier, puis importez-le à nouveau.",
        code=f"{ord(found.group()):04X}",
    )


def clean(value):
    """A value as typed, in Unicode's composed form (a Mac writes "é" as e and an accent),
    with its spaces collapsed; '' when absent."""
    return " ".join(unicodedata.normalize("NFC", value or "").split())


def parse_date(value):
    """JJ/MM/AAAA or AAAA-MM-JJ; None when it is not a date (or not a plausible one)."""
    match = FRENCH_DATE.match(value)
    if match:
        day, month, year = (int(part) for part in match.groups())
    else:
        match = ISO_DATE.match(value)
        if not match:
            return None
        year, month, day = (int(part) for part in match.groups())
    try:
        parsed = date(year, month, day)
    except ValueError:
        return None
    return parsed if parsed.year >= 1900 else None


def birth_date_problem(value):
    """(date, None) or (None, reason) for a birth date as written in a file."""
    if not value:
        return None, _("la date de naissance est obligatoire.")
    parsed = parse_date(value)
    if parsed is None:
        return None, _("« %(value)s » n'est pas une date (JJ/MM/AAAA ou AAAA-MM-JJ).", value=value)
    if parsed > now().date():
        return None, _("la date de naissance %(value)s est dans le futur.", value=value)
    return parsed, None


def name_problem(value, what):
    if not value:
        return _("%(what)s est obligatoire.", what=what)
    if len(value) > MAX_NAME:
        return _("%(what)s dépasse %(max)s caractères.", what=what, max=MAX_NAME)
    return None


def email_problem(value):
    # A cell holds one bare address, in the syntax of every address: not a list, not
    # "Name <address>" (idp.accounts.addresses).
    if not is_email(value):
        return _("« %(value)s » n'est pas une adresse électronique.", value=shown(value))
    return None


def person_key(given_name, family_name):
    """Names compared without case, accents, punctuation or spaces: the same person as
    typed by two different secretaries."""
    return _folded(family_name), _folded(given_name)


def _folded(text):
    return "".join(char for char in unicodedata.normalize("NFKD", text.casefold()) if char.isalnum())
