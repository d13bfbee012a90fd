"""The files a school sends, whatever they are: a CSV, SIECLE exports as `.xml`, or the `.zip`
SIECLE downloads them in. Each is recognised by its content, read by its parser as a stream
(never whole in memory), and the whole is checked as one set.

Two limits keep a file from taking a worker's memory or time (`Limits`, the settings
IMPORT_MAX_BYTES and IMPORT_MAX_ROWS): the bytes of a file, and of what an archive unpacks
to, counted as they are read (an archive's declared sizes are not trusted: a zip bomb stops
at the limit); and the rows of a CSV, or the records of each kind of a SIECLE export. A
file past either is refused at once, in words that say the limit, and nothing is written.
"""

import io
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _

from . import siecle
from .csv_import import read_csv
from .records import CONTROL, ImportRefused, Limits, Problem, SchoolData, in_megabytes

MAX_MEMBERS = 20
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
CHUNK = 64 * 1024
# Errors a damaged archive raises while a member is read.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, OSError, EOFError, RuntimeError, NotImplementedError, ValueError)


def read_files(files, uai, progress=None, limits=None):
    """SchoolData of `files` [(filename, content)] for the establishment `uai`; ImportRefused
    with every problem of every file. A content is bytes, a path, or a binary file object
    that can seek (an upload); `limits` default to the application's settings."""
    report = progress or (lambda message: None)
    limits = limits or Limits.from_config(current_app.config)
    problems = []
    documents = []
    if not files:
        raise ImportRefused([Problem(None, None, _("aucun fichier reçu."))])
    for filename, content in files:
        filename = printable(filename)
        report(_("Lecture de %(file)s…", file=filename))
        try:
            with _opened(content) as stream:
                documents.extend(_documents(filename, stream, uai, limits))
        except ImportRefused as refused:
            problems.extend(refused.problems)
        except OSError as error:  # a path the command line cannot read
            problems.append(Problem(None, None, _("le fichier ne peut pas être lu (%(error)s).", error=error.strerror), filename))
    if problems:
        raise ImportRefused(problems)
    return _combine(documents)


def printable(filename):
    """A file's name as it may be shown and stored: without control characters, not too long."""
    return CONTROL.sub("", filename or "")[:200] or "fichier"


@contextmanager
def _opened(content):
    if isinstance(content, (bytes, bytearray)):
        yield io.BytesIO(content)
    elif isinstance(content, Path):
        with content.open("rb") as stream:
            yield stream
    else:
        yield content


class _Bounded(io.RawIOBase):
    """The bytes of `stream`, refused (`refusal()` is raised) past `limit` of them: counted as
    they are read, whatever the file or archive says of its size. Closing it leaves `stream`
    open, to be read again."""

    def __init__(self, stream, limit, refusal):
        super().__init__()
        self.stream = stream
        self.limit = limit
        self.refusal = refusal
        self.count = 0

    def readable(self):
        return True

    def readinto(self, buffer):
        data = self.stream.read(min(len(buffer), CHUNK))
        self.count += len(data)
        if self.count > self.limit:
            raise self.refusal()
        buffer[: len(data)] = data
        return len(data)


def _chunks(stream):
    while chunk := stream.read(CHUNK):
        yield chunk


def _size(stream):
    position = stream.seek(0, io.SEEK_END)
    stream.seek(0)
    return position


def _refused(reason, filename):
    return ImportRefused([Problem(None, None, reason, filename)])


def _too_big(filename, limits, size=None):
    if size is None:
        reason = _(
            "le fichier dépasse %(max)s, le plus qu'un fichier puisse peser : un export SIECLE ou un CSV d'établissement"
            " pèse quelques Mo. Vérifiez que c'est le bon fichier.",
            max=limits.size(),
        )
    else:
        reason = _(
            "le fichier pèse %(size)s, plus que les %(max)s qu'un fichier peut peser : un export SIECLE ou un CSV"
            " d'établissement pèse quelques Mo. Vérifiez que c'est le bon fichier.",
            size=in_megabytes(size),
            max=limits.size(),
        )
    return _refused(reason, filename)


def _unpacked_too_big(filename, limits):
    reason = _(
        "l'archive dépasse %(max)s une fois décompressée, le plus qu'un fichier puisse peser : un export SIECLE pèse"
        " quelques Mo. Vérifiez que c'est le bon fichier.",
        max=limits.size(),
    )
    return _refused(reason, filename)


def _documents(filename, stream, uai, limits):
    """[(kind, filename, content)] of one file, kind being csv, pupils or guardians."""
    size = _size(stream)
    if size > limits.max_bytes:
        raise _too_big(filename, limits, size)
    head = stream.read(200)
    stream.seek(0)
    if head.startswith(ZIP_MAGIC):
        return _unzip(filename, stream, uai, limits)

    def open_stream():
        stream.seek(0)
        return io.BufferedReader(_Bounded(stream, limits.max_bytes, lambda: _too_big(filename, limits)), CHUNK)

    return [_document(filename, head, open_stream, uai, limits)]


def _document(filename, head, open_stream, uai, limits):
    """One document, given its first bytes and a way to read it from the start."""
    if head.startswith(ZIP_MAGIC):
        raise _refused(_("une archive dans une archive n'est pas acceptée."), filename)
    if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<"):
        return "csv", filename, read_csv(open_stream, filename, limits)
    with open_stream() as stream:
        kind, content = siecle.read_export(_chunks(stream), filename, uai, limits)
    return kind, filename, content


def _unzip(filename, stream, uai, limits):
    """The documents of an archive, its members read one after the other within one budget
    of unpacked bytes."""
    try:
        archive = zipfile.ZipFile(stream)
        members = [info for info in archive.infolist() if not info.is_dir() and not info.filename.startswith("__MACOSX/")]
    except ZIP_ERRORS:
        raise _refused(_("l'archive zip est illisible."), filename) from None
    names = {info.filename for info in members}
    if "[Content_Types].xml" in names or "mimetype" in names:
        raise _refused(_("c'est un classeur (xlsx, ods) : enregistrez-le au format CSV."), filename)
    if not members:
        raise _refused(_("l'archive zip est vide."), filename)
    if len(members) > MAX_MEMBERS:
        raise _refused(_("l'archive contient plus de %(max)s fichiers.", max=MAX_MEMBERS), filename)
    documents, problems = [], []
    budget = limits.max_bytes
    for info in members:
        name = f"{filename}/{printable(info.filename)}"
        if info.file_size > budget:  # said too big: refused without unpacking
            raise _unpacked_too_big(filename, limits)
        member = _Member(archive, info, budget, lambda: _unpacked_too_big(filename, limits), filename)
        try:
            head = member.head()
            documents.append(_document(name, head, member.open, uai, limits))
        except ImportRefused as refused:
            problems.extend(refused.problems)
        # What the member really unpacked to, not what the archive says.
        budget -= member.size
    if problems:
        raise ImportRefused(problems)
    return documents


class _Member:
    """An archive's member, read from the start as often as its parser needs, within `budget`
    bytes; `size` is the most it unpacked to in one reading."""

    def __init__(self, archive, info, budget, refusal, filename):
        self.archive = archive
        self.info = info
        self.budget = budget
        self.refusal = refusal
        self.filename = filename
        self.size = 0

    def head(self):
        with self.open() as stream:
            return stream.read(200)

    @contextmanager
    def open(self):
        try:
            member = self.archive.open(self.info)
        except ZIP_ERRORS:
            raise self.unreadable() from None
        with member:
            bounded = _Bounded(_Guarded(member, self), self.budget, self.refusal)
            try:
                yield io.BufferedReader(bounded, CHUNK)
            finally:
                self.size = max(self.size, bounded.count)

    def unreadable(self):
        reason = _("le fichier %(member)s de l'archive est illisible (chiffré ou abîmé).", member=printable(self.info.filename))
        return _refused(reason, self.filename)


class _Guarded:
    """A member's stream whose read errors (a damaged or encrypted archive) become a refusal."""

    def __init__(self, stream, member):
        self.stream = stream
        self.member = member

    def read(self, size):
        try:
            return self.stream.read(size)
        except ZIP_ERRORS:
            raise self.member.unreadable() from None


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
