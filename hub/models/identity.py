"""This hub's id: a UUID kept in the settings table, named in bindings and backups.

Here, below every area that needs it (operations' bindings, backup's manifest),
so one function makes it.
"""

from __future__ import annotations

import uuid
from typing import Final

from sqlalchemy import select

from hub.extensions import db
from hub.models.user import Setting

HUB_ID_KEY: Final = "hub.id"

_HUB_ID: Final = select(Setting.__table__.c.value).where(Setting.__table__.c.key == HUB_ID_KEY)


def hub_id() -> str:
    """This hub's id; made in the open transaction if missing (``hub init`` makes it;
    the caller's commit keeps it)."""
    session = db.session
    # A plain read first: every seal asks, and an ORM load costs several times more.
    # Not cached across requests: a restored backup brings its own id.
    row = session.identity_map.get(session.identity_key(Setting, HUB_ID_KEY))
    if row is not None:
        return row.value
    value = session.execute(_HUB_ID).scalar()
    if value is not None:
        return value
    row = Setting(key=HUB_ID_KEY, value=str(uuid.uuid4()))
    session.add(row)
    session.flush()
    return row.value
