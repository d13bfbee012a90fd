"""What a worker keeps in memory: one argon2id computation's worth, one malloc arena, and
no PDF library until a letter is printed."""

import subprocess
import sys
import threading
import time

import argon2
import pytest

from idp import memory
from idp.accounts.passwords import hasher


def _most_at_once(app, monkeypatch, threads=4):
    """How many argon2id checks ran at the same moment when `threads` ran together."""
    running, most, lock = [0], [0], threading.Lock()

    def slow_verify(self, stored, password):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return True

    monkeypatch.setattr(argon2.PasswordHasher, "verify", slow_verify)
    with app.app_context():
        checker = hasher()
        workers = [threading.Thread(target=checker.verify, args=("stored", "typed")) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    return most[0]


@pytest.mark.parametrize("concurrency", [1, 2])
def test_password_checks_run_at_most_argon2_concurrency_at_once(settings, make_app, monkeypatch, concurrency):
    app = make_app(settings | {"ARGON2_CONCURRENCY": concurrency})
    assert _most_at_once(app, monkeypatch) == concurrency


def test_a_concurrency_under_one_still_checks_passwords(settings, make_app, monkeypatch):
    app = make_app(settings | {"ARGON2_CONCURRENCY": 0})
    assert _most_at_once(app, monkeypatch, threads=2) == 1


def test_glibc_agrees_to_one_malloc_arena():
    assert memory.use_one_malloc_arena() is sys.platform.startswith("linux")


def test_without_mallopt_nothing_breaks(monkeypatch):
    monkeypatch.setattr(memory.ctypes.util, "find_library", lambda name: "/no/such/libc.so")
    assert memory.use_one_malloc_arena() is False


def test_the_letters_library_is_not_loaded_by_a_worker(app, database_url, keys_dir):
    # `app` made the signing key the other process finds, and empties the tables after.
    program = (
        "import sys\n"
        "from idp import create_app\n"
        f"app = create_app({{'DATABASE_URL': {database_url!r}, 'KEYS_DIR': {keys_dir!r}, 'SECRET_KEY': 'x'}})\n"
        "app.test_client().get('/connexion')\n"
        "print('fpdf' in sys.modules)\n"
    )
    shown = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False"
