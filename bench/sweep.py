"""Benchmark of the life-cycle sweep (`idp sweep`) over a million accounts on PostgreSQL.

    .venv/bin/python bench/sweep.py                    # 1,000,000 accounts, 3 runs, medians
    .venv/bin/python bench/sweep.py --accounts 200000 --repeat 1

The database `idp_bench` is made afresh (as bench/run.py does), then filled with set-based
inserts as a steady state the day after yesterday's sweep: issued accounts spread over the
last 100 days (some past the 90-day activation delay), pending ones likewise, active ones
whose last use is spread over the last 400 days, those in the warning window already warned
except the newest day of them. Each run restores that state, then times `idp sweep --json`
as an operator's timer runs it (a new process: start-up included) and reports the counts.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

import database

# Shares of the accounts by state; the rest are active.
ISSUED, PENDING = 0.15, 0.05

FILL = """
INSERT INTO account (sub, kind, identifier, given_name, family_name, email, email_verified, state,
                     teleservices_refused, issued_at, first_connection_at, activated_at, last_login_at,
                     birth_date_failures, language, inactivity_warned_at)
SELECT md5(n::text), 'parent', 'bench.parent' || n, 'Jean', 'Bench' || n,
       CASE WHEN kind >= %(pending)s THEN 'p' || n || '@example.org' END,
       kind >= %(active)s,
       CASE WHEN kind < %(issued)s THEN 'issued' WHEN kind < %(active)s THEN 'pending_email' ELSE 'active' END,
       false, issued, NULL, NULL, NULL, 0, 'fr', NULL
FROM (SELECT n, (n %% 100) / 100.0 AS kind,
             now() AT TIME ZONE 'UTC' - ((n::bigint * 7919) %% 100) * interval '1 day' - interval '1 hour' AS issued
      FROM generate_series(1, %(count)s) AS n) AS source
"""

# The active accounts: last use spread over 400 days; the accounts of the warning window
# already warned by earlier sweeps, except the newest day of them (today's warnings).
RESET = """
UPDATE account SET
    state = CASE WHEN (id %% 100) / 100.0 < %(issued)s THEN 'issued'
                 WHEN (id %% 100) / 100.0 < %(active)s THEN 'pending_email' ELSE 'active' END,
    activated_at = CASE WHEN (id %% 100) / 100.0 >= %(active)s THEN now() AT TIME ZONE 'UTC' - interval '500 days' END,
    last_login_at = CASE WHEN (id %% 100) / 100.0 >= %(active)s
                         THEN now() AT TIME ZONE 'UTC' - (((id / 100) %% 400)) * interval '1 day' - interval '1 hour' END,
    inactivity_warned_at = CASE WHEN (id %% 100) / 100.0 >= %(active)s AND ((id / 100) %% 400) >= 336
                                THEN now() AT TIME ZONE 'UTC' - ((((id / 100) %% 400)) - 335) * interval '1 day' END
"""


def prepare(url, count):
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    shares = {"issued": ISSUED, "pending": ISSUED, "active": ISSUED + PENDING, "count": count}
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(FILL, shares)
        connection.execute("VACUUM ANALYZE account")
    return plain, shares


def reset(plain, shares):
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(RESET, shares)
        connection.execute("DELETE FROM outbox_message")
        connection.execute("DELETE FROM audit_event")
        connection.execute("VACUUM ANALYZE account")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args()
    if not database.postgres_reachable():
        sys.exit("PostgreSQL does not answer on 127.0.0.1:5432")

    url = database.fresh_postgres_database()
    keys = tempfile.mkdtemp(prefix="idp-bench-keys-")
    environment = {"IDP_DATABASE_URL": url, "IDP_KEYS_DIR": keys, "IDP_SECRET_KEY": "bench", "IDP_LOG_LEVEL": "WARNING"}
    database.migrate(environment)
    started = time.perf_counter()
    plain, shares = prepare(url, options.accounts)
    print(f"{options.accounts:,} accounts written in {time.perf_counter() - started:.1f} s", flush=True)

    idp = Path(sys.executable).with_name("idp")
    timings = []
    for run in range(options.repeat):
        reset(plain, shares)
        started = time.perf_counter()
        result = subprocess.run([str(idp), "sweep", "--json"], env=os.environ | environment, capture_output=True, text=True, check=True)
        elapsed = time.perf_counter() - started
        timings.append(elapsed)
        print(f"run {run + 1}: {elapsed:.2f} s  {json.loads(result.stdout)}", flush=True)
    print(f"idp sweep over {options.accounts:,} accounts: median {statistics.median(timings):.2f} s (target: under 10 s)")


if __name__ == "__main__":
    main()
