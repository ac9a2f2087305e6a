"""The Merkle core against code that is not ours.

Three independent references: the published transparency-dev vectors, the
recursive definitions of RFC 9162 §2.1 (MTH, PATH, SUBPROOF) written out
naively below, and a second verifier typed in straight from the RFC's
pseudo-code, which does not import our verify functions.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from hub.audit.merkle import (
    EMPTY_ROOT,
    ProofError,
    StreamingRoot,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    root_from_nodes,
    verify_consistency,
    verify_inclusion,
)

# --- Where the published vectors live ---------------------------------------


def _vectors_dir() -> Path | None:
    candidates = [Path(__file__).resolve().parents[3] / "shared" / "vectors"]
    if os.environ.get("HUB_VECTORS_DIR"):
        candidates.append(Path(os.environ["HUB_VECTORS_DIR"]))
    for candidate in candidates:
        if (candidate / "rfc6962").is_dir():
            return candidate / "rfc6962"
    return None


VECTORS = _vectors_dir()
CASES = sorted(VECTORS.rglob("*.json")) if VECTORS else []


def _need_vectors() -> None:
    """Skip on a laptop without the vectors; in CI their absence is a failure,
    so a misplaced checkout cannot turn the check into a silent skip."""
    if VECTORS is None:
        reason = "RFC 6962 vectors not found in ../shared/vectors or $HUB_VECTORS_DIR"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(reason)
        pytest.skip(reason)


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def _load(path: Path) -> dict:
    case = json.loads(path.read_text())
    case["proof"] = [_b64(p) for p in case["proof"] or []]  # null means none
    return case


# --- Naive references: RFC 9162 §2.1 definitions, and its pseudo-code --------


def _h(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _k(n: int) -> int:
    """Largest power of two smaller than n (n > 1), by counting."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: list[bytes]) -> bytes:
    """MTH(D[n]) over entries, §2.1.1."""
    if not d:
        return _h()
    if len(d) == 1:
        return _h(b"\x00", d[0])
    k = _k(len(d))
    return _h(b"\x01", ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]), §2.1.3.1."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b), §2.1.4.1."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def rfc_verify_inclusion(
    hash_: bytes, leaf_index: int, tree_size: int, path: list[bytes], root_: bytes
) -> bool:
    """§2.1.3.2, numbered as in the RFC."""
    if leaf_index >= tree_size:  # 1
        return False
    fn, sn = leaf_index, tree_size - 1  # 2
    r = hash_  # 3
    for p in path:  # 4
        if sn == 0:  # 4a
            return False
        if fn % 2 == 1 or fn == sn:  # 4b
            r = _h(b"\x01", p, r)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn, sn = fn // 2, sn // 2
        else:
            r = _h(b"\x01", r, p)
        fn, sn = fn // 2, sn // 2  # 4c
    return sn == 0 and r == root_  # 5


def rfc_verify_consistency(
    first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]
) -> bool:
    """§2.1.4.2 (defined for 0 < first < second), numbered as in the RFC."""
    if not path:  # 1
        return False
    if first & (first - 1) == 0:  # 2: first is an exact power of two
        path = [first_hash, *path]
    fn, sn = first - 1, second - 1  # 3
    while fn % 2 == 1:  # 4
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]  # 5
    for c in path[1:]:  # 6
        if sn == 0:  # 6a
            return False
        if fn % 2 == 1 or fn == sn:  # 6b
            fr = _h(b"\x01", c, fr)
            sr = _h(b"\x01", c, sr)
            if fn % 2 == 0:
                while not (fn % 2 == 1 or fn == 0):
                    fn, sn = fn // 2, sn // 2
        else:
            sr = _h(b"\x01", sr, c)
        fn, sn = fn // 2, sn // 2  # 6c
    return fr == first_hash and sr == second_hash and sn == 0  # 7


# --- A node store as the database keeps it ------------------------------------

MAX = 40
ENTRIES = [f"entry {i}".encode() for i in range(70)]


def _store(entries: list[bytes]) -> dict[tuple[int, int], bytes]:
    stream, store = StreamingRoot(), {}
    for entry in entries:
        for level, index, h in stream.push(leaf_hash(entry)):
            assert (level, index) not in store, "a subtree was emitted twice"
            store[level, index] = h
    return store


STORE = _store(ENTRIES)


def _reader(size: int, lookups: list | None = None):
    """get_node for a tree of `size` leaves: refuses any subtree reaching past
    the size, as a concurrently growing log would hold different data there."""

    def get_node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"read ({level}, {index}) past {size}"
        if lookups is not None:
            lookups.append((level, index))
        return STORE[level, index]

    return get_node


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


# --- Published vectors --------------------------------------------------------


def test_vectors_are_present() -> None:
    _need_vectors()
    kinds = {p.relative_to(VECTORS).parts[0] for p in CASES}
    assert kinds == {"inclusion", "consistency"}
    assert len(CASES) >= 184  # the README's count of the published set


def _check_ours(case: dict) -> None:
    if "leafIdx" in case:
        leaf, tree_root = _b64(case["leafHash"]), _b64(case["root"])
        verify_inclusion(leaf, case["leafIdx"], case["treeSize"], case["proof"], tree_root)
    else:
        size1, size2 = case["size1"], case["size2"]
        root1, root2 = _b64(case["root1"]), _b64(case["root2"])
        verify_consistency(size1, size2, case["proof"], root1, root2)


def _check_reference(case: dict) -> bool:
    if "leafIdx" in case:
        leaf, tree_root = _b64(case["leafHash"]), _b64(case["root"])
        index, size = case["leafIdx"], case["treeSize"]
        return rfc_verify_inclusion(leaf, index, size, case["proof"], tree_root)
    size1, size2 = case["size1"], case["size2"]
    root1, root2 = _b64(case["root1"]), _b64(case["root2"])
    if size1 == size2:  # the RFC algorithm is only for size1 < size2
        return root1 == root2 and not case["proof"]
    return rfc_verify_consistency(size1, size2, root1, root2, case["proof"])


@pytest.mark.parametrize(
    "path", CASES or [None], ids=lambda p: str(p.relative_to(VECTORS)) if p else "-"
)
def test_published_vector(path: Path | None) -> None:
    if path is None:
        _need_vectors()
    case = _load(path)
    if case["wantErr"]:
        with pytest.raises(ProofError):
            _check_ours(case)
    else:
        _check_ours(case)
        assert _check_reference(case), "the independent verifier disagrees"


def test_readme_eight_leaf_root() -> None:
    hexes = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657"]
    hexes.append("606162636465666768696a6b6c6d6e6f")
    leaves = [leaf_hash(bytes.fromhex(h)) for h in hexes]
    want = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    stream = StreamingRoot()
    for h in leaves:
        stream.push(h)
    assert root(leaves).hex() == stream.root().hex() == want


# --- Roots ----------------------------------------------------------------------


def test_hash_prefixes() -> None:
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert EMPTY_ROOT == hashlib.sha256(b"").digest() == root([])


def test_streaming_root_and_stored_nodes_match_naive_root() -> None:
    stream = StreamingRoot()
    assert stream.root() == ref_mth([]) == root_from_nodes(0, _reader(0))
    for n in range(1, len(ENTRIES) + 1):
        created = stream.push(leaf_hash(ENTRIES[n - 1]))
        want = ref_mth(ENTRIES[:n])
        assert stream.size == n
        assert stream.root() == want, n
        assert root([leaf_hash(e) for e in ENTRIES[:n]]) == want, n
        assert root_from_nodes(n, _reader(n)) == want, n
        for level, index, h in created:  # each emitted node is that subtree's MTH
            assert h == ref_mth(ENTRIES[index << level : (index + 1) << level])


# --- Proofs we generate, checked three ways -------------------------------------


def test_inclusion_proofs() -> None:
    for n in range(1, MAX + 1):
        tree_root = ref_mth(ENTRIES[:n])
        for i in range(n):
            proof = inclusion_proof(i, n, _reader(n))
            leaf = leaf_hash(ENTRIES[i])
            assert proof == ref_path(i, ENTRIES[:n]), (i, n)
            assert rfc_verify_inclusion(leaf, i, n, proof, tree_root), (i, n)
            verify_inclusion(leaf, i, n, proof, tree_root)
            for j in range(len(proof)):  # any changed element is refused
                bad = [*proof[:j], _flip(proof[j]), *proof[j + 1 :]]
                with pytest.raises(ProofError):
                    verify_inclusion(leaf, i, n, bad, tree_root)
            with pytest.raises(ProofError):
                verify_inclusion(leaf, i, n, [*proof, tree_root], tree_root)
            if n > 1:
                with pytest.raises(ProofError):
                    verify_inclusion(leaf, (i + 1) % n, n, proof, tree_root)


def test_consistency_proofs() -> None:
    for n in range(1, MAX + 1):
        root2 = ref_mth(ENTRIES[:n])
        for m in range(1, n + 1):
            root1 = ref_mth(ENTRIES[:m])
            proof = consistency_proof(m, n, _reader(n))
            assert proof == ref_subproof(m, ENTRIES[:n], True), (m, n)
            if m < n:
                assert rfc_verify_consistency(m, n, root1, root2, proof), (m, n)
            verify_consistency(m, n, proof, root1, root2)
            for j in range(len(proof)):
                bad = [*proof[:j], _flip(proof[j]), *proof[j + 1 :]]
                with pytest.raises(ProofError):
                    verify_consistency(m, n, bad, root1, root2)
            if m < n:
                with pytest.raises(ProofError):  # a rewritten old tree
                    verify_consistency(m, n, proof, _flip(root1), root2)
                with pytest.raises(ProofError):
                    verify_consistency(m, n, proof[:-1], root1, root2)


def test_proofs_need_only_log_n_lookups() -> None:
    lookups: list[tuple[int, int]] = []

    def fake(level: int, index: int) -> bytes:
        lookups.append((level, index))
        return _h(b"%d/%d" % (level, index))

    for n in (1_000_003, 2**20, 2**20 + 1, 123_456_789):
        for func, args in (
            (root_from_nodes, (n,)),
            (inclusion_proof, (n // 3, n)),
            (inclusion_proof, (n - 1, n)),
            (consistency_proof, (n // 2 + 1, n)),
        ):
            lookups.clear()
            func(*args, fake)
            assert len(lookups) <= 2 * n.bit_length() + 1, (func, n, len(lookups))
            assert all((i + 1) << level <= n for level, i in lookups)


# --- Refusals that do not depend on hashes ---------------------------------------


def test_refusals() -> None:
    leaf, r = leaf_hash(b"a"), leaf_hash(b"a")
    with pytest.raises(ValueError, match="not in a tree of size 3"):
        inclusion_proof(3, 3, _reader(3))
    with pytest.raises(ValueError, match="from size 0 to 3"):
        consistency_proof(0, 3, _reader(3))
    with pytest.raises(ValueError, match="from size 4 to 3"):
        consistency_proof(4, 3, _reader(4))
    with pytest.raises(ProofError, match="not in a tree"):
        verify_inclusion(leaf, -1, 1, [], r)
    with pytest.raises(ProofError, match="leaf hash is 31 bytes"):
        verify_inclusion(leaf[:31], 0, 1, [], leaf[:31])
    with pytest.raises(ProofError, match="proof element 0 is 33 bytes"):
        verify_inclusion(leaf, 0, 2, [leaf + b"x"], r)
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    with pytest.raises(ProofError, match="size 2 to size 1"):
        verify_consistency(2, 1, [], r, r)
