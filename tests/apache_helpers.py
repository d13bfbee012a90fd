"""Apache httpd as a relying party with an implementation of its own (mod_auth_openidc,
mod_auth_mellon), run from a configuration of its own on a free loopback port, and the
provider served by werkzeug on another, at the address that is its issuer."""

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

APACHE = shutil.which("apache2") or "/usr/sbin/apache2"
MODULES = Path("/usr/lib/apache2/modules")


def apache_missing(modules):
    """True when Apache or one of `modules` (file names) is not installed."""
    return not Path(APACHE).exists() or not all((MODULES / module).exists() for module in modules)


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
    """A folder of its own that Apache's workers (www-data under root) can read, with a
    protected page in htdocs/."""
    root = Path(tempfile.mkdtemp(prefix="idp-apache-"))
    root.chmod(0o755)
    (root / "htdocs").mkdir()
    (root / "htdocs" / "index.html").write_text("<p>page protégée</p>\n")
    (root / "htdocs").chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def server_configuration(root, port, modules, log_level):
    """The beginning of httpd.conf: where it runs, its modules, /protected serving htdocs."""
    user = "User www-data\nGroup www-data\n" if os.geteuid() == 0 else ""
    loaded = "\n".join(f"LoadModule {name[4:-3]}_module {MODULES / name}" for name in modules)
    return f"""
ServerRoot {root}
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {root}/httpd.pid
ErrorLog {root}/error.log
LogLevel {log_level}
{user}{loaded}
DocumentRoot {root}/htdocs
<Directory />
    AllowOverride None
</Directory>
Alias /protected {root}/htdocs
"""


@contextmanager
def running_apache(root, base):
    """Apache on `root`/httpd.conf until the block ends; yields its error log's path."""
    process = subprocess.Popen([APACHE, "-f", str(root / "httpd.conf"), "-DFOREGROUND"], stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                requests.get(f"{base}/", timeout=1)
                break
            except requests.ConnectionError:
                if process.poll() is not None:
                    pytest.fail(f"Apache did not start: {(root / 'error.log').read_text()[-2000:]}")
                time.sleep(0.1)
        yield root / "error.log"
    finally:
        process.terminate()
        process.wait(10)
