"""The same verdict as :mod:`hub.audit.verify`, faster: what `hub audit verify` runs.

Only the tree check differs (:func:`check_tree` replaces ``verify.check_tree`` in
the reference's list of checks); every other check, the problems and their
words are the reference's own, and ``tests/audit/test_audit_tamper.py`` runs both
on every tamper case and asserts the same verdict. Read the reference to trust
a log; this module is here for the speed bar of ``bench/README.md``.

What makes it faster:

- entries are read and hashed 2**CHUNK_LEVEL at a time (an aligned complete
  subtree), level by level through ``map`` over C functions, so no Python
  bytecode runs per hash; a thread reads the next chunk meanwhile;
- a chunk comes as one value: its entries joined with ``0x01`` (canonical JSON
  never holds a raw control byte), SQLite's ``group_concat`` or PostgreSQL's
  ``string_agg``, split in one call, and each level of its stored nodes as the
  concatenation of their hashes, compared with the recomputed level in one bytes
  comparison. Rows are read one by one only where a chunk does not come out whole
  (a gap, an entry holding a control byte, a bad node);
- the nodes above a chunk (one per 2**CHUNK_LEVEL entries or fewer) are checked
  against their stored children, bottom-up;
- a big log is split at the largest power of two below its size: a forked
  process folds that left subtree on its own connection in the same snapshot
  while this one folds the rest, and the compact ranges are joined as RFC 9162
  does. It forks only when the calling process runs no other thread.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Generator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from hashlib import sha256
from multiprocessing.connection import Connection
from operator import itemgetter
from typing import Any

from sqlalchemy.engine import Engine

from hub.audit import merkle, store, verify
from hub.audit.verify import Log, Problem, Reader, Row

#: Logs this big are folded by two processes (see _recompute).
PARALLEL_MIN = 1 << 16
#: Entries are read and hashed 2**CHUNK_LEVEL at a time: aligned complete subtrees.
CHUNK_LEVEL = 12

#: A bad stored node: (the leaf after the last it covers, level, index, what is wrong),
#: so that min() picks the first one the reference names (the order appends wrote them).
Bad = tuple[int, int, int, str]
#: What one half of the fold gives: the compact ranges at the sizes asked for, the
#: gap that cut it short, the first bad node.
Folded = tuple[dict[int, list[bytes]], Problem | None, Bad | None]
#: One chunk: its leaves, the gap that cuts it short, its stored nodes joined per level.
Chunk = tuple[list[bytes], Problem | None, list[bytes]]


def check_tree(log: Log) -> Problem | None:
    """verify.check_tree's verdict: the targets met, the entries whole, every stored node."""
    return _recompute(log)


CHECKS: list[verify.Check] = [
    check_tree if check is verify.check_tree else check for check in verify.CHECKS
]


def verify_logs(
    engine: Engine,
    *,
    log_name: str | None = None,
    partner_checkpoint: str | None = None,
    deep: bool = False,
) -> list[verify.Result]:
    """:func:`hub.audit.verify.verify`, with this module's tree check."""
    return verify.verify(
        engine, log_name=log_name, partner_checkpoint=partner_checkpoint, deep=deep, checks=CHECKS
    )


def _first(*bad: Bad | None) -> Bad | None:
    return min((b for b in bad if b is not None), default=None)


def _recompute(log: Log) -> Problem | None:
    """Fold the log's entries, meet every target in order, check the stored nodes;
    in two processes from PARALLEL_MIN entries where that is safe."""
    reader, log_id, name, head_size = log.reader, log.id, log.name, log.size
    sizes = [t.size for t in log.targets]
    split = 1 << (head_size - 1).bit_length() - 1 if head_size > 1 else 0
    collect = None
    if head_size >= PARALLEL_MIN and _shared_database(reader.engine) and _fork_is_safe():
        collect = _fork_fold(reader, log_id, name, split, [s for s in sizes if s <= split])
    if collect is None:
        split = 0
    try:
        ranges, gap, bad = _fold_range(reader, log_id, name, split, head_size, sizes)
    except BaseException:
        if collect is not None:
            collect()  # the child is waited for, whatever happens here
        raise
    if collect is not None:
        # The child's half; folded here after all if the child could not.
        left = collect() or _fold_range(reader, log_id, name, 0, split, sizes)
        left_ranges, left_gap, left_bad = left
        bad = _first(left_bad, bad)
        if left_gap is not None:
            ranges, gap = left_ranges, left_gap  # nothing past a gap counts
        else:
            # RFC 9162: past the largest power of two, the root is H(left root, rest).
            top = [merkle.fold(left_ranges[split])]
            ranges = {**left_ranges, **{s: top + r for s, r in ranges.items()}}
    good = 0  # largest size whose root matched what vouches for it
    for target in log.targets:
        if target.size not in ranges:
            break  # past the gap
        if merkle.fold(ranges[target.size]) != target.root:
            return verify.diagnose(log, good, target)
        good = target.size
    if gap is not None:
        return gap
    bad = _first(bad, _check_upper_nodes(reader, log_id, head_size))
    return verify.node_problem(name, bad[1], bad[2], bad[3]) if bad else None


def _fold_range(
    reader: Reader, log_id: int, name: str, lo: int, hi: int, sizes: list[int]
) -> Folded:
    """Fold entries ``lo .. hi - 1`` (``lo`` 0 or a power of two above ``hi - lo``):
    the compact range of ``lo .. size - 1`` at each of ``sizes`` inside the range and
    at ``hi``, the gap that cut the run short, the first stored node that differs."""
    want = sorted({s for s in sizes if lo < s <= hi} | {hi})
    ranges: dict[int, list[bytes]] = {}
    stack: list[bytes] = []  # compact range of lo .. start - 1
    step, w, bad = 1 << CHUNK_LEVEL, 0, None
    with ThreadPoolExecutor(1) as ahead:
        chunks = _chunks(reader, log_id, name, lo, hi)
        pending = ahead.submit(next, chunks)
        try:
            for start in range(lo, hi, step):
                leaves, gap, stored = pending.result()  # one chunk per step
                pending = ahead.submit(next, chunks)
                levels = _levels(leaves)
                while w < len(want) and want[w] <= start + len(leaves):
                    inside = store.compact_range(want[w] - start)
                    ranges[want[w]] = stack + [levels[lv][i] for lv, i in inside]
                    w += 1
                if gap is not None:
                    return ranges, gap, bad
                if bad is None and stored != list(map(b"".join, levels)):
                    bad = _first_bad_node(reader, log_id, start, levels)
                if len(leaves) == step:  # a complete aligned subtree: onto the compact range
                    merkle.push(stack, (start - lo) >> CHUNK_LEVEL, levels[-1][0])
            return ranges, None, bad
        finally:  # the reader is free again once the chunk being read has come in
            futures.wait([pending])
            chunks.close()


def _spans(start: int, count: int) -> list[tuple[int, int, int]]:
    """(level, first index, end index) of the complete subtrees inside the run of
    ``count`` leaves from ``start`` (aligned), as :func:`_levels` hashes them."""
    return [(lv, start >> lv, (start >> lv) + (count >> lv)) for lv in range(count.bit_length())]


_NODES = 'FROM audit_nodes WHERE log_id = %s AND level = %s AND "index" >= %s AND "index" < %s'
_SQLITE_LEVEL = (
    "SELECT CAST(group_concat(hash, '') AS BLOB) FROM (SELECT hash FROM audit_nodes "
    'WHERE log_id = %s AND level = %s AND "index" >= %s AND "index" < %s ORDER BY "index")'
)
_POSTGRESQL_LEVEL = (
    "SELECT string_agg(hash, ''::bytea ORDER BY \"index\") FROM audit_nodes "
    'WHERE log_id = %s AND level = %s AND "index" >= %s AND "index" < %s'
)


def _stored_levels(reader: Reader, log_id: int, start: int, count: int) -> list[bytes]:
    """The stored hashes of one chunk's complete subtrees, each level's joined in index
    order, in one query (one primary-key range per level: an OR of them made SQLite scan)."""
    spans = _spans(start, count)
    if not spans:
        return []
    one = _SQLITE_LEVEL if reader.backend == "sqlite" else _POSTGRESQL_LEVEL
    select = " UNION ALL ".join(f"SELECT {k}, ({one})" for k in range(len(spans)))
    params = tuple(v for span in spans for v in (log_id, *span))
    # Only placeholders and level numbers are interpolated; the values travel as parameters.
    query = f"SELECT * FROM ({select}) AS levels ORDER BY 1"  # noqa: S608  # nosec B608
    rows = reader.all(query, params)
    return [bytes(joined or b"") for _, joined in rows]


def _first_bad_node(reader: Reader, log_id: int, start: int, levels: list[list[bytes]]) -> Bad:
    """The first stored node of a chunk that differs from the recomputed ``levels``,
    its rows read one by one (the joined levels did not match)."""
    spans = _spans(start, len(levels[0]))
    rows = reader.all(
        " UNION ALL ".join([f'SELECT level, "index", hash {_NODES}'] * len(spans)),  # nosec B608
        tuple(v for span in spans for v in (log_id, *span)),
    )
    found = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
    bad = []
    for lv, lo, hi in spans:
        for i in range(lo, hi):
            stored = found.get((lv, i))
            if stored != levels[lv][i - lo]:
                what = "is missing" if stored is None else "does not match the tree of the entries"
                bad.append(((i + 1) << lv, lv, i, what))
    return min(bad)


def _check_upper_nodes(reader: Reader, log_id: int, size: int) -> Bad | None:
    """The stored nodes above CHUNK_LEVEL, each against the hash of its two stored
    children; the chunks have shown level CHUNK_LEVEL equal to the recomputed tree,
    so the first bad one (in the reference's order) is the first that differs here."""
    if size >> CHUNK_LEVEL + 1 == 0:
        return None
    rows = reader.all(
        'SELECT level, "index", hash FROM audit_nodes WHERE log_id = %s AND level >= %s',
        (log_id, CHUNK_LEVEL),
    )
    nodes = {(int(lv), int(i)): bytes(h) for lv, i, h in rows}
    bad: list[Bad] = []
    level = CHUNK_LEVEL + 1
    while size >> level:
        for i in range(size >> level):
            left, right = nodes.get((level - 1, 2 * i)), nodes.get((level - 1, 2 * i + 1))
            stored = nodes.get((level, i))
            if stored is None:
                bad.append(((i + 1) << level, level, i, "is missing"))
            elif left is None or right is None or stored != merkle.node_hash(left, right):
                bad.append(((i + 1) << level, level, i, "does not match the tree of the entries"))
        level += 1
    return min(bad, default=None)


def _shared_database(engine: Engine | None) -> bool:
    """Whether another process's connection sees the same database (not so for an
    in-memory SQLite one)."""
    if engine is None:
        return False
    url = engine.url
    return url.get_backend_name() != "sqlite" or (
        url.database not in (None, "", ":memory:") and "mode=memory" not in str(url)
    )


def _fork_is_safe() -> bool:
    """Forking copies only the calling thread: safe while it is the only one."""
    return threading.active_count() == 1 and hasattr(os, "fork") and (os.cpu_count() or 1) > 1


def _fork_fold(
    reader: Reader, log_id: int, name: str, split: int, sizes: list[int]
) -> Callable[[], Folded | None] | None:
    """Start ``_fold_range(0, split)`` in a forked process, on its own connection in
    the same snapshot (PostgreSQL: an exported snapshot; SQLite: its entries below
    the head never change). Returns what waits for its outcome (None if the child
    failed), or None if no child started."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)
    exported = None
    if reader.backend == "postgresql":
        exported = str(reader.all("SELECT pg_export_snapshot()")[0][0])
    child = ctx.Process(
        target=_child_fold,
        args=(send, reader.engine, exported, log_id, name, split, sizes),
        daemon=True,
    )
    try:
        child.start()
    except OSError:
        return None
    finally:
        send.close()

    def collect() -> Folded | None:
        try:
            outcome: Folded | None = receive.recv()
            return outcome
        except EOFError:
            return None
        finally:
            receive.close()
            child.join()

    return collect


def _child_fold(
    send: Connection,
    engine: Engine,
    exported: str | None,
    log_id: int,
    name: str,
    split: int,
    sizes: list[int],
) -> None:
    outcome = None
    try:
        engine.dispose(close=False)  # the parent's connections stay the parent's
        with verify.snapshot(engine) as reader:
            if exported is not None:  # before any query of the transaction
                from psycopg import sql

                # Takes no parameter: a quoted literal.
                reader.conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(exported))
            outcome = _fold_range(reader, log_id, name, 0, split, sizes)
    finally:
        send.send(outcome)
        send.close()


def _chunks(
    reader: Reader, log_id: int, name: str, lo: int, hi: int
) -> Generator[Chunk, None, None]:
    """Entries ``lo .. hi - 1`` in chunks of ``2**CHUNK_LEVEL``, each with the gap that
    cuts it short, if any, and (whole chunks) its stored nodes joined per level."""
    step = 1 << CHUNK_LEVEL
    for start in range(lo, hi, step):
        run = _joined_chunk(reader, log_id, name, start, min(step, hi - start))
        yield _with_nodes(reader, log_id, start, run)


def _with_nodes(
    reader: Reader, log_id: int, start: int, run: tuple[list[bytes], Problem | None]
) -> Chunk:
    """A chunk with its stored nodes (read here, in the read-ahead thread)."""
    leaves, gap = run
    return (
        leaves,
        gap,
        [] if gap is not None else _stored_levels(reader, log_id, start, len(leaves)),
    )


def _run(rows: list[Row], name: str, start: int, want: int) -> tuple[list[bytes], Problem | None]:
    """Rows ``(index, leaf)`` expected to be ``start .. start + want - 1``: their
    entries up to the first that is not, and the problem there."""
    # Indexes are unique (a constraint): the run is whole when its ends are right.
    if len(rows) == want and rows[0][0] == start and rows[-1][0] == start + want - 1:
        return list(map(itemgetter(1), rows)), None
    indexes = [int(row[0]) for row in rows]
    n = next((k for k, index in enumerate(indexes) if index != start + k), len(indexes))
    leaves = [bytes(leaf) for _, leaf in rows[:n]]
    found = indexes[n] if n < len(indexes) else None
    return leaves, verify.gap_problem(name, start + n, found)


# A chunk of entries in one row, joined by 0x01 (no ORDER BY inside
# aggregates before SQLite 3.44: an ordered subquery).
_POSTGRESQL_CHUNK = (
    "SELECT count(*), string_agg(leaf_input, '\\x01'::bytea ORDER BY \"index\") "
    'FROM audit_entries WHERE log_id = %s AND "index" >= %s AND "index" < %s'
)
_SQLITE_CHUNK = (
    "SELECT count(*), CAST(group_concat(leaf_input, x'01') AS BLOB) FROM (SELECT "
    'leaf_input FROM audit_entries WHERE log_id = %s AND "index" >= %s AND "index" < %s '
    'ORDER BY "index")'
)


def _joined_chunk(
    reader: Reader, log_id: int, name: str, start: int, want: int
) -> tuple[list[bytes], Problem | None]:
    """One chunk from one row that joins its entries with ``0x01``: split, it gives
    them with no Python object (nor, on PostgreSQL, a driver's row) per entry. When
    the count or the split does not come out at ``want`` (a gap, a damaged entry
    holding a control byte), the rows are read."""
    sql = _SQLITE_CHUNK if reader.backend == "sqlite" else _POSTGRESQL_CHUNK
    ((count, joined),) = reader.all(sql, (log_id, start, start + want))
    leaves: list[bytes] = joined.split(b"\x01") if joined is not None else []
    if count == want and len(leaves) == want:
        return leaves, None
    return _run(reader.all(verify.ENTRIES, (log_id, start, start + want)), name, start, want)


_digest: Callable[[Any], bytes] = type(sha256()).digest
_join = b"".join


def _levels(leaves: list[bytes]) -> list[list[bytes]]:
    """Every complete subtree of a run of leaves, level by level (``levels[L][i]``
    covers leaves ``i * 2**L ..``). The hot path: each level is hashed by ``map``
    over C functions, so no Python bytecode runs per hash."""
    level = list(map(_digest, map(sha256, map(b"\x00".__add__, leaves))))
    levels = [level]
    while len(level) > 1:
        # Neighbours paired; an odd last one is no complete subtree yet and drops out.
        pairs = iter(level)
        joined = map(b"\x01".__add__, map(_join, zip(pairs, pairs, strict=False)))
        level = list(map(_digest, map(sha256, joined)))
        levels.append(level)
    return levels
