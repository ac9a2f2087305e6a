"""The audit logs as operations see them: recording for an actor; reading and verifying
them (who may see which log, proofs, "verify now").

Every other operation calls :func:`record` inside its transaction: hub.audit takes
who did it as plain strings, this is where an Actor becomes them. The rest is
what the faces (API, pages, CLI) call to read the logs.
A log is visible to the organisations party to its agreement, an organisation's
own log (cases under no agreement all of whose parties are involved) to that
organisation; the hub-wide log to administrators. Anyone else gets NotFound, as
for any record not theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from hub.audit import checkpoints, fields, merkle, store, verify
from hub.audit import log as audit_log
from hub.audit.entry import EntryError, decode_entry
from hub.errors import Forbidden, NotFound, OperationError, ValidationFailed
from hub.extensions import db
from hub.models import (
    Agreement,
    AuditEntry,
    AuditLog,
    Checkpoint,
    Organisation,
    agreement_parties,
)
from hub.models.audit import HUB_LOG, organisation_log, organisation_of_log
from hub.models.base import utcnow
from hub.operations import scope
from hub.operations.actor import SYSTEM, Actor
from hub.operations.unit import operation


def record(
    action: str,
    *,
    actor: Actor,
    target_type: str,
    target_id: object,
    logs: Iterable[str] = (),
    details: dict[str, Any] | None = None,
) -> None:
    """Append ``action`` by ``actor`` to each named log (or the hub log): see
    :func:`hub.audit.log.record`. Inside the operation's transaction, before it commits."""
    audit_log.record(
        action,
        actor=actor.username,
        organisation=actor.organisation_code,
        target_type=target_type,
        target_id=target_id,
        logs=logs,
        details=details,
    )


def pending(
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: object,
    details: dict[str, Any] | None = None,
) -> audit_log.Pending:
    """One entry by ``actor`` for a batch append (:func:`hub.audit.log.append_many`)."""
    return audit_log.Pending(
        actor.username, actor.organisation_code, action, target_type, target_id, details
    )


MAX_ENTRIES = 1000  # per get-entries call, as CT logs cap theirs


class OutOfRange(ValidationFailed):
    """A proof or entries request outside the tree: the client's mistake, 400."""

    status = 400
    code = "out_of_range"


class CheckpointUnavailable(OperationError):
    status = 503
    code = "checkpoint_unavailable"

    def __init__(self) -> None:
        super().__init__(
            _l("The hub's checkpoint key is not set up, so no checkpoint can be signed.")
        )


class LogDamaged(OperationError):
    """The stored tree cannot answer (a subtree hash is missing): tampering or damage."""

    status = 409
    code = "log_damaged"

    def __init__(self, name: str):
        super().__init__(
            _l(
                "The audit log %(log)s cannot give this proof: its stored tree is damaged. "
                "An administrator should run hub audit verify.",
                log=name,
            )
        )


class ProofRefused(LogDamaged):
    """A proof from the stored nodes does not lead to the log's root: never served."""

    status = 503


def logs_visible_to(actor: Actor) -> Select[AuditLog]:
    """Logs the actor may read: their agreements' logs and their organisation's own log;
    the hub log for administrators; all of them for the hub itself (the operator's
    command line)."""
    query = select(AuditLog).order_by(AuditLog.name)
    if actor.role == SYSTEM.role:
        return query
    if actor.is_admin:
        return query.where(AuditLog.name == HUB_LOG)
    if actor.organisation_id is None:
        return query.where(false())
    party = (
        select(agreement_parties.c.agreement_id)
        .where(agreement_parties.c.organisation_id == actor.organisation_id)
        .scalar_subquery()
    )
    own = AuditLog.name == organisation_log(actor.organisation_code)
    return query.where(or_(AuditLog.agreement_id.in_(party), own))


def visible_logs(actor: Actor) -> list[AuditLog]:
    return list(db.session.scalars(logs_visible_to(actor)))


def get_log(actor: Actor, name: str) -> AuditLog:
    if "\x00" in name:  # no log has one, and PostgreSQL refuses it in a query (a 500)
        raise NotFound()
    row: AuditLog | None = db.session.scalar(logs_visible_to(actor).where(AuditLog.name == name))
    if row is None:
        raise NotFound()
    return row


def agreement_of(log: AuditLog) -> Agreement | None:
    return db.session.get(Agreement, log.agreement_id) if log.agreement_id else None


def organisation_of(log: AuditLog) -> Organisation | None:
    """The organisation whose own log this is (None for agreements' logs and the hub's)."""
    code = organisation_of_log(log.name)
    if code is None:
        return None
    return db.session.scalar(select(Organisation).where(Organisation.code == code))


def _index(field: str, value: int | None, low: int, high: int, default: int | None = None) -> int:
    """``value`` within [low, high], or OutOfRange naming ``field``."""
    if value is None:
        if default is None:
            raise OutOfRange.one(field, _l("This parameter is required."))
        value = default
    if not low <= value <= high:
        raise OutOfRange.one(
            field,
            _l("Must be between %(low)s and %(high)s.", low=low, high=high)
            if low <= high
            else _l("The log has no entries yet."),
        )
    return value


@operation
def current_checkpoint(actor: Actor, name: str) -> Checkpoint:
    """A signed checkpoint covering the log's current tree (signed now if needed)."""
    log = get_log(actor, name)
    try:
        return checkpoints.current(db.session(), log.id)
    except checkpoints.CheckpointKeyUnavailable:
        raise CheckpointUnavailable() from None


@operation
def sign_all_checkpoints() -> list[Checkpoint]:
    """A checkpoint covering every log's current tree (``hub audit checkpoint --all``,
    and the logs written before the hub's key existed, at ``hub init``)."""
    return checkpoints.sign_all(db.session())


def latest_checkpoint(log: AuditLog) -> Checkpoint | None:
    return checkpoints.newest(db.session(), log.id)


@dataclass(frozen=True)
class ShownEntry:
    """An entry as a reader may see it, decoded from its hashed bytes.

    ``withheld``: about a case the reader does not see (`scope.entries_withheld`); only
    its position, hash, action and record type are given (``fields`` holds those two),
    never its bytes. ``damaged``: the bytes do not decode (verify names it); no fields.
    """

    index: int
    leaf_hash: bytes
    leaf_input: bytes | None
    fields: dict[str, Any] | None
    withheld: bool = False
    damaged: bool = False


def shown(actor: Actor, rows: Iterable[AuditEntry]) -> list[ShownEntry]:
    """``rows`` as ``actor`` may see them: the one rule for every face that lists entries."""
    decoded: list[tuple[int, bytes, dict[str, Any] | None]] = []
    for row in rows:
        leaf = bytes(row.leaf_input)
        try:
            decoded.append((row.index, leaf, decode_entry(leaf)))
        except EntryError:
            decoded.append((row.index, leaf, None))
    withheld = scope.entries_withheld(
        actor, [{**f, "index": i} for i, _leaf, f in decoded if f is not None]
    )
    out = []
    for index, leaf, found in decoded:
        digest = merkle.leaf_hash(leaf)
        if found is None:
            out.append(ShownEntry(index, digest, leaf, None, damaged=True))
        elif index in withheld:
            kept = {"action": found["action"], "target_type": found["target_type"]}
            out.append(ShownEntry(index, digest, None, kept, withheld=True))
        else:
            out.append(ShownEntry(index, digest, leaf, found))
    return out


def entries(actor: Actor, name: str, start: int | None, end: int | None) -> list[ShownEntry]:
    """Entries ``start..end`` inclusive (RFC 6962 get-entries), at most MAX_ENTRIES."""
    log = get_log(actor, name)
    start = _index("start", start, 0, log.size - 1)
    end = _index("end", end, start, log.size - 1, default=log.size - 1)
    end = min(end, start + MAX_ENTRIES - 1)
    rows = db.session.scalars(
        select(AuditEntry)
        .where(AuditEntry.log_id == log.id, AuditEntry.index.between(start, end))
        .order_by(AuditEntry.index)
    )
    return shown(actor, rows)


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    audit_path: list[bytes]
    root: bytes


def inclusion_proof(actor: Actor, name: str, index: int | None, size: int | None) -> InclusionProof:
    log = get_log(actor, name)
    size = _index("size", size, 1, log.size, default=log.size)
    index = _index("index", index, 0, size - 1)
    try:
        leaf, path, root = store.checked_inclusion(
            db.session(), log.id, index, size, (log.size, _head_root(log))
        )
    except store.MissingNode:
        raise LogDamaged(name) from None
    except store.Mismatch:
        raise ProofRefused(name) from None
    return InclusionProof(index, size, leaf, path, root)


def _head_root(log: AuditLog) -> bytes:
    return bytes(log.root) if log.root is not None else merkle.EMPTY_ROOT


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    consistency: list[bytes]
    first_root: bytes
    second_root: bytes


def consistency_proof(
    actor: Actor, name: str, first: int | None, second: int | None
) -> ConsistencyProof:
    log = get_log(actor, name)
    second = _index("to", second, 1, log.size, default=log.size)
    first = _index("from", first, 1, second)
    try:
        proof, *roots = store.checked_consistency(
            db.session(), log.id, first, second, (log.size, _head_root(log))
        )
    except store.MissingNode:
        raise LogDamaged(name) from None
    except store.Mismatch:
        raise ProofRefused(name) from None
    return ConsistencyProof(first, second, proof, *roots)


def filtered_entries(
    actor: Actor,
    name: str,
    *,
    action: str | None = None,
    organisation: str | None = None,
    target_type: str | None = None,
    page: int = 1,
    per_page: int = 50,
) -> tuple[AuditLog, list[ShownEntry], int]:
    """Newest first, for the supervisors' page: (log, entries of the page, matching count)."""
    log = get_log(actor, name)
    query = select(AuditEntry).where(AuditEntry.log_id == log.id)
    # On the hashed bytes, not the mirror columns: what is listed is what verify checks.
    dialect = db.session.get_bind().dialect.name
    for field, value in (
        ("action", action),
        ("organisation", organisation),
        ("target_type", target_type),
    ):
        if value:
            query = query.where(fields.matches(field, value, dialect))
    if organisation and not scope.sees_every_case_entry(actor):
        # Who did a withheld entry is not shown: a filter on it must not find it either.
        query = query.where(~or_(*_case_targets(dialect)))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    page = max(1, page)
    rows = db.session.scalars(
        query.order_by(AuditEntry.index.desc()).limit(per_page).offset((page - 1) * per_page)
    )
    return log, shown(actor, rows), int(total or 0)


def _case_targets(dialect: str) -> list[ColumnElement[bool]]:
    return [fields.matches("target_type", t, dialect) for t in sorted(scope.CASE_TARGETS)]


def distinct_values(actor: Actor, log: AuditLog, column: InstrumentedAttribute[str]) -> list[str]:
    """The values a filter offers. Who did an entry (organisation) is offered only from
    entries the actor may read in full: a withheld entry's does not show through."""
    query = select(column).where(AuditEntry.log_id == log.id)
    if column is AuditEntry.organisation and not scope.sees_every_case_entry(actor):
        query = query.where(AuditEntry.target_type.not_in(sorted(scope.CASE_TARGETS)))
    return list(db.session.scalars(query.distinct().order_by(column)))


def verify_now(actor: Actor, name: str, *, deep: bool = False) -> verify.Result:
    """Recompute the log's tree, check its checkpoints, and remember the outcome.
    ``deep`` also decodes every entry and compares its columns (slower)."""
    if not (actor.is_supervisor or actor.is_admin or actor.role == SYSTEM.role):
        raise Forbidden()
    # Its own unit, ended before verify reads on other connections (SQLite: an open
    # transaction holds the write lock, which verify's would wait on).
    log_id = _log_id(actor, name)
    [result] = verify.verify(db.engine, log_name=name, deep=deep)
    record_verification(log_id, result)
    return result


@operation
def _log_id(actor: Actor, name: str) -> int:
    return get_log(actor, name).id


@operation
def record_verification(log_id: int, result: verify.Result) -> None:
    """Store the outcome on the log's head (the one audit row that is updatable)."""
    log = db.session.get(AuditLog, log_id)
    if log is None:  # the id came from get_log in this process; logs are never deleted
        raise NotFound()
    log.last_verified_at = utcnow()
    log.last_verified_ok = result.ok
    log.last_verified_message = result.line()[:500]
