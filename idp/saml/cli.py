"""`idp saml-sp`: the SAML service providers, registered from their metadata (the rules:
idp.relying_parties.saml)."""

from pathlib import Path

import click
from flask.cli import AppGroup

from ..audit import audit
from ..cli_support import emit, json_option, table, transactional
from ..errors import InvalidInput
from ..models.oauth import CATEGORIES
from ..models.saml import NAMEID_FORMATS
from ..relying_parties.saml import (
    MAX_METADATA_BYTES,
    describe,
    describe_attributes,
    get_service_provider,
    list_service_providers,
    read_metadata,
    read_metadata_url,
    register_service_provider,
    remove_service_provider,
    update_service_provider,
)

saml_sp = AppGroup("saml-sp", help="Services SAML 2.0 (ENT, services).")

ATTRIBUTES_HELP = (
    "Attributs envoyés, séparés par des virgules : given_name (ou givenName), family_name (sn), email (mail), "
    "FrEduVecteur, FrEduCtPersonAffiliation, FrEduCtEleveUAI… ; « claim=Nom » pour un autre nom d'attribut. "
    "Par défaut : ceux que lit ENT core."
)


def _metadata(path, url):
    """The metadata given by --metadata FILE or --metadata-url URL, validated; and its source."""
    if path and url:
        raise InvalidInput("Donnez --metadata ou --metadata-url, pas les deux.")
    if url:
        return read_metadata(read_metadata_url(url)), url
    if path:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_METADATA_BYTES + 1)
        except OSError as error:
            raise InvalidInput(f"Fichier illisible : {path} ({error.strerror}).") from None
        return read_metadata(data), Path(path).name
    return None, None


@saml_sp.command("add")
@click.option("--metadata", "metadata_file", type=click.Path(dir_okay=False), help="Fichier des métadonnées du service.")
@click.option("--metadata-url", help="Adresse (https) des métadonnées du service.")
@click.option("--name", required=True, help="Nom du service, montré aux familles.")
@click.option(
    "--category", type=click.Choice(CATEGORIES), required=True, help="ent, ou teleservice (refusé aux familles qui l'ont refusé)."
)
@click.option("--attributes", help=ATTRIBUTES_HELP)
@click.option("--nameid", type=click.Choice(NAMEID_FORMATS), default="persistent", show_default=True, help="NameID donné par défaut.")
@click.option("--trusted/--not-trusted", default=False, help="Un service de confiance ne demande pas le consentement.")
@click.option(
    "--idp-initiated/--no-idp-initiated", default=False, help="Accepter les connexions ouvertes depuis le fournisseur d'identité."
)
@transactional
def add(metadata_file, metadata_url, name, category, attributes, nameid, trusted, idp_initiated):
    """Enregistrer un service SAML (métadonnées).

    À partir des métadonnées du fournisseur de service : un fichier ou leur adresse https.
    """
    metadata, source = _metadata(metadata_file, metadata_url)
    if metadata is None:
        raise InvalidInput("Les métadonnées sont obligatoires : --metadata FICHIER ou --metadata-url URL.")
    sp = register_service_provider(metadata, name, category, attributes, nameid, trusted, idp_initiated, source=source)
    audit("saml_sp_added", sp=sp.entity_id)
    return describe(sp), f"Fournisseur de service « {sp.name} » enregistré.\nentityID : {sp.entity_id}"


@saml_sp.command("update")
@click.argument("entity_id")
@click.option("--metadata", "metadata_file", type=click.Path(dir_okay=False), help="Nouvelles métadonnées (même entityID).")
@click.option("--metadata-url", help="Adresse (https) des nouvelles métadonnées.")
@click.option("--name", help="Nom du service.")
@click.option("--category", type=click.Choice(CATEGORIES), help="ent ou teleservice.")
@click.option("--attributes", help=ATTRIBUTES_HELP)
@click.option("--nameid", type=click.Choice(NAMEID_FORMATS), help="NameID donné par défaut.")
@click.option("--trusted/--not-trusted", default=None, help="Un service de confiance ne demande pas le consentement.")
@click.option("--idp-initiated/--no-idp-initiated", default=None, help="Accepter les connexions ouvertes depuis le fournisseur d'identité.")
@transactional
def update(entity_id, metadata_file, metadata_url, **changes):
    """Changer l'enregistrement d'un service SAML."""
    sp = get_service_provider(entity_id)
    metadata, source = _metadata(metadata_file, metadata_url)
    changed = update_service_provider(sp, metadata=metadata, source=source, **changes)
    if changed:
        audit("saml_sp_updated", sp=sp.entity_id, fields=changed)
    message = f"{sp.entity_id} modifié : {', '.join(changed)}." if changed else f"{sp.entity_id} : rien à modifier."
    return {**describe(sp), "changed": changed}, message


@saml_sp.command("remove")
@click.argument("entity_id")
@transactional
def remove(entity_id):
    """Supprimer un service SAML.

    Ses sessions et les consentements des familles sont effacés avec lui.
    """
    sp = get_service_provider(entity_id)
    remove_service_provider(sp)
    audit("saml_sp_removed", sp=entity_id)
    return {"entity_id": entity_id, "removed": True}, f"Fournisseur de service {entity_id} supprimé."


@saml_sp.command("show")
@click.argument("entity_id")
@transactional
def show(entity_id):
    """Montrer un service SAML."""
    data = describe(get_service_provider(entity_id))
    lines = [
        f"entityID : {data['entity_id']}",
        f"nom : {data['name']}",
        f"catégorie : {data['category']}",
        f"attributs : {describe_attributes(data['attributes'])}",
        f"NameID : {data['nameid']}",
        f"de confiance : {'oui' if data['trusted'] else 'non'}",
        f"connexion ouverte par le fournisseur d'identité : {'oui' if data['idp_initiated'] else 'non'}",
        f"AssertionConsumerService : {', '.join(data['assertion_consumer_services'])}",
        f"SingleLogoutService : {', '.join(f'{k} {v}' for k, v in data['single_logout'].items()) or '-'}",
        f"requêtes signées : {'oui' if data['signs_requests'] else 'non'} ; assertions chiffrées : {'oui' if data['encrypted'] else 'non'}",
    ]
    return data, "\n".join(lines)


@saml_sp.command("list")
@json_option
def list_command(as_json):
    """Lister les services SAML."""
    found = list_service_providers()
    data = [{"entity_id": sp.entity_id, "name": sp.name, "category": sp.category, "nameid": sp.nameid_format} for sp in found]
    if not found:
        message = "Aucun fournisseur de service SAML."
    else:
        message = table(
            ("entityID", "nom", "catégorie", "NameID"), [(sp.entity_id, sp.name, sp.category, sp.nameid_format) for sp in found]
        )
    emit(as_json, data, message)
