"""The batch append (hub.audit.log.append_many): the same log, byte for byte, as
appending the same entries one by one, and a log that verifies."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from hub import audit
from hub.audit import log, verify
from hub.audit.entry import EntryError, decode_entry, parse_time
from hub.extensions import db
from hub.models import AuditEntry, AuditLog, AuditNode
from tests.support.audit_support import rfc_leaf, rfc_root

LOG = "QB-KM-MOU"
#: Who did it, as the log takes it: (username, organisation code).
OFFICER = ("qb.officer", "QB")
SYSTEM = ("system", "HUB")


def _items(count: int, start: int = 0) -> list[dict]:
    return [
        {
            "actor": (OFFICER if i % 3 else SYSTEM)[0],
            "organisation": (OFFICER if i % 3 else SYSTEM)[1],
            "action": "exchange_sent",
            "target_type": "exchange",
            "target_id": 1000 + i,
            "details": {"n": i, "kind": "alert", "payload_sha256": f"{i:064x}"},
        }
        for i in range(start, start + count)
    ]


def _head(name: str = LOG) -> AuditLog:
    db.session.expire_all()
    return db.session.scalar(select(AuditLog).where(AuditLog.name == name))


def _state(name: str = LOG):
    """Everything an append writes: the head, every entry's columns, every node."""
    head = _head(name)
    entries = [
        (
            r.index,
            r.created_at,
            r.actor,
            r.organisation,
            r.action,
            r.target_type,
            r.target_id,
            bytes(r.leaf_input),
        )
        for r in db.session.scalars(
            select(AuditEntry).where(AuditEntry.log_id == head.id).order_by(AuditEntry.index)
        )
    ]
    nodes = [
        (n.level, n.index, bytes(n.hash))
        for n in db.session.scalars(
            select(AuditNode)
            .where(AuditNode.log_id == head.id)
            .order_by(AuditNode.level, AuditNode.index)
        )
    ]
    return head.size, bytes(head.root) if head.root else None, entries, nodes


def _one_by_one(items: list[dict], name: str = LOG) -> None:
    for item in items:
        audit.record(
            item["action"],
            actor=item["actor"],
            organisation=item["organisation"],
            target_type=item["target_type"],
            target_id=item["target_id"],
            logs=[name],
            details=item["details"],
        )


@pytest.mark.parametrize(("prefix", "count"), [(0, 1), (0, 64), (5, 37), (7, 1), (13, 300)])
def test_batch_append_writes_exactly_what_appends_one_by_one_write(app, prefix, count):
    _one_by_one(_items(prefix))
    db.session.commit()
    base = _head().size  # the log holds the seed data's entries too
    items = _items(count, start=prefix)

    # One by one, then undone: the reference bytes, with the times they were given.
    _one_by_one(items)
    expected = _state()
    times = [parse_time(decode_entry(e[-1])["time"]) for e in expected[2][base:]]
    db.session.rollback()
    assert _head().size == base

    first = log.append_many(
        db.session, LOG, [log.Pending(**item, time=t) for item, t in zip(items, times, strict=True)]
    )
    assert first == base
    assert _state() == expected
    db.session.commit()

    size, root, entries, _ = _state()
    assert size == base + count
    assert root == rfc_root([rfc_leaf(e[-1]) for e in entries])
    assert verify.verify(db.engine, log_name=LOG, deep=True)[0].ok


def test_batches_and_single_appends_interleave_into_one_valid_log(app):
    start = _head().size
    for count in (3, 1, 8, 0, 21):
        log.append_many(db.session, LOG, [log.Pending(**i) for i in _items(count)])
        _one_by_one(_items(2))
    db.session.commit()
    size, root, entries, nodes = _state()
    assert size == start + 33 + 10
    assert [e[0] for e in entries] == list(range(size))
    assert root == rfc_root([rfc_leaf(e[-1]) for e in entries])
    # One row per complete subtree, none twice.
    assert len(nodes) == 2 * size - bin(size).count("1")
    assert verify.verify(db.engine, log_name=LOG, deep=True)[0].ok


def test_an_entry_that_cannot_be_encoded_leaves_the_log_untouched(app):
    before = _state()
    items = _items(5)
    items[3]["details"] = {"body": "x" * 300}  # content, not an identifier: refused
    with pytest.raises(EntryError):
        log.append_many(db.session, LOG, [log.Pending(**i) for i in items])
    db.session.rollback()
    assert _state() == before
    # The log still takes appends after the refusal.
    log.append_many(db.session, LOG, [log.Pending(**i) for i in _items(2)])
    db.session.commit()
    assert _head().size == before[0] + 2
    assert verify.verify(db.engine, log_name=LOG)[0].ok


def test_a_batch_for_an_unknown_agreement_is_refused(app):
    with pytest.raises(EntryError):
        log.append_many(db.session, "NO-SUCH-MOU", [log.Pending(**i) for i in _items(1)])
    db.session.rollback()
    assert _head("NO-SUCH-MOU") is None


def test_collected_entries_are_not_appended_until_handed_to_a_batch(app):
    before = _state()
    with log.collecting(db.session) as collected:
        audit.record(
            "request_answered",
            actor="qb.officer",
            organisation="QB",
            target_type="exchange",
            target_id=7,
            logs=[LOG],
            details={"response": 8},
        )
        with pytest.raises(RuntimeError), log.collecting(db.session):
            pass  # one collector at a time
    assert _state() == before  # nothing written while collecting
    assert [(name, e.action, e.target_id) for name, e in collected] == [
        (LOG, "request_answered", 7)
    ]
    audit.record(
        "login", actor="system", organisation="HUB", target_type="user", target_id=1, logs=[LOG]
    )
    assert _head().size == before[0] + 1  # appends as usual after the block
    log.append_many(db.session, LOG, [e for _name, e in collected])
    db.session.commit()
    assert _head().size == before[0] + 2
    assert verify.verify(db.engine, log_name=LOG)[0].ok
