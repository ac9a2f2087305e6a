"""The blind-index secret's file: 32 random bytes under the keyring passphrase.

The same protection as a private key file (hub.crypto.keyring): Argon2id derives
the file key and a passphrase verifier, AES-256-GCM seals the secret with the
header as associated data. Where the file lives and when it is made is the
application's (hub.app_keyring).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.crypto.keyring import (
    CorruptKeyFile,
    KdfParams,
    KeyNotFound,
    WrongPassphrase,
    _derive,
    _write_new,
)
from hub.crypto.sealing import b64decode, b64encode

INDEX_KEY_FORMAT: Final = "blo-hub-blind-index-key"
_INDEX_LABEL: Final = b"blo-hub blind index v1: "


def _aad(header: dict[str, Any]) -> bytes:
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def make_index_file(secret: bytes, params: KdfParams) -> bytes:
    """A new file's bytes: a fresh random secret sealed under ``secret`` (the passphrase)."""
    salt = secrets.token_bytes(16)
    key, verifier = _derive(secret, salt, params)
    header = {
        "format": INDEX_KEY_FORMAT,
        "version": 1,
        "kdf": {
            "name": "argon2id",
            "memory_kib": params.memory_kib,
            "iterations": params.iterations,
            "parallelism": params.parallelism,
            "salt": b64encode(salt),
            "verifier": verifier.hex(),
        },
    }
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(key).encrypt(nonce, secrets.token_bytes(32), _aad(header))
    document = {**header, "cipher": {"nonce": b64encode(nonce), "ciphertext": b64encode(sealed)}}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")


def create_index_file(path: Path, secret: bytes, params: KdfParams) -> None:
    """Write a new file at ``path`` (0600); FileExistsError if one is there already:
    a secret once made is never replaced."""
    _write_new(path, make_index_file(secret, params), 0o600)


def read_index_file(path: Path, secret: bytes) -> bytes:
    """The 32-byte secret in the file at ``path``, unlocked with ``secret``."""
    try:
        document = json.loads(path.read_bytes())
        header = {k: v for k, v in document.items() if k != "cipher"}
        if header["format"] != INDEX_KEY_FORMAT or header["version"] != 1:
            raise CorruptKeyFile(f"{path}: unknown format")
        kdf = header["kdf"]
        params = KdfParams(kdf["memory_kib"], kdf["iterations"], kdf["parallelism"])
        params.check()
        salt, verifier = b64decode(kdf["salt"]), bytes.fromhex(kdf["verifier"])
        nonce = b64decode(document["cipher"]["nonce"])
        sealed = b64decode(document["cipher"]["ciphertext"])
    except FileNotFoundError:
        raise KeyNotFound(f"no blind-index secret at {path}") from None
    except CorruptKeyFile:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptKeyFile(f"{path}: malformed ({exc})") from exc
    key, expected = _derive(secret, salt, params)
    if not hmac.compare_digest(expected, verifier):
        raise WrongPassphrase(f"the passphrase does not unlock {path}")
    try:
        return AESGCM(key).decrypt(nonce, sealed, _aad(header))
    except InvalidTag as exc:
        raise CorruptKeyFile(f"{path} was altered") from exc


def key_for(index_secret: bytes, kind: str) -> bytes:
    """A separate HMAC key per kind of index, so equal values of two kinds never match."""
    return hmac.new(index_secret, _INDEX_LABEL + kind.encode("utf-8"), hashlib.sha256).digest()
