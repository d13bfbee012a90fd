"""SAML 2.0 service providers: their registration from metadata, and how each one names an
account (docs/saml.md).

`idp saml-sp` and the académie's back office call these functions: the metadata is read
through pysaml2's parser (defusedxml underneath), must describe exactly one service
provider with an assertion consumer service for HTTP-POST, and its entity ID is unique.
"""

import ipaddress
import urllib.request
from urllib.parse import urlsplit

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, BINDING_SOAP
from saml2.attribute_converter import ac_factory
from saml2.mdstore import InMemoryMetaData
from sqlalchemy import select

from ..errors import InvalidInput
from ..extensions import db
from ..models import SamlServiceProvider
from ..models.oauth import CATEGORIES, CLAIMS_BY_SCOPE
from ..models.saml import NAMEID_FORMATS
from .registration import check_choice, check_name
from .subjects import pairwise_subject

# Largest metadata accepted (a file, or the body of a URL).
MAX_METADATA_BYTES = 256 * 1024
METADATA_TIMEOUT = 10

URI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
# The claims a service provider may receive, and the attribute name it gets by default:
# the URI names of givenName, sn and mail; the short names ENT core reads for the others.
DEFAULT_NAMES = {
    "given_name": "urn:oid:2.5.4.42",
    "family_name": "urn:oid:2.5.4.4",
    "email": "urn:oid:0.9.2342.19200300.100.1.3",
    "FrEduVecteur": "FrEduVecteur",
    "FrEduCtPersonAffiliation": "FrEduCtPersonAffiliation",
    "FrEduCtEleveUAI": "FrEduCtEleveUAI",
    "FrEduCtEleveINE": "FrEduCtEleveINE",
}
# What ENT core reads: a registration without --attributes gets these.
DEFAULT_ATTRIBUTES = ("given_name", "family_name", "email", "FrEduVecteur", "FrEduCtPersonAffiliation", "FrEduCtEleveUAI")
# Short names an operator may write instead of a claim's (the LDAP names of the URI ones).
ALIASES = {"givenName": "given_name", "sn": "family_name", "mail": "email"}
# Claims of the OpenID side that a SAML attribute may carry.
KNOWN_CLAIMS = set(DEFAULT_NAMES) | {claim for claims in CLAIMS_BY_SCOPE.values() for claim in claims} - {"children"}

NAMEID_URNS = {
    "persistent": "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "transient": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
}


# --- reading metadata ---------------------------------------------------------------------


class Metadata:
    """A service provider's metadata, parsed; what the SAML door needs of it."""

    def __init__(self, xml):
        if isinstance(xml, bytes):
            xml = xml.decode("utf-8")
        self.xml = xml
        store = InMemoryMetaData(ac_factory(), metadata=xml)
        try:
            store.load()
        except Exception as error:  # pysaml2 raises many kinds for bad XML or schema
            raise InvalidInput(f"Métadonnées illisibles : ce n'est pas un document SAML 2.0 valide ({type(error).__name__}).") from None
        self.store = store
        entities = [entity for entity, description in store.items() if "spsso_descriptor" in description]
        if len(entities) != 1:
            raise InvalidInput("Les métadonnées doivent décrire un seul fournisseur de service (SPSSODescriptor).")
        self.entity_id = entities[0]
        if len(self.entity_id) > 500:
            raise InvalidInput("L'entityID est trop long (500 caractères au plus).")
        if not self.assertion_consumer_services():
            raise InvalidInput("Les métadonnées ne déclarent aucun AssertionConsumerService en HTTP-POST.")

    def _descriptor(self):
        return self.store[self.entity_id]["spsso_descriptor"][0]

    def assertion_consumer_services(self):
        """[(index, location, is_default)] of the HTTP-POST ACS, in their order."""
        found = []
        for position, acs in enumerate(self._descriptor().get("assertion_consumer_service", [])):
            if acs.get("binding") == BINDING_HTTP_POST and acs.get("location"):
                found.append((acs.get("index", str(position)), acs["location"], acs.get("is_default") == "true"))
        return found

    def default_acs(self):
        services = self.assertion_consumer_services()
        return next((location for _, location, default in services if default), services[0][1])

    def acs_for(self, url=None, index=None):
        """The ACS a request names (by URL or index), or the default one; None when it names one
        that the metadata does not list."""
        services = self.assertion_consumer_services()
        if url is not None:
            return url if any(location == url for _, location, _ in services) else None
        if index is not None:
            return next((location for number, location, _ in services if str(number) == str(index)), None)
        return self.default_acs()

    def logout_services(self):
        """{binding: (location, response location)} of its SingleLogoutService."""
        found = {}
        for service in self._descriptor().get("single_logout_service", []):
            binding = service.get("binding")
            if binding in (BINDING_HTTP_REDIRECT, BINDING_HTTP_POST, BINDING_SOAP) and binding not in found:
                found[binding] = (service["location"], service.get("response_location") or service["location"])
        return found

    def signs_requests(self):
        return self._descriptor().get("authn_requests_signed") == "true"

    def wants_assertions_signed(self):
        return self._descriptor().get("want_assertions_signed") == "true"

    def encryption_certificates(self):
        return [cert for _, cert in self.store.certs(self.entity_id, "spsso", "encryption")]


def read_metadata_url(url):
    """The metadata at `url` (https, or http on a loopback address), within MAX_METADATA_BYTES."""
    parts = urlsplit(url)
    loopback = False
    try:
        loopback = ipaddress.ip_address(parts.hostname or "").is_loopback
    except ValueError:
        loopback = parts.hostname == "localhost"
    if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
        raise InvalidInput("L'adresse des métadonnées doit être en https.")
    try:
        with urllib.request.urlopen(url, timeout=METADATA_TIMEOUT) as answer:  # noqa: S310 (scheme checked above)
            data = answer.read(MAX_METADATA_BYTES + 1)
    except (TimeoutError, OSError, ValueError) as error:
        raise InvalidInput(f"Métadonnées inaccessibles à {url} : {type(error).__name__}.") from None
    return _bounded(data)


def _bounded(data):
    if len(data) > MAX_METADATA_BYTES:
        raise InvalidInput(f"Métadonnées trop grandes ({MAX_METADATA_BYTES // 1024} Kio au plus).")
    try:
        return data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise InvalidInput("Métadonnées illisibles : elles doivent être en UTF-8.") from None


def read_metadata(data):
    """`data` (bytes or text) as a validated Metadata."""
    return Metadata(_bounded(data))


# --- attributes and NameID ----------------------------------------------------------------


def parse_attributes(text):
    """`given_name,sn,FrEduVecteur=urn:x` → {claim: attribute name}: each claim (or its short
    name) under its default name, or under the name given after `=`."""
    mapping = {}
    for item in (part.strip() for part in (text or "").split(",")):
        if not item:
            continue
        claim, _, name = item.partition("=")
        claim = ALIASES.get(claim.strip(), claim.strip())
        if claim not in KNOWN_CLAIMS:
            raise InvalidInput(f"Attribut inconnu : {claim!r} (choix : {', '.join(sorted(KNOWN_CLAIMS | set(ALIASES)))}).")
        name = name.strip() or DEFAULT_NAMES.get(claim, claim)
        if len(name) > 200 or any(character.isspace() for character in name):
            raise InvalidInput(f"Nom d'attribut invalide : {name!r}.")
        mapping[claim] = name
    if not mapping:
        raise InvalidInput("Au moins un attribut est nécessaire.")
    return mapping


def describe_attributes(mapping):
    return ",".join(f"{claim}={name}" for claim, name in mapping.items())


def persistent_name_id(sp, sub):
    """The persistent NameID of the account `sub` at `sp`: its pairwise subject for the
    service provider's entity ID as sector (subjects.py), stable (the `sub` survives a
    regeneration) and different at every service provider, so that two of them cannot match
    their users."""
    return pairwise_subject(sp.entity_id, sub)


# --- registration -------------------------------------------------------------------------


def find_service_provider(entity_id):
    """The service provider `entity_id`, or None."""
    return db.session.scalar(select(SamlServiceProvider).where(SamlServiceProvider.entity_id == entity_id))


def get_service_provider(entity_id):
    found = find_service_provider(entity_id)
    if found is None:
        raise InvalidInput(f"Fournisseur de service SAML inconnu : {entity_id!r}.")
    return found


def register_service_provider(
    metadata, name, category, attributes=None, nameid="persistent", trusted=False, idp_initiated=False, source=None
):
    """Register the service provider that `metadata` (a Metadata) describes."""
    name = check_name(name)
    if find_service_provider(metadata.entity_id) is not None:
        raise InvalidInput(f"Un fournisseur de service SAML porte déjà l'entityID {metadata.entity_id!r}.")
    sp = SamlServiceProvider(
        entity_id=metadata.entity_id,
        name=name,
        category=check_choice(category, CATEGORIES, "Catégorie"),
        metadata_xml=metadata.xml,
        metadata_source=(source or "")[:500] or None,
        attributes=parse_attributes(attributes) if attributes else {claim: DEFAULT_NAMES[claim] for claim in DEFAULT_ATTRIBUTES},
        nameid_format=check_choice(nameid, NAMEID_FORMATS, "Forme de NameID"),
        trusted=bool(trusted),
        idp_initiated=bool(idp_initiated),
    )
    _set_logout(sp, metadata)
    db.session.add(sp)
    return sp


def _set_logout(sp, metadata):
    services = metadata.logout_services()
    sp.logout_soap = services.get(BINDING_SOAP, (None,))[0]
    sp.logout_redirect = services.get(BINDING_HTTP_REDIRECT, (None,))[0]
    sp.logout_post = services.get(BINDING_HTTP_POST, (None,))[0]


def update_service_provider(
    sp, metadata=None, name=None, category=None, attributes=None, nameid=None, trusted=None, idp_initiated=None, source=None
):
    """Change what is given (None: unchanged); return the names of what changed. New metadata
    must keep the entity ID (a new entity ID is another service provider)."""
    changed = []
    if metadata is not None:
        if metadata.entity_id != sp.entity_id:
            raise InvalidInput(f"Ces métadonnées décrivent {metadata.entity_id!r}, pas {sp.entity_id!r}.")
        sp.metadata_xml = metadata.xml
        _set_logout(sp, metadata)
        sp.metadata_source = (source or "")[:500] or sp.metadata_source
        changed.append("metadata")
    if name is not None:
        sp.name = check_name(name)
        changed.append("name")
    if category is not None:
        sp.category = check_choice(category, CATEGORIES, "Catégorie")
        changed.append("category")
    if attributes is not None:
        sp.attributes = parse_attributes(attributes)
        changed.append("attributes")
    if nameid is not None:
        sp.nameid_format = check_choice(nameid, NAMEID_FORMATS, "Forme de NameID")
        changed.append("nameid")
    if trusted is not None:
        sp.trusted = bool(trusted)
        changed.append("trusted")
    if idp_initiated is not None:
        sp.idp_initiated = bool(idp_initiated)
        changed.append("idp_initiated")
    return changed


def remove_service_provider(sp):
    """Delete it; its sessions' links, consents and notices go with it (ON DELETE CASCADE)."""
    db.session.delete(sp)


def list_service_providers():
    return db.session.scalars(select(SamlServiceProvider).order_by(SamlServiceProvider.name)).all()


def describe(sp):
    """What `idp saml-sp show` and the back office show."""
    metadata = Metadata(sp.metadata_xml)
    return {
        "entity_id": sp.entity_id,
        "name": sp.name,
        "category": sp.category,
        "attributes": dict(sp.attributes),
        "nameid": sp.nameid_format,
        "trusted": sp.trusted,
        "idp_initiated": sp.idp_initiated,
        "assertion_consumer_services": [location for _, location, _ in metadata.assertion_consumer_services()],
        "single_logout": {binding.rsplit(":", 1)[-1]: locations[0] for binding, locations in metadata.logout_services().items()},
        "signs_requests": metadata.signs_requests(),
        "encrypted": bool(metadata.encryption_certificates()),
        "metadata_source": sp.metadata_source,
        "created_at": sp.created_at.isoformat(timespec="seconds") + "Z" if sp.created_at else None,
    }
