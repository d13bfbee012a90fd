"""A relying party with its own implementation: Apache httpd with mod_auth_openidc (Debian's
libapache2-mod-auth-openidc) logs in through the provider, and « Se déconnecter partout »
logs it out through OpenID Connect Back-Channel Logout (its URI: `<redirect_uri>?logout=backchannel`).

Apache runs from a configuration of its own on a free loopback port; the provider is served
by werkzeug on another. Skipped with a message where Apache or the module is missing
(.ci/run installs both).
"""

import re
from urllib.parse import urlsplit

import pytest
import requests

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.relying_parties.registration import register_client

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

NEEDED = ("mod_mpm_event.so", "mod_authn_core.so", "mod_authz_core.so", "mod_authz_user.so", "mod_alias.so", "mod_auth_openidc.so")

pytestmark = pytest.mark.skipif(
    apache_missing(NEEDED),
    reason="Apache httpd with mod_auth_openidc is not installed (apt-get install apache2 libapache2-mod-auth-openidc)",
)


@pytest.fixture
def apache(app, provider, apache_root):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    redirect_uri = f"{base}/protected/redirect_uri"
    with app.app_context():
        client, secret = register_client(
            "Apache mod_auth_openidc",
            "teleservice",
            [redirect_uri],
            [f"{base}/"],
            "client_secret_basic",
            ["openid", "profile"],
            trusted=True,
            backchannel_logout_uri=f"{redirect_uri}?logout=backchannel",
            backchannel_logout_session_required=True,
        )
        db.session.commit()
        client_id = client.client_id
    root = apache_root
    (root / "httpd.conf").write_text(
        server_configuration(root, port, NEEDED, "warn auth_openidc:info")
        + f"""
OIDCProviderMetadataURL {provider}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {secret}
OIDCRedirectURI {redirect_uri}
OIDCCryptoPassphrase test-passphrase-{port}
OIDCScope "openid profile"
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCSSLValidateServer Off
OIDCPKCEMethod S256
<Location /protected>
    AuthType openid-connect
    Require valid-user
</Location>
"""
    )
    with running_apache(root, base) as error_log:
        yield base, error_log


def test_apache_mod_auth_openidc_logs_in_and_is_logged_out_everywhere(app, provider, apache, parent):
    base, error_log = apache
    browser = requests.Session()
    login_page = browser.get(f"{base}/protected/index.html", timeout=10)
    assert urlsplit(login_page.url).path == "/authorize", login_page.url
    form = {"identifier": "jean.dupont1", "password": PASSWORD, "csrf_token": csrf_token(login_page.text)}
    action = re.search(r'<form[^>]*method="post"[^>]*action="([^"]+)"', login_page.text) or re.search(
        r'<form[^>]*action="([^"]+)"[^>]*method="post"', login_page.text
    )
    target = provider + action.group(1).replace("&amp;", "&") if action else login_page.url
    protected = browser.post(target, data=form, timeout=10)
    assert protected.status_code == 200 and "page protégée" in protected.text, (protected.url, error_log.read_text()[-2000:])
    assert browser.get(f"{base}/protected/index.html", timeout=10).url == f"{base}/protected/index.html"

    account_page = browser.get(f"{provider}/compte/", timeout=10)
    logged_out = browser.post(f"{provider}/compte/deconnexion-partout", data={"csrf_token": csrf_token(account_page.text)}, timeout=10)
    assert "Vous êtes déconnecté" in logged_out.text
    wait_for_jobs(app)  # the logout token was delivered to Apache

    again = browser.get(f"{base}/protected/index.html", timeout=10, allow_redirects=False)
    assert again.status_code == 302, error_log.read_text()[-2000:]
    assert urlsplit(again.headers["Location"]).path == "/authorize"
