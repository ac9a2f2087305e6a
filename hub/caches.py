"""Every cache the hub keeps beyond one transaction, listed in one place, and one reset.

Each cache belongs to its module, which keeps it and its own clear function; this
module only names them and calls those functions. A new module-level cache (an
empty dict, list or set filled at run time, an ``lru_cache``/``cache`` function)
or a new ``app.extensions`` entry must be added here: tests/app/test_caches.py fails
otherwise.

Three kinds, by what makes an entry stale:

- ``PROCESS``: process-wide, about a database (keyed by engine or URL, checked
  against what they cache before use, so they are safe across applications);
- ``PER_APP``: state in ``app.extensions``, one per application;
- ``CODE``: derived from the code and the libraries alone (the source tree's
  strings, the crypto backend). Right for as long as the process runs; dear to
  rebuild, so `reset_all` leaves them unless asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from flask import Flask

from hub import app_keyring, i18n_check
from hub.audit import checkpoints, store
from hub.compliance import sql
from hub.crypto import sealing
from hub.operations import reference_cache


@dataclass(frozen=True)
class Cache:
    #: Where it lives: ``module.name`` (module-level) or ``module: extensions[key]``.
    name: str
    #: What it holds and why keeping it is safe.
    holds: str
    clear: Callable[[], None]


@dataclass(frozen=True)
class AppCache:
    #: The module that owns the ``app.extensions`` entry.
    module: str
    holds: str
    clear: Callable[[Flask], None]


PROCESS: Final = (
    Cache(
        "hub.audit.store._frontiers",
        "per engine and log, the last appended tree's frontier; used only when the head "
        "shows the same size and root",
        store.clear_frontiers,
    ),
    Cache(
        "hub.compliance.sql._indexes",
        "per SQLite database URL, the indexes on exchanges (which query plans to hint)",
        sql.clear_index_cache,
    ),
)

PER_APP: Final = (
    AppCache(
        "hub.app_keyring",
        "the Keyring (unlocked private keys, folder listings), public keys read, the "
        "passphrase, the blind-index secret",
        app_keyring.forget,
    ),
    AppCache(
        "hub.audit.checkpoints",
        "the newest checkpoint time per log, when the checkpoint key last failed",
        checkpoints.clear_state,
    ),
    AppCache(
        "hub.operations.reference_cache",
        "agreements with their parties and obligations, stamped with the reference version",
        reference_cache.clear,
    ),
)

CODE: Final = (
    Cache(
        "hub.i18n_check._ENGLISH",
        "per locale, the code's English strings (a fresh extraction of the source tree)",
        i18n_check.clear_english_cache,
    ),
    Cache(
        "hub.crypto.sealing.mlkem_available",
        "whether the cryptography build has ML-KEM",
        sealing.mlkem_available.cache_clear,
    ),
)


def reset_all(app: Flask | None = None, *, code: bool = False) -> None:
    """Clear every process-wide cache, ``app``'s when given, and with ``code`` the ones
    derived from the code alone too."""
    for cache in PROCESS + (CODE if code else ()):
        cache.clear()
    if app is not None:
        for app_cache in PER_APP:
            app_cache.clear(app)
