"""Exchanges: sending (requests, responses, alerts...), acknowledging, closing, translating.

The rules (who may send what to whom under which agreement, how a response
answers a request, when a request falls due) live here; the pages, the API and
the importer only parse input into `NewExchange` and call `send()`.
Conditions of use (handling codes H0-H3) are in hub.operations.handling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.extensions import db
from hub.i18n import COUNTRY_LANGUAGE, LOCALES
from hub.models import Agreement, Case, Exchange, ExchangeTranslation, Organisation, User
from hub.models.exchange import (
    CLASSIFICATIONS,
    CREDIBILITY,
    EXCHANGE_KINDS,
    HANDLING_CODES,
    RELIABILITY,
)
from hub.operations import audit, checks, content, outbox, reference_cache, sealed
from hub.operations.actor import Actor
from hub.operations.checks import Errors
from hub.operations.permissions import REQUEST_KINDS, exchange_for
from hub.operations.permissions import visible_exchange as visible_exchange  # re-exported
from hub.operations.scope import cases_visible_to, exchanges_visible_to
from hub.operations.unit import operation, operation_keeping_loaded
from hub.text import fold

SUBJECT_MAX = 200
HANDLING_NOTE_MAX = 500
BODY_MAX = 200_000
OPEN_STATUSES = ("sent", "acknowledged")


@dataclass
class NewExchange:
    """What a face hands to `send()`: codes and ids, as typed or as received."""

    agreement: str
    recipient: str
    kind: str
    subject: str
    body: str
    classification: str
    reliability: str
    credibility: int
    handling: str
    handling_note: str = ""
    sent_at: datetime | None = None
    case: int | None = None
    in_reply_to: int | None = None
    #: Structured fields sealed with the body (e.g. vehicle plates, routes).
    fields: dict[str, Any] = field(default_factory=dict)
    #: The body's language; defaults to the sender's country language.
    language: str | None = None
    #: Only in a response to a permission request: whether the provider grants it.
    permission_granted: bool | None = None


def logs_for(exchange: Exchange) -> list[str]:
    return [exchange.agreement.code]


def due_at(agreement: Agreement, kind: str, sent_at: datetime) -> datetime | None:
    """When a request must be answered: its agreement's `response_time` obligation."""
    if kind not in REQUEST_KINDS:
        return None
    rule = agreement.obligation("response_time")
    if rule is None:
        return None
    days = rule.params.get("days")
    if not isinstance(days, int | float) or days <= 0:
        return None
    return sent_at + timedelta(days=days)


def stays_between(answered: Exchange, sender_id: int | None, recipient_id: int) -> bool:
    """A reply's sender and recipient are the two parties of the exchange it answers."""
    return {sender_id, recipient_id} == {answered.sender_id, answered.recipient_id}


def check_case_parties(errors: Errors, case: Case, parties: list[Organisation]) -> None:
    """A case is linked only to exchanges between organisations that both see it.

    The link is one column shared by both parties: each sees the case the other linked,
    and the case's entries then go to their agreement's log. Linking a case to a party
    not involved would show it the case (or hide the link from it); the user involves
    that organisation in the case first.
    """
    involved = {o.id for o in case.organisations} | {case.owner_organisation_id}
    for party in parties:
        if party.id not in involved:
            errors.add(
                "case",
                _l(
                    "%(organisation)s is not involved in this case: add it to the case's"
                    " organisations first.",
                    organisation=party.code,
                ),
            )


def _check_reply(
    errors: Errors,
    actor: Actor,
    data: NewExchange,
    agreement: Agreement | None,
    recipient: Organisation | None,
    sent_at: datetime,
) -> Exchange | None:
    """The exchange replied to, with the rules of responses and permission requests."""
    kind = data.kind
    if data.in_reply_to is None:
        if kind in ("response", "permission_request"):
            errors.add("in_reply_to", _l("Say which exchange this replies to."))
        return None
    if not checks.valid_id(data.in_reply_to):
        errors.add("in_reply_to", _l("Unknown exchange."))
        return None
    target: Exchange | None = db.session.scalar(
        exchanges_visible_to(actor).where(Exchange.id == data.in_reply_to)
    )
    if target is None:
        errors.add("in_reply_to", _l("Unknown exchange."))
        return None
    if agreement is not None and target.agreement_id != agreement.id:
        errors.add("in_reply_to", _l("A reply stays under the agreement of what it answers."))
    if (
        recipient is not None
        and recipient.id != actor.organisation_id
        and not stays_between(target, actor.organisation_id, recipient.id)
    ):
        # A third party would see the subject of what it cannot open, and the asker a
        # reply it cannot open listed under its own exchange.
        errors.add(
            "recipient",
            {
                "response": _l("A response goes to the organisation that asked."),
                "permission_request": _l("Ask the organisation that provided the information."),
            }.get(kind, _l("A reply goes to the other organisation of the exchange it answers.")),
        )
    if kind == "response":
        if target.kind not in REQUEST_KINDS:
            errors.add("in_reply_to", _l("A response must reply to a request."))
        elif target.recipient_id != actor.organisation_id:
            errors.add(
                "in_reply_to",
                _l("Only the organisation the request was sent to can answer it."),
            )
        elif target.status == "closed":
            errors.add("in_reply_to", _l("This request is closed."))
        elif sent_at < target.sent_at:
            errors.add("sent_at", _l("A response cannot be sent before the request."))
        if target.kind == "permission_request" and data.permission_granted is None:
            errors.add("permission_granted", _l("Say whether permission is granted."))
    if kind == "permission_request":
        if target.recipient_id != actor.organisation_id:
            errors.add(
                "in_reply_to", _l("Ask permission only for information your organisation received.")
            )
        elif target.handling not in ("H1", "H2"):
            errors.add("in_reply_to", _l("This exchange's handling code needs no permission."))
        elif (target.handling == "H1" and target.court_use_permitted) or (
            target.handling == "H2" and target.onward_sharing_permitted
        ):
            errors.add("in_reply_to", _l("Permission is already recorded."))
    return target


def _agreement_by_code(errors: Errors, code: object) -> Agreement | None:
    """The agreement with its parties and obligations (the rules read all three), from
    the process's reference cache; memoised like `checks.agreement_by_code` in a bulk run."""
    if not isinstance(code, str) or not code:
        return checks.agreement_by_code(errors, "agreement", code)  # names the error
    memo = db.session.info.get(checks.LOOKUP_MEMO)
    if memo is not None and (Agreement, code) in memo:
        row: Agreement | None = memo[(Agreement, code)]
    else:
        row = reference_cache.agreement(code)
        if memo is not None:
            memo[(Agreement, code)] = row
    if row is None:
        errors.add("agreement", _l("Unknown agreement."))
    return row


@dataclass
class CleanFields:
    """An exchange's own fields after `check_fields`: clean text, a bounded time."""

    subject: str
    body: str
    note: str
    sent_at: datetime
    language: str | None


def check_fields(errors: Errors, data: NewExchange, now: datetime) -> CleanFields:
    """The rules of an exchange's own fields, whoever sent it and however it arrived:
    `send()` (pages, API, the importer) and imported packages apply exactly these."""
    checks.choice(errors, "kind", data.kind, EXCHANGE_KINDS)
    subject = checks.text(errors, "subject", data.subject, max_length=SUBJECT_MAX)
    body = checks.text(errors, "body", data.body, max_length=BODY_MAX, multiline=True)
    checks.choice(errors, "classification", data.classification, CLASSIFICATIONS)
    checks.choice(errors, "reliability", data.reliability, RELIABILITY)
    checks.whole(errors, "credibility", data.credibility, CREDIBILITY)
    checks.choice(errors, "handling", data.handling, HANDLING_CODES)
    note = checks.text(
        errors, "handling_note", data.handling_note, max_length=HANDLING_NOTE_MAX, required=False
    )
    if data.handling == "H3" and not note and "handling_note" not in errors:
        errors.add("handling_note", _l("Under H3, state the restrictions in words."))
    language = data.language
    if language is not None and language not in LOCALES:
        errors.add("language", _l("Unknown language."))
    checks.structured(errors, "fields", data.fields)
    sent_at = checks.when(errors, "sent_at", data.sent_at, now=now)
    return CleanFields(subject, body, note, sent_at, language)


def _check(actor: Actor, data: NewExchange, now: datetime) -> tuple[Any, ...]:
    errors = Errors()
    own = check_fields(errors, data, now)
    subject, body, note, sent_at, language = (
        own.subject,
        own.body,
        own.note,
        own.sent_at,
        own.language,
    )

    agreement = _agreement_by_code(errors, data.agreement)
    # The recipient is normally one of the parties just loaded; only otherwise is it
    # looked up (to tell an unknown organisation from one that is not a party).
    recipient = None
    if agreement is not None and isinstance(data.recipient, str) and data.recipient:
        recipient = next((p for p in agreement.parties if p.code == data.recipient), None)
    if recipient is None:
        recipient = checks.organisation_by_code(errors, "recipient", data.recipient)
    sender = db.session.get(Organisation, actor.organisation_id)
    if sender is None:  # validate() let an officer of an existing organisation through
        raise Forbidden()
    if agreement is not None:
        party_ids = {p.id for p in agreement.parties}
        if sender.id not in party_ids:
            errors.add("agreement", _l("Your organisation is not a party to this agreement."))
        if recipient is not None and recipient.id not in party_ids:
            errors.add("recipient", _l("The recipient is not a party to this agreement."))
        allowed = agreement.classifications
        if (
            allowed
            and data.classification in CLASSIFICATIONS
            and data.classification not in allowed
        ):
            errors.add(
                "classification",
                _l("This agreement does not share information at this level."),
            )
    if recipient is not None and recipient.id == sender.id:
        errors.add("recipient", _l("Send to another organisation than your own."))

    case = None
    if data.case is not None:
        if checks.valid_id(data.case):
            case = db.session.scalar(cases_visible_to(actor).where(Case.id == data.case))
        if case is None:
            errors.add("case", _l("Unknown case."))
        elif recipient is not None:
            check_case_parties(errors, case, [sender, recipient])
    if data.permission_granted is not None and not isinstance(data.permission_granted, bool):
        errors.add("permission_granted", _l("Answer yes or no."))
    target = None
    if data.kind in EXCHANGE_KINDS:
        target = _check_reply(errors, actor, data, agreement, recipient, sent_at)
    if data.permission_granted is not None and not (
        data.kind == "response" and target is not None and target.kind == "permission_request"
    ):
        errors.add(
            "permission_granted",
            _l("Only a response to a permission request grants or refuses permission."),
        )
    errors.raise_if_any()
    language = language or COUNTRY_LANGUAGE.get(sender.country, "vi")
    return agreement, sender, recipient, case, target, subject, body, note, sent_at, language


@dataclass
class Checked:
    """A `NewExchange` that passed every rule of `send()`, resolved to rows and clean text."""

    agreement: Agreement
    sender: Organisation
    recipient: Organisation
    case: Case | None
    target: Exchange | None
    subject: str
    body: str
    note: str
    sent_at: datetime
    language: str


def validate(actor: Actor, data: NewExchange, now: datetime) -> Checked:
    """Every rule `send()` applies, writing nothing (the importer checks its rows with it)."""
    checks.require_officer(actor)
    return Checked(*_check(actor, data, now))


def row_values(actor: Actor, data: NewExchange, checked: Checked, now: datetime) -> dict[str, Any]:
    """The column values of the exchange `send()` writes for a validated input."""
    return {
        "agreement_id": checked.agreement.id,
        "sender_id": checked.sender.id,
        "recipient_id": checked.recipient.id,
        "kind": data.kind,
        "status": "sent",
        "classification": data.classification,
        "handling": data.handling,
        "handling_note": checked.note,
        "reliability": data.reliability,
        "credibility": data.credibility,
        "subject": checked.subject,
        "subject_key": fold(checked.subject)[:SUBJECT_MAX],
        "language": checked.language,
        "case_id": checked.case.id if checked.case else None,
        "in_reply_to_id": checked.target.id if checked.target else None,
        "created_by_id": actor.user_id,
        "sent_at": checked.sent_at,
        "due_at": due_at(checked.agreement, data.kind, checked.sent_at),
        "permission_granted": data.permission_granted,
        "created_at": now,
    }


def sealed_value(data: NewExchange, checked: Checked) -> dict[str, Any]:
    """What is sealed for an exchange (format in hub.operations.content)."""
    return {"body": checked.body, "fields": data.fields or {}, "language": checked.language}


def sent_details(values: dict[str, Any], checked: Checked) -> dict[str, Any]:
    """The details of the ``exchange_sent`` audit entry (``values``: `row_values`); the
    sealed-record helper adds the payload's digest."""
    return {
        "kind": values["kind"],
        "sender": checked.sender.code,
        "recipient": checked.recipient.code,
        "classification": values["classification"],
        "handling": values["handling"],
        "sent_at": checked.sent_at.isoformat(),
        "due_at": values["due_at"].isoformat() if values["due_at"] else None,
        "case": values["case_id"],
        "in_reply_to": values["in_reply_to_id"],
    }


@operation_keeping_loaded
def send(actor: Actor, data: NewExchange) -> Exchange:
    """Record one exchange sent by the actor's organisation; seals the body, audits.

    Its unit commits without expiring what was just written: the caller shows it
    next, and reloading the rows it has in hand would cost a query each. Inside
    another operation (an exchange with its attachments) it joins that one's unit.
    """
    now = checks.now()
    # Without a batch, record() writes and returns the row itself.
    exchange = cast(Exchange, record(actor, data, validate(actor, data, now), now))
    outbox.exchange_sent(actor, exchange)  # queued for the recipient's hub, if a peer's
    return exchange


@operation_keeping_loaded
def send_with_attachments(
    actor: Actor, data: NewExchange, files: list[tuple[str, bytes]]
) -> Exchange:
    """Send an exchange and attach ``files`` (name, bytes) to it: one unit, so the
    exchange is recorded with every file or not at all."""
    from hub.operations import attachments

    exchange = send(actor, data)
    for filename, content_bytes in files:
        attachments.add(actor, exchange.id, filename=filename, data=content_bytes)
    return exchange


@dataclass(frozen=True, slots=True)
class Queued:
    """An exchange queued in a `sealed.Batch`, not in the session yet: what answering
    a request reads of it (an ORM object per row would cost 5% of an import)."""

    id: int
    sent_at: datetime
    permission_granted: bool | None


def record(
    actor: Actor,
    data: NewExchange,
    checked: Checked,
    now: datetime,
    *,
    batch: sealed.Batch | None = None,
) -> Exchange | Queued:
    """Write a validated exchange: its row, its sealed body, its ``exchange_sent``
    entry, the case's agreement, the request it answers. The one send pipeline:
    `send` calls it for one row, the importer for each row with its ``batch``
    (then the row is queued and a `Queued` stands for it).

    The recording organisation (the actor's) seals and signs: for an exchange it
    sent, as sender; for one it received (imported history), its transcript, the
    partner's signing key not being on this hub. Both parties read it.
    """
    agreement, sender, recipient = checked.agreement, checked.sender, checked.recipient
    values = row_values(actor, data, checked, now)
    recorder = actor.organisation_code
    logs = [agreement.code]
    sealing: dict[str, Any] = dict(
        record_type="exchange",
        agreement=agreement.code,
        recipient=recipient.code if sender.code == recorder else sender.code,
        readers=[sender.code, recipient.code],
        content=content.canonical(sealed_value(data, checked)),
        action="exchange_sent",
        logs=logs,
        details=sent_details(values, checked),
    )
    exchange: Exchange | Queued
    if batch is None:
        exchange = Exchange(**values, payload_id=None)
        # The rows in hand, so showing the new exchange loads none of them again
        # (none of these relationships has a back-reference that would load a collection).
        exchange.agreement, exchange.sender, exchange.recipient = agreement, sender, recipient
        sealed.add(actor, exchange, **sealing)
    else:
        exchange_id = batch.add(actor, values, **sealing)
        exchange = Queued(exchange_id, values["sent_at"], values["permission_granted"])
    case, target = checked.case, checked.target
    if case is not None and agreement not in case.agreements:
        case.agreements.append(agreement)
    if data.kind == "response" and target is not None:
        # In a batch, the request changes now (later rows' checks see it) and its
        # entries follow the response's.
        with sealed.following(batch):
            answer_request(actor, target, exchange, logs)
    return exchange


def answer_request(
    actor: Actor, request: Exchange, response: Exchange | Queued, logs: list[str]
) -> None:
    """A response answers its request (the first response sets the time)."""
    first = request.answered_at is None
    if first:
        request.answered_at = response.sent_at
        request.status = "answered"
        if request.acknowledged_at is None:
            # Answering is receipt too; acknowledge_time is then measured to the answer.
            request.acknowledged_at = response.sent_at
            request.acknowledged_by_id = actor.user_id
        audit.record(
            "request_answered",
            actor=actor,
            target_type="exchange",
            target_id=request.id,
            logs=logs,
            details={"response": response.id, "answered_at": response.sent_at.isoformat()},
        )
    if request.kind == "permission_request" and response.permission_granted is not None:
        about = request.in_reply_to
        if response.permission_granted and about is not None:
            if about.handling == "H1":
                about.court_use_permitted = True
            elif about.handling == "H2":
                about.onward_sharing_permitted = True
        audit.record(
            "permission_granted" if response.permission_granted else "permission_refused",
            actor=actor,
            target_type="exchange",
            target_id=about.id if about else request.id,
            logs=logs,
            details={"handling": about.handling if about else None, "response": response.id},
        )


@operation
def acknowledge(actor: Actor, exchange_id: int) -> Exchange:
    """Receipt, by the recipient organisation; a second click changes nothing."""
    exchange = exchange_for(actor, exchange_id, "acknowledge")
    if exchange.acknowledged_at is not None:
        return exchange
    mark_acknowledged(actor, exchange, checks.now())
    outbox.exchange_acknowledged(actor, exchange)
    return exchange


def mark_acknowledged(
    actor: Actor, exchange: Exchange, at: datetime, *, by_org: str | None = None
) -> None:
    """Record the recipient's acknowledgement at ``at`` and audit it: here by one of our
    officers, or (``by_org``) as the partner's signed update states it (package_updates)."""
    exchange.acknowledged_at = at
    exchange.acknowledged_by_id = actor.user_id
    if exchange.status == "sent":
        exchange.status = "acknowledged"
    details: dict[str, str] = {"acknowledged_at": at.isoformat()}
    if by_org is not None:
        details["by"] = by_org
    audit.record(
        "exchange_acknowledged",
        actor=actor,
        target_type="exchange",
        target_id=exchange.id,
        logs=logs_for(exchange),
        details=details,
    )


@operation
def close(actor: Actor, exchange_id: int) -> Exchange:
    """Close an exchange: nothing more is expected of it.

    A request is closed only by its sender (withdrawn, or answered outside the
    hub), so a recipient cannot make its own overdue answer disappear.
    """
    exchange = exchange_for(actor, exchange_id, "close")
    if exchange.status == "closed":
        raise Conflict(_l("This exchange is already closed."))
    mark_closed(actor, exchange, checks.now())
    outbox.exchange_closed(actor, exchange)
    return exchange


def mark_closed(
    actor: Actor, exchange: Exchange, at: datetime, *, by_org: str | None = None
) -> None:
    """Close the exchange at ``at`` and audit it (as mark_acknowledged, for closing)."""
    exchange.status = "closed"
    exchange.closed_at = at
    details: dict[str, str] = {"closed_at": at.isoformat()}
    if by_org is not None:
        details["by"] = by_org
    audit.record(
        "exchange_closed",
        actor=actor,
        target_type="exchange",
        target_id=exchange.id,
        logs=logs_for(exchange),
        details=details,
    )


@operation
def link_case(actor: Actor, exchange_id: int, case_id: int | None) -> Exchange:
    """Link the exchange to a case the actor can see (or unlink with None)."""
    exchange = exchange_for(actor, exchange_id, "link_case")
    case = None
    if case_id is not None:
        if checks.valid_id(case_id):
            case = db.session.scalar(cases_visible_to(actor).where(Case.id == case_id))
        if case is None:
            raise ValidationFailed.one("case", _l("Unknown case."))
        errors = Errors()
        check_case_parties(errors, case, [exchange.sender, exchange.recipient])
        errors.raise_if_any()
    exchange.case_id = case.id if case else None
    if case is not None and exchange.agreement not in case.agreements:
        case.agreements.append(exchange.agreement)
    audit.record(
        "exchange_case_linked",
        actor=actor,
        target_type="exchange",
        target_id=exchange.id,
        logs=logs_for(exchange),
        details={"case": exchange.case_id},
    )
    return exchange


@operation
def add_translation(
    actor: Actor, exchange_id: int, *, language: str, body: str
) -> ExchangeTranslation:
    """A translation of the body, beside the original, by either party's officer."""
    exchange = exchange_for(actor, exchange_id, "translate")
    errors = Errors()
    checks.choice(errors, "language", language, LOCALES)
    body = checks.text(errors, "body", body, max_length=BODY_MAX, multiline=True)
    errors.raise_if_any()
    row = ExchangeTranslation(
        exchange_id=exchange.id, language=language, translator_id=actor.user_id
    )
    sealed.add(
        actor,
        row,
        record_type="exchange_translation",
        agreement=exchange.agreement.code,
        recipient=None,
        readers=[exchange.sender.code, exchange.recipient.code],
        content=content.canonical({"body": body, "language": language}),
        action="exchange_translated",
        target_type="exchange",
        target_id=exchange.id,
        logs=logs_for(exchange),
        details=lambda translation: {"translation": translation, "language": language},
    )
    outbox.translation_added(actor, exchange, row)
    return row


@dataclass
class Text:
    language: str
    body: str
    original: bool
    translator: str | None = None
    translated_at: datetime | None = None


@dataclass
class Content:
    """An exchange's opened content: the original body and its translations."""

    fields: dict[str, Any]
    texts: list[Text]

    @property
    def body(self) -> str:
        return next(t.body for t in self.texts if t.original)


def is_reader(actor: Actor, exchange: Exchange) -> bool:
    return actor.organisation_id in (exchange.sender_id, exchange.recipient_id)


@operation_keeping_loaded
def read(actor: Actor, exchange: Exchange, *, language: str | None = None) -> Content:
    """Open body and translations for an entitled reader (each opening audited).

    Texts come in the reader's language first, then the original, then the rest.
    """
    if not is_reader(actor, exchange) or exchange.payload is None:
        raise NotFound()
    logs = logs_for(exchange)
    value = content.open_json(
        actor, exchange.payload, record_type="exchange", record_id=exchange.id, logs=logs
    )
    texts = [
        Text(language=value.get("language", exchange.language), body=value["body"], original=True)
    ]
    translators: dict[int | None, str] = {
        u.id: u.display_name
        for u in db.session.scalars(
            select(User).where(User.id.in_({t.translator_id for t in exchange.translations}))
        )
    }
    for row in exchange.translations:
        if row.payload is None:
            continue
        opened = content.open_json(
            actor, row.payload, record_type="exchange_translation", record_id=row.id, logs=logs
        )
        texts.append(
            Text(
                language=opened["language"],
                body=opened["body"],
                original=False,
                translator=translators.get(row.translator_id),
                translated_at=row.created_at,
            )
        )
    texts.sort(key=lambda t: (t.language != language, not t.original))
    return Content(fields=value.get("fields") or {}, texts=texts)


def load_for_view(actor: Actor, exchange_id: int) -> Exchange:
    """The exchange with what a detail view shows, loaded in a few queries."""
    if not checks.valid_id(exchange_id):
        raise NotFound()
    row: Exchange | None = db.session.scalar(
        exchanges_visible_to(actor)
        .where(Exchange.id == exchange_id)
        .options(
            selectinload(Exchange.agreement),
            selectinload(Exchange.sender).selectinload(Organisation.names),
            selectinload(Exchange.recipient).selectinload(Organisation.names),
            selectinload(Exchange.attachments),
            selectinload(Exchange.translations),
            selectinload(Exchange.replies),
        )
    )
    if row is None:
        raise NotFound()
    return row
