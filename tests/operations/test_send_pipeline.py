"""One send pipeline: importing N rows stores what N calls to `exchanges.send` store.

The same inputs go in twice on one database: once as a CSV through
`imports.import_exchanges` (the batch path), once row by row through
`exchanges.send` (the path of the pages and the API). Each pair of exchanges is
compared field by field, with their sealed payloads (decoded binding, signer,
per-reader wraps, opened content) and the audit entries written for them (actor,
organisation, action, target, details). Only what must differ is left out: ids
(mapped from one side to the other), creation times, and what is fresh per seal
(nonce, ciphertext, wrapped keys, signature, hence the ciphertext digest, which
must still be the one of each side's own payload).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from hub.audit.entry import decode_entry
from hub.extensions import db
from hub.models import AuditEntry, Case, Exchange, SealedPayload, User
from hub.operations import cases, exchanges, imports, sealed
from hub.operations.actor import Actor

LOCAL = timezone(timedelta(hours=7))
HEADER = (
    "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
    "credibility,handling,handling_note,sent_at,case,in_reply_to\n"
)
#: (row, agreement, recipient, kind, handling, note, replies to, with the case)
ROWS = [
    ("r1", "QB-KM-MOU", "KM", "request", "H0", "", "", True),
    ("r2", "QB-KM-MOU", "KM", "alert", "H3", "Chỉ dùng nội bộ", "r1", False),
    ("r3", "QB-SV-MOU", "SV", "request", "H2", "", "", True),
    ("r4", "QB-KM-MOU", "KM", "meeting", "H0", "", "", False),
    ("r5", "QB-SV-MOU", "SV", "alert", "H1", "", "r3", False),
    ("r6", "QB-KM-MOU", "KM", "request", "H0", "", "", False),
    ("r7", "QB-KM-MOU", "KM", "case_referral", "H0", "", "r6", True),
    ("r8", "QB-KM-MOU", "KM", "response", "H0", "", "asked", False),  # answers KM's request
]
START = datetime(2024, 5, 2, 9, 15, tzinfo=LOCAL)
#: Columns that must differ between the two sides, or are mapped before comparing.
UNCOMPARED = {"id", "payload_id", "created_at", "in_reply_to_id"}


def _actor(username: str) -> Actor:
    return Actor.for_user(db.session.scalar(select(User).where(User.username == username)))


def _when(index: int) -> datetime:
    return START + timedelta(hours=5 * index, minutes=index)


def _csv(path: Path, reference: str, asked: int) -> Path:
    lines = [HEADER]
    for index, (row, agreement, to, kind, handling, note, reply, with_case) in enumerate(ROWS):
        reply = f"#{asked}" if reply == "asked" else reply
        lines.append(
            f"{row},{agreement},{to},{kind},Tin {row},Nội dung {row} ຂໍ້ມູນ,vi,confidential,"
            f"B,2,{handling},{note},{_when(index).isoformat()},"
            f"{reference if with_case else ''},{reply}\n"
        )
    path.write_text("".join(lines), encoding="utf-8")
    return path


def _send_each(actor: Actor, case_id: int, asked: int) -> list[int]:
    ids: dict[str, int] = {"asked": asked}
    for index, (row, agreement, to, kind, handling, note, reply, with_case) in enumerate(ROWS):
        sent = exchanges.send(
            actor,
            exchanges.NewExchange(
                agreement=agreement,
                recipient=to,
                kind=kind,
                subject=f"Tin {row}",
                body=f"Nội dung {row} ຂໍ້ມູນ",
                language="vi",
                classification="confidential",
                reliability="B",
                credibility=2,
                handling=handling,
                handling_note=note,
                sent_at=_when(index).astimezone(UTC),
                case=case_id if with_case else None,
                in_reply_to=ids[reply] if reply else None,
            ),
        )
        ids[row] = sent.id
    return [ids[row] for row, *_ in ROWS]


def _row(exchange: Exchange, ids: dict[int, int]) -> dict:
    values = {c.key: getattr(exchange, c.key) for c in Exchange.__table__.columns}
    values["in_reply_to"] = ids.get(exchange.in_reply_to_id)
    return {k: v for k, v in values.items() if k not in UNCOMPARED}


def _payload(payload: SealedPayload, hub: str, ids: dict[int, int]) -> dict:
    binding = json.loads(payload.binding_json)
    prefix, _, local = binding["record_id"].partition("/")
    assert prefix == hub
    binding["record_id"] = ids[int(local)]
    assert payload.record_id == local
    return {
        "binding": binding,
        "record_type": payload.record_type,
        "envelope_version": payload.envelope_version,
        "suite": payload.suite,
        "signer": (payload.signer_org, payload.signer_key_version, payload.signer_fingerprint),
        "imported": payload.imported,
        "wraps": sorted((w.org_code, w.key_version, w.kem, w.fingerprint) for w in payload.wraps),
        "sizes": (len(payload.nonce), len(payload.signature), len(payload.key_commitment)),
    }


def _entries(ids: dict[int, int], digests: dict[int, str]) -> list[tuple]:
    """The entries about these exchanges, in log order, with ids mapped to row numbers."""
    found = []
    for entry in db.session.scalars(
        select(AuditEntry).order_by(AuditEntry.log_id, AuditEntry.index)
    ):
        body = decode_entry(entry.leaf_input)
        if body["target_type"] != "exchange" or int(body["target_id"]) not in ids:
            continue
        target = int(body["target_id"])
        details = dict(body["details"])
        for key in ("in_reply_to", "response"):
            if details.get(key) is not None:
                details[key] = ids[details[key]]
        if "payload_sha256" in details:
            # Fresh per seal; it must name this side's own payload.
            assert details.pop("payload_sha256") == digests[target]
        found.append(
            (
                entry.log_id,
                body["actor"],
                body["organisation"],
                body["action"],
                ids[target],
                details,
            )
        )
    return found


def _side(asked: int, ids: list[int], hub: str) -> dict:
    """What one side stored: its rows and payloads, and the entries about them and
    about the request of KM its response answers."""
    number = {exchange_id: n for n, exchange_id in enumerate([asked, *ids])}
    rows = [db.session.get(Exchange, i) for i in ids]
    digests = {
        row.id: row.payload.ciphertext_sha256 for row in [*rows, db.session.get(Exchange, asked)]
    }
    return {
        "rows": [_row(row, number) for row in [db.session.get(Exchange, asked), *rows]],
        "payloads": [_payload(row.payload, hub, number) for row in rows],
        "entries": _entries(number, digests),
    }


@pytest.mark.parametrize("batch", [1000, 2])
def test_importing_rows_stores_what_sending_them_stores(
    app, demo_users, tmp_path, monkeypatch, batch
):
    monkeypatch.setattr(sealed, "BATCH", batch)  # 2: replies cross batch boundaries
    with app.test_request_context():
        qb = _actor("qb.officer")
        case = cases.create_case(
            qb, cases.CaseInput(title="Vụ so sánh", organisations=["KM", "SV"])
        )
        # One request from KM for each side to answer (sent alike, before either side).
        asked = [
            exchanges.send(
                _actor("km.officer"),
                exchanges.NewExchange(
                    agreement="QB-KM-MOU",
                    recipient="QB",
                    kind="request",
                    subject="Hỏi",
                    body="ຄຳຖາມ",
                    classification="restricted",
                    reliability="A",
                    credibility=1,
                    handling="H0",
                    sent_at=START.astimezone(UTC) - timedelta(days=1),
                ),
            ).id
            for _side in range(2)
        ]
        path = _csv(tmp_path / "rows.csv", case.reference, asked[0])
        report = imports.import_exchanges(qb, path)
        assert report.ok, [str(e) for e in report.errors]
        imported = list(
            db.session.scalars(
                select(Exchange.id).where(Exchange.id.not_in(asked)).order_by(Exchange.id)
            )
        )
        assert len(imported) == len(ROWS)
        sent = _send_each(qb, case.id, asked[1])
        db.session.expire_all()

        from hub.models.identity import hub_id

        hub = hub_id()
        by_import, by_send = _side(asked[0], imported, hub), _side(asked[1], sent, hub)
        for one, other in zip(by_import["rows"], by_send["rows"], strict=True):
            assert one == other
        for one, other in zip(by_import["payloads"], by_send["payloads"], strict=True):
            assert one == other
        assert by_import["entries"] == by_send["entries"]
        actions = [entry[3] for entry in by_import["entries"]]
        assert actions.count("exchange_sent") == len(ROWS) + 1
        assert "request_answered" in actions
        # Requests answered, cases linked: the same on both sides.
        linked = db.session.get(Case, case.id)
        assert {a.code for a in linked.agreements} == {"QB-KM-MOU", "QB-SV-MOU"}
        # And the content sealed is the same for every reader.
        for one, other in zip(imported, sent, strict=True):
            for reader in ("qb.officer", "km.officer", "sv.officer"):
                actor = _actor(reader)
                a, b = db.session.get(Exchange, one), db.session.get(Exchange, other)
                if not exchanges.is_reader(actor, a):
                    assert not exchanges.is_reader(actor, b)
                    continue
                left, right = exchanges.read(actor, a), exchanges.read(actor, b)
                assert (left.fields, left.texts) == (right.fields, right.texts)
