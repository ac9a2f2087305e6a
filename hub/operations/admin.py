"""What the administrator's pages read about reference data (organisations, agreements).

Edits to agreements and their obligations belong to hub.operations.compliance's
side of the hub; these pages only list, for an administrator, what is there.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hub.errors import Forbidden
from hub.extensions import db
from hub.models import Agreement, Organisation
from hub.operations.actor import SYSTEM, Actor


def _require_admin(actor: Actor) -> None:
    if actor is not SYSTEM and not actor.is_admin:
        raise Forbidden()


def organisations(actor: Actor) -> list[Organisation]:
    _require_admin(actor)
    return list(
        db.session.scalars(
            select(Organisation)
            .options(selectinload(Organisation.names))
            .order_by(Organisation.code)
        )
    )


def agreements(actor: Actor) -> list[Agreement]:
    _require_admin(actor)
    return list(
        db.session.scalars(
            select(Agreement)
            .options(selectinload(Agreement.parties), selectinload(Agreement.obligations))
            .order_by(Agreement.code)
        )
    )
