"""Witnessing between two real hubs (the processes of tests/journeys/test_two_hubs.py): each side
cosigns the other's QB-KM-MOU checkpoints over loopback, the cosignatures are kept and
both logs verify; a hub whose log was rewritten (restored to an older size, then
written again) is refused by its witness with the reason, on both sides."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from hub.audit import store
from hub.extensions import db
from hub.models import (
    AuditEntry,
    AuditLog,
    AuditNode,
    Checkpoint,
    Cosignature,
    WitnessedCheckpoint,
    WitnessRefusal,
)
from tests.journeys.test_two_hubs import hubs, send_request, wait_for  # noqa: F401 (hubs: the fixture)

LOG = "QB-KM-MOU"


def _vkey(hub) -> str:
    return hub.cli("witness", "key").splitlines()[0].strip()


def _log_size(hub) -> int:
    with hub.db():
        return db.session.scalar(select(AuditLog.size).where(AuditLog.name == LOG))


def _cosigned(hub) -> int:
    """The largest size of the hub's QB-KM-MOU log its peer cosigned (0: none)."""
    with hub.db():
        return (
            db.session.scalar(
                select(Cosignature.size)
                .join(AuditLog, AuditLog.id == Cosignature.log_id)
                .where(AuditLog.name == LOG)
                .order_by(Cosignature.size.desc())
                .limit(1)
            )
            or 0
        )


def _witnessed(hub, peer: str) -> int:
    with hub.db():
        return (
            db.session.scalar(
                select(WitnessedCheckpoint.size).where(WitnessedCheckpoint.origin.endswith(LOG))
            )
            or 0
        )


def test_each_hub_cosigns_the_others_log_and_both_verify(hubs):  # noqa: F811
    qb, km = hubs["qb"], hubs["km"]
    km.cli("witness", "trust", "qb-hub", _vkey(qb), "--yes")
    qb.cli("witness", "trust", "km-hub", _vkey(km), "--yes")
    send_request(hubs, "Witness-1 first")
    wait_for(lambda: _cosigned(qb) > 0, "KM's hub to cosign QB's log", timeout=30)
    wait_for(lambda: _cosigned(km) > 0, "QB's hub to cosign KM's log", timeout=30)
    # More entries, a new checkpoint: cosigned again, through a consistency proof.
    before = _cosigned(qb)
    send_request(hubs, "Witness-2 second")
    wait_for(lambda: _log_size(qb) > before, "QB's log to grow")
    qb.cli("audit", "checkpoint", "--all")
    size = _log_size(qb)
    wait_for(lambda: _cosigned(qb) == size, "the new checkpoint cosigned", timeout=30)
    assert _witnessed(km, "qb-hub") == size
    with qb.db():
        assert db.session.scalar(select(WitnessRefusal.id)) is None
    for hub in (qb, km):
        out = hub.cli("audit", "verify")
        assert LOG in out
        assert "from partner hubs verify against the logs" in out


def _restore_older(hub, keep: int) -> None:
    """The hub's QB-KM-MOU log cut back to ``keep`` entries (an old backup put back by
    hand on SQLite): entries, nodes, head, checkpoints and cosignatures past it gone."""
    with hub.db():
        log_id = db.session.scalar(select(AuditLog.id).where(AuditLog.name == LOG))
        db.session.execute(
            delete(AuditEntry).where(AuditEntry.log_id == log_id, AuditEntry.index >= keep)
        )
        nodes = db.session.execute(
            select(AuditNode.level, AuditNode.index).where(AuditNode.log_id == log_id)
        ).all()
        for level, index in nodes:
            if (index + 1) << level > keep:
                db.session.execute(
                    delete(AuditNode).where(
                        AuditNode.log_id == log_id,
                        AuditNode.level == level,
                        AuditNode.index == index,
                    )
                )
        root = store.root_at(db.session, log_id, keep)
        db.session.execute(
            update(AuditLog).where(AuditLog.id == log_id).values(size=keep, root=root)
        )
        db.session.execute(delete(Cosignature).where(Cosignature.log_id == log_id))
        db.session.execute(
            delete(Checkpoint).where(Checkpoint.log_id == log_id, Checkpoint.size > keep)
        )
        db.session.commit()


def test_a_hub_that_rewrote_its_log_is_refused_and_says_why(hubs):  # noqa: F811
    qb, km = hubs["qb"], hubs["km"]
    if not _cosigned(qb):
        km.cli("witness", "trust", "qb-hub", _vkey(qb), "--yes")
        qb.cli("witness", "trust", "km-hub", _vkey(km), "--yes")
        send_request(hubs, "Witness-3 before")
        wait_for(lambda: _cosigned(qb) > 0, "a first cosignature", timeout=30)
    cosigned = _witnessed(km, "qb-hub")
    assert cosigned > 2
    qb.stop()
    try:
        _restore_older(qb, cosigned - 2)
    finally:
        qb.start()
    # Written again past the size KM cosigned: another history of that length.
    for i in range(2):
        send_request(hubs, f"Witness-4 rewritten {i}")
    wait_for(lambda: _log_size(qb) > cosigned, "QB's log past the cosigned size")
    qb.cli("audit", "checkpoint", "--all")

    def refused():
        with km.db():
            return db.session.scalar(
                select(WitnessRefusal).where(WitnessRefusal.code == "inconsistent")
            )

    row = wait_for(refused, "KM's hub to refuse QB's rewritten log", timeout=30)
    assert row.status == 422
    assert "history rewritten" in row.reason
    assert _witnessed(km, "qb-hub") == cosigned  # KM still holds what it cosigned
    with qb.db():
        seen = db.session.scalar(
            select(WitnessRefusal).where(WitnessRefusal.role == "log", WitnessRefusal.status == 422)
        )
        assert seen is not None
        assert "history rewritten" in seen.reason
