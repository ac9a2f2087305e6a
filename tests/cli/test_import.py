"""`hub import cases|exchanges FILE`: good files, bad rows with line numbers, all or nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from hub.audit import verify
from hub.audit.entry import decode_entry
from hub.extensions import db
from hub.models import AuditEntry, Case, Exchange, SealedPayload, Seizure, Suspect
from hub.operations import cases, exchanges, imports, sealed

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

CASE_HEADER = (
    "reference,title,opened_on,province,district,locality,border_gate,place_note,"
    "organisations,agreements,seizures\n"
)
HISTORY_HEADER = "reference,title,opened_on,suspects,status,closed_on\n"
EXCHANGE_HEADER = (
    "row,agreement,recipient,kind,subject,body,language,classification,reliability,"
    "credibility,handling,handling_note,sent_at,case,in_reply_to\n"
)
RECEIVED_HEADER = EXCHANGE_HEADER.strip() + ",sender\n"


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def run(app, *args):
    return app.test_cli_runner().invoke(args=["import", *args])


@pytest.fixture
def officer(demo_users):
    return demo_users


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_case_template_imports(app, officer):
    result = run(app, "cases", str(SCHEMAS / "import-cases.csv"), "--user", "qb.officer")
    assert result.exit_code == 0, result.stderr
    assert "Stored 2 cases" in result.output
    case = db.session.scalar(select(Case).where(Case.reference == "QB-2023-00017"))
    assert case.title == "Vận chuyển ma tuý qua cửa khẩu Cha Lo"
    assert case.province.code == "VN-QB"
    assert case.border_gate.code == "VN-CHALO"
    assert {o.code for o in case.organisations} == {"QB", "KM"}
    assert [(s.drug_type, s.quantity, s.unit) for s in case.seizures] == [
        ("meth_tablets", Decimal("12000"), "tablets"),
        ("crystal_meth", Decimal("2.5"), "kg"),
    ]
    assert case.owner.code == "QB"
    # History: the status as of today, and the suspects sealed and blind-indexed.
    assert (case.status, case.closed_on) == ("prosecuted", None)
    closed = db.session.scalar(select(Case).where(Case.reference == "QB-2024-00003"))
    assert (closed.status, closed.closed_on) == ("closed", date(2025, 2, 14))
    assert len(case.suspects) == 2
    by_name = cases.suspect_indexes(name="nguyen van an")["name"]
    by_document = cases.suspect_indexes(document="0440-8500-1234")["document"]
    found = db.session.scalar(select(Suspect).where(Suspect.name_index == by_name))
    assert found is not None
    assert found.document_index == by_document
    views = cases.read_suspects(_actor("km.officer"), case)  # KM is involved: a reader
    assert sorted((v.name, v.date_of_birth, v.nationality) for v in views) == [
        ("Bounmy Sisouk", "", "LA"),
        ("Nguyễn Văn An", "1985-04-12", "VN"),
    ]
    changes = [
        decode_entry(bytes(e.leaf_input))["details"]
        for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case_status_changed")
        )
    ]
    assert sorted((d["to"], d["closed_on"], d["imported"]) for d in changes) == [
        ("closed", "2025-02-14", True),
        ("prosecuted", None, True),
    ]


def test_bad_history_rows_are_reported_and_nothing_is_stored(app, officer, tmp_path):
    path = write(
        tmp_path,
        "history.csv",
        HISTORY_HEADER
        + "H-1,Good,2020-01-02,An | 1980-01-01 | VN | B123,closed,2021-05-06\n"
        + "H-2,Unknown status,2020-01-02,,shelved,\n"  # line 3
        + "H-3,Closed without a date,2020-01-02,,closed,\n"  # line 4
        + "H-4,Open with a closing date,2020-01-02,,investigating,2021-01-01\n"  # line 5
        + "H-5,Closed before opened,2020-01-02,,closed,2019-12-31\n"  # line 6
        + "H-6,Closed in the future,2020-01-02,,closed,2999-01-01\n"  # line 7
        + "H-7,Five parts,2020-01-02,A | 1980-01-01 | VN | X | extra,,\n"  # line 8
        + "H-8,Bad birth date,2020-01-02,A | 12/01/1980,,\n"  # line 9
        + "H-9,Nameless suspect,2020-01-02, | 1980-01-01 | VN,,\n"  # line 10
        + "H-10,Born in the future,2020-01-02,A | 2999-01-01,,\n",  # line 11
    )
    before = count(AuditEntry)
    result = run(app, "cases", str(path), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    err = result.stderr
    assert f"{path}:3: status: Choose one of:" in err
    assert f"{path}:4: closed_on: This field is required." in err
    assert f"{path}:5: closed_on: Give closed_on only for a closed case." in err
    assert f"{path}:6: closed_on: A case cannot be closed before it was opened." in err
    assert f"{path}:7: closed_on: This date is in the future." in err
    assert f"{path}:8: suspects: Write each suspect as" in err
    assert f"{path}:9: suspects: Write the date as YYYY-MM-DD." in err
    assert f"{path}:10: suspects.0.name: This field is required." in err
    assert f"{path}:11: suspects.0.date_of_birth: This date of birth is not possible." in err
    assert f"{path}:2:" not in err
    assert count(Case) == 0
    assert count(Suspect) == 0
    assert count(SealedPayload) == 0
    assert count(AuditEntry) == before


def test_bad_rows_are_all_reported_with_their_lines_and_nothing_is_stored(app, officer, tmp_path):
    path = write(
        tmp_path,
        "cases.csv",
        CASE_HEADER
        + "A-1,Good case,2024-01-02,,,,,,,,heroin 1.5 kg\n"
        + "A-2,,2024-01-02,,,,,,,,\n"  # line 3: no title
        + 'A-3,"A title\nover two lines",2024-13-40,,,,,,,,\n'  # line 4: bad date
        + "A-4,Bad place,2024-01-02,VN-XX,,,,,,,\n"  # line 6
        + "A-5,Bad seizure,2024-01-02,,,,,,,,heroin 2.5\n"  # line 7
        + "A-1,Duplicate,2024-01-02,,,,,,ZZ,,\n",  # line 8: reference reused, bad org
    )
    before = count(AuditEntry)
    result = run(app, "cases", str(path), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert f"{path}:3: title: This field is required." in lines
    assert f"{path}:4: opened_on: Write the date as YYYY-MM-DD." in lines
    assert f"{path}:6: province: Unknown place." in lines
    assert any(line.startswith(f"{path}:7: seizures:") for line in lines)
    assert f"{path}:8: reference: This reference is already used." in lines
    assert f"{path}:8: organisations: Unknown organisation." in lines
    assert not any(f"{path}:2:" in line for line in lines)
    assert "nothing stored" in lines[-1]
    assert count(Case) == 0
    assert count(Seizure) == 0
    assert count(AuditEntry) == before


def test_quantities_are_parsed_strictly_in_the_files_locale(app, officer, tmp_path):
    vi = write(tmp_path, "vi.csv", CASE_HEADER + "B-1,Lào,2024-01-02,,,,,,,,heroin 2.5 kg\n")
    result = run(app, "cases", str(vi), "--user", "qb.officer", "--locale", "vi")
    assert result.exit_code == 1
    assert f"{vi}:2: seizures.0.quantity:" in result.stderr
    assert count(Case) == 0
    good = write(tmp_path, "vi2.csv", CASE_HEADER + 'B-1,Lào,2024-01-02,,,,,,,,"heroin 2,5 kg"\n')
    result = run(app, "cases", str(good), "--user", "qb.officer", "--locale", "vi")
    assert result.exit_code == 0, result.stderr
    assert db.session.scalar(select(Seizure.quantity)) == Decimal("2.5")


def test_dry_run_checks_and_stores_nothing(app, officer):
    before = count(AuditEntry)
    result = run(
        app, "cases", str(SCHEMAS / "import-cases.csv"), "--user", "qb.officer", "--dry-run"
    )
    assert result.exit_code == 0, result.stderr
    assert "2 cases row(s) are good; nothing stored (dry run)." in result.output
    assert count(Case) == 0
    assert count(AuditEntry) == before


def test_a_bad_header_or_file_is_refused_before_any_row(app, officer, tmp_path):
    path = write(tmp_path, "cases.csv", "reference,titel,opened_on\nX,Y,2024-01-01\n")
    result = run(app, "cases", str(path), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    assert "unknown columns: titel" in result.stderr
    assert "missing columns: title" in result.stderr
    other = write(tmp_path, "cases.json", "{}")
    result = run(app, "cases", str(other), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    assert ".csv or .xlsx" in result.stderr
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(CASE_HEADER.encode() + "C,Qu\xe1ng,2024-01-01\n".encode("latin-1"))
    result = run(app, "cases", str(bad), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    assert "UTF-8" in result.stderr
    assert count(Case) == 0


def test_only_an_officer_imports(app, officer):
    result = run(app, "cases", str(SCHEMAS / "import-cases.csv"), "--user", "qb.supervisor")
    assert result.exit_code == 1
    assert count(Case) == 0
    result = run(app, "cases", str(SCHEMAS / "import-cases.csv"), "--user", "nobody")
    assert result.exit_code == 1


def test_xlsx_cases_with_line_numbers(app, officer, tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.append(CASE_HEADER.strip().split(","))
    sheet.append(["X-1", "Xlsx case", datetime(2022, 5, 1), "LA-KM", "LA-KM-BLP"])
    sheet.append([])
    sheet.append(["X-2", "Bad district", "2022-05-01", "VN-QB", "LA-KM-BLP"])
    path = tmp_path / "cases.xlsx"
    book.save(path)
    result = run(app, "cases", str(path), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    assert f"{path}:4: district: Choose a district of the province." in result.stderr
    sheet.delete_rows(4)
    book.save(path)
    result = run(app, "cases", str(path), "--user", "qb.officer")
    assert result.exit_code == 0, result.stderr
    case = db.session.scalar(select(Case).where(Case.reference == "X-1"))
    assert case.district.code == "LA-KM-BLP"


# --- exchanges -----------------------------------------------------------------------


def test_the_exchange_template_imports_after_its_cases(app, officer):
    assert (
        run(app, "cases", str(SCHEMAS / "import-cases.csv"), "--user", "qb.officer").exit_code == 0
    )
    result = run(app, "exchanges", str(SCHEMAS / "import-exchanges.csv"), "--user", "qb.officer")
    assert result.exit_code == 0, result.stderr
    rows = list(db.session.scalars(select(Exchange).order_by(Exchange.id)))
    assert [(x.kind, x.sender.code, x.recipient.code) for x in rows] == [
        ("request", "QB", "KM"),
        ("alert", "QB", "KM"),
        ("response", "KM", "QB"),  # received from Khammouane
    ]
    request = rows[0]
    assert request.sent_at == datetime(2023, 3, 7, 2, 30, tzinfo=UTC)  # 09:30 at UTC+7
    assert request.case.reference == "QB-2023-00017"
    assert request.due_at == datetime(2023, 3, 14, 2, 30, tzinfo=UTC)  # QB-KM-MOU: 7 days
    assert request.payload_id is not None  # sealed like any other
    assert rows[1].handling_note == "Chỉ dùng trong lực lượng biên phòng"
    # The received response answers the request, as one recorded in the hub would.
    response = rows[2]
    assert response.in_reply_to_id == request.id
    assert (request.status, request.answered_at) == ("answered", response.sent_at)
    assert response.language == "lo"
    # Both parties read it; this hub sealed and signed its transcript.
    for username in ("qb.officer", "km.officer"):
        opened = exchanges.read(_actor(username), response)
        assert opened.body.startswith("ລົດຄັນນີ້")
    assert response.payload.signer_org == "QB"


def test_exchange_rows_refer_to_earlier_rows_and_bad_rows_store_nothing(app, officer, tmp_path):
    path = write(
        tmp_path,
        "x.csv",
        EXCHANGE_HEADER
        + "r1,QB-KM-MOU,KM,request,Ask,Body,vi,restricted,A,1,H0,,2024-01-02T08:00,,\n"
        + "r2,QB-KM-MOU,KM,alert,Follow-up,Body,vi,restricted,A,1,H0,,2024-01-03T08:00,,r1\n"
        + "r3,QB-KM-MOU,SV,alert,Wrong party,Body,vi,restricted,A,1,H0,,2024-01-03T08:00,,\n"
        + "r4,QB-KM-MOU,KM,alert,Future,Body,vi,restricted,A,9,H3,,2999-01-01T00:00,,\n"
        + "r5,QB-KM-MOU,KM,alert,Dangling,Body,vi,restricted,A,1,H0,,2024-01-03T08:00,NOPE,r9\n"
        + "r1,QB-KM-MOU,KM,alert,Twice,Body,vi,restricted,A,1,H0,,,,\n",
    )
    result = run(app, "exchanges", str(path), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    err = result.stderr
    assert f"{path}:4: recipient: The recipient is not a party to this agreement." in err
    assert f"{path}:5: sent_at: This time is in the future." in err
    assert f"{path}:5: credibility:" in err
    assert f"{path}:5: handling_note: Under H3, state the restrictions in words." in err
    assert f"{path}:6: case: No case has this reference." in err
    assert f"{path}:7: row: This value of “row” is already used above." in err
    assert f"{path}:2:" not in err
    assert f"{path}:3:" not in err
    assert count(Exchange) == 0

    good = write(
        tmp_path, "good.csv", EXCHANGE_HEADER + "\n".join(path.read_text().splitlines()[1:3])
    )
    result = run(app, "exchanges", str(good), "--user", "qb.officer")
    assert result.exit_code == 0, result.stderr
    first, second = db.session.scalars(select(Exchange).order_by(Exchange.id))
    assert second.in_reply_to_id == first.id


def test_exchange_dry_run_stores_nothing(app, officer, tmp_path):
    path = write(
        tmp_path,
        "x.csv",
        EXCHANGE_HEADER
        + "r1,QB-KM-MOU,KM,request,Ask,Body,vi,restricted,A,1,H0,,2024-01-02T08:00,,\n",
    )
    before = count(AuditEntry)
    result = run(app, "exchanges", str(path), "--user", "qb.officer", "--dry-run")
    assert result.exit_code == 0, result.stderr
    assert count(Exchange) == 0
    assert count(AuditEntry) == before


def _exchange_file(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(EXCHANGE_HEADER)
        for i in range(rows):
            day = 1 + i % 28
            out.write(
                f"r{i},QB-KM-MOU,KM,alert,Alert {i},Body {i},vi,restricted,B,2,H0,,"
                f"2024-02-{day:02d}T08:{i % 60:02d},,\n"
            )
    return path


def test_import_rate_is_reported(app, officer, tmp_path):
    """A small sample of the 100k run (bench/import_bench.py measures the full one)."""
    path = _exchange_file(tmp_path / "many.csv", 100)
    report = imports.import_exchanges(_actor("qb.officer"), path, dry_run=False)
    assert report.ok
    assert report.stored == 100
    assert report.seconds > 0  # the rate shown is rows / seconds; speed lives in bench/
    assert count(Exchange) == 100


def _actor(username: str):
    from hub.models import User
    from hub.operations.actor import Actor

    return Actor.for_user(db.session.scalar(select(User).where(User.username == username)))


def _lookups_during(path: Path) -> int:
    """Statements reading agreements, organisations or settings during one import run."""
    from sqlalchemy import event

    seen: list[str] = []

    def listen(conn, cursor, statement, parameters, context, executemany):
        head = statement.split(" WHERE ")[0].lower()
        if head.lstrip().startswith("select") and any(
            f"from {t}" in head for t in ("agreements", "organisations", "settings")
        ):
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        report = imports.import_exchanges(_actor("qb.officer"), path, dry_run=True)
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    assert report.ok, report.errors
    return len(seen)


def test_reference_rows_are_looked_up_once_per_run_not_per_row(app, officer, tmp_path):
    _lookups_during(_exchange_file(tmp_path / "warm.csv", 1))  # one-off loads of a first run
    few = _lookups_during(_exchange_file(tmp_path / "few.csv", 3))
    many = _lookups_during(_exchange_file(tmp_path / "many.csv", 40))
    assert many == few < 10
    # The memo lives for the run only: later operations look rows up afresh.
    from hub.operations import checks

    assert checks.LOOKUP_MEMO not in db.session.info


@pytest.mark.parametrize("batch", [1000, 2])
def test_a_late_bad_row_reports_every_bad_row_and_stores_nothing(
    app, officer, tmp_path, monkeypatch, batch
):
    """With batches of 2, good rows and their entries are written before the bad
    rows are met: the rollback takes them all back."""
    monkeypatch.setattr(sealed, "BATCH", batch)
    good = "".join(
        f"g{i},QB-KM-MOU,KM,alert,Alert {i},Body,vi,restricted,A,1,H0,,2024-01-02T08:00,,\n"
        for i in range(5)
    )
    path = write(
        tmp_path,
        "late.csv",
        EXCHANGE_HEADER
        + good
        + "b1,QB-KM-MOU,KM,alert,Bad,Body,vi,restricted,Z,1,H0,,2024-01-02T08:00,,\n"
        + "g9,QB-KM-MOU,KM,alert,Reply,Body,vi,restricted,A,1,H0,,2024-01-03T08:00,,g0\n"
        + "b2,QB-KM-MOU,XX,alert,Bad,Body,vi,restricted,A,1,H0,,2024-01-02T08:00,,\n",
    )
    before = count(AuditEntry)
    report = imports.import_exchanges(_actor("qb.officer"), path)
    assert [(e.line, e.field) for e in report.errors] == [(7, "reliability"), (9, "recipient")]
    assert report.rows == 8
    assert report.stored == 0
    assert count(Exchange) == 0
    assert count(SealedPayload) == 0
    assert count(AuditEntry) == before
    assert all(result.ok for result in verify.verify(db.engine))


def test_received_exchanges_bad_rows_are_reported_and_nothing_is_stored(app, officer, tmp_path):
    assert (
        run(app, "cases", str(SCHEMAS / "import-cases.csv"), "--user", "qb.officer").exit_code == 0
    )
    ok = ",QB-KM-MOU,QB,alert,From KM,Body,lo,restricted,A,1,H0,,2024-01-02T08:00"
    path = write(
        tmp_path,
        "received.csv",
        RECEIVED_HEADER
        + f"k1{ok},,,KM\n"
        + "k2,QB-KM-MOU,QB,alert,Not a party,Body,lo,restricted,A,1,H0,,2024-01-02T08:00,,,SV\n"
        + "k3,QB-KM-MOU,SV,alert,Not to us,Body,lo,restricted,A,1,H0,,2024-01-02T08:00,,,KM\n"
        + f"k4{ok},,,ZZ\n"  # line 5: unknown sender
        + "k5,QB-KM-MOU,QB,response,Not a request,Body,lo,restricted,A,1,H0,,"
        + "2024-01-03T08:00,,k1,KM\n"  # line 6: answers an alert
        + f"k6{ok},QB-2023-00017,,KM\n"  # line 7: fine (the case is ours, KM involved)
        + "k7,QB-SV-MOU,QB,alert,Wrong agreement,Body,lo,restricted,A,1,H0,,"
        + "2024-01-02T08:00,,,KM\n",  # line 8: KM is no party to QB-SV-MOU
    )
    before = (count(Exchange), count(SealedPayload), count(AuditEntry))
    result = run(app, "exchanges", str(path), "--user", "qb.officer", "--language", "en")
    assert result.exit_code == 1
    err = result.stderr
    assert f"{path}:3: sender: The sender is not a party to this agreement." in err
    assert f"{path}:4: recipient: Your organisation must be the sender or the recipient." in err
    assert f"{path}:5: sender: Unknown organisation." in err
    assert f"{path}:6: in_reply_to: A response must reply to a request." in err
    assert f"{path}:8: sender: The sender is not a party to this agreement." in err
    for good in (2, 7):
        assert f"{path}:{good}:" not in err
    assert (count(Exchange), count(SealedPayload), count(AuditEntry)) == before


def test_batches_reply_across_their_boundaries_and_log_like_send(
    app, officer, tmp_path, monkeypatch
):
    """Small batches: replies to rows still queued, to rows of earlier batches and
    received responses all land as send() would put them, and the log verifies."""
    monkeypatch.setattr(sealed, "BATCH", 3)
    line = "{row},QB-KM-MOU,{to},{kind},S {row},Body {row},vi,restricted,B,2,H0,,{at},,{re},{by}\n"
    specs = [
        ("a1", "KM", "request", "2024-03-01T08:00", "", ""),
        ("a2", "KM", "alert", "2024-03-01T09:00", "a1", ""),  # a1 is still queued
        ("a3", "QB", "alert", "2024-03-01T10:00", "", "KM"),
        ("a4", "KM", "request", "2024-03-01T11:00", "", ""),
        ("a5", "QB", "response", "2024-03-02T08:00", "a1", "KM"),  # answers a1
        ("a6", "KM", "alert", "2024-03-02T09:00", "", ""),
        ("a7", "KM", "meeting", "2024-03-02T10:00", "a4", ""),
        ("a8", "QB", "response", "2024-03-03T08:00", "a4", "KM"),
    ]
    path = write(
        tmp_path,
        "batches.csv",
        RECEIVED_HEADER
        + "".join(
            line.format(row=r, to=to, kind=k, at=at, re=re, by=by) for r, to, k, at, re, by in specs
        ),
    )
    report = imports.import_exchanges(_actor("qb.officer"), path)
    assert report.ok, [str(e) for e in report.errors]
    rows = {x.subject[2:]: x for x in db.session.scalars(select(Exchange))}
    assert rows["a2"].in_reply_to_id == rows["a1"].id
    assert rows["a7"].in_reply_to_id == rows["a4"].id
    assert (rows["a1"].status, rows["a1"].answered_at) == ("answered", rows["a5"].sent_at)
    assert (rows["a4"].status, rows["a4"].answered_at) == ("answered", rows["a8"].sent_at)
    assert [rows[r].sender.code for r, *_ in specs] == [
        "QB",
        "QB",
        "KM",
        "QB",
        "KM",
        "QB",
        "QB",
        "KM",
    ]
    # Ids follow the rows; each row's entry comes in row order, each answer right after it.
    assert [rows[r].id for r, *_ in specs] == sorted(rows[r].id for r, *_ in specs)
    entries = [
        (e.action, int(e.target_id))
        for e in db.session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action.in_(("exchange_sent", "request_answered")))
            .order_by(AuditEntry.index)
        )
    ]
    expected = []
    for r, _to, kind, *_rest in specs:
        expected.append(("exchange_sent", rows[r].id))
        if kind == "response":
            expected.append(("request_answered", rows[r].in_reply_to_id))
    assert entries == expected
    # Every payload opens for both parties, bound to its own exchange.
    for row in rows.values():
        assert exchanges.read(_actor("km.officer"), row).body == f"Body {row.subject[2:]}"
    assert all(result.ok for result in verify.verify(db.engine, deep=True))
