"""Bringing history in: cases and exchanges from CSV or XLSX, all rows or none.

The column layouts are documented in schemas/import.md (templates beside it).
This module reads cells into the inputs of the ordinary operations. A case row
goes through `cases.create_case`, joining the file's unit of work. An exchange row is checked
by `exchanges.validate`, the rules of `exchanges.send`, then written by
`exchanges.record`, the pipeline `send` runs, with a `hub.operations.sealed.Batch`
that writes the rows and their entries in bulk, so that 100 000 rows fit in
minutes. Every bad row is reported with its line number; the transaction is
committed only when no row failed and this is not a dry run, otherwise rolled back.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.errors import Message, OperationError, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Case, Organisation, Setting
from hub.operations import checks
from hub.operations.actor import Actor
from hub.operations.unit import Unit, savepoint, unit_of_work
from hub.text import clean

if TYPE_CHECKING:  # imported where used: they import this module's neighbours
    from hub.operations import exchanges as exchanges_ops
    from hub.operations.cases import CaseInput, SeizureInput, SuspectInput
    from hub.operations.exchanges import NewExchange

#: One line of the file: its cells by column name.
Row = dict[str, Any]

#: Times written without an offset are local to the border provinces (UTC+7, no DST).
LOCAL = timezone(timedelta(hours=7))
#: Rows flushed between checks of the session's size (keeps memory flat on 100k rows).
BATCH = 1000

CASE_COLUMNS = (
    "reference",
    "title",
    "opened_on",
    "province",
    "district",
    "locality",
    "border_gate",
    "place_note",
    "organisations",
    "agreements",
    "seizures",
    "suspects",
    "status",
    "closed_on",
)
CASE_REQUIRED = ("reference", "title", "opened_on")

EXCHANGE_COLUMNS = (
    "row",
    "agreement",
    "recipient",
    "kind",
    "subject",
    "body",
    "language",
    "classification",
    "reliability",
    "credibility",
    "handling",
    "handling_note",
    "sent_at",
    "case",
    "in_reply_to",
    "sender",
)
EXCHANGE_REQUIRED = (
    "agreement",
    "recipient",
    "kind",
    "subject",
    "body",
    "classification",
    "reliability",
    "credibility",
    "handling",
    "sent_at",
)


class ImportFileError(OperationError):
    """The file as a whole cannot be read (format, header): nothing is looked at further."""

    status = 400
    code = "import_file"


@dataclass
class RowError:
    line: int
    field: str
    message: Any  # a lazy translatable string

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    kind: str
    dry_run: bool
    rows: int = 0
    stored: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


# --- reading files -------------------------------------------------------------------


def read_table(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    """The header (lower-cased column names) and (line number, row) pairs of a CSV or XLSX.

    Line numbers are those a person sees: the CSV line where the record starts
    (quoted fields may span lines), or the spreadsheet row number.
    """
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path)
    raise ImportFileError(_l("Give a .csv or .xlsx file."))


def _header(cells: list[Any]) -> list[str]:
    return [clean(str(c or "")).strip().lower() for c in cells]


def _read_csv(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
        first = handle.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFileError(_l("The file cannot be read as UTF-8 text.")) from exc
    # Spreadsheets saved in vi/lo locales separate with ";" (the comma is the decimal mark).
    delimiter = ";" if first.count(";") > first.count(",") else ","
    handle.seek(0)
    if handle.read(1) != "\ufeff":
        handle.seek(0)
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = _header(next(reader))
    except (StopIteration, csv.Error, UnicodeDecodeError) as exc:
        handle.close()
        raise ImportFileError(_l("The file has no header line.")) from exc

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        with handle:
            start = reader.line_num + 1
            try:
                for record in reader:
                    line, start = start, reader.line_num + 1
                    if not any(cell.strip() for cell in record):
                        continue
                    yield line, _row(header, record)
            except UnicodeDecodeError as exc:
                raise ImportFileError(_l("The file cannot be read as UTF-8 text.")) from exc
            except csv.Error as exc:
                raise ImportFileError(
                    _l("Line %(line)d is not valid CSV.", line=reader.line_num)
                ) from exc

    return header, rows()


def _read_xlsx(path: Path) -> tuple[list[str], Iterator[tuple[int, dict[str, Any]]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged file
        raise ImportFileError(_l("The file is not a readable XLSX workbook.")) from exc
    sheet = book.worksheets[0]
    lines = sheet.iter_rows(values_only=True)
    try:
        header = _header(list(next(lines)))
    except StopIteration as exc:
        book.close()
        raise ImportFileError(_l("The file has no header line.")) from exc

    def rows() -> Iterator[tuple[int, dict[str, Any]]]:
        try:
            for number, record in enumerate(lines, start=2):
                if all(c is None or (isinstance(c, str) and not c.strip()) for c in record):
                    continue
                yield number, _row(header, list(record))
        finally:
            book.close()

    return header, rows()


def _row(header: list[str], record: list[Any]) -> Row:
    row: Row = {}
    for index, value in enumerate(record):
        if index >= len(header) or not header[index]:
            if value not in (None, ""):
                row.setdefault("_extra", True)
            continue
        row[header[index]] = value
    return row


def check_header(header: list[str], columns: tuple[str, ...], required: tuple[str, ...]) -> None:
    unknown = [c for c in header if c and c not in columns]
    missing = [c for c in required if c not in header]
    if unknown or missing:
        parts = []
        if missing:
            parts.append(str(_l("missing columns: %(names)s", names=", ".join(missing))))
        if unknown:
            parts.append(str(_l("unknown columns: %(names)s", names=", ".join(unknown))))
        raise ImportFileError("; ".join(parts))
    if len(set(h for h in header if h)) != len([h for h in header if h]):
        raise ImportFileError(_l("A column is named twice."))


# --- cells ---------------------------------------------------------------------------


class CellError(ValueError):
    def __init__(self, column: str, message: Message) -> None:
        super().__init__(column)
        self.column = column
        self.message = message


def cell_text(row: Row, column: str) -> str:
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return clean(str(value)).strip()


def cell_date(row: Row, column: str) -> date | None:
    value = row.get(column)
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(cell_text(row, column))
    except ValueError as exc:
        raise CellError(column, _l("Write the date as YYYY-MM-DD.")) from exc


def cell_datetime(row: Row, column: str) -> datetime | None:
    """ISO 8601; without an offset the time is local (UTC+7), as officers write it."""
    value = row.get(column)
    if value in (None, ""):
        return None
    if not isinstance(value, datetime):
        if isinstance(value, date):
            value = datetime(value.year, value.month, value.day)
        else:
            try:
                value = datetime.fromisoformat(cell_text(row, column))
            except ValueError as exc:
                raise CellError(
                    column, _l("Write the time as ISO 8601, e.g. 2024-03-07T14:30+07:00.")
                ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=LOCAL)
    return value.astimezone(UTC)


def cell_int(row: Row, column: str) -> int | None:
    text = cell_text(row, column)
    if not text:
        return None
    try:
        return int(text, 10)
    except ValueError as exc:
        raise CellError(column, _l("Write a whole number.")) from exc


def codes(text: str) -> list[str]:
    """Codes separated by ";", "," or spaces, e.g. "QB; KM"."""
    return [c for c in text.replace(";", " ").replace(",", " ").split() if c]


# --- running -------------------------------------------------------------------------


def _run(
    kind: str,
    path: Path,
    *,
    columns: tuple[str, ...],
    required: tuple[str, ...],
    dry_run: bool,
    make_store: Callable[[], Callable[[int, Row], None]],
) -> ImportReport:
    """Store every row in one transaction: committed only if no row failed and not a dry run.

    A first pass stores the rows one after another with no savepoint (a savepoint
    per row halved the rate). Validation refuses a row before it writes anything,
    but a refusal could in principle come after a write, so at the first refused
    row that pass is rolled back whole and the file is read again in a second pass
    with a savepoint per row: a refused row then leaves nothing behind and every
    further row is still checked, so the report lists every bad row. A clean file
    is read once; a file with errors stores nothing either way.
    """
    started = time.perf_counter()
    report = ImportReport(kind=kind, dry_run=dry_run)
    header, rows = read_table(path)
    check_header(header, columns, required)
    # The whole file is one unit: an error anywhere rolls every row back.
    with unit_of_work() as unit:
        with checks.lookups_cached():
            pinned = _pin_reference_rows()
            clean_pass = _store_rows(report, rows, make_store(), careful=False)
            del pinned
        if not clean_pass:
            unit.restart()
            report = ImportReport(kind=kind, dry_run=dry_run)
            _header_again, rows = read_table(path)
            with checks.lookups_cached():
                pinned = _pin_reference_rows()
                _store_rows(report, rows, make_store(), careful=True)
                del pinned
        _finish(unit, report)
    report.seconds = time.perf_counter() - started
    return report


def _pin_reference_rows() -> list[Any]:
    """Hold the rows every imported row reads (this hub's id, the organisations) for the run.

    The session's identity map holds rows weakly: without a reference they are
    dropped after each row and `session.get` asks the database again, once per row.
    """
    from hub.models.identity import HUB_ID_KEY

    pinned: list[Any] = list(db.session.scalars(select(Organisation)))
    setting = db.session.get(Setting, HUB_ID_KEY)
    if setting is not None:
        pinned.append(setting)
    return pinned


def _store_rows(
    report: ImportReport,
    rows: Iterator[tuple[int, Row]],
    store_row: Callable[[int, Row], None],
    *,
    careful: bool,
) -> bool:
    """Store the rows, recording refusals in the report; False when a fast
    (``careful=False``) pass stopped at the first refused row."""
    for line, row in rows:
        report.rows += 1
        if row.pop("_extra", False):
            report.errors.append(RowError(line, "-", _l("This row has more cells than columns.")))
            if not careful:
                return False
            continue
        try:
            if careful:
                # A savepoint per row: a row refused half-way leaves nothing behind,
                # and the rows around it still go on to be checked.
                with savepoint():
                    store_row(line, row)
            else:
                store_row(line, row)
        except (CellError, OperationError) as exc:
            _refused(report, line, exc)
        else:
            report.stored += 1
        if report.errors and not careful:
            return False
        if report.rows % BATCH == 0:
            db.session.flush()
    return True


def import_exchanges(
    actor: Actor, path: Path, *, dry_run: bool = False, default_language: str | None = None
) -> ImportReport:
    """Exchanges sent or received by the actor's organisation, all rows or none.

    One pass: each row is checked by `exchanges.validate` (the rules of `send`,
    writing nothing), so a refused row leaves nothing behind and needs no
    savepoint; good rows are written in batches (`hub.operations.sealed.Batch`)
    and stay written while later rows are checked, so those can reply to them.
    The transaction is committed only when no row failed and this is not a dry run.
    """
    checks.require_officer(actor)
    started = time.perf_counter()
    report = ImportReport(kind="exchanges", dry_run=dry_run)
    header, rows = read_table(path)
    check_header(header, EXCHANGE_COLUMNS, EXCHANGE_REQUIRED)
    with unit_of_work() as unit:
        with checks.lookups_cached():
            pinned = _pin_reference_rows()
            writer = _ExchangeRows(actor, default_language)
            for line, row in rows:
                report.rows += 1
                if row.pop("_extra", False):
                    report.errors.append(
                        RowError(line, "-", _l("This row has more cells than columns."))
                    )
                    continue
                try:
                    # The rows' own ORM changes (a request answered, a case's
                    # agreements) go with each batch, not before every query: no
                    # check reads them from the database (the objects hold them).
                    with db.session.no_autoflush:
                        writer.store(row)
                except (CellError, OperationError) as exc:
                    _refused(report, line, exc)
                else:
                    report.stored += 1
            writer.batch.flush()
            del pinned
        _finish(unit, report)
    report.seconds = time.perf_counter() - started
    return report


def _finish(unit: Unit, report: ImportReport) -> None:
    """All rows or none: a dry run, or a file with a refused row, stores nothing."""
    if report.dry_run or report.errors:
        unit.discard()
        report.stored = 0


def _refused(report: ImportReport, line: int, exc: CellError | OperationError) -> None:
    """Record why a row was refused, one line per field and message."""
    if isinstance(exc, CellError):
        report.errors.append(RowError(line, exc.column, exc.message))
    elif isinstance(exc, ValidationFailed):
        for column, messages in exc.errors.items():
            for message in messages:
                report.errors.append(RowError(line, column, message))
    else:
        report.errors.append(RowError(line, "-", exc.message))


class _ExchangeRows:
    """Turns rows into validated exchanges queued for the batch writer."""

    def __init__(self, actor: Actor, default_language: str | None) -> None:
        from hub.models import Exchange
        from hub.operations import sealed

        self.actor = actor
        self.default_language = default_language
        self.batch = sealed.Batch(Exchange.__table__)
        #: value of column "row" -> the id of its exchange (queued or written)
        self.by_row: dict[str, int] = {}
        self.case_ids: dict[str, int | None] = {}

    def case_id(self, reference: str) -> int:
        if reference not in self.case_ids:
            from hub.operations.scope import cases_by_reference

            # Only cases the actor sees: another organisation's reference answers as
            # one that does not exist (no existence oracle); the importer's own
            # organisation's case comes first (references are unique per owner).
            found = cases_by_reference(self.actor, reference)
            if len(found) > 1:
                raise CellError(
                    "case",
                    _l(
                        "Several cases of partner organisations have this reference:"
                        " link the exchange to the right one after the import."
                    ),
                )
            self.case_ids[reference] = found[0].id if found else None
        found_id = self.case_ids[reference]
        if found_id is None:
            raise CellError("case", _l("No case has this reference."))
        return found_id

    def reply_id(self, text: str) -> int:
        # "#123" names an exchange already in the hub; anything else an earlier row.
        if text.startswith("#") and text[1:].isdigit():
            return int(text[1:])
        if text not in self.by_row:
            raise CellError("in_reply_to", _l("No earlier row has this value in column “row”."))
        earlier = self.by_row[text]
        if earlier in self.batch.unwritten:
            self.batch.write_rows()  # the reply's checks read the exchange it answers
        return earlier

    def store(self, row: Row) -> None:
        from hub.operations import exchanges

        ref = cell_text(row, "row")
        if ref and ref in self.by_row:
            raise CellError("row", _l("This value of “row” is already used above."))
        credibility = cell_int(row, "credibility")
        reference = cell_text(row, "case")
        reply = cell_text(row, "in_reply_to")
        data = exchanges.NewExchange(
            agreement=cell_text(row, "agreement"),
            recipient=cell_text(row, "recipient"),
            kind=cell_text(row, "kind"),
            subject=cell_text(row, "subject"),
            body=str(row.get("body") or ""),
            classification=cell_text(row, "classification"),
            reliability=cell_text(row, "reliability").upper(),
            credibility=credibility if credibility is not None else 0,
            handling=cell_text(row, "handling").upper(),
            handling_note=cell_text(row, "handling_note"),
            sent_at=cell_datetime(row, "sent_at"),
            case=self.case_id(reference) if reference else None,
            in_reply_to=self.reply_id(reply) if reply else None,
            language=cell_text(row, "language") or self.default_language,
        )
        if data.sent_at is None:
            # History has a date: "now" would be a silent lie about when it happened.
            raise CellError("sent_at", _l("This field is required."))
        sender = cell_text(row, "sender")
        received = bool(sender) and sender != self.actor.organisation_code
        now = checks.now()
        if received:
            checked = self._validate_received(sender, data, now)
        else:
            checked = exchanges.validate(self.actor, data, now)
        exchange = exchanges.record(self.actor, data, checked, now, batch=self.batch)
        self.batch.row_done()
        if ref:
            self.by_row[ref] = exchange.id

    def _validate_received(
        self, sender_code: str, data: NewExchange, now: datetime
    ) -> exchanges_ops.Checked:
        """An exchange a partner sent to the actor's organisation: checked by the same
        rules, from the sender's side (it is the party, it answers, it replies)."""
        from hub.operations import exchanges
        from hub.operations.scope import cases_visible_to

        errors = checks.Errors()
        sender = checks.organisation_by_code(errors, "sender", sender_code)
        if data.recipient != self.actor.organisation_code:
            errors.add("recipient", _l("Your organisation must be the sender or the recipient."))
        agreement = _lookup_agreement(data.agreement)
        if (
            sender is not None
            and agreement is not None
            and sender.id not in {p.id for p in agreement.parties}
        ):
            errors.add("sender", _l("The sender is not a party to this agreement."))
        case = None
        if data.case is not None:
            # The case is the recording organisation's: it must be one it can see.
            case = db.session.scalar(cases_visible_to(self.actor).where(Case.id == data.case))
            if case is None:
                errors.add("case", _l("Unknown case."))
            elif sender is not None:
                exchanges.check_case_parties(errors, case, [sender])
        if errors or sender is None:  # no sender without its error
            raise ValidationFailed(dict(errors))
        as_sender = Actor(
            user_id=self.actor.user_id,
            username=self.actor.username,
            organisation_id=sender.id,
            organisation_code=sender.code,
            role=self.actor.role,
        )
        checked = exchanges.validate(as_sender, replace(data, case=None), now)
        checked.case = case
        return checked


def _lookup_agreement(code: str) -> Agreement | None:
    """The agreement with this code, or None (its own errors come from validation)."""
    return checks.agreement_by_code(checks.Errors(), "agreement", code) if code else None


def import_cases(
    actor: Actor, path: Path, *, dry_run: bool = False, locale: str = "en"
) -> ImportReport:
    """Cases owned by the actor's organisation, one `cases.create_case` per row
    (with its seizures and suspects), then the case's status as of today."""
    from hub.operations import cases

    def store(line: int, row: Row) -> None:
        data, seizures, suspects = case_input(row, locale)
        status, closed_on = case_status(row, data.opened_on)
        case = cases.create_case(actor, data, seizures=seizures, suspects=suspects)
        if status != case.status:
            _status_from_history(actor, case, status, closed_on)

    return _run(
        "cases",
        path,
        columns=CASE_COLUMNS,
        required=CASE_REQUIRED,
        dry_run=dry_run,
        make_store=lambda: store,
    )


def case_input(
    row: dict[str, Any], locale: str
) -> tuple[CaseInput, list[SeizureInput], list[SuspectInput]]:
    """The operation's inputs for one case row (see schemas/import.md)."""
    from hub.operations.cases import CaseInput, SeizureInput

    seizures = []
    for item in (cell_text(row, "seizures") or "").split(";"):
        parts = item.split()
        if not parts:
            continue
        if len(parts) != 3:
            raise CellError(
                "seizures",
                _l("Write each seizure as “drug quantity unit”, separated by “;”."),
            )
        drug, quantity, unit = parts
        # The operation parses the text strictly in the file's locale.
        seizures.append(SeizureInput(drug_type=drug, quantity=quantity, unit=unit, locale=locale))
    opened_on = cell_date(row, "opened_on")
    if opened_on is None:
        # History has a date: "today" would be a silent lie about when it was opened.
        raise CellError("opened_on", _l("This field is required."))
    data = CaseInput(
        reference=cell_text(row, "reference"),
        title=cell_text(row, "title"),
        opened_on=opened_on,
        province=cell_text(row, "province") or None,
        district=cell_text(row, "district") or None,
        locality=cell_text(row, "locality") or None,
        border_gate=cell_text(row, "border_gate") or None,
        place_note=cell_text(row, "place_note"),
        organisations=codes(cell_text(row, "organisations")),
        agreements=codes(cell_text(row, "agreements")),
    )
    return data, seizures, suspects_input(row)


def suspects_input(row: Row) -> list[SuspectInput]:
    """``name | date of birth | nationality | document`` items separated by ";"
    (trailing parts may be left out). The operation checks, seals and indexes them."""
    from hub.operations.cases import SuspectInput

    suspects = []
    for item in (cell_text(row, "suspects") or "").split(";"):
        if not item.strip():
            continue
        parts = [p.strip() for p in item.split("|")]
        if len(parts) > 4:
            raise CellError(
                "suspects",
                _l(
                    "Write each suspect as “name | date of birth | nationality | document”,"
                    " separated by “;”."
                ),
            )
        name, birth, nationality, document = parts + [""] * (4 - len(parts))
        try:
            born = date.fromisoformat(birth) if birth else None
        except ValueError as exc:
            raise CellError("suspects", _l("Write the date as YYYY-MM-DD.")) from exc
        suspects.append(
            SuspectInput(
                name=name, date_of_birth=born, nationality=nationality, identity_document=document
            )
        )
    return suspects


def case_status(row: Row, opened_on: date | None) -> tuple[str, date | None]:
    """The case's status as of today and, for a closed case, the day it closed."""
    from hub.models.case import CASE_STATUSES
    from hub.operations.cases import local_today

    status = cell_text(row, "status").lower() or "open"
    if status not in CASE_STATUSES:
        raise CellError(
            "status", _l("Choose one of: %(choices)s.", choices=", ".join(CASE_STATUSES))
        )
    closed_on = cell_date(row, "closed_on")
    if status != "closed":
        if closed_on is not None:
            raise CellError("closed_on", _l("Give closed_on only for a closed case."))
        return status, None
    if closed_on is None:
        # As for opened_on: "today" would be a silent lie about when it closed.
        raise CellError("closed_on", _l("This field is required."))
    if closed_on > local_today():
        raise CellError("closed_on", _l("This date is in the future."))
    if opened_on is not None and closed_on < opened_on:
        raise CellError("closed_on", _l("A case cannot be closed before it was opened."))
    return status, closed_on


def _status_from_history(actor: Actor, case: Case, status: str, closed_on: date | None) -> None:
    """Where an imported case stands today. The steps that led there are not in the
    file, and every status is reachable from "open" by the allowed transitions, so it
    is recorded as one change from "open", marked imported in its audit entry."""
    from hub.operations import audit, cases

    old = case.status
    case.status = status
    case.closed_on = closed_on
    audit.record(
        "case_status_changed",
        actor=actor,
        target_type="case",
        target_id=case.id,
        logs=cases.logs_for(case),
        details={"from": old, "to": status, "closed_on": closed_on, "imported": True},
    )
