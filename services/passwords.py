"""Password hashing (argon2id) and policy."""
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

PASSWORD_MIN_LEN = 10
PASSWORD_MAX_LEN = 128

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
    return _hasher().hash(password)


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
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


_dummy = {}


def _dummy_hash(hasher):
    key = id(hasher)
    if key not in _dummy:
        _dummy[key] = hasher.hash("dummy password for timing only")
    return _dummy[key]
