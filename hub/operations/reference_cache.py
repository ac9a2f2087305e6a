"""Agreements with their parties and obligations, kept per process for the rules of sending.

Every exchange sent reads its agreement, the agreement's parties (the sender
and recipient must be among them) and its obligations (the due date of a
request): the dearest query of recording one, for rows that change only when
an administrator edits them. Each process keeps a loaded copy per agreement
code, stamped with the *reference version*: a token in the settings table that
any unit of work adding, changing or deleting an agreement, obligation or
organisation replaces. Two steps of the unit do it (hub.operations.unit, registered
in create_app): after each flush, `note_changes` notes such an edit; before the
commit, `write_version` writes a new token, so it commits with the change or not
at all. Each use reads the token (one small query) and reloads the copy when it
differs, so an edit made in a unit of work by any process is seen by every process
from its next transaction; in the transaction that made it, the copy is not used.
Edits made by hand in SQL (or in a session outside the unit of work) are not seen
until the processes restart, or until any unit edits these rows.
"""

from __future__ import annotations

import uuid
from typing import Final

from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from hub.extensions import db
from hub.models import Agreement, Obligation, Organisation, Setting

VERSION_KEY: Final = "hub.reference_version"
_EXTENSION: Final = "hub.reference_cache"
#: session.info key: a flush of the open transaction changed reference rows.
CHANGED: Final = "hub.reference_changed"
_WATCHED: Final = (Agreement, Obligation, Organisation)
_settings = Setting.__table__


_VERSION: Final = select(_settings.c.value).where(_settings.c.key == VERSION_KEY)


def version() -> str | None:
    """The reference version as committed (or as changed in the open transaction)."""
    return db.session.execute(_VERSION).scalar()


def agreement(code: str) -> Agreement | None:
    """The agreement with this code, its parties and obligations loaded, in the session.

    No query but the version's when the process's copy is current.
    """
    cache: dict[str, tuple[str | None, Agreement]] = current_app.extensions.setdefault(
        _EXTENSION, {}
    )
    stamp = version()  # flushes what is pending: `note_changes` has seen it
    if db.session.info.get(CHANGED):
        # Edited in this transaction, the new token not written yet: not the copy.
        edited = _load(code)
        return None if edited is None else db.session.merge(edited, load=False)
    found = cache.get(code)
    if found is None or found[0] != stamp:
        loaded = _load(code)
        if loaded is None:
            return None
        found = (stamp, loaded)
        cache[code] = found
    # The session's own row when it has one (it may hold changes not yet flushed);
    # else a copy attached as if just loaded: no query, nothing to flush. (The copy's
    # parties are merged onto the session's organisations: equal to what is committed,
    # since the version matched; no operation edits an organisation and then sends.)
    held: Agreement | None = db.session.identity_map.get(
        db.session.identity_key(Agreement, found[1].id)
    )
    if held is not None:
        return held
    return db.session.merge(found[1], load=False)


def clear(app: Flask) -> None:
    """Forget ``app``'s copies (hub.caches.reset_all): the next use loads them again."""
    app.extensions.pop(_EXTENSION, None)


def _load(code: str) -> Agreement | None:
    """Load in a session of its own on the same connection (same transaction), so the
    rows come out detached and whole, and the caller's session is left as it was."""
    with Session(bind=db.session.connection()) as session:
        return session.scalar(
            select(Agreement)
            .where(Agreement.code == code)
            .options(joinedload(Agreement.parties), joinedload(Agreement.obligations))
        )


def _changes_reference(session: Session) -> bool:
    for row in session.new:
        if isinstance(row, _WATCHED):
            return True
    for row in session.deleted:
        if isinstance(row, _WATCHED):
            return True
    return any(
        isinstance(row, _WATCHED) and session.is_modified(row, include_collections=True)
        for row in session.dirty
    )


def note_changes(session: Session) -> None:
    """Unit step after each flush (new, dirty and deleted still show what was flushed)."""
    if not session.info.get(CHANGED) and _changes_reference(session):
        session.info[CHANGED] = True


def forget_changes(session: Session) -> None:
    """Unit step after the commit (the token is written) and after a rollback (undone)."""
    session.info.pop(CHANGED, None)


def write_version(session: Session) -> None:
    """Unit step before the commit: a new token when the transaction changed reference rows."""
    if not (session.info.get(CHANGED) or _changes_reference(session)):
        return
    token = uuid.uuid4().hex
    row = session.get(Setting, VERSION_KEY)
    if row is None:
        session.add(Setting(key=VERSION_KEY, value=token))
    else:
        row.value = token
