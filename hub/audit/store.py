"""The Merkle tree of each log, kept in the database as complete-subtree hashes.

Every complete subtree ``(level, index)`` is one ``audit_nodes`` row, written
once when its last leaf arrives (what :meth:`StreamingRoot.push` emits). So:

- an append reads the log's *compact range* (the at most log2(n) + 1 nodes the
  size's set bits name) in one query, writes the leaf and the subtrees it
  completes (two rows on average), and updates the head's size and root;
- a root at any size and any proof are O(log n) node lookups, fetched in one
  query, never a rescan of the entries.

Nothing here commits: the caller's transaction holds the change, its entry and
the nodes together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import sha256

from sqlalchemy import select, tuple_, update
from sqlalchemy.orm import Session

from hub.audit import merkle
from hub.models import AuditLog, AuditNode

_nodes = AuditNode.__table__


def compact_range(size: int) -> list[tuple[int, int]]:
    """The complete subtrees, largest first, that the first ``size`` leaves split into."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def fetch_nodes(session: Session, log_id: int, wanted: Iterable[tuple[int, int]]) -> dict:
    """``{(level, index): hash}`` for the wanted nodes, in one query."""
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return {}
    rows = session.execute(
        select(_nodes.c.level, _nodes.c.index, _nodes.c.hash).where(
            _nodes.c.log_id == log_id, tuple_(_nodes.c.level, _nodes.c.index).in_(wanted)
        )
    )
    return {(level, index): bytes(h) for level, index, h in rows}


class MissingNode(LookupError):
    """A subtree hash the tree needs is not stored (damaged or tampered store)."""


def _batched(session: Session, log_id: int, compute: Callable[[merkle.GetNode], object]):
    """Run a merkle function twice: once to learn which nodes it reads (they depend
    only on sizes and indexes, never on hash values), then over one fetched batch."""
    wanted: list[tuple[int, int]] = []

    def record(level: int, index: int) -> bytes:
        wanted.append((level, index))
        return merkle.EMPTY_ROOT

    compute(record)
    found = fetch_nodes(session, log_id, wanted)

    def lookup(level: int, index: int) -> bytes:
        try:
            return found[(level, index)]
        except KeyError:
            raise MissingNode(f"subtree ({level}, {index}) is not stored") from None

    return compute(lookup)


def root_at(session: Session, log_id: int, size: int) -> bytes:
    """Root hash of the first ``size`` entries of the log."""
    return _batched(session, log_id, lambda get: merkle.root_from_nodes(size, get))


def inclusion(session: Session, log_id: int, index: int, size: int) -> list[bytes]:
    return _batched(session, log_id, lambda get: merkle.inclusion_proof(index, size, get))


def consistency(session: Session, log_id: int, first: int, second: int) -> list[bytes]:
    return _batched(session, log_id, lambda get: merkle.consistency_proof(first, second, get))


def leaf_hash_at(session: Session, log_id: int, index: int) -> bytes | None:
    return fetch_nodes(session, log_id, [(0, index)]).get((0, index))


def append_leaves(session: Session, log_id: int, size: int, leaves: list[bytes]) -> bytes:
    """Add the leaf hashes of entries ``size, size + 1, ...`` and return the new root.

    The caller holds the log's head locked and has read ``size`` under that
    lock, so no one else appends between the read of the compact range and
    the writes below.
    """
    frontier = compact_range(size)
    found = fetch_nodes(session, log_id, frontier)
    try:
        stack = [found[node] for node in frontier]
    except KeyError as exc:
        missing = exc.args[0]
        raise MissingNode(f"subtree {missing} of the log's current tree is not stored") from None
    rows = []
    for leaf in leaves:
        index, h, level = size, leaf, 0
        rows.append({"log_id": log_id, "level": 0, "index": index, "hash": h})
        while index & 1:  # a right child: merge with its left sibling
            h = sha256(b"\x01" + stack.pop() + h).digest()
            index >>= 1
            level += 1
            rows.append({"log_id": log_id, "level": level, "index": index, "hash": h})
        stack.append(h)
        size += 1
    session.execute(_nodes.insert(), rows)
    new_root = stack[-1]
    for left in reversed(stack[:-1]):
        new_root = sha256(b"\x01" + left + new_root).digest()
    return new_root


def set_head(session: Session, log_id: int, size: int, root: bytes, when) -> None:
    # ORM-enabled, so a head already loaded in the session sees the new values.
    session.execute(
        update(AuditLog).where(AuditLog.id == log_id).values(size=size, root=root, updated_at=when)
    )
