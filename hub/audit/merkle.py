"""RFC 9162 (Certificate Transparency v2) Merkle tree: hashing, proofs, checks.

Pure functions, no database. The tree over leaf hashes ``D[0:n]`` is the one of
RFC 9162 §2.1.1: the left subtree always holds the largest power of two of
leaves smaller than ``n``. Every *complete* subtree is named ``(level, index)``:
it covers leaves ``[index << level, (index + 1) << level)``. A store that keeps
those hashes (what :class:`StreamingRoot` emits) can answer the root at any
size and any proof in O(log n) lookups, through a ``get_node(level, index)``
callback, without rereading the entries.

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, so a
reviewer can hold the code against the text. Any refusal raises
:class:`ProofError` whose message says what was wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()  # MTH({}) = HASH() (RFC 9162 §2.1.1)

GetNode = Callable[[int, int], bytes]
"""``get_node(level, index)``: hash of the complete subtree over leaves
``[index << level, (index + 1) << level)``; level 0 is the leaf hashes."""


class ProofError(ValueError):
    """A proof, a hash or the sizes given with it were refused."""


def leaf_hash(data: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 || data); the prefix keeps leaves and
    inner nodes from ever colliding (second-preimage defence)."""
    return sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Inner node: SHA-256(0x01 || left || right)."""
    return sha256(b"\x01" + left + right).digest()


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """Root over a list of leaf hashes (the RFC's MTH), in O(log n) memory."""
    stack: list[bytes] = []
    for index, h in enumerate(leaf_hashes):
        push(stack, index, h)
    return fold(stack)


def push(stack: list[bytes], index: int, h: bytes, level: int = 0) -> list[tuple[int, int, bytes]]:
    """Append the complete subtree ``(level, index)`` of hash ``h`` to the compact range
    ``stack`` (in place); return it and every subtree it completes, ``(level, index,
    hash)`` lowest first: the rows a node store persists. ``index`` counts from where
    ``stack`` began: while it is odd, its left sibling is the stack's last entry."""
    created = [(level, index, h)]
    while index & 1:
        h = node_hash(stack.pop(), h)
        index >>= 1
        level += 1
        created.append((level, index, h))
    stack.append(h)
    return created


def fold(nodes: Sequence[bytes]) -> bytes:
    """The root over a compact range (complete subtrees, largest first), folded from
    the right as the RFC's right-leaning recursion does; the empty tree's for none."""
    if not nodes:
        return EMPTY_ROOT
    h = nodes[-1]
    for left in reversed(nodes[:-1]):
        h = node_hash(left, h)
    return h


class StreamingRoot:
    """Root of a growing log in O(log n) memory: the compact range of the tree (the
    hashes of the complete subtrees the set bits of the size name, largest first)."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    def push(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return every complete subtree it completes (see push)."""
        created = push(self._stack, self.size, leaf_hash)
        self.size += 1
        return created

    def root(self) -> bytes:
        return fold(self._stack)


def _range_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """MTH(D[start:end]) for a range that is a node of the RFC tree.

    Such a range is a run of complete subtrees of shrinking size (the set bits
    of ``end - start``), each aligned because ``start`` is; the last one is
    hashed into the one before it, as in the RFC's right-leaning recursion.
    """
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        nodes.append(get_node(level, start >> level))
        start += 1 << level
    return fold(nodes)


def root_from_nodes(size: int, get_node: GetNode) -> bytes:
    """Root of the first ``size`` leaves from stored complete subtrees, in at
    most log2(size) + 1 lookups; any size, not only powers of two."""
    if size < 0:
        raise ValueError(f"tree size {size} is negative")
    return _range_hash(0, size, get_node)


def _split(n: int) -> int:
    """k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side sibling first.

    Walks the RFC recursion from the root down. Every sibling is a complete
    subtree (one lookup) except at most one on the right edge of the tree,
    so the whole proof costs O(log n) lookups.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    proof = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            proof.append(_range_hash(mid, hi, get_node))
            hi = mid
        else:
            proof.append(_range_hash(lo, mid, get_node))
            lo = mid
    proof.reverse()
    return proof


def consistency_proof(size1: int, size2: int, get_node: GetNode) -> list[bytes]:
    """PROOF(size1, D[0:size2]) of RFC 9162 §2.1.4.1, for 0 < size1 <= size2.

    ``lo, hi`` is the current subtree and ``whole`` is the RFC's flag b: true
    while that subtree is still the whole tree, whose old root the verifier
    already holds. The walk stops at the node that is the old tree's last
    complete subtree (``hi == size1``).
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to {size2}")
    proof = []
    lo, hi, whole = 0, size2, True
    while hi != size1:
        mid = lo + _split(hi - lo)
        if size1 <= mid:
            proof.append(_range_hash(mid, hi, get_node))
            hi = mid
        else:
            proof.append(_range_hash(lo, mid, get_node))
            lo, whole = mid, False
    if not whole:
        proof.append(_range_hash(lo, hi, get_node))
    proof.reverse()
    return proof


def _check_hashes(proof: Sequence[bytes]) -> None:
    for i, p in enumerate(proof):
        if len(p) != HASH_SIZE:
            raise ProofError(f"proof element {i} is {len(p)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree ``(size, root)``.

    RFC 9162 §2.1.3.2, step by step. ``fn`` is the node's index on its level
    and ``sn`` the last index on that level; when ``fn == sn`` the node is on
    the right edge, where levels without a sibling are skipped.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")
    if len(leaf_hash) != HASH_SIZE:
        raise ProofError(f"leaf hash is {len(leaf_hash)} bytes, not {HASH_SIZE}")
    _check_hashes(proof)
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError("inclusion proof does not lead to the given root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that tree ``(size2, root2)`` extends tree ``(size1, root1)``.

    RFC 9162 §2.1.4.2 for 0 < size1 < size2; the edge cases around it are
    refused the way the transparency-dev vectors expect. In particular a
    proof from size 0 is refused: every tree extends the empty one, so such
    a "proof" would only ever be a way to skip the check.
    """
    if size1 < 0 or size2 < size1:
        raise ProofError(f"no consistency from size {size1} to size {size2}")
    if size1 == 0:
        raise ProofError("a consistency proof from the empty tree proves nothing")
    if size1 == size2:
        if proof:
            raise ProofError("equal sizes need an empty consistency proof")
        if root1 != root2:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("empty consistency proof")
    _check_hashes(proof)
    path = list(proof)
    if size1 & (size1 - 1) == 0:  # the old tree is itself a complete subtree
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != root1:
        raise ProofError("consistency proof does not lead to the first root")
    if sr != root2:
        raise ProofError("consistency proof does not lead to the second root")
