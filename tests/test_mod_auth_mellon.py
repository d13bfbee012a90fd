"""A SAML service provider with its own implementation: Apache httpd with mod_auth_mellon
(Debian's libapache2-mod-auth-mellon, on the lasso library) logs in through the provider,
reads the NameID and the attributes from its environment (FrEduVecteur, one value per
child), logs out by its own SP-initiated single logout, and is logged out by « Se déconnecter
partout » over SOAP.

Apache runs from a configuration of its own on a free loopback port; the provider is served
by werkzeug on another. Skipped with a message where Apache or the module is missing
(.ci/run installs both).
"""

import os
import re
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import select

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.models import Account, LogoutNotice, NoticeStatus
from idp.models.oauth import CLAIMS_BY_SCOPE
from idp.oidc.claims import CLAIM_COLUMNS, user_info, with_schooling
from idp.relying_parties.saml import find_service_provider, persistent_name_id, read_metadata, register_service_provider

from .apache_helpers import (  # noqa: F401
    apache_missing,
    apache_root,
    free_port,
    provider,
    provider_server,
    running_apache,
    server_configuration,
    settings,
)
from .conftest import PASSWORD
from .oidc_helpers import csrf_token
from .saml_helpers import key_and_certificate, posted_form, sp_metadata

NEEDED = (
    "mod_mpm_event.so",
    "mod_authn_core.so",
    "mod_authz_core.so",
    "mod_authz_user.so",
    "mod_alias.so",
    "mod_headers.so",
    "mod_auth_mellon.so",
)

pytestmark = pytest.mark.skipif(
    apache_missing(NEEDED),
    reason="Apache httpd with mod_auth_mellon is not installed (apt-get install apache2 libapache2-mod-auth-mellon xmlsec1)",
)


@pytest.fixture
def mellon(app, provider, apache_root):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    root = apache_root
    key_file, cert_file = key_and_certificate(root, "mellon")
    os.chmod(key_file, 0o644)  # read by Apache's workers (a test key)
    metadata = sp_metadata(base, cert_file)
    (root / "sp.xml").write_text(metadata)
    (root / "idp.xml").write_text(requests.get(f"{provider}/saml/metadata", timeout=10).text)
    with app.app_context():
        register_service_provider(
            read_metadata(metadata),
            "Apache mod_auth_mellon",
            "ent",
            "givenName,FrEduVecteur,FrEduCtPersonAffiliation",
            trusted=True,
        )
        db.session.commit()
    (root / "mellon").mkdir()
    (root / "httpd.conf").write_text(
        server_configuration(root, port, NEEDED, "warn auth_mellon:info")
        + f"""
<Location />
    MellonEnable info
    MellonEndpointPath /mellon
    MellonSPentityId "{base}/mellon/metadata"
    MellonSPPrivateKeyFile {key_file}
    MellonSPCertFile {cert_file}
    MellonSPMetadataFile {root}/sp.xml
    MellonIdPMetadataFile {root}/idp.xml
    MellonSecureCookie Off
    MellonCookieSameSite lax
    MellonMergeEnvVars On ";"
</Location>
<Location /protected>
    AuthType Mellon
    MellonEnable auth
    Require valid-user
    Header always set X-NameID "%{{MELLON_NAME_ID}}e"
    Header always set X-FrEduVecteur "%{{MELLON_FrEduVecteur}}e"
    Header always set X-Affiliation "%{{MELLON_FrEduCtPersonAffiliation}}e"
    Header always set X-Given-Name "%{{MELLON_urn:oid:2.5.4.42}}e"
</Location>
"""
    )
    with running_apache(root, base) as error_log:
        yield base, error_log


def log_in(browser, provider, base, error_log):
    page = browser.get(f"{base}/protected/index.html", timeout=10)
    assert urlsplit(page.url).path == "/saml/sso", (page.url, error_log.read_text()[-2000:])
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    form = {"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(page.text)}
    answer = browser.post(provider + action, data=form, timeout=10)
    acs, fields = posted_form(type("Page", (), {"status_code": answer.status_code, "text": answer.text})())
    assert acs == f"{base}/mellon/postResponse"
    return browser.post(acs, data=fields, timeout=10)


def expected_vectors(app, account_id):
    with app.app_context():
        rows = db.session.execute(with_schooling(select(*CLAIM_COLUMNS).where(Account.id == account_id))).all()
        return user_info(
            rows, " ".join(["openid", *CLAIMS_BY_SCOPE]), SimpleNamespace(subject_type="public", claims=None, redirect_uris=[])
        ).get("FrEduVecteur")


def test_apache_mod_auth_mellon_logs_in_reads_the_attributes_and_logs_out(app, provider, mellon, parent):
    base, error_log = mellon
    browser = requests.Session()
    protected = log_in(browser, provider, base, error_log)
    assert protected.status_code == 200 and "page protégée" in protected.text, (protected.url, error_log.read_text()[-3000:])
    assert protected.url == f"{base}/protected/index.html"
    with app.app_context():  # the persistent NameID: the account's pairwise subject for Mellon's entity ID
        assert protected.headers["X-NameID"] == persistent_name_id(find_service_provider(f"{base}/mellon/metadata"), parent.sub)
    assert protected.headers["X-Affiliation"] == "resp2d"
    assert protected.headers["X-Given-Name"] == "Jean"
    vectors = expected_vectors(app, parent.id)
    if vectors is not None:
        assert protected.headers["X-FrEduVecteur"] == ";".join(vectors if isinstance(vectors, list) else [vectors])

    # Mellon's own logout: a signed LogoutRequest to the provider, which ends the session.
    logged_out = browser.get(f"{base}/mellon/logout", params={"ReturnTo": f"{base}/index.html"}, timeout=10)
    assert logged_out.status_code == 200 and logged_out.url == f"{base}/index.html", (logged_out.url, error_log.read_text()[-3000:])
    again = browser.get(f"{base}/protected/index.html", timeout=10)
    assert urlsplit(again.url).path == "/saml/sso" and 'name="password"' in again.text


def test_logging_out_everywhere_reaches_mellon_over_soap(app, provider, mellon, parent):
    base, error_log = mellon
    browser = requests.Session()
    assert log_in(browser, provider, base, error_log).status_code == 200
    account_page = browser.get(f"{provider}/compte/", timeout=10)
    logged_out = browser.post(f"{provider}/compte/deconnexion-partout", data={"csrf_token": csrf_token(account_page.text)}, timeout=10)
    assert "Vous êtes déconnecté" in logged_out.text
    wait_for_jobs(app)  # the SOAP LogoutRequest was delivered to Apache
    again = browser.get(f"{base}/protected/index.html", timeout=10, allow_redirects=False)
    assert again.status_code in (302, 303), error_log.read_text()[-3000:]
    assert urlsplit(again.headers["Location"]).path == "/mellon/login"  # mellon's way to the provider: logged out
    with app.app_context():
        [notice] = db.session.scalars(select(LogoutNotice)).all()
        assert notice.status == NoticeStatus.DELIVERED, notice.last_error
