"""Rewriting history behind the hub's back, every way we know, and being named for it.

Each test tampers as a database administrator would (past the PostgreSQL
triggers, see audit_support.tamper) and checks that `verify` names the log and
the first index that does not match, through the API of the module and
through `hub audit verify`. Every verification here runs both the reference
(hub.audit.verify) and the fast path `hub audit verify` uses (hub.audit.verify_fast),
in one process and with a forked half, and asserts the same verdict and the same
named problem.
"""

from __future__ import annotations

import base64
import os
import threading

import pytest
from sqlalchemy import select, text

from hub.audit import checkpoints, merkle, verify, verify_fast
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, Checkpoint
from hub.operations import audit
from hub.operations.actor import SYSTEM
from tests.support.audit_support import (
    make_hub_key,
    rfc_leaf,
    rfc_root,
    rfc_verify_consistency,
    rfc_verify_inclusion,
    tamper,
)

LOG = "QB-KM-MOU"
OTHER = "QB-SV-MOU"


_NODE = 'log_id = :l AND level = :v AND "index" = :i'


def _set_node(app, log_id: int, level: int, index: int, new: bytes | None = None) -> None:
    """Overwrite one stored subtree hash: with `new`, or the stored one with a bit flipped."""
    if new is None:
        stored = db.session.scalar(
            text(f"SELECT hash FROM audit_nodes WHERE {_NODE}"),
            {"l": log_id, "v": level, "i": index},
        )
        db.session.commit()
        new = bytes([stored[0] ^ 1]) + bytes(stored[1:])
    tamper(
        app, f"UPDATE audit_nodes SET hash = :h WHERE {_NODE}", h=new, l=log_id, v=level, i=index
    )


def _append(n: int, name: str = LOG) -> None:
    for i in range(n):
        audit.record(
            "exchange_sent",
            actor=SYSTEM,
            target_type="exchange",
            target_id=i,
            logs=[name],
            details={"payload_sha256": f"{i:064x}"},
        )
        db.session.commit()


def _log_id(name: str = LOG) -> int:
    return db.session.scalar(select(AuditLog.id).where(AuditLog.name == name))


def _size(name: str = LOG) -> int:
    db.session.expire_all()
    return db.session.scalar(select(AuditLog.size).where(AuditLog.name == name))


# On PostgreSQL the suite's clone-making thread runs in this very process, so verify
# (rightly) never forks there: the forked variants run in the SQLite pass, and the
# forked path on PostgreSQL is proven by the subprocess test at the end of this file.
ON_POSTGRESQL = bool(os.environ.get("HUB_TEST_DATABASE_URL"))
MODES = ["one process"] if ON_POSTGRESQL else ["one process", "forked half"]


@pytest.fixture(autouse=True, params=MODES)
def small_batches(request, monkeypatch):
    """The fast verify hashes chunks of 4 entries and both read rows 3 at a time here,
    so gaps, checkpoints and the head fall inside and across chunks and fetch batches
    (the defaults cover these whole logs at once); and the fast one folds the left
    half of every log of 8 entries or more in a forked process, or not."""
    monkeypatch.setattr(verify_fast, "CHUNK_LEVEL", 2)
    monkeypatch.setattr(verify, "FETCH", 3)
    forked = request.param == "forked half"
    monkeypatch.setattr(verify_fast, "PARALLEL_MIN", 8 if forked else 1 << 62)
    if forked and not verify_fast._fork_is_safe():
        pytest.fail(f"verify cannot fork beside other threads: {threading.enumerate()}")


@pytest.fixture
def history(app):
    """LOG with signed checkpoints at 8 and 20 entries, and 4 entries after that."""
    make_hub_key(app)
    _append(8 - _size())
    checkpoints.current(db.session, _log_id())
    _append(12)
    checkpoints.current(db.session, _log_id())
    _append(4)
    db.session.commit()
    r = _verify()
    assert r.ok, r.line()
    return _log_id()


def _verify(name: str = LOG, **kwargs) -> verify.Result:
    """The reference's result, once the fast path has given the same."""
    db.session.remove()
    [result] = verify.verify(db.engine, log_name=name, **kwargs)
    [fast] = verify_fast.verify_logs(db.engine, log_name=name, **kwargs)
    assert fast == result, (fast.line(), result.line())
    return result


def _leaf(index: int, name: str = LOG) -> bytes:
    return bytes(
        db.session.scalar(
            select(AuditEntry.leaf_input).where(
                AuditEntry.log_id == _log_id(name), AuditEntry.index == index
            )
        )
    )


def _expect(problem_kind: str, index: int | None, **kwargs) -> verify.Result:
    result = _verify(**kwargs)
    assert not result.ok
    assert result.problem.kind == problem_kind, result.line()
    assert result.problem.index == index, result.line()
    assert result.line().startswith(f"audit log {LOG}: ")
    if index is not None:
        assert result.line().endswith(f"index {index}")
    return result


def test_a_changed_entry_is_named(app, history):
    leaf = _leaf(13).replace(b'"exchange_sent"', b'"exchange_sunk"')
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 13',
        v=leaf,
        l=history,
    )
    _expect("changed", 13)


def test_a_changed_entry_past_the_last_checkpoint_is_named(app, history):
    leaf = _leaf(22).replace(b'"exchange_sent"', b'"exchange_lost"')
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 22',
        v=leaf,
        l=history,
    )
    _expect("changed", 22)


@pytest.mark.parametrize("byte", [b"\x00", b"\x01"])
def test_a_changed_entry_holding_a_control_byte_is_named(app, history, byte):
    """Verify reads a chunk of entries joined by ``0x01`` on SQLite (canonical JSON holds
    no raw control byte): an entry given one must not shift its neighbours or hide."""
    leaf = _leaf(9).replace(b'"exchange_sent"', b'"exchange' + byte + b'sent"')
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 9',
        v=leaf,
        l=history,
    )
    result = _expect("changed", 9)
    assert "not a valid entry" in result.line()


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "'exchange_acknowledged'"),
        ("actor", "'someone.else'"),
        ("organisation", "'SV'"),
        ("target_type", "'case'"),
        ("target_id", "'99'"),
        ("created_at", ":earlier"),
    ],
)
def test_a_changed_column_is_named_by_the_deep_check(app, history, column, value):
    """A column edited alone (the hashed bytes intact) leaves the tree whole: the
    default pass reads only the bytes, --deep (and "verify now") names the entry."""
    from datetime import datetime

    # As each database keeps a UTC time: naive, and as text on SQLite.
    earlier = datetime(2001, 1, 1, 0, 0, 0, 1)
    if db.engine.dialect.name == "sqlite":
        earlier = earlier.strftime("%Y-%m-%d %H:%M:%S.%f")
    tamper(
        app,
        f'UPDATE audit_entries SET {column} = {value} WHERE log_id = :l AND "index" = 13',
        l=history,
        earlier=earlier,
    )
    assert _verify().ok
    result = _expect("changed", 13, deep=True)
    assert "columns differ from its hashed bytes" in result.line()


@pytest.mark.parametrize("value", ['exchange"sent', "exchange\\sent", "exchange\nsent"])
def test_a_column_edited_to_what_json_escapes_is_named(app, history, value):
    """The deep check compares decoded fields, not text: escapes cannot hide an edit."""
    tamper(
        app,
        'UPDATE audit_entries SET action = :v WHERE log_id = :l AND "index" = 5',
        v=value,
        l=history,
    )
    _expect("changed", 5, deep=True)


def test_columns_that_json_escapes_verify_when_they_match(app, history):
    """An entry whose fields hold a quote, a backslash and a newline (written by the
    hub itself) verifies, deep check included."""
    audit.record(
        'odd"action',
        actor=SYSTEM,
        target_type="back\\slash",
        target_id="line\nbreak",
        logs=[LOG],
    )
    db.session.commit()
    result = _verify(deep=True)
    assert result.ok, result.line()
    assert result.size == _size()


def test_a_deleted_entry_is_named(app, history):
    tamper(app, 'DELETE FROM audit_entries WHERE log_id = :l AND "index" = 7', l=history)
    _expect("missing", 7)


def test_reordered_entries_are_named(app, history):
    a, b = _leaf(4), _leaf(5)
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 4',
        v=b,
        l=history,
    )
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 5',
        v=a,
        l=history,
    )
    result = _expect("moved", 4)
    assert "carries index 5" in result.line()


def test_an_entry_inserted_in_the_middle_is_named(app, history):
    size = _size()
    # Make room at 6 (two steps: the unique index would refuse a one-step shift).
    tamper(
        app,
        'UPDATE audit_entries SET "index" = -"index" - 1 WHERE log_id = :l AND "index" >= 6',
        l=history,
    )
    tamper(
        app,
        'UPDATE audit_entries SET "index" = -"index" WHERE log_id = :l AND "index" < 0',
        l=history,
    )
    forged = _leaf(5).replace(b'"index":5', b'"index":6')
    tamper(
        app,
        'INSERT INTO audit_entries (log_id, "index", created_at, actor, organisation, action, '
        "target_type, target_id, leaf_input) SELECT log_id, 6, created_at, actor, organisation, "
        'action, target_type, target_id, :v FROM audit_entries WHERE log_id = :l AND "index" = 5',
        v=forged,
        l=history,
    )
    tamper(app, "UPDATE audit_logs SET size = :s WHERE id = :l", s=size + 1, l=history)
    _expect("changed", 6)


def test_an_entry_added_beyond_the_head_is_named(app, history):
    size = _size()
    forged = _leaf(size - 1).replace(f'"index":{size - 1}'.encode(), f'"index":{size}'.encode())
    tamper(
        app,
        'INSERT INTO audit_entries (log_id, "index", created_at, actor, organisation, action, '
        "target_type, target_id, leaf_input) SELECT log_id, :s, created_at, actor, organisation, "
        'action, target_type, target_id, :v FROM audit_entries WHERE log_id = :l AND "index" = :p',
        v=forged,
        s=size,
        p=size - 1,
        l=history,
    )
    _expect("beyond_head", size)


def test_truncation_below_a_signed_checkpoint_is_named(app, history):
    root = None
    from hub.audit import store

    root = store.root_at(db.session, history, 15)
    db.session.commit()
    tamper(app, 'DELETE FROM audit_entries WHERE log_id = :l AND "index" >= 15', l=history)
    tamper(
        app,
        'DELETE FROM audit_nodes WHERE log_id = :l AND ("index" + 1) * (1 << level) > 15',
        l=history,
    )
    tamper(app, "UPDATE audit_logs SET size = 15, root = :r WHERE id = :l", r=root, l=history)
    result = _expect("truncated", 15)
    assert "size 20" in result.line()


def test_a_consistent_rewrite_is_caught_by_the_signed_checkpoint(app, history):
    """Entry, subtree hashes and head all rewritten: only the signature remembers."""
    size = _size()
    leaves = [_leaf(i) for i in range(size)]
    leaves[12] = leaves[12].replace(b'"exchange_sent"', b'"exchange_void"')
    tree = merkle.StreamingRoot()
    rows = [row for leaf in leaves for row in tree.push(merkle.leaf_hash(leaf))]
    db.session.commit()
    tamper(
        app,
        "UPDATE audit_entries SET leaf_input = :v, action = 'exchange_void' "
        'WHERE log_id = :l AND "index" = 12',
        v=leaves[12],
        l=history,
    )
    tamper(app, "DELETE FROM audit_nodes WHERE log_id = :l", l=history)
    for level, index, h in rows:
        tamper(
            app,
            'INSERT INTO audit_nodes (log_id, level, "index", hash) VALUES (:l, :v, :i, :h)',
            l=history,
            v=level,
            i=index,
            h=h,
        )
    tamper(app, "UPDATE audit_logs SET root = :r WHERE id = :l", r=tree.root(), l=history)
    result = _expect("rewritten", 8)
    assert "signed checkpoint of size 20" in result.line()


def test_a_checkpoint_with_a_bad_signature_is_reported(app, history):
    row = db.session.scalar(
        select(Checkpoint).where(Checkpoint.log_id == history, Checkpoint.size == 8)
    )
    body, sig = row.note.rsplit(" ", 1)
    forged = body + " " + ("A" if sig[0] != "A" else "B") + sig[1:]
    db.session.commit()
    tamper(app, "UPDATE audit_checkpoints SET note = :n WHERE id = :i", n=forged, i=row.id)
    result = _expect("checkpoint", None)
    assert "size 8" in result.line()


def test_a_checkpoint_of_another_agreement_is_reported(app, history):
    other = checkpoints.current(db.session, _log_id(OTHER))
    mine = db.session.scalar(
        select(Checkpoint).where(Checkpoint.log_id == history, Checkpoint.size == 8)
    )
    note_text, mine_id = other.note, mine.id
    db.session.commit()
    tamper(app, "UPDATE audit_checkpoints SET note = :n WHERE id = :i", n=note_text, i=mine_id)
    result = _expect("checkpoint", None)
    assert OTHER in result.line()


def test_a_partner_checkpoint_catches_truncation_without_a_stored_one(app, history):
    kept = checkpoints.current(db.session, history).note
    size = _size()
    db.session.commit()
    # The administrator removes the last entries *and* every checkpoint that covered them.
    tamper(app, "DELETE FROM audit_checkpoints WHERE log_id = :l", l=history)
    tamper(
        app, 'DELETE FROM audit_entries WHERE log_id = :l AND "index" >= :s', s=size - 2, l=history
    )
    from hub.audit import store

    root = store.root_at(db.session, history, size - 2)
    db.session.commit()
    tamper(
        app,
        "UPDATE audit_logs SET size = :s, root = :r WHERE id = :l",
        s=size - 2,
        r=root,
        l=history,
    )
    assert _verify().ok  # nothing stored remembers the lost entries...
    result = _expect("truncated", size - 2, partner_checkpoint=kept)  # ...the partner does
    assert "partner" in result.line()


def test_a_partner_checkpoint_of_another_log_or_forged_is_refused(app, history):
    from hub.audit import note

    other = checkpoints.current(db.session, _log_id(OTHER)).note
    with pytest.raises(note.NoteError, match="not for log"):
        verify.verify(db.engine, log_name=LOG, partner_checkpoint=other)
    forged = other.replace(f"audit/{OTHER}", f"audit/{LOG}")
    with pytest.raises(note.NoteError):
        verify.verify(db.engine, log_name=LOG, partner_checkpoint=forged)


def test_hub_audit_verify_exits_non_zero_naming_log_and_index(app, history):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert f"audit log {LOG}: " in ok.output
    tamper(app, 'DELETE FROM audit_entries WHERE log_id = :l AND "index" = 9', l=history)
    bad = runner.invoke(args=["audit", "verify", "--agreement", LOG])
    assert bad.exit_code == 1
    lines = [line for line in bad.output.splitlines() if line.startswith("hub:")]
    assert lines == [f"hub: audit log {LOG}: entry is missing at index 9"]
    db.session.expire_all()
    head = db.session.scalar(select(AuditLog).where(AuditLog.name == LOG))
    assert head.last_verified_ok is False
    assert "index 9" in head.last_verified_message


def test_postgresql_refuses_update_delete_truncate(app, database_backend):
    if database_backend != "postgresql":
        pytest.skip("the append-only triggers exist on PostgreSQL only")
    from sqlalchemy.exc import DBAPIError

    _append(1)
    for sql in (
        "UPDATE audit_entries SET action = 'x'",
        "DELETE FROM audit_nodes",
        "UPDATE audit_checkpoints SET note = 'x'",
        "TRUNCATE audit_entries CASCADE",
        "TRUNCATE audit_checkpoints CASCADE",
    ):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(sql))
    # The head is not history: it moves with every append.
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_logs SET last_verified_ok = true"))


def test_the_api_answers_plainly_over_a_damaged_log(app, history, client, make_user, api_token):
    make_user("km.officer", org="KM")
    km = api_token("km.officer")
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 3',
        v=b"\xff not json",
        l=history,
    )
    tamper(
        app, 'DELETE FROM audit_nodes WHERE log_id = :l AND level = 0 AND "index" = 5', l=history
    )
    base = f"/api/v1/agreements/{LOG}/audit"
    entries = client.get(f"{base}/entries?start=2&end=4", headers=km)
    assert entries.status_code == 200
    assert [e.get("damaged", False) for e in entries.get_json()["entries"]] == [False, True, False]
    proof = client.get(f"{base}/proof/inclusion?index=4&size=8", headers=km)
    assert proof.status_code == 409
    assert proof.get_json()["code"] == "log_damaged"
    assert client.get(f"{base}/proof/consistency?from=5&to=6", headers=km).status_code == 409
    assert _verify().problem.index == 3


def _listed(**filters) -> list[int]:
    from hub.operations import audit as ops

    _, rows, total = ops.filtered_entries(SYSTEM, LOG, **filters, per_page=1000)
    assert total == len(rows)
    return sorted(row.index for row in rows)


@pytest.mark.parametrize(
    ("column", "true", "fake"),
    [
        ("action", "exchange_sent", "exchange_acknowledged"),
        ("organisation", SYSTEM.organisation_code, "SV"),
        ("target_type", "exchange", "case"),
    ],
)
def test_the_log_pages_filter_on_the_hashed_bytes_not_the_columns(app, history, column, true, fake):
    """A column edited alone cannot move an entry in or out of a filtered list: the
    pages filter on what the tree covers (and --deep names the edited column)."""
    before = _listed(**{column: true})
    assert 13 in before
    assert _listed(**{column: fake}) == []
    tamper(
        app,
        f'UPDATE audit_entries SET {column} = :v WHERE log_id = :l AND "index" = 13',
        v=fake,
        l=history,
    )
    assert _listed(**{column: true}) == before
    assert _listed(**{column: fake}) == []
    _expect("changed", 13, deep=True)


def test_filters_match_the_top_level_fields_only(app, history):
    """Details that hold look-alike keys do not match a filter; values JSON escapes do."""
    audit.record(
        'odd"action',
        actor=SYSTEM,
        target_type="ເອກະສານ",
        target_id="x",
        logs=[LOG],
        details={"a": 1, "organisation": "SV", "target_id": "y", "target_type": "case"},
    )
    db.session.commit()
    last = _size() - 1
    assert _listed(action='odd"action') == [last]
    assert _listed(target_type="ເອກະສານ") == [last]
    assert last in _listed(organisation=SYSTEM.organisation_code)
    assert _listed(organisation="SV") == []
    assert last not in _listed(target_type="case")
    from hub.operations.actor import Actor

    odd = 'ສະຫວັນ\\"1'  # non-ASCII, a backslash and a quote: escaped in the bytes
    stranger = Actor(None, "stranger", None, odd, "officer")
    audit.record("exchange_sent", actor=stranger, target_type="t", target_id="1", logs=[LOG])
    db.session.commit()
    assert _listed(organisation=odd) == [last + 1]
    assert _listed(organisation=odd[:-1]) == []


_FORKED_VERIFY = """
import pickle, sys
from hub import create_app
from hub.audit import verify_fast
from hub.extensions import db
verify_fast.PARALLEL_MIN, verify_fast.CHUNK_LEVEL = 8, 2
app = create_app(pickle.loads(sys.stdin.buffer.read()))
with app.app_context():
    [result] = verify_fast.verify_logs(db.engine, log_name=sys.argv[1])
    assert verify_fast._fork_is_safe()
    print(result.line())
"""


def test_a_verify_forked_from_a_single_threaded_process_names_the_change(app, history):
    """The forked half, on every database (a process of its own: the PostgreSQL test
    fixtures run a thread here, and verify forks only without one): its own
    connection reads the parent's snapshot, and a change in its half is named."""
    import pickle
    import subprocess
    import sys

    def forked_verify() -> str:
        run = subprocess.run(
            [sys.executable, "-c", _FORKED_VERIFY, LOG],
            input=pickle.dumps(app.config["HUB"]),
            capture_output=True,
            check=True,
        )
        return run.stdout.decode().strip().splitlines()[-1]

    assert forked_verify().startswith(f"audit log {LOG}: {_size()} entries verified")
    leaf = _leaf(2).replace(b'"exchange_sent"', b'"exchange_gone"')
    tamper(
        app,
        'UPDATE audit_entries SET leaf_input = :v WHERE log_id = :l AND "index" = 2',
        v=leaf,
        l=history,
    )
    assert forked_verify() == (
        f"audit log {LOG}: entry was changed after it was appended at index 2"
    )


@pytest.mark.parametrize(("level", "index"), [(0, 5), (1, 2), (2, 1), (3, 0), (4, 0)])
def test_no_proof_is_served_from_a_stored_node_that_does_not_match(
    app, history, client, make_user, api_token, level, index
):
    """One byte flipped in a stored subtree hash: a proof that would use it is refused
    with 503 naming the log; every proof served still leads to the roots of the
    entries (checked by the independent verifier).  Issue 15."""
    make_user("km.officer", org="KM")
    km = api_token("km.officer")
    size = _size()
    leaves = [_leaf(i) for i in range(size)]
    _set_node(app, history, level, index)  # one bit flipped
    base = f"/api/v1/agreements/{LOG}/audit"
    refused = served = 0
    for tree_size in (8, 20, size):
        root = rfc_root([rfc_leaf(x) for x in leaves[:tree_size]])
        for leaf in range(tree_size):
            answer = client.get(f"{base}/proof/inclusion?index={leaf}&size={tree_size}", headers=km)
            if answer.status_code == 503:
                assert answer.get_json()["code"] == "log_damaged"
                assert LOG in str(answer.get_json()["errors"])
                refused += 1
                continue
            assert answer.status_code == 200, answer.get_json()
            path = [base64.b64decode(p) for p in answer.get_json()["audit_path"]]
            assert rfc_verify_inclusion(leaf, tree_size, rfc_leaf(leaves[leaf]), path, root)
            served += 1
        if tree_size < size:
            answer = client.get(f"{base}/proof/consistency?from={tree_size}&to={size}", headers=km)
            if answer.status_code == 200:
                proof = [base64.b64decode(p) for p in answer.get_json()["consistency"]]
                whole = rfc_root([rfc_leaf(x) for x in leaves])
                assert rfc_verify_consistency(tree_size, size, proof, root, whole)
            else:
                assert answer.status_code == 503
    assert refused > 0


@pytest.mark.parametrize("chunk_level", [12, 2])
@pytest.mark.parametrize(("level", "index"), [(0, 5), (1, 2), (2, 5), (3, 0), (4, 0)])
def test_default_verify_names_a_stored_node_that_does_not_match(
    app, history, monkeypatch, level, index, chunk_level
):
    """One byte flipped in a stored subtree hash (the entries untouched): the default
    verify fails naming the log, the level and the index, and `hub audit verify`
    exits 1 with that line. With chunks of 4 entries the nodes above them are
    checked against their stored children instead (the path of logs over 8192
    entries). Issue 15."""
    monkeypatch.setattr(verify_fast, "CHUNK_LEVEL", chunk_level)
    assert _verify().ok
    _set_node(app, history, level, index)  # one bit flipped
    line = (
        f"audit log {LOG}: stored node (level {level}, index {index}) "
        "does not match the tree of the entries; proofs use it"
    )
    result = _verify()
    assert (result.ok, result.line()) == (False, line)
    assert result.problem.kind == "node"
    bad = app.test_cli_runner().invoke(args=["audit", "verify", "--agreement", LOG])
    assert bad.exit_code == 1
    assert [x for x in bad.output.splitlines() if x.startswith("hub:")] == [f"hub: {line}"]


def test_default_verify_names_a_deleted_stored_node(app, history):
    tamper(
        app,
        'DELETE FROM audit_nodes WHERE log_id = :l AND level = 1 AND "index" = 3',
        l=history,
    )
    assert _verify().line() == (
        f"audit log {LOG}: stored node (level 1, index 3) is missing; proofs use it"
    )


def test_of_two_bad_stored_nodes_the_first_the_appends_wrote_is_named(app, history):
    """Node (3, 0) was written with leaf 7, node (0, 9) with leaf 9: (3, 0) is named,
    by the reference (which checks the nodes as its fold completes them) and by the
    fast path (which checks a chunk's levels, then the nodes above the chunks)."""
    for level, index in ((0, 9), (3, 0)):
        _set_node(app, history, level, index, bytes(32))
    assert _verify().line() == (
        f"audit log {LOG}: stored node (level 3, index 0) does not match the tree of the "
        "entries; proofs use it"
    )


@pytest.mark.parametrize("seed", range(24))
def test_two_random_faults_get_one_verdict_from_both_verifies(app, history, seed):
    """Two faults at random (a node flipped or deleted, an entry changed or deleted):
    the reference and the fast path name the same first problem (_verify compares)."""
    import random

    rng = random.Random(seed)
    size = _size()
    entries = rng.sample(range(size), 2)  # two different entries, if two are touched
    for index in entries:
        kind = rng.choice(["flip node", "delete node", "change entry", "delete entry"])
        level = rng.randrange(size.bit_length())
        node = {"l": history, "v": level, "i": rng.randrange(size >> level)}
        if kind == "flip node":
            _set_node(app, history, node["v"], node["i"], bytes(32))
        elif kind == "delete node":
            tamper(
                app,
                'DELETE FROM audit_nodes WHERE log_id = :l AND level = :v AND "index" = :i',
                **node,
            )
        elif kind == "change entry":
            leaf = _leaf(index).replace(b'"exchange_sent"', b'"exchange_swap"')
            where = 'log_id = :l AND "index" = :i'
            tamper(
                app,
                f"UPDATE audit_entries SET leaf_input = :v WHERE {where}",
                v=leaf,
                l=history,
                i=index,
            )
        else:
            tamper(
                app,
                'DELETE FROM audit_entries WHERE log_id = :l AND "index" = :i',
                l=history,
                i=index,
            )
    assert not _verify().ok
