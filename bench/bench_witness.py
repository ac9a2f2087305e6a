"""Witnessing between two hubs: what one checkpoint costs to have cosigned, next to signing
the checkpoint alone and sealing one exchange's package alone, in the same run.

    .venv/bin/python bench/bench_witness.py                  # 40 rounds, 25 entries each
    .venv/bin/python bench/bench_witness.py -n 100 --entries 100

Two hubs on loopback, set up as two offices would (README, *Two hubs*), both SQLite:
QB's hub is this process (the log's side, measured), KM's hub is `hub serve` in its
own process (the witness). Each round appends ``--entries`` audit entries to QB's
QB-KM-MOU log (not timed), then times:

1. signing the checkpoint alone (``checkpoints.sign_head``: Ed25519 over the note,
   one row, one commit);
2. one witnessing round (``cosigning.send_once``): the consistency proof read from the
   stored nodes, the add-checkpoint body, the signed POST; at KM: the request's
   signature and nonce, the checkpoint's signature, the consistency check, the
   cosignature, its state row, an audit entry, a commit; back at QB: the cosignature
   verified, stored and audited, a commit;
3. the pure crypto of that round in this process (cosign + verify the cosignature +
   verify the consistency proof + verify the checkpoint), without HTTP or database;
4. sealing one exchange's package alone (``packages.seal_package``), for scale.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_delivery import Hub, ms, request_values
from sqlalchemy import select

from hub.extensions import db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=40, help="checkpoints to have cosigned")
    parser.add_argument("--entries", type=int, default=25, help="entries appended per round")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-witness-"))
    qb = Hub("qb", "QB", base / "qb", f"sqlite:///{base / 'qb' / 'hub.sqlite3'}")
    km = Hub("km", "KM", base / "km", f"sqlite:///{base / 'km' / 'hub.sqlite3'}")
    try:
        for hub in (qb, km):
            hub.cli("init", "--org", hub.org)
            hub.cli("keys", "export-public", hub.org, "-o", str(base / f"{hub.org}.json"))
        qb.cli("keys", "import-public", str(base / "KM.json"), "--yes")
        km.cli("keys", "import-public", str(base / "QB.json"), "--yes")
        km.cli("peer", "add", "qb-hub", "--url", qb.url, "--org", "QB", "--yes")
        qb.cli("peer", "add", "km-hub", "--url", km.url, "--org", "KM", "--yes")
        vkeys = {h.name: h.cli("witness", "key").splitlines()[0].strip() for h in (qb, km)}
        km.cli("witness", "trust", "qb-hub", vkeys["qb"], "--yes")
        qb.cli("witness", "trust", "km-hub", vkeys["km"], "--yes")
        qb.cli("user", "add", "qb.officer", "--org", "QB", "--role", "officer",
               "--password", "correct horse battery")  # fmt: skip
        km.start()
        run(qb, args)
    finally:
        km.stop()
        for hub in (qb, km):
            with hub.app.app_context():
                db.engine.dispose()
        shutil.rmtree(base, ignore_errors=True)


def run(qb: Hub, args) -> None:
    from hub.audit import checkpoints, merkle, note, store
    from hub.audit import cosignature as cs
    from hub.models import AuditLog, Exchange, User
    from hub.operations import audit, cosigning, exchanges, packages
    from hub.operations.actor import SYSTEM, Actor
    from hub.operations.exchanges import NewExchange
    from hub.operations.unit import unit_of_work

    with qb.app.test_request_context():
        actor = Actor.for_user(db.session.scalar(select(User).where(User.username == "qb.officer")))
        for i in range(5):  # warm: keys unlocked, caches filled; the log exists
            exchanges.send(actor, NewExchange(**request_values(f"warm {i}")))
        log_id = db.session.scalar(select(AuditLog.id).where(AuditLog.name == "QB-KM-MOU"))
        cosigning.send_once("km-hub")  # the first round, from size 0
        signing, rounds, crypto = [], [], []
        name, private = checkpoints.signing_key()
        public = private.public_key()
        for r in range(args.n):
            with unit_of_work():
                for i in range(args.entries):
                    audit.record("bench_entry", actor=SYSTEM, target_type="hub",
                                 target_id=f"{r}-{i}", logs=["QB-KM-MOU"])  # fmt: skip
            t0 = time.perf_counter()
            with unit_of_work():
                row = checkpoints.sign_head(db.session(), log_id)
            signing.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            result = cosigning.send_once("km-hub")
            rounds.append(time.perf_counter() - t0)
            if result.cosigned != 1:
                raise SystemExit(f"round {r} not cosigned: {result.errors}")
            old = row.size - args.entries
            proof = store.consistency(db.session(), log_id, old, row.size)
            old_root = store.root_at(db.session(), log_id, old)
            t0 = time.perf_counter()
            note.verify_checkpoint(
                row.note, (name, public), origin=note.parse_checkpoint(row.note).origin
            )
            merkle.verify_consistency(old, row.size, proof, old_root, row.root)
            line = cs.cosign(row.note, private, "blo-hub-witness-v1", int(time.time()))
            cs.verify_cosignatures(row.note, line, "blo-hub-witness-v1", public)
            crypto.append(time.perf_counter() - t0)
            db.session.remove()
        size = db.session.scalar(select(AuditLog.size).where(AuditLog.id == log_id))
        sealing = []
        rows = list(db.session.scalars(select(Exchange).order_by(Exchange.id.desc()).limit(5)))
        for _ in range(max(1, args.n // 5)):
            for ex in rows:
                t0 = time.perf_counter()
                packages.seal_package(actor, ex, "QB", "KM", [ex])
                sealing.append(time.perf_counter() - t0)
                db.session.rollback()
    print(f"{args.n} checkpoints, {args.entries} entries apart; QB's log at {size} entries")
    print(f"signing a checkpoint alone            {ms(signing)}")
    print(f"one witnessing round (HTTP, both DBs) {ms(rounds)}")
    print(f"  its crypto alone (1 sign, 2 verify) {ms(crypto)}")
    print(f"sealing one exchange's package alone  {ms(sealing)}")


if __name__ == "__main__":
    main()
