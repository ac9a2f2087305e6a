"""What needs a user's attention on the home page: real queries, bounded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from hub.extensions import db
from hub.models import Exchange
from hub.models.base import utcnow
from hub.operations.actor import Actor
from hub.operations.scope import exchanges_visible_to

LIMIT = 20
DUE_SOON = timedelta(days=2)


@dataclass
class Attention:
    unacknowledged: list[Exchange]
    to_answer: list[Exchange]
    awaiting_answer: list[Exchange]


def for_actor(actor: Actor) -> Attention:
    """New items addressed to the actor's organisation, requests it owes, requests it awaits."""
    org = actor.organisation_id
    base = exchanges_visible_to(actor)
    unacknowledged = db.session.scalars(
        base.where(Exchange.recipient_id == org, Exchange.status == "sent")
        .order_by(Exchange.sent_at.desc())
        .limit(LIMIT)
    ).all()
    open_requests = base.where(
        Exchange.kind.in_(("request", "permission_request")),
        Exchange.status.in_(("sent", "acknowledged")),
        Exchange.due_at.is_not(None),
        Exchange.due_at < utcnow() + DUE_SOON,
    ).order_by(Exchange.due_at)
    to_answer = db.session.scalars(
        open_requests.where(Exchange.recipient_id == org).limit(LIMIT)
    ).all()
    awaiting = db.session.scalars(open_requests.where(Exchange.sender_id == org).limit(LIMIT)).all()
    return Attention(list(unacknowledged), list(to_answer), list(awaiting))
