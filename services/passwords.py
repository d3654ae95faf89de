"""Password hashing (argon2id); the length policy is in models/user.py, beside the user."""
import os
import sys

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

_hashers = {}


def _hasher():
    # Tests use a cheap profile; production keeps argon2-cffi's RFC 9106 defaults.
    profile = current_app.config.get("PASSWORD_HASH_PROFILE", "default")
    if profile not in _hashers:
        _hashers[profile] = (
            PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
            if profile == "fast"
            else PasswordHasher()
        )
    return _hashers[profile]


def hash_password(password):
    return _off_the_loop(_hasher().hash, password)


def needs_rehash(password_hash):
    """True when a hash was made with other parameters than the current profile's."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def verify_password(password_hash, password):
    """True when password matches; spends the same effort when there is no hash."""
    hasher = _hasher()
    if password_hash is None:
        # Unknown e-mail or no password yet: verify against a throwaway hash so
        # the answer takes as long as for a real account.
        password_hash = _dummy_hash(hasher)
        password = password + "\0"
    try:
        return _off_the_loop(hasher.verify, password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy = {}


def _dummy_hash(hasher):
    key = id(hasher)
    if key not in _dummy:
        _dummy[key] = _off_the_loop(hasher.hash, "dummy password for timing only")
    return _dummy[key]


_pool = None  # (pid, gevent ThreadPool): a forked worker makes its own


def _off_the_loop(fn, *args):
    """Call fn(*args) in a thread of a small pool under gevent, directly otherwise.

    An argon2 hash is tens of milliseconds of CPU (default profile): run in a greenlet, it would hold every
    socket of the worker for as long, and a burst of logins for as many times over. argon2-cffi releases the
    GIL while it hashes, so from a pool thread the loop keeps serving meanwhile. The pool is not the hub's
    own, which gevent's DNS resolver needs, and it is small: each default-profile hash holds 64 MiB and
    spreads its lanes over the cores already, so more threads only make the loop wait longer for the CPU.
    """
    threads = current_app.config.get("PASSWORD_HASH_THREADS", 1)
    if not threads or not _gevent_patched():
        return fn(*args)
    return _hash_pool(threads).apply(fn, args)


def _gevent_patched():
    monkey = sys.modules.get("gevent.monkey")
    return monkey is not None and monkey.is_module_patched("socket")


def _hash_pool(threads):
    global _pool
    if _pool is None or _pool[0] != os.getpid():
        # Only under a gevent worker (the caller checks): importing gevent elsewhere is not wanted.
        from gevent.threadpool import ThreadPool

        _pool = (os.getpid(), ThreadPool(threads))
    return _pool[1]
