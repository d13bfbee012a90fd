"""Chosen passwords: argon2id hashes (parameters in settings) and the policy of
docs/security.md, « Chosen passwords »."""

import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from datetime import date

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..metrics import PASSWORD_HASH_SECONDS, timed
from .access import pupils_of
from .identifiers import fold
from .lifecycle import provisional_secret_matches


class _Hasher(PasswordHasher):
    """argon2id computed by ARGON2_CONCURRENCY threads of this process, at a lower CPU
    priority (ARGON2_NICE) than the threads that answer requests.

    A computation is 19 MiB of memory and a core's worth of CPU, outside the GIL. With one
    worker process per core, one at a time per process keeps every core busy, and a worker
    keeps one computation's memory instead of one per thread (the C library hands each
    thread that allocates at the same time an arena of its own, and keeps what it freed).
    At a lower priority, the password checks take the CPU the other requests leave: under
    a rush of logins, tokens, userinfo, the pages of people logged in and the refusals of
    the overload guard (idp/overload.py) are served first, and no core idles meanwhile.
    """

    def __init__(self, concurrency, nice, **parameters):
        super().__init__(**parameters)
        self._nice = nice
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="argon2", initializer=self._lower_priority)

    def _lower_priority(self):
        if self._nice > 0 and hasattr(os, "setpriority"):
            # A Linux thread is a task of its own: its niceness is its own, here the
            # process's (a unit's Nice=) plus ARGON2_NICE.
            thread = threading.get_native_id()
            with suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + self._nice))

    def hash(self, password, **options):
        return self._threads.submit(_timed, "hash", super().hash, password, **options).result()

    def verify(self, stored, password):
        return self._threads.submit(_timed, "verify", super().verify, stored, password).result()


def _timed(operation, compute, *args, **options):
    """The computation itself, timed where it runs (PASSWORD_HASH_SECONDS)."""
    with timed(PASSWORD_HASH_SECONDS, operation=operation):
        return compute(*args, **options)


def hasher():
    hasher = current_app.extensions.get("idp.password_hasher")
    if hasher is None:
        config = current_app.config
        hasher = _Hasher(
            max(1, config["ARGON2_CONCURRENCY"]),
            config["ARGON2_NICE"],
            time_cost=config["ARGON2_TIME_COST"],
            memory_cost=config["ARGON2_MEMORY_COST"],
            parallelism=config["ARGON2_PARALLELISM"],
        )
        hasher = current_app.extensions.setdefault("idp.password_hasher", hasher)
    return hasher


def hash_password(password):
    return hasher().hash(password)


def verify_password(account, password):
    """True when `password` is the account's; upgrades the hash when the settings changed.

    An account without a password (or no account at all: pass None) costs the same time,
    so that the answer's delay tells nothing about which identifiers exist.
    """
    stored = account.password_hash if account is not None else None
    if stored is None:
        hasher().hash(password)
        return False
    try:
        hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    if hasher().check_needs_rehash(stored):
        account.password_hash = hash_password(password)
    return True


def check_credentials(account, typed):
    """Which credential of `account` was typed: "password" (the chosen one), "provisional"
    (the letter's secret, while the account has one), or None.

    Costs one argon2id computation whatever the account, so that the delay tells nothing
    about which identifiers exist or which are only issued.
    """
    if account is not None and account.provisional_secret_hash is not None:
        verify_password(None, typed)
        return "provisional" if provisional_secret_matches(account, typed) else None
    return "password" if verify_password(account, typed) else None


def password_problems(password, identifier="", names=()):
    """What is wrong with a new password, as messages to show (empty when it is fine).

    The rules of the guide (8 characters, digits and letters) and of docs/security.md,
    « Chosen passwords »: not the identifier (compared whole, dots included), no name of the
    family whatever its length, no date at all, accents and case aside. The date rule is
    generic on purpose: compared with the child's real birth date, it would tell someone
    holding only the letter whether a guess is right before the birth-date check counts it.
    """
    problems = []
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        problems.append(_l("Le mot de passe doit comporter au moins %(count)d caractères.", count=minimum))
    if not re.search(r"[0-9]", password):
        problems.append(_l("Le mot de passe doit comporter au moins un chiffre."))
    if not re.search(r"[^\W\d_]", password):
        problems.append(_l("Le mot de passe doit comporter au moins une lettre."))
    folded = fold(password)
    if identifier and fold(identifier) in folded:
        problems.append(_l("Le mot de passe ne doit pas contenir votre identifiant."))
    letters = _letters_only(folded)
    if any(_letters_only(fold(name)) in letters for name in names if _letters_only(fold(name))):
        problems.append(_l("Le mot de passe ne doit pas contenir votre nom ni celui de votre enfant."))
    if contains_date(password):
        problems.append(_l("Le mot de passe ne doit pas contenir de date, comme une date de naissance."))
    return problems


def contains_date(password):
    """True when the password's digits, read together, hold a date of the calendar written
    `JJMMAAAA` or `AAAAMMJJ` (years 1900 to 2099) or `JJMMAA` ("Tulipe-14-03-2013" does)."""
    digits = re.sub(r"\D", "", password)
    for start in range(len(digits)):
        eight, six = digits[start : start + 8], digits[start : start + 6]
        if len(eight) == 8 and (_is_date(eight[4:], eight[2:4], eight[:2]) or _is_date(eight[:4], eight[4:6], eight[6:])):
            return True
        if len(six) == 6 and (_is_date("20" + six[4:], six[2:4], six[:2]) or _is_date("19" + six[4:], six[2:4], six[:2])):
            return True
    return False


def _is_date(year, month, day):
    if not 1900 <= int(year) <= 2099:
        return False
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def new_password_problems(account, password, confirmation):
    """Messages per field for a new password of `account` typed twice (keys: "password",
    "password_confirmation"): `password_problems` with the names of the account and of the
    pupils it stands for. The first connection, the password reset and the password change
    all ask it."""
    names = [account.given_name, account.family_name]
    for pupil in pupils_of(account):
        names += [pupil.given_name, pupil.family_name]
    problems = {}
    found = password_problems(password, account.identifier, names)
    if found:
        problems["password"] = found
    elif confirmation != password:
        problems["password_confirmation"] = [_l("Les deux mots de passe sont différents.")]
    return problems


def _letters_only(text):
    return "".join(char for char in text if char.isalnum())
