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
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from hub.audit import merkle
from hub.models import AuditLog

#: One row's column values, as the DB-API takes and gives them.
Row = tuple[Any, ...]
_T = TypeVar("_T")


def compact_range(size: int) -> list[tuple[int, int]]:
    """The complete subtrees, largest first, that the first ``size`` leaves split into."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def fetch_nodes(
    session: Session, log_id: int, wanted: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """``{(level, index): hash}`` for the wanted nodes, in one query of primary-key
    lookups (an OR of equalities: both databases use the index for each term,
    where a row-value IN list made SQLite scan the table)."""
    wanted = list(dict.fromkeys(wanted))
    if not wanted:
        return {}
    raw = Writer(session)
    try:
        return {
            (level, index): bytes(h)
            for level, index, h in raw.execute(
                _select_nodes(len(wanted)), _node_params(log_id, wanted)
            )
        }
    finally:
        raw.close()


def _select_nodes(count: int) -> str:
    where = " OR ".join(['(log_id = %s AND level = %s AND "index" = %s)'] * count)
    # Only placeholders are interpolated; the values travel as parameters.
    return f'SELECT level, "index", hash FROM audit_nodes WHERE {where}'  # noqa: S608  # nosec B608


def _node_params(log_id: int, wanted: list[tuple[int, int]]) -> list[int]:
    return [v for level, index in wanted for v in (log_id, level, index)]


class MissingNode(LookupError):
    """A subtree hash the tree needs is not stored (damaged or tampered store)."""


class Mismatch(ValueError):
    """Stored subtree hashes that do not lead to the log's root (damaged or tampered)."""


def _batched(session: Session, log_id: int, compute: Callable[[merkle.GetNode], _T]) -> _T:
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


def _vouched_root(session: Session, log_id: int, size: int, head: tuple[int, bytes]) -> bytes:
    """The root at ``size`` from the stored nodes, shown to lead to the head's root
    (written by the appends, checked by verify) by a consistency proof; else Mismatch."""
    head_size, head_root = head
    root = root_at(session, log_id, size)
    try:
        if size < head_size:
            proof = consistency(session, log_id, size, head_size)
            merkle.verify_consistency(size, head_size, proof, root, head_root)
        elif root != head_root:
            raise merkle.ProofError("the stored subtrees do not give the head's root")
    except merkle.ProofError as exc:
        raise Mismatch(str(exc)) from None
    return root


def checked_inclusion(
    session: Session, log_id: int, index: int, size: int, head: tuple[int, bytes]
) -> tuple[bytes, list[bytes], bytes]:
    """(leaf hash, audit path, root) for entry ``index`` at ``size``, each checked
    against the log's ``head`` (size, root) before anyone is given it."""
    root = _vouched_root(session, log_id, size, head)
    path, leaf = inclusion(session, log_id, index, size), leaf_hash_at(session, log_id, index)
    if leaf is None:
        raise MissingNode(f"leaf {index} is not stored")
    try:
        merkle.verify_inclusion(leaf, index, size, path, root)
    except merkle.ProofError as exc:
        raise Mismatch(str(exc)) from None
    return leaf, path, root


def checked_consistency(
    session: Session, log_id: int, first: int, second: int, head: tuple[int, bytes]
) -> tuple[list[bytes], bytes, bytes]:
    """(proof, first root, second root), checked against the log's ``head`` first."""
    roots = (
        _vouched_root(session, log_id, first, head),
        _vouched_root(session, log_id, second, head),
    )
    proof = consistency(session, log_id, first, second)
    try:
        merkle.verify_consistency(first, second, proof, *roots)
    except merkle.ProofError as exc:
        raise Mismatch(str(exc)) from None
    return proof, *roots


class Writer:
    """The append path, on the session's own DB-API connection (so inside its
    transaction) with prepared SQL text: SQLAlchemy's per-statement compile and
    cache-key work cost more than the statements of an append themselves."""

    def __init__(self, session: Session):
        connection = session.connection()
        self.sqlite = connection.dialect.name == "sqlite"
        self.engine_key = id(connection.engine)
        dbapi = connection.connection.dbapi_connection
        if dbapi is None:  # only after the pool invalidated it; a live session has one
            raise RuntimeError("the session's connection is closed")
        self.cursor = dbapi.cursor()

    def sql(self, text: str) -> str:
        return text.replace("%s", "?") if self.sqlite else text

    def when(self, moment: datetime) -> datetime | str:
        """A UTC datetime as the UTCDateTime column stores it on each database."""
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else naive

    def execute(self, text: str, params: Row | list[Any] = ()) -> list[Row]:
        self.cursor.execute(self.sql(text), params)
        return list(self.cursor.fetchall()) if self.cursor.description else []

    def close(self) -> None:
        self.cursor.close()


#: (engine, log id) -> (size, root, compact range): the frontier this process last
#: computed. Used only when the locked head shows that same size *and* root: the
#: root commits to the whole tree, so a frontier left by a rolled-back append
#: (same size, other root) is never reused. Saves a query per append.
_frontiers: dict[tuple[int, int], tuple[int, bytes, tuple[bytes, ...]]] = {}


def clear_frontiers() -> None:
    """Forget every frontier (hub.caches.reset_all): the next append reads its nodes."""
    _frontiers.clear()


def _frontier(writer: Writer, log_id: int, size: int, root: bytes | None) -> list[bytes]:
    cached = _frontiers.get((writer.engine_key, log_id))
    if cached is not None and cached[0] == size and cached[1] == root:
        return list(cached[2])
    frontier = compact_range(size)
    if not frontier:
        return []
    found = {
        (level, index): bytes(h)
        for level, index, h in writer.execute(
            _select_nodes(len(frontier)), _node_params(log_id, frontier)
        )
    }
    try:
        stack = [found[node] for node in frontier]
    except KeyError as exc:
        missing = exc.args[0]
        raise MissingNode(f"subtree {missing} of the current tree is not stored") from None
    # The new root and the checkpoints signed over it are built on these nodes.
    if merkle.fold(stack) != root:
        raise Mismatch("the stored subtrees of the current tree do not give its root")
    return stack


def append_entry(
    session: Session,
    writer: Writer,
    log_id: int,
    size: int,
    root: bytes | None,
    entry: Row,
    leaf: bytes,
    when: datetime,
) -> bytes:
    """Write entry ``size`` (its column values), its leaf hash, the subtrees it
    completes and the new head; return the new root.

    The caller holds the log's head locked and read ``size`` and ``root`` under
    that lock, so no one else appends between these reads and writes.
    """
    stack = _frontier(writer, log_id, size, root)
    nodes = [v for node in _push(stack, log_id, size, leaf) for v in node]
    new_root = merkle.fold(stack)
    head = (size + 1, new_root, writer.when(when), log_id)
    values = ", ".join(["(%s, %s, %s, %s)"] * (len(nodes) // 4))
    insert_nodes = f"{INSERT_NODES} VALUES {values}"
    if writer.sqlite:
        writer.execute(INSERT_ENTRY, entry)
        writer.execute(insert_nodes, nodes)
        writer.execute(UPDATE_HEAD, head)
    else:
        # One round trip: PostgreSQL runs data-modifying CTEs in one statement.
        writer.execute(
            f"WITH e AS ({INSERT_ENTRY}), n AS ({insert_nodes}) {UPDATE_HEAD}",
            (*entry, *nodes, *head),
        )
    _appended(session, writer, log_id, size + 1, new_root, stack)
    return new_root


INSERT_ENTRY = (
    'INSERT INTO audit_entries (log_id, "index", created_at, actor, organisation, '
    "action, target_type, target_id, leaf_input) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_NODES = 'INSERT INTO audit_nodes (log_id, level, "index", hash)'
UPDATE_HEAD = "UPDATE audit_logs SET size = %s, root = %s, updated_at = %s WHERE id = %s"


def _push(stack: list[bytes], log_id: int, index: int, leaf: bytes) -> list[Row]:
    """merkle.push, as ``(log_id, level, index, hash)`` rows to insert."""
    return [(log_id, *node) for node in merkle.push(stack, index, leaf)]


def _appended(
    session: Session, writer: Writer, log_id: int, size: int, root: bytes, stack: list[bytes]
) -> None:
    _frontiers[(writer.engine_key, log_id)] = (size, root, tuple(stack))
    # A head loaded in this session would now be stale: let it reload.
    loaded = session.identity_map.get(session.identity_key(AuditLog, log_id))
    if loaded is not None:
        session.expire(loaded)


#: Rows per multi-row INSERT in a batch append (PostgreSQL's limit is 65535 parameters).
BATCH_ROWS = 500


def append_entries(
    session: Session,
    writer: Writer,
    log_id: int,
    size: int,
    root: bytes | None,
    entries: list[Row],
    leaves: list[bytes],
    when: datetime,
) -> bytes | None:
    """Write entries ``size`` .. ``size + len(entries) - 1`` (their column values and
    leaf hashes, in order), every subtree they complete and the new head, in a few
    multi-row statements; return the new root.

    The tree is the one that appending them one by one with :func:`append_entry`
    builds, node for node (the same push, in Python); only the statements differ.
    The caller holds the head locked, as for :func:`append_entry`.
    """
    if not entries:
        return root
    stack = _frontier(writer, log_id, size, root)
    nodes = [
        node
        for offset, leaf in enumerate(leaves)
        for node in _push(stack, log_id, size + offset, leaf)
    ]
    new_root = merkle.fold(stack)
    _insert_rows(writer, INSERT_ENTRY.split(" VALUES ")[0], entries, ENTRY_TYPES)
    _insert_rows(writer, INSERT_NODES, nodes, NODE_TYPES)
    writer.execute(UPDATE_HEAD, (size + len(entries), new_root, writer.when(when), log_id))
    _appended(session, writer, log_id, size + len(entries), new_root, stack)
    return new_root


#: PostgreSQL array types of the columns, in INSERT order (see `_insert_rows`).
ENTRY_TYPES = ("bigint", "bigint", "timestamp", "text", "text", "text", "text", "text", "bytea")
NODE_TYPES = ("bigint", "int", "bigint", "bytea")


def _insert_rows(writer: Writer, insert: str, rows: list[Row], types: tuple[str, ...]) -> None:
    """Insert many rows in few statements.

    PostgreSQL: one statement whatever the count, each column passed as one array
    and spread by ``unnest`` (a short query with few parameters, which psycopg
    parses once; multi-row VALUES with thousands of parameters it parses anew
    each time). SQLite: multi-row VALUES of up to BATCH_ROWS rows.
    """
    if not writer.sqlite:
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        # Only the fixed type names are interpolated; the values travel as parameters.
        writer.execute(
            f"{insert} SELECT * FROM unnest({arrays})",  # noqa: S608  # nosec B608
            [list(column) for column in zip(*rows, strict=True)],
        )
        return
    width = len(rows[0])
    one = "(" + ", ".join(["%s"] * width) + ")"
    for start in range(0, len(rows), BATCH_ROWS):
        chunk = rows[start : start + BATCH_ROWS]
        values = ", ".join([one] * len(chunk))
        # Only placeholders are interpolated; the values travel as parameters.
        writer.execute(f"{insert} VALUES {values}", [v for row in chunk for v in row])
