"""Argon2id password hashing at OWASP ASVS 5.0 parameters.

OWASP's password storage guidance (which ASVS 5.0 points to) lists m=46 MiB, t=1, p=1 as
an equivalent of its m=19 MiB, t=2 floor; more memory per guess is what costs an attacker's
GPU.  On this 2-core machine a verify takes about 0.1 s, so a login stays responsive while
several run at once; raising t later rehashes transparently at the next login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher(time_cost=1, memory_cost=46 * 1024, parallelism=1)
# A fixed hash to verify against when the user is unknown, so timing reveals nothing.
_DUMMY = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _hasher.check_needs_rehash(stored_hash)


def set_cheap_parameters_for_tests() -> None:
    """Tests only: hashing at full cost for every fixture user would dominate the suite."""
    global _hasher, _DUMMY
    _hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    _DUMMY = _hasher.hash("not-a-real-password")
