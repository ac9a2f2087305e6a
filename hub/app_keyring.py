"""The application's keyring: where it lives, how it is unlocked, which keys to use.

hub.crypto.keyring is pure (a folder and a passphrase), as is the blind-index
secret's file format (hub.crypto.index_key); this module ties them to the
application's settings and the database (the organisations it knows):

- the keyring folder is ``settings.keys_dir`` (``HUB_KEYS_DIR``);
- the passphrase is ``HUB_KEY_PASSPHRASE``, else the contents of the file named
  by ``HUB_KEY_PASSPHRASE_FILE``; in development with neither, a random demo
  passphrase is made once in ``<instance>/key_passphrase`` (0600) and the
  ``hub init`` / ``hub demo`` / ``hub keys init`` verbs say so. Production refuses
  to start without one (hub.config);
- one Keyring object per application, so each private key is unlocked (a
  deliberately slow Argon2id run) once per process and then kept in memory;
- in development, keys missing for an organisation are made on first use, so a
  fresh checkout (and each test) just works; production never makes keys behind
  the operator's back: ``hub keys init`` does.

Other modules use :func:`keyring`, :func:`hub_signing_key` (the audit log's
checkpoint key), :func:`blind_index_key`, and the small getters below.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from flask import Flask, current_app

from hub.config import Settings, read_passphrase_file
from hub.crypto import index_key
from hub.crypto.keyring import (
    ENC,
    HUB,
    SIGN,
    KdfParams,
    KeyInfo,
    Keyring,
    WrongPassphrase,
)
from hub.crypto.sealing import HpkePrivateKey, HpkePublicKey

#: The development passphrase file in the instance folder (hub.audit.checkpoints reads it too).
DEMO_PASSPHRASE_FILE: Final = "key_passphrase"  # noqa: S105  (a file name)
#: The blind-index secret, encrypted under the keyring passphrase, beside the hub's keys.
INDEX_KEY_FILE: Final = "blind-index.key.json"

_EXTENSION: Final = "hub_keys"
# Tests set cheap Argon2 parameters here (set_cheap_kdf_for_tests); never in production.
_kdf_override: KdfParams | None = None


class KeysUnavailable(RuntimeError):
    """The keyring cannot be used: no passphrase, wrong passphrase, or keys not made."""


def set_cheap_kdf_for_tests() -> None:
    """Make new keys with a tiny Argon2 cost. For the test suite only: keys made
    this way are as weak as their passphrase."""
    global _kdf_override
    _kdf_override = KdfParams(memory_kib=64, iterations=1, parallelism=1)


# --- passphrase ---------------------------------------------------------------


def demo_passphrase_path(settings: Settings) -> Path:
    return settings.instance_path / DEMO_PASSPHRASE_FILE


def read_passphrase(settings: Settings, *, create: bool = False) -> tuple[str, Path | None]:
    """``(passphrase, path of a demo passphrase file made just now or None)``.

    HUB_KEY_PASSPHRASE wins, then HUB_KEY_PASSPHRASE_FILE (its first line); in
    development the instance folder's demo passphrase, made when ``create``.
    """
    if settings.key_passphrase:
        return settings.key_passphrase, None
    path = settings.key_passphrase_file
    if path is not None:
        try:
            value = read_passphrase_file(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise KeysUnavailable(
                f"HUB_KEY_PASSPHRASE_FILE {path} cannot be read or is empty ({exc})"
            ) from None
        if not value:
            raise KeysUnavailable(f"HUB_KEY_PASSPHRASE_FILE {path} is empty")
        return value, None
    if settings.production:
        raise KeysUnavailable("set HUB_KEY_PASSPHRASE or HUB_KEY_PASSPHRASE_FILE")
    demo = demo_passphrase_path(settings)
    if demo.is_file():
        value = demo.read_text(encoding="utf-8").strip()
        if value:
            return value, None
    if not create:
        raise KeysUnavailable(
            "no keyring passphrase: set HUB_KEY_PASSPHRASE(_FILE) or run hub keys init"
        )
    demo.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    try:
        fd = os.open(demo, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return demo.read_text(encoding="utf-8").strip(), None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value, demo


# --- the per-application keyring ---------------------------------------------------


@dataclass
class _State:
    keyring: Keyring
    lock: threading.RLock = field(default_factory=threading.RLock)
    index_key: bytes | None = None
    # Public keys by (org, kind, version): a version's files are never rewritten, so
    # a key read once stays right; new versions are found by listing the folder.
    public: dict[tuple[str, str, int], Any] = field(default_factory=dict)
    passphrase: str | None = None
    # Set when this process made a demo passphrase, so a verb can say so.
    demo_passphrase_made: Path | None = None


def _state(app: Flask | None = None) -> _State:
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    state = app.extensions.get(_EXTENSION)
    if state is None:
        settings: Settings = app.config["HUB"]
        kwargs: dict[str, Any] = {"kdf": _kdf_override} if _kdf_override else {}
        state = app.extensions.setdefault(_EXTENSION, _State(Keyring(settings.keys_dir, **kwargs)))
    return state


def forget(app: Flask) -> None:
    """Drop ``app``'s keyring state: unlocked keys, public keys, listings, passphrase,
    blind-index secret (hub.caches.reset_all). The next use reads the folder again."""
    app.extensions.pop(_EXTENSION, None)


def keyring(app: Flask | None = None) -> Keyring:
    """This application's Keyring (unlocked keys are cached in it for the process)."""
    return _state(app).keyring


def _settings() -> Settings:
    return current_app.config["HUB"]


def passphrase() -> str:
    """The keyring passphrase; in development made on first use (see module doc)."""
    state = _state()
    if state.passphrase is not None:
        return state.passphrase
    with state.lock:
        value, made = read_passphrase(_settings(), create=not _settings().production)
        if made is not None:
            state.demo_passphrase_made = made
        state.passphrase = value
    return value


def _public(org: str, kind: str, version: int) -> Any:
    state = _state()
    key = (org, kind, version)
    found = state.public.get(key)
    if found is None:
        found = state.keyring.load_public(org, kind, version)  # type: ignore[call-overload]
        state.public[key] = found
    return found


def demo_passphrase_made() -> Path | None:
    """The demo passphrase file this process created, if any (verbs announce it)."""
    return _state().demo_passphrase_made


def organisation_codes() -> list[str]:
    from hub.extensions import db
    from hub.models import Organisation

    return list(db.session.scalars(db.select(Organisation.code).order_by(Organisation.code)))


def ensure_keys(orgs: list[str] | None = None) -> list[KeyInfo]:
    """Make the keys missing for ``orgs`` and for the hub, plus the blind-index secret.
    Returns the keys made.

    By default: every organisation in the database that has no key at all here.
    An organisation whose public keys were imported is a partner with its own
    system; it never gets private keys made for it on this hub.
    """
    state = _state()
    if orgs is None:
        ring = state.keyring
        orgs = [
            c for c in organisation_codes() if not ring.versions(c, ENC) + ring.versions(c, SIGN)
        ]
    codes = orgs
    with state.lock:
        try:
            made = state.keyring.init(codes, passphrase())
        except WrongPassphrase as exc:
            raise KeysUnavailable(f"the keyring passphrase is wrong ({exc})") from exc
        blind_index_key()
    return made


def _have_keys(org: str) -> bool:
    ring = keyring()
    return bool(ring.versions(org, ENC) if org != HUB else ring.versions(HUB, SIGN))


def _ensure_own(org: str) -> None:
    """Development only: make keys on first use. Production: say what to run."""
    if _have_keys(org):
        return
    if _settings().production:
        raise KeysUnavailable(f"no keys for {org}: run `hub keys init`")
    with _state().lock:
        if not _have_keys(org):
            ensure_keys()
            if not _have_keys(org):
                ensure_keys([] if org == HUB else [org])


def public_enc(org: str) -> tuple[int, HpkePublicKey]:
    """The newest encryption public key of ``org``: what new payloads are wrapped to."""
    _ensure_own(org)
    ring = keyring()
    version = ring.latest_version(org, ENC)
    return version, _public(org, ENC, version)


def private_enc(org: str, version: int) -> HpkePrivateKey:
    return keyring().load_private(org, ENC, version, passphrase())


def signing_key(org: str) -> tuple[int, Ed25519PrivateKey]:
    """The newest signing key of one of our organisations."""
    _ensure_own(org)
    ring = keyring()
    version = ring.latest_version(org, SIGN)
    return version, ring.load_private(org, SIGN, version, passphrase())


def signing_public(org: str, version: int) -> Ed25519PublicKey:
    return _public(org, SIGN, version)


def hub_signing_key() -> tuple[int, Ed25519PrivateKey]:
    """``(version, key)``: the newest version of the hub's own Ed25519 key, which signs
    the audit log's checkpoints. Made on first use in development."""
    _ensure_own(HUB)
    ring = keyring()
    version = ring.latest_version(HUB, SIGN)
    return version, ring.load_private(HUB, SIGN, version, passphrase())


def hub_public_keys() -> dict[int, Ed25519PublicKey]:
    """Every version of the hub's signing key, by version (no passphrase needed)."""
    ring = keyring()
    return {v: ring.load_public(HUB, SIGN, v) for v in ring.versions(HUB, SIGN)}


# --- the blind-index secret --------------------------------------------------------


def _index_path() -> Path:
    return keyring().root / HUB / INDEX_KEY_FILE


def blind_index_key() -> bytes:
    """The 32-byte secret behind suspects' blind indexes, kept encrypted beside the
    hub's keys (never the session secret: rotating that must not break search)."""
    state = _state()
    if state.index_key is not None:
        return state.index_key
    with state.lock:
        if state.index_key is None:
            path = _index_path()
            secret = passphrase().encode("utf-8")
            if not path.exists():
                with contextlib.suppress(FileExistsError):  # a concurrent maker wins
                    index_key.create_index_file(path, secret, _kdf_override or KdfParams())
            state.index_key = index_key.read_index_file(path, secret)
    return state.index_key


def index_key_for(kind: str) -> bytes:
    """A separate HMAC key per kind of index, so equal values of two kinds never match."""
    return index_key.key_for(blind_index_key(), kind)
