"""SOAP back-channel single logout: the LogoutRequest a logout notice owes a SAML service
provider whose metadata has a SOAP SingleLogoutService (idp.logout delivers notices, and
calls this for a service provider's; idp.accounts.logouts writes them)."""

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from saml2.pack import make_soap_enveloped_saml_thingy

from . import protocol

# A signed LogoutResponse in its envelope is a few KiB.
ANSWER_READ = 64 * 1024
SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"


class NotDelivered(Exception):
    """The service provider did not take the LogoutRequest (idp.logout retries it)."""


def soap_logout(sp, name_id, name_id_format, sid, connect):
    """POST a signed LogoutRequest for the session `sid` (NameID `name_id`) to the SOAP
    endpoint of `sp`; `connect(uri)` gives the connection by the rules of every notice.
    Raises NotDelivered unless the service provider answers 200 with a LogoutResponse of
    status Success."""
    if not sp.logout_soap:
        raise NotDelivered("no SOAP SingleLogoutService any more")
    server, _metadata = protocol.server_for(sp)
    _request_id, request = server.create_logout_request(
        sp.logout_soap,
        sp.entity_id,
        name_id=protocol.name_id(name_id_format or "persistent", name_id, sp),
        session_indexes=[sid],
        sign=True,
    )
    body = make_soap_enveloped_saml_thingy(str(request))
    connection, path = connect(sp.logout_soap)
    try:
        connection.request(
            "POST",
            path,
            body=body.encode() if isinstance(body, str) else body,
            headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": "http://www.oasis-open.org/committees/security"},
        )
        answer = connection.getresponse()
        data = answer.read(ANSWER_READ)
        if answer.status != 200:
            raise NotDelivered(f"HTTP {answer.status}")
    finally:
        connection.close()
    if _status(data) != SUCCESS:
        raise NotDelivered("the LogoutResponse is not a success")


def _status(data):
    try:
        root = defusedxml.ElementTree.fromstring(data, forbid_dtd=True)
    except (DefusedXmlException, SyntaxError, ValueError):
        return None
    code = root.find(
        ".//{urn:oasis:names:tc:SAML:2.0:protocol}LogoutResponse/{urn:oasis:names:tc:SAML:2.0:protocol}Status/{urn:oasis:names:tc:SAML:2.0:protocol}StatusCode"
    )
    return code.get("Value") if code is not None else None
