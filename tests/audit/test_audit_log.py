"""The database-backed log: entries, stored subtrees, checkpoints, one transaction."""

from __future__ import annotations

import base64
import json
import os
import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from hub.audit import checkpoints, merkle, note, store, verify, verify_fast
from hub.audit.entry import EntryError, decode_entry, encode_entry
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, AuditNode, Checkpoint
from hub.models.audit import HUB_LOG
from hub.operations import audit
from hub.operations.actor import SYSTEM
from hub.operations.unit import savepoint, sign_due_checkpoints, unit_of_work
from tests.support.audit_support import (
    make_hub_key,
    rfc_leaf,
    rfc_root,
    rfc_verify_consistency,
    rfc_verify_inclusion,
)

LOG = "QB-KM-MOU"


def _head(name: str = LOG) -> AuditLog:
    db.session.expire_all()
    return db.session.scalar(select(AuditLog).where(AuditLog.name == name))


def _leaves(name: str = LOG) -> list[bytes]:
    rows = db.session.scalars(
        select(AuditEntry.leaf_input)
        .join(AuditLog, AuditLog.id == AuditEntry.log_id)
        .where(AuditLog.name == name)
        .order_by(AuditEntry.index)
    )
    return [bytes(r) for r in rows]


def _append(n: int, name: str = LOG) -> None:
    for i in range(n):
        with unit_of_work():  # as an operation writes: committed, checkpoints signed when due
            audit.record(
                "exchange_sent",
                actor=SYSTEM,
                target_type="exchange",
                target_id=f"ex-{i}",
                logs=[name],
                details={"n": i, "ciphertext_sha256": "ab" * 32},
            )


# --- Entries ------------------------------------------------------------------


def test_entry_encoding_is_canonical_and_round_trips():
    when = datetime(2026, 5, 4, 2, 30, 0, 1234, tzinfo=UTC)
    data = encode_entry(
        log=LOG,
        index=7,
        time=when,
        actor="km.officer",
        organisation="KM",
        action="exchange_opened",
        target_type="exchange",
        target_id="42",
        details={"z": [1, True, None], "a": "ສະບາຍດີ", "when": when.date()},
    )
    assert (
        data
        == (
            '{"action":"exchange_opened","actor":"km.officer",'
            '"details":{"a":"ສະບາຍດີ","when":"2026-05-04","z":[1,true,null]},'
            '"index":7,"log":"QB-KM-MOU","organisation":"KM","target_id":"42",'
            '"target_type":"exchange","time":"2026-05-04T02:30:00.001234Z","version":1}'
        ).encode()
    )
    assert decode_entry(data)["details"]["a"] == "ສະບາຍດີ"
    with pytest.raises(EntryError, match="canonical"):
        decode_entry(json.dumps(json.loads(data), indent=1).encode())
    with pytest.raises(EntryError, match="fields"):
        decode_entry(b'{"version":1}')


def test_schema_document_example_matches_the_code():
    """schemas/audit-entry.md's worked example is what the code produces."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "schemas" / "audit-entry.md").read_text()
    example = doc.split("<!-- example-entry -->")[1].split("```")[1].strip().removeprefix("json")
    leaf = example.strip().encode()
    fields = decode_entry(leaf)
    rebuilt = encode_entry(
        log=fields["log"],
        index=fields["index"],
        time=datetime.strptime(fields["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
        actor=fields["actor"],
        organisation=fields["organisation"],
        action=fields["action"],
        target_type=fields["target_type"],
        target_id=fields["target_id"],
        details=fields["details"],
    )
    assert rebuilt == leaf
    assert merkle.leaf_hash(leaf).hex() in doc


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"ratio": 0.5}, "float"),
        ({"body": "x" * 300}, "never content"),
        ({"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, "nested"),
        ({1: "x"}, "not a string"),
        ({"big": 2**60}, "2\\^53"),
        ({"obj": object()}, "cannot go into"),
    ],
)
def test_details_that_cannot_be_canonical_or_look_like_content_are_refused(app, details, message):
    with pytest.raises(EntryError, match=message):
        audit.record("x", actor=SYSTEM, target_type="t", target_id=1, logs=[LOG], details=details)
    db.session.rollback()


def test_unknown_agreement_is_refused(app):
    with pytest.raises(EntryError, match="no agreement"):
        audit.record("x", actor=SYSTEM, target_type="t", target_id=1, logs=["NOPE"])
    db.session.rollback()


# --- The tree in the database -------------------------------------------------


def test_appends_keep_head_nodes_and_entries_consistent(app):
    before = _head().size
    _append(37)
    head = _head()
    leaves = _leaves()
    assert head.size == before + 37 == len(leaves)
    hashes = [rfc_leaf(x) for x in leaves]
    assert head.root == rfc_root(hashes)
    for i, leaf in enumerate(leaves):
        fields = decode_entry(leaf)
        assert (fields["index"], fields["log"]) == (i, LOG)
    # Exactly one row per complete subtree: n leaves + n - popcount(n) inner nodes.
    n = head.size
    nodes = db.session.scalar(select(func.count()).where(AuditNode.log_id == head.id))
    assert nodes == 2 * n - bin(n).count("1")
    for size in (1, 2, 3, 8, 13, n):
        assert store.root_at(db.session, head.id, size) == rfc_root(hashes[:size])


def test_record_without_logs_goes_to_the_hub_log_and_many_logs_get_one_each(app):
    hub_before = _head(HUB_LOG).size
    a, b = _head("QB-KM-MOU").size, _head("QB-SV-MOU").size
    audit.record("login", actor=SYSTEM, target_type="user", target_id=1)
    audit.record(
        "case_created", actor=SYSTEM, target_type="case", target_id=9, logs=["QB-SV-MOU", LOG]
    )
    db.session.commit()
    assert _head(HUB_LOG).size == hub_before + 1
    assert (_head("QB-KM-MOU").size, _head("QB-SV-MOU").size) == (a + 1, b + 1)


def test_rollback_of_the_change_rolls_back_its_entry(app):
    from hub.models import Agreement

    head = _head()
    size, root = head.size, head.root
    agreement = db.session.scalar(select(Agreement).where(Agreement.code == LOG))
    agreement.notes = "changed"
    audit.record(
        "agreement_changed", actor=SYSTEM, target_type="agreement", target_id=LOG, logs=[LOG]
    )
    assert _head().size == size + 1  # appended inside the transaction...
    db.session.rollback()
    head = _head()
    assert (head.size, head.root) == (size, root)  # ...and gone with it
    assert db.session.scalar(select(Agreement.notes).where(Agreement.code == LOG)) == ""
    assert len(_leaves()) == size
    _append(1)  # the index freed by the rollback is used, with no gap
    assert [decode_entry(x)["index"] for x in _leaves()] == list(range(size + 1))
    assert verify.verify(db.engine, log_name=LOG)[0].ok


def test_a_crash_before_commit_leaves_neither_change_nor_entry(app, database_url):
    """A writer whose connection dies mid-transaction: nothing of it survives."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    size = _head().size
    db.session.remove()
    engine = create_engine(database_url)
    session = Session(engine)
    try:
        from hub.audit.log import append

        append(
            session,
            LOG,
            actor="system",
            organisation="HUB",
            action="x",
            target_type="t",
            target_id=1,
        )
        session.connection().invalidate()  # the process "crashes": no commit, no rollback
    finally:
        session.close()
        engine.dispose()
    assert _head().size == size == len(_leaves())


def test_proofs_from_the_store_pass_an_independent_verifier(app):
    _append(41)
    head = _head()
    hashes = [rfc_leaf(x) for x in _leaves()]
    n = head.size
    for size in (1, 2, 5, 16, 17, n):
        root = rfc_root(hashes[:size])
        for index in {0, size // 2, size - 1}:
            path = store.inclusion(db.session, head.id, index, size)
            assert rfc_verify_inclusion(index, size, hashes[index], path, root)
            assert not rfc_verify_inclusion(
                index, size, hashes[index - 1 if index else 1], path, root
            )
    for first, second in ((1, 2), (3, 7), (8, 16), (5, n), (16, n), (n - 1, n)):
        proof = store.consistency(db.session, head.id, first, second)
        a, b = rfc_root(hashes[:first]), rfc_root(hashes[:second])
        assert rfc_verify_consistency(first, second, proof, a, b)
        assert not rfc_verify_consistency(first, second, proof, b, a)


# --- Checkpoints --------------------------------------------------------------


def test_current_checkpoint_covers_the_tree_and_verifies(app):
    make_hub_key(app)
    log_id = _head().id
    _append(3)
    first = checkpoints.current(db.session, log_id)
    head = _head()
    assert (first.size, first.root) == (head.size, head.root)
    vkey = checkpoints.vkeys()[-1]
    parsed = note.verify_checkpoint(first.note, vkey, origin=checkpoints.origin_for(LOG))
    assert parsed.size == head.size
    assert checkpoints.signed_time(parsed)
    # Nothing new: the same checkpoint; something new: a fresh one covering it.
    assert checkpoints.current(db.session, log_id).id == first.id
    _append(1)
    second = checkpoints.current(db.session, log_id)
    assert second.size == first.size + 1
    with pytest.raises(note.NoteError, match="not 'blo-hub/audit/QB-SV-MOU'"):
        note.verify_checkpoint(second.note, vkey, origin=checkpoints.origin_for("QB-SV-MOU"))


def test_checkpoints_are_signed_after_writes_when_due(app):
    make_hub_key(app)
    log_id = _head().id

    def count() -> int:
        # Commit after reading: on SQLite an open transaction holds the write lock.
        found = db.session.scalar(select(func.count()).where(Checkpoint.log_id == log_id))
        db.session.commit()
        return found

    _append(1)  # first write with a key: the log has no checkpoint, one is due
    assert count() == 1
    _append(5)  # within the interval: none
    assert count() == 1
    later = datetime.now(UTC) + timedelta(minutes=app.config["HUB"].checkpoint_interval_minutes)
    assert sign_due_checkpoints({log_id}, now=later) == 1
    assert count() == 2
    newest = checkpoints.newest(db.session, log_id)
    assert newest.size == _head().size


def test_without_a_usable_key_writes_still_succeed(app, caplog):
    log_id = _head().id
    _append(2)  # no hub key: the hook does not make one behind a commit
    assert checkpoints.newest(db.session, log_id) is None
    make_hub_key(app, passphrase="not the hub's passphrase")
    _append(2)  # a key the hub cannot unlock: logged, and the change stands
    assert checkpoints.newest(db.session, log_id) is None
    assert _head().size >= 5
    assert "checkpoint key cannot be used" in caplog.text


def test_verify_reports_every_log_and_a_partner_checkpoint(app):
    make_hub_key(app)
    log_id = _head().id
    _append(10)
    kept = checkpoints.current(db.session, log_id).note
    _append(10)
    results = verify.verify(db.engine)
    assert all(r.ok for r in results), [r.line() for r in results]
    assert {r.log for r in results} >= {LOG, HUB_LOG}
    [result] = verify.verify(db.engine, partner_checkpoint=kept)
    assert result.ok
    assert result.log == LOG
    assert "extended" in result.line()
    assert result.notes == [f"consistency proof {result.partner.size} -> {result.size} holds"]


def test_leaf_input_base64_is_what_is_hashed(app):
    _append(1)
    leaf = _leaves()[-1]
    head = _head()
    stored = store.leaf_hash_at(db.session, head.id, head.size - 1)
    assert stored == rfc_leaf(base64.b64decode(base64.b64encode(leaf)))


# Forked only in the SQLite pass: on PostgreSQL the suite's clone-making thread runs
# in this process, so verify (rightly) folds in one there.
@pytest.mark.parametrize(
    "forked", [False] if os.environ.get("HUB_TEST_DATABASE_URL") else [False, True]
)
@pytest.mark.parametrize("chunk_level", [0, 1, 2, 3])
def test_verify_meets_checkpoints_at_odd_and_even_sizes_across_fetch_batches(
    app, monkeypatch, chunk_level, forked
):
    """Checkpoints at sizes that fall inside, at the start and at the end of the
    hashed chunks (1, 2, 4 or 8 entries here) and split the fetch batches; in one
    process, or with the left 32 entries folded by a forked one; the reference
    verify gives the same result."""
    make_hub_key(app)
    monkeypatch.setattr(verify, "FETCH", 4)
    monkeypatch.setattr(verify_fast, "CHUNK_LEVEL", chunk_level)
    monkeypatch.setattr(verify_fast, "PARALLEL_MIN", 8 if forked else 1 << 62)
    if forked and not verify_fast._fork_is_safe():
        pytest.fail(f"verify cannot fork beside other threads: {threading.enumerate()}")
    log_id = _head().id
    for size in (2, 3, 5, 8, 13, 21, 34):
        _append(size - _head().size)
        checkpoints.current(db.session, log_id)
    _append(3)
    db.session.commit()
    [result] = verify_fast.verify_logs(db.engine, log_name=LOG)
    assert result.ok, result.line()
    assert verify.verify(db.engine, log_name=LOG) == [result]
    assert result.checkpoints == 7
    assert result.root == rfc_root([rfc_leaf(x) for x in _leaves()])


def test_verify_reads_a_chunk_of_leaves_at_once(app):
    """A chunk comes as the bytes of its entries (fast verify); one that runs past
    the stored entries names the first missing index."""
    _append(5)
    head = _head()
    with verify.snapshot(db.engine) as reader:
        [(leaves, gap, nodes)] = verify_fast._chunks(reader, head.id, LOG, 0, head.size)
        [(_, short, _)] = verify_fast._chunks(reader, head.id, LOG, 0, head.size + 1)
    assert gap is None
    # With it, the stored hashes of its complete subtrees, each level's joined in order.
    size = head.size
    stored = store.fetch_nodes(
        db.session,
        head.id,
        [(level, index) for level in range(size.bit_length()) for index in range(size >> level)],
    )
    assert nodes == [
        b"".join(stored[(level, index)] for index in range(size >> level))
        for level in range(size.bit_length())
    ]
    assert leaves == _leaves()
    assert short is not None
    assert (short.kind, short.index) == ("missing", head.size)


def test_a_released_savepoint_does_not_sign_until_the_outer_commit(app):
    """Signing on savepoint release would wait on our own write lock (SQLite)."""
    import time

    make_hub_key(app)
    log_id = _head().id
    db.session.commit()
    started = time.monotonic()
    with unit_of_work():
        with savepoint():
            audit.record("x", actor=SYSTEM, target_type="t", target_id=1, logs=[LOG])
        assert time.monotonic() - started < 5
        assert checkpoints.newest(db.session, log_id) is None  # outer transaction still open
    assert checkpoints.newest(db.session, log_id).size == _head().size


def test_verify_forks_only_where_another_process_sees_the_database():
    from sqlalchemy import create_engine

    assert not verify_fast._shared_database(create_engine("sqlite://"))
    assert not verify_fast._shared_database(create_engine("sqlite:///:memory:"))
    assert verify_fast._shared_database(create_engine("sqlite:////tmp/hub-audit.sqlite3"))
    assert verify_fast._shared_database(create_engine("postgresql+psycopg://u@localhost/hub"))
