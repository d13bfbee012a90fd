"""A relying party with its own implementation: Apache httpd with mod_auth_openidc (Debian's
libapache2-mod-auth-openidc) logs in through the provider, and « Se déconnecter partout »
logs it out through OpenID Connect Back-Channel Logout (its URI: `<redirect_uri>?logout=backchannel`).

Apache runs from a configuration of its own on a free loopback port; the provider is served
by werkzeug on another. Skipped with a message where Apache or the module is missing
(.ci/run installs both).
"""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from werkzeug.serving import make_server

from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.relying_parties.registration import register_client

from .conftest import PASSWORD
from .oidc_helpers import csrf_token

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")
NEEDED = ("mod_mpm_event.so", "mod_authn_core.so", "mod_authz_core.so", "mod_authz_user.so", "mod_alias.so", "mod_auth_openidc.so")

pytestmark = pytest.mark.skipif(
    not Path(APACHE).exists() or not all((MODULES / module).exists() for module in NEEDED),
    reason="Apache httpd with mod_auth_openidc is not installed (apt-get install apache2 libapache2-mod-auth-openidc)",
)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def provider_server():
    """A server bound before the application exists: the issuer is its address."""
    server = make_server("127.0.0.1", 0, lambda environ, start_response: [], threaded=True)
    yield server
    server.server_close()


@pytest.fixture
def settings(settings, provider_server):
    return settings | {"ISSUER": f"http://127.0.0.1:{provider_server.port}"}


@pytest.fixture
def provider(app, provider_server):
    provider_server.app = app
    thread = threading.Thread(target=provider_server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{provider_server.port}"
    provider_server.shutdown()
    thread.join()


@pytest.fixture
def apache_root():
    """A folder of its own that Apache's workers (www-data under root) can read."""
    root = Path(tempfile.mkdtemp(prefix="idp-apache-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


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
    (root / "htdocs").mkdir()
    (root / "htdocs" / "index.html").write_text("<p>page protégée</p>\n")
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    modules = "\n".join(f"LoadModule {name[4:-3]}_module {MODULES / name}" for name in NEEDED)
    (root / "httpd.conf").write_text(
        f"""
ServerRoot {root}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
LogLevel warn auth_openidc:info
{user}{modules}
DocumentRoot {root}/htdocs
<Directory />
    AllowOverride None
</Directory>
Alias /protected {root}/htdocs
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
    (root / "htdocs").chmod(0o755)
    process = subprocess.Popen([APACHE, "-f", str(root / "httpd.conf"), "-DFOREGROUND"], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            requests.get(f"{base}/", timeout=1)
            break
        except requests.ConnectionError:
            if process.poll() is not None:
                pytest.fail(f"Apache did not start: {(root / 'error.log').read_text()[-2000:]}")
            time.sleep(0.1)
    yield base, root / "error.log"
    process.terminate()
    process.wait(10)


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
