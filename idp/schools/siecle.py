"""The SIECLE exports a school downloads: `ElevesSansAdresses` (or `ElevesAvecAdresses`),
root `BEE_ELEVES`, and `ResponsablesAvecAdresses`, root `BEE_RESPONSABLES`.

The XML is read by a hardened parser (defusedxml): a document type declaration, an entity
or an external reference is refused before anything is expanded, so an XML bomb or an
external entity never costs memory or a network call. SIECLE's own files have none.

Pupils are keyed by `ELEVE_ID`; their class is the `CODE_STRUCTURE` of their `STRUCTURE` of
type `D` (the division). Legal guardians are the `PERSONNE`s linked to a pupil by a
`RESPONSABLE_ELEVE` with `NIVEAU_RESPONSABILITE` 1 (current files) or `RESP_LEGAL` 1 or 2
(older files); other contacts (persons in charge, contacts) get no account. A guardian's
`MEL` only pre-fills a form later, so a malformed one is dropped rather than refusing the
file, which the school could not correct without editing SIECLE.
"""

from dataclasses import replace
from xml.sax import SAXParseException
from xml.sax.expatreader import ExpatLocator
from xml.sax.handler import ContentHandler

from defusedxml import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser
from flask_babel import gettext as _

from .names import normalize_civility
from .records import (
    FAMILY_NAME,
    GIVEN_NAME,
    INE,
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
    parse_date,
)

PUPILS_ROOT = "BEE_ELEVES"
GUARDIANS_ROOT = "BEE_RESPONSABLES"
ROOTS = (PUPILS_ROOT, GUARDIANS_ROOT)
# The records of each export, as (list, record) under DONNEES, and the fields read of each
# (direct children; a STRUCTURES_ELEVE's are in its STRUCTURE children).
RECORDS = {
    PUPILS_ROOT: {"ELEVES": "ELEVE", "STRUCTURES": "STRUCTURES_ELEVE"},
    GUARDIANS_ROOT: {"PERSONNES": "PERSONNE", "RESPONSABLES": "RESPONSABLE_ELEVE"},
}
FIELDS = {
    "ELEVE": {"NOM_DE_FAMILLE", "NOM", "PRENOM", "DATE_NAISS", "ID_NATIONAL", "DATE_SORTIE"},
    "PERSONNE": {"NOM_DE_FAMILLE", "NOM", "PRENOM", "MEL", "LC_CIVILITE"},
    "RESPONSABLE_ELEVE": {"ELEVE_ID", "PERSONNE_ID", "RESP_LEGAL", "NIVEAU_RESPONSABILITE"},
    "STRUCTURE": {"CODE_STRUCTURE", "TYPE_STRUCTURE"},
}
# SIECLE nests five levels deep; a field holds a few dozen characters. Beyond these the
# document is not an export, and nothing more of it is kept.
MAX_DEPTH = 16
MAX_TEXT = 1000
# Elements of any kind, per record the limit allows: an export with addresses has about 20
# per record; millions of elements read for nothing would cost a worker seconds.
ELEMENTS_PER_ROW = 40
CHUNK = 64 * 1024


class Record:
    """A record of the export (an ELEVE, a PERSONNE…) with the line it starts on, its
    attributes, and the first text of each field read; a STRUCTURES_ELEVE keeps the code of
    its first division (STRUCTURE of type D)."""

    __slots__ = ("attrs", "division", "fields", "line", "name")

    def __init__(self, name, attrs, line):
        self.name = name
        self.attrs = attrs
        self.line = line
        self.fields = {}
        self.division = None

    def value(self, *names):
        """The text of the first field among `names` that has some, collapsed; '' if none."""
        for name in names:
            if self.fields.get(name):
                return clean(self.fields[name])
        return ""

    def raw(self, *names):
        """The texts of `names` as found (for the control characters), and the attributes."""
        return [self.fields.get(name, "") for name in names]


class _Reader(ContentHandler):
    """Keeps of the document only what the import reads: its root, PARAMETRES/UAJ and the
    records, each handed to `consumer.add` as soon as it ends and then dropped."""

    def __init__(self, filename, uai, limits, consumers):
        super().__init__()
        self.filename = filename
        self.uai = uai
        self.limits = limits
        self.consumers = consumers
        self.consumer = None
        self.root = None
        self.uaj = None
        self.path = []
        self.record = None
        self.structure = None
        self.text = None
        self.counts = {}
        self.elements = 0

    def refuse(self, reason, line=None, column=None):
        raise ImportRefused([Problem(line, column, reason, self.filename)])

    def startElement(self, name, attrs):
        self.elements += 1
        if len(self.path) >= MAX_DEPTH or self.elements > ELEMENTS_PER_ROW * self.limits.max_rows:
            self.refuse(_("le fichier n'a pas la forme d'un export SIECLE (trop d'éléments, ou trop imbriqués)."))
        path = self.path
        path.append(name)
        depth = len(path)
        if depth == 1:
            self.root = name
            if name not in ROOTS:
                reason = _(
                    "ce n'est pas un export SIECLE reconnu (élément racine %(root)s ; attendu BEE_ELEVES ou BEE_RESPONSABLES).",
                    root=name[:40],
                )
                self.refuse(reason)
            self.consumer = self.consumers[name]
        elif depth == 3 and path[1] == "PARAMETRES" and name == "UAJ" and self.uaj is None:
            self.text = []
        elif depth == 4 and path[1] == "DONNEES" and RECORDS[self.root].get(path[2]) == name:
            count = self.counts[name] = self.counts.get(name, 0) + 1
            if count > self.limits.max_rows:
                self.refuse(
                    _(
                        "l'export dépasse %(max)s fiches %(record)s, le plus qu'un export puisse compter : vérifiez que c'est bien"
                        " celui de l'établissement.",
                        max=self.limits.rows(),
                        record=name,
                    ),
                    self._locator.getLineNumber(),
                )
            self.record = Record(name, dict(attrs), self._locator.getLineNumber())
        elif self.record is not None:
            if depth == 5 and name in FIELDS.get(self.record.name, ()):
                self.text = []
            elif depth == 5 and name == "STRUCTURE" and self.record.name == "STRUCTURES_ELEVE":
                self.structure = {}
            elif depth == 6 and self.structure is not None and name in FIELDS["STRUCTURE"]:
                self.text = []

    def characters(self, content):
        if self.text is not None and sum(map(len, self.text)) < MAX_TEXT:
            self.text.append(content)

    def endElement(self, name):
        path = self.path
        depth = len(path)
        text = None
        if self.text is not None:
            text = "".join(self.text).strip()[:MAX_TEXT]
            self.text = None
        if depth == 3 and text is not None and path[1] == "PARAMETRES":
            self.uaj = text
            # Another establishment's export is refused without reading on.
            wrong = check_uaj(text, self.filename, self.uai)
            if wrong and text:
                raise ImportRefused([wrong])
        elif depth == 4 and self.record is not None:
            self.consumer.add(self.record)
            self.record = None
        elif depth == 5 and self.structure is not None and name == "STRUCTURE":
            code, kind = self.structure.get("CODE_STRUCTURE"), self.structure.get("TYPE_STRUCTURE")
            if kind == "D" and code and self.record.division is None:
                self.record.division = code
            self.structure = None
        elif text and depth == 5:
            self.record.fields.setdefault(name, text)
        elif text is not None and depth == 6:
            self.structure.setdefault(name, text)
        path.pop()


def read_export(chunks, filename, uai, limits):
    """("pupils", {ELEVE_ID: PupilRecord}) or ("guardians", {ELEVE_ID: [GuardianRecord]}) of
    an export given as byte chunks; ImportRefused for a dangerous, malformed or wrong one."""
    consumers = {PUPILS_ROOT: _Pupils(filename), GUARDIANS_ROOT: _Guardians(filename)}
    reader = _Reader(filename, uai, limits, consumers)
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(reader)
    reader.setDocumentLocator(ExpatLocator(parser))  # parse() would set it; feed() does not
    try:
        for chunk in chunks:
            parser.feed(chunk)
        parser.close()
    except DefusedXmlException:
        reason = _(
            "le fichier contient une déclaration de type de document (DOCTYPE), des entités ou une référence externe :"
            " il est refusé par sécurité (les exports de SIECLE n'en contiennent pas)."
        )
        raise ImportRefused([Problem(None, None, reason, filename)]) from None
    except SAXParseException as error:
        reason = _("ce n'est pas un document XML valide (erreur à la ligne %(line)s).", line=error.getLineNumber())
        raise ImportRefused([Problem(None, None, reason, filename)]) from None
    wrong_establishment = check_uaj(reader.uaj, filename, uai)
    if wrong_establishment:
        raise ImportRefused([wrong_establishment])
    if reader.root == PUPILS_ROOT:
        return "pupils", consumers[PUPILS_ROOT].result()
    return "guardians", consumers[GUARDIANS_ROOT].result()


def check_uaj(found, filename, uai):
    """A problem when the export is not the establishment's own (PARAMETRES/UAJ)."""
    found = (found or "").strip().upper()
    if not found:
        return Problem(None, "UAJ", _("l'export ne dit pas de quel établissement il vient (PARAMETRES/UAJ manquant)."), filename)
    if found != uai:
        return Problem(
            None,
            "UAJ",
            _("cet export est celui de l'établissement %(found)s, pas de %(uai)s.", found=found[:40], uai=uai),
            filename,
        )
    return None


def _controls(record, problems, names, label):
    """Report the control characters of the record's attributes and fields `names`; True if any."""
    found = False
    for column, value in [*record.attrs.items(), *zip(names, record.raw(*names), strict=True)]:
        reason = control_problem(value)
        if reason:
            problems.add(record.line, column[:40], _("%(who)s : %(reason)s", who=label, reason=reason))
            found = True
    return found


class _Pupils:
    """The pupils of a BEE_ELEVES export, read record by record; `result()` at the end."""

    def __init__(self, filename):
        self.filename = filename
        self.problems = Problems(filename)
        self.classes = {}
        self.pupils = {}
        self.ines = {}

    def add(self, record):
        if record.name == "STRUCTURES_ELEVE":
            self._structure(record)
        else:
            self._pupil(record)

    def _structure(self, record):
        key = clean(record.attrs.get("ELEVE_ID"))
        if _controls(record, self.problems, (), _("structure de l'élève %(key)s", key=key[:40])):
            return
        reason = control_problem(record.division)
        if reason:
            self.problems.add(record.line, "CODE_STRUCTURE", _("structure de l'élève %(key)s : %(reason)s", key=key[:40], reason=reason))
            return
        division = clean(record.division)
        if key and division:
            if len(division) > MAX_CLASS:
                self.problems.add(record.line, "CODE_STRUCTURE", _("le nom de classe dépasse %(max)s caractères.", max=MAX_CLASS))
            self.classes.setdefault(key, division)

    def _pupil(self, record):
        problem = self.problems.add
        key = clean(record.attrs.get("ELEVE_ID"))
        line = record.line
        if not key:
            problem(line, "ELEVE_ID", _("l'élève n'a pas d'identifiant ELEVE_ID."))
            return
        if len(key) > MAX_KEY:
            problem(line, "ELEVE_ID", _("l'identifiant dépasse %(max)s caractères.", max=MAX_KEY))
            return
        if _controls(record, self.problems, sorted(FIELDS["ELEVE"]), _("élève %(key)s", key=key)):
            return
        if key in self.pupils:
            problem(line, "ELEVE_ID", _("l'élève %(key)s figure deux fois (ligne %(line)s).", key=key, line=self.pupils[key].line))
            return
        family_name = record.value("NOM_DE_FAMILLE", "NOM")
        given_name = record.value("PRENOM")
        bad = False
        for column, value, what in (("NOM_DE_FAMILLE", family_name, FAMILY_NAME), ("PRENOM", given_name, GIVEN_NAME)):
            reason = name_problem(value, what)
            if reason:
                problem(line, column, _("élève %(key)s : %(reason)s", key=key, reason=reason))
                bad = True
        birth_date, reason = birth_date_problem(record.value("DATE_NAISS")[:40])
        if reason:
            problem(line, "DATE_NAISS", _("élève %(key)s : %(reason)s", key=key, reason=reason))
            bad = True
        ine = record.value("ID_NATIONAL").upper() or None
        if ine is not None and not INE.match(ine):
            problem(line, "ID_NATIONAL", _("élève %(key)s : « %(value)s » n'est pas un INE (11 caractères).", key=key, value=ine[:40]))
            bad = True
        elif ine is not None and ine in self.ines:
            problem(line, "ID_NATIONAL", _("élève %(key)s : même INE que l'élève %(other)s.", key=key, other=self.ines[ine]))
            bad = True
        elif ine is not None:
            self.ines[ine] = key
        left_on = None
        if record.value("DATE_SORTIE"):
            left_on = parse_date(record.value("DATE_SORTIE"))
            if left_on is None:
                reason = _("« %(value)s » n'est pas une date (JJ/MM/AAAA).", value=record.value("DATE_SORTIE")[:40])
                problem(line, "DATE_SORTIE", _("élève %(key)s : %(reason)s", key=key, reason=reason))
                bad = True
        if bad:
            return
        self.pupils[key] = PupilRecord(key, given_name, family_name, birth_date, None, ine, left_on, line, self.filename)

    def result(self):
        """{ELEVE_ID: PupilRecord}, each in its class; ImportRefused listing every bad pupil."""
        if not self.pupils and not self.problems:
            self.problems.add(None, None, _("l'export ne contient aucun élève."))
        self.problems.refuse()
        return {key: replace(record, class_name=self.classes.get(key)) for key, record in self.pupils.items()}


class _Guardians:
    """The legal guardians of a BEE_RESPONSABLES export: persons, then the links that make
    them a pupil's legal guardian (resolved at the end: the links may come first)."""

    def __init__(self, filename):
        self.filename = filename
        self.problems = Problems(filename)
        self.persons = {}
        self.links = []

    def add(self, record):
        if record.name == "PERSONNE":
            key = clean(record.attrs.get("PERSONNE_ID"))
            if key:
                self.persons[key] = record
            return
        legacy = record.value("RESP_LEGAL")
        level = record.value("NIVEAU_RESPONSABILITE")
        legal = level == "1" if level else legacy in ("1", "2")
        if legal and not _controls(record, self.problems, ("ELEVE_ID", "PERSONNE_ID"), _("lien élève-responsable")):
            self.links.append((record.line, legacy, record.value("ELEVE_ID"), record.value("PERSONNE_ID")))

    def result(self):
        """{ELEVE_ID: [GuardianRecord]}, by rank; ImportRefused listing every bad link or person."""
        problem = self.problems.add
        guardians = {}
        for line, legacy, pupil_key, person_key in self.links:
            person = self.persons.get(person_key)
            if not pupil_key or person is None or len(person_key) > MAX_KEY:
                reason = _(
                    "le responsable légal %(person)s de l'élève %(pupil)s n'est pas dans PERSONNES.",
                    person=person_key[:40],
                    pupil=pupil_key[:40],
                )
                problem(line, "PERSONNE_ID", reason)
                continue
            listed = guardians.setdefault(pupil_key, [])
            rank = int(legacy) if legacy in ("1", "2") else len(listed) + 1
            if rank in (guardian.rank for guardian in listed) or rank > 2:
                reason = _("l'élève %(pupil)s a plus de deux responsables légaux, ou deux de même rang.", pupil=pupil_key[:40])
                problem(line, "RESP_LEGAL" if legacy else "NIVEAU_RESPONSABILITE", reason)
                continue
            # Only a legal guardian's person is checked: the others get no account.
            if _controls(person, self.problems, sorted(FIELDS["PERSONNE"]), _("responsable %(key)s", key=person_key)):
                continue
            family_name, given_name = person.value("NOM_DE_FAMILLE", "NOM"), person.value("PRENOM")
            bad = False
            for column, value, what in (("NOM_DE_FAMILLE", family_name, FAMILY_NAME), ("PRENOM", given_name, GIVEN_NAME)):
                reason = name_problem(value, what)
                if reason:
                    problem(person.line, column, _("responsable %(key)s : %(reason)s", key=person_key, reason=reason))
                    bad = True
            if bad:
                continue
            email = person.value("MEL") or None
            if email is not None and email_problem(email):
                email = None
            listed.append(GuardianRecord(rank, given_name, family_name, email, person_key, normalize_civility(person.value("LC_CIVILITE"))))
        self.problems.refuse()
        for listed in guardians.values():
            listed.sort(key=lambda guardian: guardian.rank)
        return guardians
