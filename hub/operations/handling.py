"""Conditions of use: the provider's handling code, enforced.

H0  use only to prevent and combat crime (no further restriction the hub can check);
H1  not to be used in judicial proceedings without the provider's permission:
    `mark_for_court` is refused until permission is recorded;
H2  no onward sharing without the provider's permission:
    `forward` to a third organisation is refused until permission is recorded;
H3  other restrictions, stated in words (`handling_note`, required), shown everywhere.

Permission is asked with an exchange of kind `permission_request` replying to
the restricted exchange and addressed to its provider; the provider's
`response` with `permission_granted` true records it (hub.operations.exchanges).
Each organisation may forward or mark what it provided itself.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from hub.errors import Conflict, ValidationFailed
from hub.models import Exchange
from hub.operations import audit, checks, content, outbox, sealed
from hub.operations.actor import Actor
from hub.operations.checks import Errors
from hub.operations.exchanges import SUBJECT_MAX, logs_for
from hub.operations.permissions import exchange_for
from hub.operations.permissions import may_forward as may_forward  # re-exported
from hub.operations.permissions import may_use_in_court as may_use_in_court  # re-exported
from hub.operations.unit import operation
from hub.text import fold

#: What a forwarded copy is recorded as: it passes on information, it asks nothing.
FORWARDED_KIND = "alert"


@operation
def forward(actor: Actor, exchange_id: int, *, agreement: str, recipient: str) -> Exchange:
    """Pass the exchange's content on to a third organisation, under the same conditions.

    The copy keeps the original's classification, handling code and note; it is
    sealed anew for the third organisation (the original's ciphertext is never
    re-addressed), and it points back at the original.
    """
    original = exchange_for(actor, exchange_id, "forward")
    errors = Errors()
    chosen = checks.agreement_by_code(errors, "agreement", agreement)
    third = checks.organisation_by_code(errors, "recipient", recipient)
    if third is not None and third.id in (original.sender_id, original.recipient_id):
        errors.add("recipient", _l("Forward to an organisation that does not have it already."))
    if chosen is not None:
        party_ids = {p.id for p in chosen.parties}
        if actor.organisation_id not in party_ids:
            errors.add("agreement", _l("Your organisation is not a party to this agreement."))
        if third is not None and third.id not in party_ids:
            errors.add("recipient", _l("The recipient is not a party to this agreement."))
        if chosen.classifications and original.classification not in chosen.classifications:
            errors.add(
                "classification", _l("This agreement does not share information at this level.")
            )
    if errors or chosen is None or third is None:  # a missing one added its error
        raise ValidationFailed(dict(errors))
    opened = content.open_json(
        actor,
        original.payload,
        record_type="exchange",
        record_id=original.id,
        logs=logs_for(original),
    )
    now = checks.now()
    copy = Exchange(
        agreement_id=chosen.id,
        sender_id=actor.organisation_id,
        recipient_id=third.id,
        kind=FORWARDED_KIND,
        status="sent",
        classification=original.classification,
        handling=original.handling,
        handling_note=original.handling_note,
        reliability=original.reliability,
        credibility=original.credibility,
        subject=original.subject,
        subject_key=fold(original.subject)[:SUBJECT_MAX],
        language=original.language,
        created_by_id=actor.user_id,
        forwarded_from_id=original.id,
        sent_at=now,
        created_at=now,
    )
    sealed.add(
        actor,
        copy,
        record_type="exchange",
        agreement=chosen.code,
        recipient=third.code,
        readers=[actor.organisation_code, third.code],
        content=content.canonical({**opened, "forwarded_from": original.id}),
        action="exchange_forwarded",
        target_id=original.id,
        logs=sorted({original.agreement.code, chosen.code}),
        details=lambda copy_id: {
            "original": original.id,
            "copy": copy_id,
            "recipient": third.code,
            "handling": original.handling,
        },
    )
    outbox.exchange_sent(actor, copy)  # the copy, for the third organisation's hub
    return copy


@operation
def mark_for_court(actor: Actor, exchange_id: int) -> Exchange:
    """Mark information for use in judicial proceedings (refused under H1 until permitted)."""
    exchange = exchange_for(actor, exchange_id, "court_use")
    if exchange.court_use_marked_at is not None:
        raise Conflict(_l("This exchange is already marked for use in court."))
    if exchange.kind == "permission_request":
        raise ValidationFailed.one("kind", _l("A permission request is not evidence."))
    now = checks.now()
    exchange.court_use_marked_at = now
    audit.record(
        "exchange_marked_for_court",
        actor=actor,
        target_type="exchange",
        target_id=exchange.id,
        logs=logs_for(exchange),
        details={"handling": exchange.handling, "marked_at": now.isoformat()},
    )
    return exchange
