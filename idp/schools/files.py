"""The files a school sends, whatever they are: a CSV, SIECLE exports as `.xml`, or the `.zip`
SIECLE downloads them in. Each is recognised by its content, unpacked within limits (a zip
bomb stops at the size limit), read by its parser, and the whole is checked as one set.
"""

import io
import zipfile
import zlib

from flask_babel import gettext as _

from . import siecle
from .csv_import import read_csv
from .records import ImportRefused, Problem, SchoolData

# Largest file, or archive member once unpacked, or archive once unpacked (bytes). A SIECLE
# export of a large lycée with addresses is about 10 MiB.
MAX_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 20
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def read_files(files, uai, progress=None):
    """SchoolData of `files` [(filename, bytes)] for the establishment `uai`; ImportRefused
    with every problem of every file."""
    report = progress or (lambda message: None)
    problems = []
    documents = []
    if not files:
        raise ImportRefused([Problem(None, None, _("aucun fichier reçu."))])
    for filename, data in files:
        report(_("Lecture de %(file)s…", file=filename))
        try:
            documents.extend(_documents(filename, data, uai))
        except ImportRefused as refused:
            problems.extend(refused.problems)
    if problems:
        raise ImportRefused(problems)
    return _combine(documents)


def _documents(filename, data, uai):
    """[(kind, filename, content)] of one file, kind being csv, pupils or guardians."""
    if len(data) > MAX_BYTES:
        raise ImportRefused([Problem(None, None, _("le fichier dépasse %(max)s Mo.", max=MAX_BYTES // 2**20), filename)])
    if data.startswith(ZIP_MAGIC):
        documents, problems = [], []
        for name, content in _unzip(filename, data):
            try:
                documents.append(_document(name, content, uai))
            except ImportRefused as refused:
                problems.extend(refused.problems)
        if problems:
            raise ImportRefused(problems)
        return documents
    return [_document(filename, data, uai)]


def _document(filename, data, uai):
    if data.startswith(ZIP_MAGIC):
        raise ImportRefused([Problem(None, None, _("une archive dans une archive n'est pas acceptée."), filename)])
    if not data[:200].lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "csv", filename, read_csv(data, filename)
    root = siecle.read_xml(data, filename)
    if root.name not in (siecle.PUPILS_ROOT, siecle.GUARDIANS_ROOT):
        reason = _(
            "ce n'est pas un export SIECLE reconnu (élément racine %(root)s ; attendu BEE_ELEVES ou BEE_RESPONSABLES).",
            root=root.name,
        )
        raise ImportRefused([Problem(None, None, reason, filename)])
    wrong_establishment = siecle.check_uaj(root, filename, uai)
    if wrong_establishment:
        raise ImportRefused([wrong_establishment])
    if root.name == siecle.PUPILS_ROOT:
        return "pupils", filename, siecle.read_pupils(root, filename)
    return "guardians", filename, siecle.read_guardians(root, filename)


def _unzip(filename, data):
    """[(member name, content)] of an archive, refusing what would unpack beyond the limits."""

    def refused(reason):
        return ImportRefused([Problem(None, None, reason, filename)])

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not info.is_dir() and not info.filename.startswith("__MACOSX/")]
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError):
        raise refused(_("l'archive zip est illisible.")) from None
    names = {info.filename for info in members}
    if "[Content_Types].xml" in names or "mimetype" in names:
        raise refused(_("c'est un classeur (xlsx, ods) : enregistrez-le au format CSV."))
    if not members:
        raise refused(_("l'archive zip est vide."))
    if len(members) > MAX_MEMBERS:
        raise refused(_("l'archive contient plus de %(max)s fichiers.", max=MAX_MEMBERS))
    contents = []
    budget = MAX_BYTES
    for info in members:
        name = f"{filename}/{info.filename}"
        if info.file_size > budget:
            raise refused(_("l'archive dépasse %(max)s Mo une fois décompressée.", max=MAX_BYTES // 2**20))
        try:
            with archive.open(info) as member:
                # The declared size may lie: never read more than what is left of the budget.
                content = member.read(budget + 1)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError):
            raise refused(_("le fichier %(member)s de l'archive est illisible (chiffré ou abîmé).", member=info.filename)) from None
        if len(content) > budget:
            raise refused(_("l'archive dépasse %(max)s Mo une fois décompressée.", max=MAX_BYTES // 2**20))
        budget -= len(content)
        contents.append((name, content))
    return contents


def _combine(documents):
    """One SchoolData from the documents: CSVs together, or one SIECLE pupils export with at
    most one guardians export."""
    kinds = [kind for kind, _filename, _content in documents]
    if "csv" in kinds and len(set(kinds)) > 1:
        raise ImportRefused([Problem(None, None, _("envoyez soit des fichiers CSV, soit les exports SIECLE, pas les deux."))])
    if "csv" in kinds:
        return _combine_csv(documents)
    by_kind = {kind: [(filename, content) for each, filename, content in documents if each == kind] for kind in ("pupils", "guardians")}
    problems = []
    if len(by_kind["pupils"]) > 1:
        problems.append(Problem(None, None, _("un seul export des élèves à la fois (ElevesSansAdresses ou ElevesAvecAdresses).")))
    if len(by_kind["guardians"]) > 1:
        problems.append(Problem(None, None, _("un seul export des responsables à la fois (ResponsablesAvecAdresses).")))
    if not by_kind["pupils"]:
        problems.append(Problem(None, None, _("il manque l'export des élèves (ElevesSansAdresses) à joindre à celui des responsables.")))
    if problems:
        raise ImportRefused(problems)
    pupils = by_kind["pupils"][0][1]
    data = SchoolData("siecle", pupils)
    if by_kind["guardians"]:
        listed = by_kind["guardians"][0][1]
        data.guardians = {key: listed.get(key, []) for key in pupils}
    return data


def _combine_csv(documents):
    data = SchoolData("csv", guardians={})
    problems = []
    for _kind, filename, (pupils, guardians) in documents:
        for key, record in pupils.items():
            if key in data.pupils:
                other = data.pupils[key]
                reason = _("l'élève %(key)s figure aussi dans %(other)s (ligne %(line)s).", key=key, other=other.file, line=other.line)
                problems.append(Problem(record.line, "id_eleve", reason, filename))
                continue
            data.pupils[key] = record
            data.guardians[key] = guardians[key]
    if problems:
        raise ImportRefused(problems)
    return data
