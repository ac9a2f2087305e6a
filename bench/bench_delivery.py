"""Delivery between two hubs: packages per second, the latency it adds per exchange, and
what sealing alone costs, in the same run.

    .venv/bin/python bench/bench_delivery.py                 # 200 packages, 40 timed sends
    .venv/bin/python bench/bench_delivery.py -n 500 --sends 100
    .venv/bin/python bench/bench_delivery.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/hub_t_peers_bench

Two hubs on loopback, set up as two offices would (README, *Two hubs*): QB's hub
(SQLite, this process for the measured sender side) and KM's hub (`hub serve` in its
own process; SQLite, or the PostgreSQL database given, which is created and dropped).
Figures:

1. sealing alone: one exchange's package (index sealed and signed, export record),
   the cost `seal_package` adds inside the sending transaction;
2. a send without a peer (the direct database write: validate, seal the body, audit,
   commit) next to the same send when the recipient lives on a peer (+ queueing);
3. throughput: N packages queued while KM's hub is down, then one `deliver_once`
   pass (signed POST, KM verifies and imports, signed receipt back and recorded):
   packages per second, end to end;
4. latency: with both hubs serving (`hub serve`, its delivery loop woken by the
   commit), the time from an officer's API POST at QB to QB recording KM's receipt,
   p50 / p95, next to the API POST alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import make_url

from hub.extensions import db
from tests.support.two_hubs import Hub, add_officer, close, exchange_keys, register


def request_values(subject: str) -> dict:
    return {
        "agreement": "QB-KM-MOU",
        "recipient": "KM",
        "kind": "request",
        "subject": subject,
        "body": "Xin kiểm tra xe biển số 73A-123.45 qua cửa khẩu Cha Lo. " * 8,
        "classification": "confidential",
        "reliability": "B",
        "credibility": 2,
        "handling": "H2",
        "handling_note": "Không chia sẻ tiếp.",
    }


def received(hub: Hub, exchange_id: int) -> bool:
    from hub.models import PackageReceipt

    with hub.app.app_context():
        found = db.session.scalar(
            select(PackageReceipt.id).where(PackageReceipt.exchange_id == exchange_id)
        )
        db.session.remove()
    return found is not None


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="packages for the throughput run")
    parser.add_argument("--sends", type=int, default=40, help="timed sends for the latency run")
    parser.add_argument("--postgres", default=None, help="a URL for KM's hub (created, dropped)")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="bench-delivery-"))
    km_url = f"sqlite:///{base / 'km' / 'hub.sqlite3'}"
    pg_admin = None
    if args.postgres:
        target = make_url(args.postgres)
        pg_admin = create_engine(
            target.set(database="postgres").render_as_string(hide_password=False),
            isolation_level="AUTOCOMMIT",
        )
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
        km_url = args.postgres
    qb = Hub("qb", "QB", base / "qb", f"sqlite:///{base / 'qb' / 'hub.sqlite3'}")
    km = Hub("km", "KM", base / "km", km_url)
    try:
        exchange_keys(base, qb, km)
        register(km, qb)  # QB registers KM after the sends measured without a peer
        token = add_officer(qb, "qb.officer")
        add_officer(km, "km.officer")
        print(f"KM's hub on {make_url(km_url).get_backend_name()}; QB's on sqlite")
        run(qb, km, token, args)
    finally:
        close(qb, km)
        if pg_admin is not None:
            with pg_admin.connect() as conn:
                name = make_url(args.postgres).database
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            pg_admin.dispose()
        shutil.rmtree(base, ignore_errors=True)


def run(qb: Hub, km: Hub, token: str, args) -> None:
    from hub.models import Exchange, OutboxItem, User
    from hub.operations import delivery, exchanges, packages
    from hub.operations.actor import Actor
    from hub.operations.exchanges import NewExchange

    with qb.app.test_request_context():
        actor = Actor.for_user(db.session.scalar(select(User).where(User.username == "qb.officer")))
        # Warm: keys unlocked, caches filled.
        for i in range(5):
            exchanges.send(actor, NewExchange(**request_values(f"warm {i}")))

        # 1-2: a send without a peer, then sealing alone.
        plain = []
        for i in range(args.sends):
            t0 = time.perf_counter()
            exchanges.send(actor, NewExchange(**request_values(f"plain {i}")))
            plain.append(time.perf_counter() - t0)
        sealing = []
        rows = list(
            db.session.scalars(select(Exchange).order_by(Exchange.id.desc()).limit(args.sends))
        )
        for row in rows:
            t0 = time.perf_counter()
            packages.seal_package(actor, row, "QB", "KM", [row])
            sealing.append(time.perf_counter() - t0)
            db.session.rollback()
        db.session.remove()

    register(qb, km)
    with qb.app.test_request_context():
        queued = []
        for i in range(args.sends):
            t0 = time.perf_counter()
            exchanges.send(actor, NewExchange(**request_values(f"queued {i}")))
            queued.append(time.perf_counter() - t0)
        # 3: throughput, KM's hub serving, the rest queued here.
        for i in range(args.n - args.sends):
            exchanges.send(actor, NewExchange(**request_values(f"batch {i}")))
        waiting = db.session.scalar(select(db.func.count()).select_from(OutboxItem))
        db.session.remove()
        km.start()
        t0 = time.perf_counter()
        if os.environ.get("BENCH_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            result = profile.runcall(delivery.deliver_once, include_waiting=True)
            profile.dump_stats(os.environ["BENCH_PROFILE"])
        else:
            result = delivery.deliver_once(include_waiting=True)
        elapsed = time.perf_counter() - t0
        db.session.remove()
    print(f"sealing alone (one exchange's package)      {ms(sealing)}")
    print(f"send, no peer (direct database write)       {ms(plain)}")
    print(f"send, recipient on a peer (+ queued)        {ms(queued)}")
    print(
        f"throughput: {result.delivered} of {waiting} packages in {elapsed:.2f} s = "
        f"{result.delivered / elapsed:6.1f} packages/s (failed {result.failed})"
    )

    # 4: latency with both hubs serving.
    qb.start()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    posts, ends = [], []
    for i in range(args.sends):
        body = json.dumps(request_values(f"latency {i}")).encode()
        t0 = time.perf_counter()
        status, answer = qb.request("POST", "/api/v1/exchanges", body, headers)
        posted = time.perf_counter()
        assert status == 201, answer
        # Polled in the database (an API read would audit an opening each time).
        while not received(qb, answer["id"]):
            time.sleep(0.02)
        ends.append(time.perf_counter() - t0)
        posts.append(posted - t0)
    print(f"API POST alone (sender's write)             {ms(posts)}")
    print(f"POST to the partner's receipt recorded      {ms(ends)}")
    added = (statistics.median(ends) - statistics.median(posts)) * 1000
    print(f"added latency per exchange (p50)            {added:7.1f} ms")


if __name__ == "__main__":
    main()
