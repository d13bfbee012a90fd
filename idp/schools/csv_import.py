"""The CSV a school can make with any spreadsheet: one row per (pupil, legal guardian).

    id_eleve;nom;prenom;date_naissance;classe;nom_responsable;prenom_responsable;email_responsable;rang_responsable

The guardian columns are empty for a pupil listed without a guardian; the email is
optional; the rank is 1 or 2. Accepted as French spreadsheets export it: UTF-8 with or
without BOM, Windows-1252 (or UTF-16 "texte Unicode"), `;`, `,` or a tab between
columns, dates JJ/MM/AAAA or AAAA-MM-JJ, header names in any case, spacing and order.
Every bad row is reported with its line as the spreadsheet numbers it (the header is 1).
"""

import codecs
import csv
import io

from flask_babel import format_decimal
from flask_babel import gettext as _

from .records import (
    FAMILY_NAME,
    GIVEN_NAME,
    GUARDIAN_FAMILY_NAME,
    GUARDIAN_GIVEN_NAME,
    MAX_CLASS,
    MAX_KEY,
    GuardianRecord,
    ImportRefused,
    Problem,
    Problems,
    PupilRecord,
    birth_date_problem,
    clean,
    control_problem,
    email_problem,
    name_problem,
)

COLUMNS = (
    "id_eleve",
    "nom",
    "prenom",
    "date_naissance",
    "classe",
    "nom_responsable",
    "prenom_responsable",
    "email_responsable",
    "rang_responsable",
)
PUPIL_COLUMNS = COLUMNS[:5]
GUARDIAN_COLUMNS = COLUMNS[5:]
SEPARATORS = (";", ",", "\t")


# Longest physical line read (characters): a row of nine cells is a few hundred.
MAX_LINE = 10_000


def _encodings(head):
    """The encodings to try, from the first bytes of the file: the one its BOM says, else
    UTF-8 then Windows-1252."""
    if head.startswith(codecs.BOM_UTF8):
        return ["utf-8-sig"]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return ["utf-16"]
    return ["utf-8", "cp1252"]


def _header_name(cell):
    return "".join(cell.split()).lower()


def _header(first_line, filename):
    """(separator, column names) of the first line, without the empty cells that end it."""
    first_line = first_line.rstrip("\r\n")
    best = None
    for separator in SEPARATORS:
        names = [_header_name(cell) for cell in next(csv.reader([first_line], delimiter=separator), [])]
        while names and not names[-1]:
            names.pop()
        if sorted(names) == sorted(COLUMNS):
            return separator, names
        if best is None or len(names) > len(best):
            best = names
    expected = ";".join(COLUMNS)
    problems = [Problem(1, None, _("la première ligne doit être l'en-tête : %(expected)s", expected=expected), filename)]
    if len(best) > 1:
        for name in COLUMNS:
            if name not in best:
                problems.append(Problem(1, name, _("colonne manquante."), filename))
        for name in best:
            if name not in COLUMNS or best.count(name) > 1:
                problems.append(Problem(1, (name or None) and name[:40], _("colonne inconnue ou en double."), filename))
    raise ImportRefused(dict.fromkeys(problems))


def read_csv(open_stream, filename, limits):
    """(pupils {id_eleve: PupilRecord}, guardians {id_eleve: [GuardianRecord]}) of a CSV.

    `open_stream()` gives the file's bytes from the start (it is read again when the file
    turns out not to be UTF-8); the file is read line by line, never whole, and refused past
    `limits.max_rows` rows."""
    with open_stream() as stream:
        head = stream.read(4)
    for encoding in _encodings(head):
        try:
            with open_stream() as stream:
                return _read(stream, encoding, filename, limits)
        except UnicodeDecodeError:
            continue
    reason = _("encodage non reconnu : enregistrez le fichier en CSV UTF-8 ou en CSV (séparateur point-virgule) Windows.")
    raise ImportRefused([Problem(None, None, reason, filename)])


def _lines(text, filename):
    """The physical lines of `text` (a text stream), each at most MAX_LINE characters."""
    number = 0
    while True:
        line = text.readline(MAX_LINE)
        if not line:
            return
        number += 1
        if len(line) >= MAX_LINE and not line.endswith(("\n", "\r")):
            reason = _("la ligne dépasse %(max)s caractères : ce n'est pas un fichier d'élèves.", max=format_decimal(MAX_LINE))
            raise ImportRefused([Problem(number, None, reason, filename)])
        yield line


def _read(stream, encoding, filename, limits):
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    lines = _lines(text, filename)
    separator, header = _header(next(lines, ""), filename)
    problems = Problems(filename)
    pupils = {}
    guardians = {}
    ranks = {}
    problem = problems.add
    # Rows with something in them count against the limit; blank ones, which cost almost
    # nothing, against ten times it.
    rows = records = 0

    reader = csv.reader(lines, delimiter=separator)
    try:
        for line, cells in enumerate(reader, start=2):
            records += 1
            if records > 10 * limits.max_rows:
                raise ImportRefused([Problem(line, None, _too_many_rows(limits), filename)])
            if len(cells) > len(header) and any(cell.strip() for cell in cells[len(header) :]):
                problem(line, None, _("la ligne a plus de colonnes que l'en-tête."))
                continue
            raw = {name: cells[index] if index < len(cells) else "" for index, name in enumerate(header)}
            if not any(value.strip() for value in raw.values()):
                continue
            rows += 1
            if rows > limits.max_rows:
                raise ImportRefused([Problem(line, None, _too_many_rows(limits), filename)])
            controls = [(name, control_problem(value)) for name, value in raw.items()]
            controls = [(name, reason) for name, reason in controls if reason]
            for name, reason in controls:
                problem(line, name, reason)
            if controls:
                continue
            row = {name: clean(value) for name, value in raw.items()}
            record = _pupil(row, line, filename, problem)
            guardian = _guardian(row, line, problem)
            if record is None or guardian is False:
                continue
            known = pupils.setdefault(record.school_key, record)
            if known is not record:
                differing = [name for name, field in _PUPIL_FIELDS if getattr(known, field) != getattr(record, field)]
                if differing:
                    for name in differing:
                        reason = _("ne correspond pas à la ligne %(line)s du même élève (%(key)s).", line=known.line, key=record.school_key)
                        problem(line, name, reason)
                    continue
            listed = guardians.setdefault(record.school_key, [])
            if guardian is None:
                continue
            if (record.school_key, guardian.rank) in ranks:
                reason = _(
                    "l'élève %(key)s a déjà un responsable de rang %(rank)s (ligne %(line)s).",
                    key=record.school_key,
                    rank=guardian.rank,
                    line=ranks[record.school_key, guardian.rank],
                )
                problem(line, "rang_responsable", reason)
                continue
            ranks[record.school_key, guardian.rank] = line
            listed.append(guardian)
    except csv.Error:
        problem(reader.line_num + 1, None, _("ligne illisible : un guillemet ouvert n'est pas refermé, ou une cellule est démesurée."))
    if not pupils and not problems:
        problem(None, None, _("le fichier ne contient aucun élève."))
    problems.refuse()
    for listed in guardians.values():
        listed.sort(key=lambda guardian: guardian.rank)
    return pupils, guardians


def _too_many_rows(limits):
    return _(
        "le fichier dépasse %(max)s lignes, le plus qu'un fichier puisse compter : vérifiez que c'est bien le fichier des élèves"
        " de l'établissement, ou importez-le en plusieurs fois (par niveau ou par classe).",
        max=limits.rows(),
    )


_PUPIL_FIELDS = (("nom", "family_name"), ("prenom", "given_name"), ("date_naissance", "birth_date"), ("classe", "class_name"))


def _pupil(row, line, filename, problem):
    """The row's PupilRecord, or None after reporting what is wrong with it."""
    bad = False
    key = row["id_eleve"]
    if not key:
        problem(line, "id_eleve", _("l'identifiant de l'élève est obligatoire."))
        bad = True
    elif len(key) > MAX_KEY:
        problem(line, "id_eleve", _("l'identifiant dépasse %(max)s caractères.", max=MAX_KEY))
        bad = True
    for column, what in (("nom", FAMILY_NAME), ("prenom", GIVEN_NAME)):
        reason = name_problem(row[column], what)
        if reason:
            problem(line, column, reason)
            bad = True
    birth_date, reason = birth_date_problem(row["date_naissance"])
    if reason:
        problem(line, "date_naissance", reason)
        bad = True
    if len(row["classe"]) > MAX_CLASS:
        problem(line, "classe", _("le nom de classe dépasse %(max)s caractères.", max=MAX_CLASS))
        bad = True
    if bad:
        return None
    return PupilRecord(key, row["prenom"], row["nom"], birth_date, row["classe"] or None, line=line, file=filename)


def _guardian(row, line, problem):
    """The row's GuardianRecord, None for a pupil listed without guardian, False when wrong."""
    if not any(row[column] for column in GUARDIAN_COLUMNS):
        return None
    bad = False
    for column, what in (("nom_responsable", GUARDIAN_FAMILY_NAME), ("prenom_responsable", GUARDIAN_GIVEN_NAME)):
        reason = name_problem(row[column], what)
        if reason:
            problem(line, column, reason)
            bad = True
    email = row["email_responsable"] or None
    if email is not None:
        reason = email_problem(email)
        if reason:
            problem(line, "email_responsable", reason)
            bad = True
    rank = row["rang_responsable"]
    if rank not in ("1", "2"):
        problem(line, "rang_responsable", _("le rang du responsable est 1 ou 2 (trouvé : « %(value)s »).", value=rank))
        bad = True
    if bad:
        return False
    return GuardianRecord(int(rank), row["prenom_responsable"], row["nom_responsable"], email)
