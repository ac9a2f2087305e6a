"""Helpers for the audit tests: the hub's key, raw tampering, an independent verifier.

The verifier below is written from RFC 9162 §2.1.3.2 and §2.1.4.2 with its
own hashing, and imports nothing from hub.audit, so a shared mistake in our
Merkle code cannot make both sides agree.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text

TEST_PASSPHRASE = "test passphrase"  # what conftest's settings carry


def make_hub_key(app, passphrase: str = TEST_PASSPHRASE) -> None:
    """Create the hub's checkpoint key with cheap Argon2 parameters (tests only).
    Another passphrase than the app's makes a key the app cannot unlock."""
    from hub.crypto.keyring import KdfParams, Keyring

    keyring = Keyring(app.config["HUB"].keys_dir, kdf=KdfParams(64, 1, 1))
    keyring.init([], passphrase)


def tamper(app, sql: str, **params) -> None:
    """Run SQL as a database administrator would, past the append-only triggers."""
    from hub.extensions import db

    db.session.remove()
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Superuser only: skips ordinary triggers for this transaction.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text(sql), params)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def rfc_leaf(entry: bytes) -> bytes:
    return _h(b"\x00" + entry)


def rfc_verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, path: list[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2, transcribed."""
    if leaf_index >= tree_size:
        return False
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            r = _h(b"\x01" + r + p)
        fn //= 2
        sn //= 2
    return sn == 0 and r == root


def rfc_verify_consistency(
    first: int, second: int, proof: list[bytes], first_hash: bytes, second_hash: bytes
) -> bool:
    """RFC 9162 §2.1.4.2, transcribed (0 < first < second)."""
    if not 0 < first < second or not proof:
        return False
    if first & (first - 1) == 0:
        proof = [first_hash, *proof]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr = _h(b"\x01" + c + fr)
            sr = _h(b"\x01" + c + sr)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn //= 2
                    sn //= 2
        else:
            sr = _h(b"\x01" + sr + c)
        fn //= 2
        sn //= 2
    return sn == 0 and fr == first_hash and sr == second_hash


def rfc_root(leaves: list[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1, recursively, from leaf hashes."""
    n = len(leaves)
    if n == 0:
        return _h(b"")
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + rfc_root(leaves[:k]) + rfc_root(leaves[k:]))
