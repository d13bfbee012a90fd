"""Does « mot de passe oublié » answer in the same time whatever the identifier names?

    .venv/bin/python bench/forgotten.py                       # SQLite in a temporary folder
    .venv/bin/python bench/forgotten.py --database postgresql+psycopg://postgres@127.0.0.1:5432/idp_bench --requests 60

Builds an application with an active account (with an address), an issued one and an
unknown identifier, then posts the form for each in turn (interleaved and in a new order
each round, so that drift and what a previous request left running touch all three
alike), each from its own address so that the per-address budget never
answers instead. Emails go to a local SMTP catcher, in the background as in production.
Prints the median, the 90th percentile and the spread of the answer's time per kind: the
request's time is what a prober measures; the decision runs after the answer.
"""

import argparse
import re
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from idp import create_app
from idp.deferred import wait_for_jobs
from idp.extensions import db
from idp.mail import wait_for_deliveries
from idp.schools.demo_accounts import create_active_account
from idp.schools.establishments import add_establishment

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


class Sink:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"


def build(database, folder, smtp_port):
    settings = {
        "DATABASE_URL": database or f"sqlite:///{folder}/bench.db",
        "KEYS_DIR": str(Path(folder) / "keys"),
        "SECRET_KEY": "bench-" * 8,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_port,
        "RECOVERY_EMAILS": "100000 per hour",
        "THROTTLE_RECOVERY_PER_IP": "100000 per hour",
    }
    app = create_app(settings, command_line=True)
    with app.app_context():
        db.drop_all()
        db.create_all()
        add_establishment("0140001A", "Collège Jean Moulin")
        active = create_active_account(
            "parent",
            "Jean",
            "Dupont",
            "Soleil-rouge-x7",
            "0140001A",
            email="jean@example.org",
            child={"given_name": "Alice", "family_name": "Dupont", "birthdate": "2013-03-14"},
        )
        issued = create_active_account("parent", "Paul", "Martin", "Soleil-rouge-x7", "0140001A", email=None, child=None)
        issued.state = issued.state.__class__.ISSUED
        db.session.commit()
        return app, {"active": active.identifier, "issued": issued.identifier, "unknown": "personne.inconnue1"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", help="a SQLAlchemy URL (default: SQLite in a temporary folder)")
    parser.add_argument("--requests", type=int, default=60, help="requests per kind (default 60)")
    options = parser.parse_args()

    with socket.socket() as probe:  # a free port for the SMTP catcher
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    with tempfile.TemporaryDirectory() as folder:
        app, identifiers = build(options.database, folder, port)
        client = app.test_client()
        token = CSRF.search(client.get("/mot-de-passe-oublie").text).group(1)
        times = {kind: [] for kind in identifiers}
        for number in range(options.requests + 5):  # the first five of each warm up
            kinds = list(identifiers.items())
            # A new order each round: what the previous request left running weighs on
            # every kind alike.
            for kind, identifier in kinds[number % 3 :] + kinds[: number % 3]:
                client.environ_base["REMOTE_ADDR"] = f"10.{number // 250}.{number % 250}.{len(times[kind]) % 250 + 1}"
                started = time.perf_counter()
                response = client.post("/mot-de-passe-oublie", data={"identifier": identifier, "csrf_token": token})
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.status_code
                if number >= 5:
                    times[kind].append(elapsed * 1000)
                with app.app_context():
                    wait_for_jobs()
                    wait_for_deliveries()
        print(f"« mot de passe oublié », {options.requests} requests per kind, {app.config['DATABASE_URL'].split(':')[0]}")
        print("| identifier | median ms | p90 ms | stdev ms |")
        print("|---|---|---|---|")
        for kind, values in times.items():
            p90 = statistics.quantiles(values, n=10)[-1]
            print(f"| {kind} | {statistics.median(values):.2f} | {p90:.2f} | {statistics.stdev(values):.2f} |")
    controller.stop()


if __name__ == "__main__":
    main()
