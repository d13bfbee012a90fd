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

from xml.sax import SAXParseException
from xml.sax.handler import ContentHandler

import defusedxml.sax
from defusedxml import DefusedXmlException
from flask_babel import gettext as _

from .records import (
    FAMILY_NAME,
    GIVEN_NAME,
    INE,
    MAX_CLASS,
    MAX_KEY,
    GuardianRecord,
    ImportRefused,
    Problem,
    PupilRecord,
    birth_date_problem,
    clean,
    email_problem,
    name_problem,
    parse_date,
)

PUPILS_ROOT = "BEE_ELEVES"
GUARDIANS_ROOT = "BEE_RESPONSABLES"


class Node:
    """An element of the document, with the line it starts on."""

    __slots__ = ("attrs", "children", "line", "name", "text")

    def __init__(self, name, attrs, line):
        self.name = name
        self.attrs = attrs
        self.line = line
        self.children = []
        self.text = ""

    def all(self, path):
        """The elements at `path` ("A/B/C") below this one."""
        nodes = [self]
        for name in path.split("/"):
            nodes = [child for node in nodes for child in node.children if child.name == name]
        return nodes

    def value(self, *names):
        """The text of the first child among `names` that has some, collapsed; '' if none."""
        for name in names:
            for child in self.children:
                if child.name == name and child.text:
                    return clean(child.text)
        return ""


class _TreeBuilder(ContentHandler):
    def __init__(self):
        super().__init__()
        self.root = None
        self.stack = []
        self.texts = []

    def startElement(self, name, attrs):
        node = Node(name, dict(attrs), self._locator.getLineNumber())
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)
        self.texts.append([])

    def characters(self, content):
        self.texts[-1].append(content)

    def endElement(self, name):
        self.stack.pop().text = "".join(self.texts.pop()).strip()


def read_xml(data, filename):
    """The document's root element; ImportRefused for a dangerous or malformed document."""
    builder = _TreeBuilder()
    try:
        defusedxml.sax.parseString(data, builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        reason = _(
            "le fichier contient une déclaration de type de document (DOCTYPE), des entités ou une référence externe :"
            " il est refusé par sécurité (les exports de SIECLE n'en contiennent pas)."
        )
        raise ImportRefused([Problem(None, None, reason, filename)]) from None
    except SAXParseException as error:
        reason = _("ce n'est pas un document XML valide (erreur à la ligne %(line)s).", line=error.getLineNumber())
        raise ImportRefused([Problem(None, None, reason, filename)]) from None
    return builder.root


def check_uaj(root, filename, uai):
    """A problem when the export is not the establishment's own (PARAMETRES/UAJ)."""
    found = [node.text.strip().upper() for node in root.all("PARAMETRES/UAJ")]
    if not found or not found[0]:
        return Problem(None, "UAJ", _("l'export ne dit pas de quel établissement il vient (PARAMETRES/UAJ manquant)."), filename)
    if found[0] != uai:
        return Problem(
            None,
            "UAJ",
            _("cet export est celui de l'établissement %(found)s, pas de %(uai)s.", found=found[0], uai=uai),
            filename,
        )
    return None


def read_pupils(root, filename):
    """{ELEVE_ID: PupilRecord} of a BEE_ELEVES export; ImportRefused listing every bad pupil."""
    problems = []

    def problem(node, column, reason):
        problems.append(Problem(node.line, column, reason, filename))

    classes = {}
    for node in root.all("DONNEES/STRUCTURES/STRUCTURES_ELEVE"):
        key = clean(node.attrs.get("ELEVE_ID"))
        divisions = [structure.value("CODE_STRUCTURE") for structure in node.all("STRUCTURE") if structure.value("TYPE_STRUCTURE") == "D"]
        divisions = [division for division in divisions if division]
        if key and divisions:
            if len(divisions[0]) > MAX_CLASS:
                problem(node, "CODE_STRUCTURE", _("le nom de classe dépasse %(max)s caractères.", max=MAX_CLASS))
            classes.setdefault(key, divisions[0])

    pupils = {}
    ines = {}
    for node in root.all("DONNEES/ELEVES/ELEVE"):
        key = clean(node.attrs.get("ELEVE_ID"))
        if not key:
            problem(node, "ELEVE_ID", _("l'élève n'a pas d'identifiant ELEVE_ID."))
            continue
        if len(key) > MAX_KEY:
            problem(node, "ELEVE_ID", _("l'identifiant dépasse %(max)s caractères.", max=MAX_KEY))
            continue
        if key in pupils:
            problem(node, "ELEVE_ID", _("l'élève %(key)s figure deux fois (ligne %(line)s).", key=key, line=pupils[key].line))
            continue
        family_name = node.value("NOM_DE_FAMILLE", "NOM")
        given_name = node.value("PRENOM")
        bad = False
        for column, value, what in (("NOM_DE_FAMILLE", family_name, FAMILY_NAME), ("PRENOM", given_name, GIVEN_NAME)):
            reason = name_problem(value, what)
            if reason:
                problem(node, column, _("élève %(key)s : %(reason)s", key=key, reason=reason))
                bad = True
        birth_date, reason = birth_date_problem(node.value("DATE_NAISS"))
        if reason:
            problem(node, "DATE_NAISS", _("élève %(key)s : %(reason)s", key=key, reason=reason))
            bad = True
        ine = node.value("ID_NATIONAL").upper() or None
        if ine is not None and not INE.match(ine):
            problem(node, "ID_NATIONAL", _("élève %(key)s : « %(value)s » n'est pas un INE (11 caractères).", key=key, value=ine))
            bad = True
        elif ine is not None and ine in ines:
            problem(node, "ID_NATIONAL", _("élève %(key)s : même INE que l'élève %(other)s.", key=key, other=ines[ine]))
            bad = True
        elif ine is not None:
            ines[ine] = key
        left_on = None
        if node.value("DATE_SORTIE"):
            left_on = parse_date(node.value("DATE_SORTIE"))
            if left_on is None:
                reason = _("« %(value)s » n'est pas une date (JJ/MM/AAAA).", value=node.value("DATE_SORTIE"))
                problem(node, "DATE_SORTIE", _("élève %(key)s : %(reason)s", key=key, reason=reason))
                bad = True
        if bad:
            continue
        pupils[key] = PupilRecord(key, given_name, family_name, birth_date, classes.get(key), ine, left_on, node.line, filename)
    if not pupils and not problems:
        problems.append(Problem(None, None, _("l'export ne contient aucun élève."), filename))
    if problems:
        raise ImportRefused(problems)
    return pupils


def read_guardians(root, filename):
    """{ELEVE_ID: [GuardianRecord]} of the legal guardians in a BEE_RESPONSABLES export."""
    problems = []
    persons = {}
    for node in root.all("DONNEES/PERSONNES/PERSONNE"):
        key = clean(node.attrs.get("PERSONNE_ID"))
        if key:
            persons[key] = node

    guardians = {}
    for link in root.all("DONNEES/RESPONSABLES/RESPONSABLE_ELEVE"):
        legacy = link.value("RESP_LEGAL")
        level = link.value("NIVEAU_RESPONSABILITE")
        legal = level == "1" if level else legacy in ("1", "2")
        if not legal:
            continue
        pupil_key = link.value("ELEVE_ID")
        person_key = link.value("PERSONNE_ID")
        person = persons.get(person_key)
        if not pupil_key or person is None or len(person_key) > MAX_KEY:
            reason = _("le responsable légal %(person)s de l'élève %(pupil)s n'est pas dans PERSONNES.", person=person_key, pupil=pupil_key)
            problems.append(Problem(link.line, "PERSONNE_ID", reason, filename))
            continue
        listed = guardians.setdefault(pupil_key, [])
        rank = int(legacy) if legacy in ("1", "2") else len(listed) + 1
        if rank in (guardian.rank for guardian in listed) or rank > 2:
            reason = _("l'élève %(pupil)s a plus de deux responsables légaux, ou deux de même rang.", pupil=pupil_key)
            problems.append(Problem(link.line, "RESP_LEGAL" if legacy else "NIVEAU_RESPONSABILITE", reason, filename))
            continue
        family_name = person.value("NOM_DE_FAMILLE", "NOM")
        given_name = person.value("PRENOM")
        bad = False
        for column, value, what in (("NOM_DE_FAMILLE", family_name, FAMILY_NAME), ("PRENOM", given_name, GIVEN_NAME)):
            reason = name_problem(value, what)
            if reason:
                reason = _("responsable %(key)s : %(reason)s", key=person_key, reason=reason)
                problems.append(Problem(person.line, column, reason, filename))
                bad = True
        if bad:
            continue
        email = person.value("MEL") or None
        if email is not None and email_problem(email):
            email = None
        listed.append(GuardianRecord(rank, given_name, family_name, email, person_key))
    if problems:
        raise ImportRefused(dict.fromkeys(problems))
    for listed in guardians.values():
        listed.sort(key=lambda guardian: guardian.rank)
    return guardians
