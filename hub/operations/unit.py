"""The unit of work: the one place a transaction of the application ends.

Every operation that writes runs in a unit (``@operation`` on the function, or
``with unit_of_work():`` around a block). Units nest: an operation called from
another joins the outer one, and only the outermost exit ends the transaction:

- it returns normally: one COMMIT, then the checkpoints that have fallen due on
  the logs it wrote are signed (their own short transaction, see below);
- it raises: one ROLLBACK, nothing of the whole outer operation stays, except
  what was registered as *lasting*.

Something that must survive a failure that follows it is written with
:func:`lasting`: the function runs now, in the unit, and if the unit then fails
it runs again, alone, after the rollback, in a transaction of its own that
commits before the error goes on. Opening sealed content is the case (issue 12):
each opening appends its audit entry as lasting, and a failed opening appends
``payload_open_failed`` as lasting and raises; so whatever was shown, and every
failed attempt, stays recorded whatever the caller does next, while the caller's
own changes are undone as for any failure (nothing half-written). A caller that
goes on after a failed opening (a case's suspects, read one by one) catches the
refusal, and its unit commits everything at its exit. A failed login counts its
failure the same way. A dry run (:meth:`Unit.discard`) keeps its lasting writes too.

Faces (pages, API, CLI) never commit or roll back: they call operations. What is
left in the session after a request (reads, an autobegun transaction) is ended
by Flask-SQLAlchemy's ``session.remove()`` at teardown, and a request that left
changes behind outside a unit is reported (:func:`check_nothing_pending`).

Two modules end transactions of their own and stay apart: ``hub/migrations``
(Alembic) and ``hub/backup.py`` (the backup reads in one REPEATABLE READ
snapshot; the restore runs on a database the hub is not serving).

Checkpoints: after the outermost commit, a log written in it whose newest
signed checkpoint is older than ``HUB_CHECKPOINT_INTERVAL_MINUTES`` gets a new
one (:func:`sign_due_checkpoints`), in a session of its own, so a missing key
or a failure there never undoes or fails the change that was committed.

Steps: what else a unit does at its flushes and its end is registered per
application in ``create_app`` (:func:`add_steps`), never as a process-wide
SQLAlchemy listener: after each flush (the reference version notes an edit of
agreements), before the commit (it writes the new version, which commits with the
change or not at all), after the commit (the outbox wakes the delivery worker;
the change is committed, so a failing step is logged, not raised) and after a
rollback (they forget what they noted).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, ParamSpec, TypeVar

from flask import Flask, current_app, has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from hub.audit import checkpoints
from hub.audit.log import TOUCHED
from hub.extensions import db

log = logging.getLogger(__name__)

#: session.info keys: how deep the running units are nested; whether the
#: outermost one keeps loaded rows at its commit; whether it is to be discarded.
DEPTH: Final = "hub.unit.depth"
KEEP: Final = "hub.unit.keep_loaded"
DISCARD: Final = "hub.unit.discard"
#: session.info key: the writes registered with :func:`lasting` in the running unit.
LASTING: Final = "hub.unit.lasting"

P = ParamSpec("P")
R = TypeVar("R")

#: A step of the unit: called with the session.
Step = Callable[[Session], None]
#: app.extensions key of the application's `Steps`.
STEPS: Final = "hub.unit.steps"


@dataclass
class Steps:
    """What this application's units do besides the operation's own writes (see the
    module doc), in the order registered."""

    flushed: list[Step] = field(default_factory=list)
    before_commit: list[Step] = field(default_factory=list)
    after_commit: list[Step] = field(default_factory=list)
    after_rollback: list[Step] = field(default_factory=list)


_NO_STEPS: Final = Steps()


def add_steps(
    app: Flask,
    *,
    flushed: Step | None = None,
    before_commit: Step | None = None,
    after_commit: Step | None = None,
    after_rollback: Step | None = None,
) -> None:
    """Register steps for every unit of work of ``app`` (create_app does)."""
    steps: Steps = app.extensions.setdefault(STEPS, Steps())
    for found, step in (
        (steps.flushed, flushed),
        (steps.before_commit, before_commit),
        (steps.after_commit, after_commit),
        (steps.after_rollback, after_rollback),
    ):
        if step is not None:
            found.append(step)


def _steps() -> Steps:
    if not has_app_context():
        return _NO_STEPS
    steps: Steps = current_app.extensions.get(STEPS, _NO_STEPS)
    return steps


class Unit:
    """What a running unit offers the operation inside it (``with unit_of_work() as unit``)."""

    def __init__(self, session: Session, outermost: bool):
        self.session = session
        self.outermost = outermost

    def discard(self) -> None:
        """End the outermost unit with a rollback instead of a commit (a dry run, a
        file with refused rows), without raising."""
        self.session.info[DISCARD] = True

    def restart(self) -> None:
        """Roll back what this unit did so far and go on in a fresh transaction (the
        importer's second, careful pass). Only the outermost unit may."""
        if not self.outermost:
            raise RuntimeError("only the outermost unit of work can start again")
        _rollback_keeping_lasting(self.session)


@contextmanager
def unit_of_work(*, keep_loaded: bool = False) -> Iterator[Unit]:
    """One operation's transaction; nested units join the outer one.

    ``keep_loaded``: the outermost commit does not expire the session's rows (an
    operation that shows what it just wrote, e.g. a sent exchange, reads them
    again without a query each). A nested unit's choice is ignored.
    """
    session = db.session()
    depth = session.info.get(DEPTH, 0)
    outermost = depth == 0
    session.info[DEPTH] = depth + 1
    if outermost:
        session.info[KEEP] = keep_loaded
        session.info[DISCARD] = False
    try:
        yield Unit(session, outermost)
    except BaseException:
        session.info[DEPTH] = depth
        if outermost:
            _rollback_keeping_lasting(session)
        raise
    session.info[DEPTH] = depth
    if outermost:
        if session.info.get(DISCARD):
            _rollback_keeping_lasting(session)
        else:
            _commit(session)


def lasting(write: Callable[[], R]) -> R:
    """Run ``write`` now, in the running unit, and again on its own after a rollback if
    the unit fails: for what must stay whatever follows (the audit entry of an
    opening of sealed content, of a failed one, a failed login's count). Returns
    what the first run returned."""
    session = db.session()
    result = write()
    if session.info.get(DEPTH, 0):
        session.info.setdefault(LASTING, []).append(write)
    return result


def operation(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` in a unit of work (joining the caller's when there is one)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit_of_work():
            return fn(*args, **kwargs)

    return run


def operation_keeping_loaded(fn: Callable[P, R]) -> Callable[P, R]:
    """``@operation`` whose commit leaves the session's rows loaded (see ``keep_loaded``)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        with unit_of_work(keep_loaded=True):
            return fn(*args, **kwargs)

    return run


@contextmanager
def savepoint() -> Iterator[None]:
    """A part of the running unit that an error undoes alone (a SAVEPOINT): the
    importer checks each row of a file this way and goes on with the next."""
    with db.session.begin_nested():
        yield


def in_unit() -> bool:
    depth: int = db.session().info.get(DEPTH, 0)
    return depth > 0


def end_failed_transaction() -> bool:
    """End the transaction a failed request left open outside any unit (a read whose
    statement failed: PostgreSQL refuses every later statement until it ends), so an
    error page or a health answer can still read. Writes are never pending here:
    they happen in units, which ended theirs. False when even that fails (the
    connection may be what broke)."""
    try:
        _rollback(db.session())
    except Exception:
        return False
    return True


def _commit(session: Session) -> None:
    keep = session.expire_on_commit
    if session.info.get(KEEP):
        session.expire_on_commit = False
    steps = _steps()
    try:
        for step in steps.before_commit:
            step(session)
        session.commit()
    except BaseException:
        # A commit that fails (a constraint checked at flush, a full disk) is a failure
        # like any other: what was registered as lasting is written again on its own.
        _rollback_keeping_lasting(session)
        raise
    finally:
        session.expire_on_commit = keep
        session.info[KEEP] = False
        session.info.pop(LASTING, None)
    for step in steps.after_commit:
        try:
            step(session)
        except Exception:  # committed already: the change stands
            log.exception("a step after the commit failed")
    touched = session.info.pop(TOUCHED, None)
    if touched:
        sign_due_checkpoints(touched)


def _rollback(session: Session) -> None:
    session.info.pop(TOUCHED, None)
    session.info.pop(LASTING, None)
    session.rollback()
    for step in _steps().after_rollback:
        step(session)


def _rollback_keeping_lasting(session: Session) -> None:
    """Roll back, then write again what was registered as lasting, and commit it."""
    writes = session.info.get(LASTING) or []
    _rollback(session)
    if not writes:
        return
    try:
        for write in writes:
            write()
        _commit(session)
    except Exception:  # the operation's own error is what the caller must see
        _rollback(session)
        log.exception("lasting writes could not be kept after a rollback")


def sign_due_checkpoints(log_ids: set[int], *, now: datetime | None = None) -> int:
    """Sign a checkpoint for each of these logs whose newest one is older than the
    interval, in a transaction of its own; returns how many were signed.

    Failures are logged, never raised: the writer's change is committed already.
    """
    due = checkpoints.due(log_ids, now=now)
    if not due:
        return 0
    session = Session(bind=db.engine)
    try:
        signed = checkpoints.sign_due(session, due, now=now)
        session.commit()
    except checkpoints.CheckpointKeyUnavailable as exc:
        session.rollback()
        checkpoints.key_failed(now)
        log.warning("audit checkpoints not signed: %s", exc)
        return 0
    except Exception:  # the writer's change is committed; report, do not propagate
        session.rollback()
        log.exception("audit checkpoints not signed")
        return 0
    finally:
        session.close()
    return signed


def pending_changes(session: Session | None = None) -> bool:
    """Whether the session holds changes no unit has ended (added, changed, deleted
    rows, or writes already flushed)."""
    session = session or db.session()
    return bool(session.new or session.dirty or session.deleted or session.info.get(FLUSHED))


#: session.info key, set by an after-flush hook (see :func:`init_app`) and cleared
#: when a transaction ends: rows were written in the open transaction.
FLUSHED: Final = "hub.unit.flushed"


def _note_flush(session: Session, _context: Any) -> None:
    session.info[FLUSHED] = True
    for step in _steps().flushed:
        step(session)


def _transaction_ended(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        session.info.pop(FLUSHED, None)


def check_nothing_pending(_exc: BaseException | None = None) -> None:
    """Teardown: a request must leave no change outside a unit (it would be lost
    silently at ``session.remove()``). Logged; under TESTING it fails the request."""
    from flask import current_app

    session = db.session()
    if not pending_changes(session) or session.info.get(DEPTH, 0):
        return
    log.error("a request left changes outside a unit of work; they are discarded")
    if current_app.testing:
        raise AssertionError("a request left changes outside a unit of work")


def init_app(app: Flask) -> None:
    """The session hooks the unit relies on, and the end-of-request check (create_app).
    The application's own steps are added with :func:`add_steps`."""
    for name, hook in (("after_flush", _note_flush), ("after_transaction_end", _transaction_ended)):
        # db.session is the process's one scoped session: listen once, whatever the app.
        if not event.contains(db.session, name, hook):
            event.listen(db.session, name, hook)
    app.teardown_request(check_nothing_pending)
