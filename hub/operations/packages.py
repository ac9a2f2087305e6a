"""Sealed packages: one exchange (with its replies and attachments) as a file for a partner's
own system, importing such a file, and recording the partner's signed receipt.

A package (hub.crypto.package, schemas/README.md) carries sealed items only. The
plaintext metadata an exchange has here (kind, subject, classification,
handling code, dates...) travels as one more sealed item, the *bundle index*
(record type ``package``), sealed by the exporting organisation for the
recipient alone. Every other item is the stored payload itself, unchanged:
its sender's signature still holds at the partner's end.

Import order: parse strictly, check the recipient is one of ours, refuse a
replay, verify every signature against keys we already trust, open every item,
check the index against the items — and only then write anything, in one
transaction. Any refusal stores nothing.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from hub import app_keyring
from hub.crypto import strict_json
from hub.crypto.keyring import ENC, KeyringError
from hub.crypto.package import (
    MalformedPackage,
    Package,
    PackageError,
    UnknownSigner,
    export_package,
    make_receipt,
    parse_package,
    verify_package,
    verify_receipt,
)
from hub.crypto.sealing import (
    BadSignature,
    Sealed,
    SealingError,
    canonical_json,
    open_sealed,
)
from hub.crypto.sealing import seal as seal_envelope
from hub.errors import Conflict, Forbidden, Message, NotFound, OperationError, ValidationFailed
from hub.extensions import db
from hub.i18n import COUNTRY_LANGUAGE
from hub.models import (
    Agreement,
    Attachment,
    Exchange,
    ExportedPackage,
    ImportedPackage,
    Organisation,
    PackageReceipt,
)
from hub.models.exchange import CLASSIFICATIONS
from hub.operations import audit, checks, exchanges, outbox, package_updates, payloads
from hub.operations.actor import Actor
from hub.operations.exchanges import stays_between
from hub.operations.scope import get_exchange
from hub.operations.sealed import store_sealed
from hub.operations.unit import operation
from hub.text import fold

INDEX_FORMAT: Final = "blo-hub-exchange-bundle"
INDEX_VERSION: Final = 1
INDEX_RECORD_TYPE: Final = "package"
MAX_PACKAGE_BYTES: Final = 200 * 1024 * 1024


class PackageRefused(OperationError):
    """A package or receipt that is not accepted; nothing was stored."""

    status = 422
    code = "package_refused"


# --- export ------------------------------------------------------------------


@dataclass
class ExportedFile:
    filename: str
    text: str
    digest: str
    items: int


def _is_system(actor: Actor) -> bool:
    return actor.user_id is None and actor.role == "system"


def _load_exchange(actor: Actor, exchange_id: int) -> Exchange:
    if not isinstance(exchange_id, int) or isinstance(exchange_id, bool) or exchange_id < 1:
        raise NotFound()
    if _is_system(actor):  # the command line acts for the hub
        row = db.session.get(Exchange, exchange_id)
        if row is None:
            raise NotFound()
        return row
    return get_exchange(actor, exchange_id)


def _time(moment: datetime | None) -> str | None:
    # Microseconds kept: both hubs then measure compliance from the very same times.
    return package_updates.stamp(moment) if moment else None


def _bundle(exchange: Exchange) -> list[Exchange]:
    """The exchange and its replies (and theirs), oldest first."""
    found, todo = [], [exchange]
    while todo:
        row = todo.pop(0)
        found.append(row)
        todo.extend(row.replies)
    return found


@operation
def export(
    actor: Actor, exchange_id: int, to_org: str, *, exporter_org: str | None = None
) -> ExportedFile:
    """Export an exchange with its replies and attachments for ``to_org``, signed by the
    exporting organisation (the actor's; on the command line the exchange's sender
    unless named). Both must be the exchange's parties; recorded and audited."""
    if not _is_system(actor):
        checks.require_officer(actor)  # supervisors read; exporting is a write
    exchange = _load_exchange(actor, exchange_id)
    exporter = exporter_org or (
        exchange.sender.code if _is_system(actor) else actor.organisation_code
    )
    parties = {exchange.sender.code, exchange.recipient.code}
    if not _is_system(actor) and exporter != actor.organisation_code:
        raise Forbidden()
    if exporter not in parties:
        raise Forbidden(_l("Only a party to the exchange can export it."))
    if to_org not in parties or to_org == exporter:
        raise ValidationFailed.one("to", _l("A package goes to the other party of the exchange."))
    exported = seal_package(actor, exchange, exporter, to_org, _bundle(exchange))
    return exported


def seal_package(
    actor: Actor,
    exchange: Exchange,
    exporter: str,
    to_org: str,
    rows: list[Exchange],
    *,
    updates: list[dict[str, Any]] | None = None,
    update_items: list[Sealed] | None = None,
) -> ExportedFile:
    """The package of ``rows`` (and of ``updates`` to exchanges the partner holds, with
    their sealed items) for ``to_org``, recorded and audited against ``exchange``; not
    in the caller's unit. The caller decided the actor may (export() above; the peer outbox)."""
    parties = {exchange.sender.code, exchange.recipient.code}
    items: list[Sealed] = list(update_items or [])
    index: list[dict[str, Any]] = []
    for row in rows:
        if (
            row.payload is None
            or row.sender.code not in parties
            or row.recipient.code not in parties
        ):
            continue
        body = payloads.to_sealed(row.payload)
        if to_org not in body.wraps:
            continue
        items.append(body)
        attachments = []
        for att in row.attachments:
            if att.payload is None:
                continue
            sealed = payloads.to_sealed(att.payload)
            if to_org in sealed.wraps:
                items.append(sealed)
                attachments.append(
                    {"media_type": att.media_type, "size": att.size, "item": sealed.digest}
                )
        index.append(
            {
                "ref": body.binding["record_id"],
                # The global id it has where it was made: the partner resolves it.
                "in_reply_to": package_updates.origin_id(row.in_reply_to)
                if row.in_reply_to_id and row.in_reply_to is not None
                else None,
                "agreement": row.agreement.code,
                "sender": row.sender.code,
                "recipient": row.recipient.code,
                "kind": row.kind,
                "classification": row.classification,
                # Handling codes travel with the content: the partner's system must
                # keep honouring them (H1 court use, H2 onward sharing...).
                "handling": row.handling,
                "handling_note": row.handling_note,
                "onward_sharing_permitted": bool(row.onward_sharing_permitted),
                "court_use_permitted": bool(row.court_use_permitted),
                "reliability": row.reliability,
                "credibility": row.credibility,
                "permission_granted": row.permission_granted,
                "subject": row.subject,
                "language": row.language,
                "sent_at": _time(row.sent_at),
                "due_at": _time(row.due_at),
                "item": body.digest,
                "attachments": attachments,
            }
        )
    if not index and not updates:
        raise ValidationFailed.one("to", _l("Nothing in this exchange is sealed for that party."))
    try:
        version, signing_key = app_keyring.signing_key(exporter)
        reader_key = app_keyring.public_enc(to_org)
    except (KeyringError, app_keyring.KeysUnavailable) as exc:
        raise PackageRefused(
            _l("The keys needed for this package are not available: %(reason)s", reason=str(exc))
        ) from exc
    document = {"format": INDEX_FORMAT, "version": INDEX_VERSION, "exchanges": index}
    if updates:
        document["updates"] = updates
    index_item = seal_envelope(
        canonical_json(document),
        binding={
            "record_type": INDEX_RECORD_TYPE,
            "record_id": payloads.global_record_id(str(uuid.uuid4())),
            "agreement": exchange.agreement.code,
            "sender": exporter,
            "recipient": to_org,
        },
        readers={to_org: reader_key},
        signer=(exporter, version, signing_key),
    )
    text = export_package(
        [index_item, *items], recipient=to_org, exporter=(exporter, version, signing_key)
    )
    digest = parse_package(text).digest
    db.session.add(
        ExportedPackage(
            exchange_id=exchange.id,
            package_sha256=digest,
            exporter_org=exporter,
            recipient_org=to_org,
            items=len(items) + 1,
            exported_by_id=actor.user_id,
        )
    )
    audit.record(
        "package_exported",
        actor=actor,
        target_type="exchange",
        target_id=exchange.id,
        logs=[exchange.agreement.code],
        details={
            "package_sha256": digest,
            "to": to_org,
            "exchanges": [r.id for r in rows],
            "items": len(items) + 1,
        },
    )
    return ExportedFile(f"exchange-{exchange.id}-{to_org}.bhpkg.json", text, digest, len(items) + 1)


# --- import ------------------------------------------------------------------


@dataclass
class ImportedFile:
    digest: str
    recipient: str
    exporter: str
    exchange_ids: list[int]
    receipt: str
    #: Imported before (a redelivery): nothing was stored this time.
    again: bool = False


def _refuse(message: Message) -> PackageRefused:
    return PackageRefused(message)


def _own_private_orgs() -> set[str]:
    return {k.org for k in app_keyring.keyring().list_keys() if k.kind == ENC and k.has_private}


@operation
def import_package(actor: Actor, data: str | bytes, *, redelivery: bool = False) -> ImportedFile:
    """Verify, then store an exchange bundle a partner exported; answer with a signed receipt.

    ``redelivery`` (a peer hub delivering online): a package imported already is
    verified again and answered with the receipt issued the first time, storing
    nothing, instead of being refused; a retried delivery is then idempotent."""
    if not _is_system(actor):
        checks.require_officer(actor)
    if len(data) > MAX_PACKAGE_BYTES:
        raise _refuse(_l("This file is too large to be a package."))
    try:
        pkg = parse_package(data)
    except MalformedPackage as exc:
        raise _refuse(
            _l(
                "This is not a sealed package of a format and version this hub reads (%(reason)s).",
                reason=str(exc),
            )
        ) from exc
    recipient = pkg.recipient
    try:
        own = _own_private_orgs()
    except KeyringError as exc:
        raise _refuse(_l("The keyring cannot be read: %(reason)s", reason=str(exc))) from exc
    if recipient not in own:
        raise _refuse(
            _l(
                "This package is addressed to %(org)s, whose keys this hub does not hold.",
                org=recipient,
            )
        )
    if not _is_system(actor) and actor.organisation_code != recipient:
        raise _refuse(_l("This package is addressed to another organisation."))
    own_prefix = payloads.global_record_id("")
    if any(item.binding["record_id"].startswith(own_prefix) for item in pkg.items):
        # Its records are here already: importing would only duplicate them.
        raise _refuse(_l("This package was exported by this hub; its exchanges are here already."))
    again = db.session.scalar(
        select(ImportedPackage).where(ImportedPackage.package_sha256 == pkg.digest)
    )
    if again is not None and not redelivery:
        raise _refuse(_l("This package was imported already; it is not imported twice."))
    try:
        verified = verify_package(pkg, app_keyring.keyring().known_signers())
    except UnknownSigner as exc:
        raise _refuse(
            _l(
                "The package is signed by a key this hub does not know; import and confirm "
                "the sender's public keys first (%(reason)s).",
                reason=str(exc),
            )
        ) from exc
    except (BadSignature, SealingError) as exc:
        raise _refuse(
            _l(
                "A signature in the package does not verify: it was altered (%(reason)s).",
                reason=str(exc),
            )
        ) from exc
    if again is not None:
        return ImportedFile(
            pkg.digest, recipient, pkg.exporter_org, [again.exchange_id], again.receipt_json, True
        )
    opened: dict[str, bytes] = {}
    try:
        for item, signer in zip(pkg.items, verified.signers, strict=True):
            wrap = item.wraps[recipient]
            private = app_keyring.private_enc(recipient, wrap.version)
            opened[item.digest] = open_sealed(
                item,
                binding=item.binding,
                reader_org=recipient,
                reader_private_key=private,
                signer_public_key=signer.public_key,
            )
    except (SealingError, KeyringError, app_keyring.KeysUnavailable, KeyError) as exc:
        raise _refuse(
            _l("An item of the package does not open: %(reason)s", reason=str(exc))
        ) from exc
    entries, updates = _check_index(pkg, opened)
    cleaned = _clean(pkg, opened, entries, updates)  # every field, before anything is written
    ids = _store(actor, pkg, cleaned)
    ids += package_updates.apply(actor, pkg, updates)
    version, key = app_keyring.signing_key(recipient)
    receipt = make_receipt(pkg.digest, recipient, (recipient, version, key))
    db.session.add(
        ImportedPackage(package_sha256=pkg.digest, exchange_id=ids[0], receipt_json=receipt)
    )
    try:
        db.session.flush()
    except IntegrityError as exc:  # a concurrent import of the same package won
        # The unit rolls the whole import back as the refusal passes.
        raise _refuse(_l("This package was imported already; it is not imported twice.")) from exc
    audit.record(
        "package_imported",
        actor=actor,
        target_type="exchange",
        target_id=ids[0],
        logs=sorted({e["agreement"] for e in entries} | package_updates.logs_of(updates)),
        details={
            "package_sha256": pkg.digest,
            "exporter": pkg.exporter_org,
            "exporter_fingerprint": pkg.exporter_fingerprint,
            "exchanges": ids,
            "items": len(pkg.items),
        },
    )
    return ImportedFile(pkg.digest, recipient, pkg.exporter_org, ids, receipt)


def _check_index(
    pkg: Package, opened: dict[str, bytes]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The bundle index: present once, sealed by the exporter, naming every other item."""
    bad = _l("The package's index does not match its items.")
    index_items = [i for i in pkg.items if i.binding["record_type"] == INDEX_RECORD_TYPE]
    if len(index_items) != 1 or index_items[0].binding["sender"] != pkg.exporter_org:
        raise _refuse(bad)
    try:
        document = strict_json.loads(opened[index_items[0].digest])
        if not isinstance(document, dict):
            raise _refuse(bad)
        if document.get("format") != INDEX_FORMAT or document.get("version") != INDEX_VERSION:
            raise _refuse(
                _l(
                    "This is not a sealed package of a format and version this hub reads "
                    "(%(reason)s).",
                    reason="index",
                )
            )
        exchanges = list(document["exchanges"])
    except (strict_json.JSONRefused, KeyError, TypeError) as exc:
        raise _refuse(bad) from exc
    by_digest = {i.digest: i for i in pkg.items}
    used = {index_items[0].digest}
    try:
        for entry in exchanges:
            item = by_digest[entry["item"]]
            binding = item.binding
            if (
                binding["record_type"] != "exchange"
                or binding["record_id"] != entry["ref"]
                or binding["sender"] != entry["sender"]
                or binding["recipient"] != entry["recipient"]
                or binding["agreement"] != entry["agreement"]
                or pkg.recipient not in (entry["sender"], entry["recipient"])
                or not isinstance(entry["attachments"], list)
            ):
                raise _refuse(bad)
            used.add(entry["item"])
            for att in entry["attachments"]:
                if by_digest[att["item"]].binding["record_type"] != "attachment":
                    raise _refuse(bad)
                used.add(att["item"])
        updates = package_updates.parse(document.get("updates"), pkg, by_digest)
    except (KeyError, TypeError, ValueError) as exc:
        raise _refuse(bad) from exc
    used.update(u["item"] for u in updates if "item" in u)
    if used != set(by_digest) or not (exchanges or updates):
        raise _refuse(bad)
    return exchanges, updates


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return package_updates.parse_stamp(value)


@dataclass
class _CleanAttachment:
    media_type: str
    size: int
    item: Sealed


@dataclass
class _CleanExchange:
    """One index entry after every rule local input passes: what `_store` writes."""

    ref: str
    in_reply_to: Any
    agreement: Agreement
    sender: Organisation
    recipient: Organisation
    data: exchanges.NewExchange
    fields: exchanges.CleanFields
    onward_sharing_permitted: bool
    court_use_permitted: bool
    permission_granted: bool | None
    item: Sealed
    attachments: list[_CleanAttachment]


def _package_time(errors: checks.Errors, field: str, value: object) -> datetime | None:
    """A package's time: the format's UTC form ("2025-01-31T08:00:00Z") or absent."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return _parse_time(value)
    except ValueError:
        errors.add(field, _l("Give a date and time with its time zone."))
        return None


def _sealed_json(errors: checks.Errors, field: str, plaintext: bytes) -> dict[str, Any]:
    try:
        value = strict_json.loads(plaintext)
    except strict_json.JSONRefused:
        value = None
    if not isinstance(value, dict):
        errors.add(field, _l("The sealed content is not in the format this hub reads."))
        return {}
    return value


def _clean_attachment(
    errors: checks.Errors,
    prefix: str,
    att: Any,
    by_digest: dict[str, Sealed],
    opened: dict[str, bytes],
) -> _CleanAttachment | None:
    """An attached file from a package passes the upload rules (`attachments.check_file`):
    its name, its size, its type sniffed from its bytes; what the package declares about
    it (type, size) must be what the bytes are."""
    from hub.operations import attachments

    if not isinstance(att, dict):
        errors.add(f"{prefix}item", _l("The package's index does not match its items."))
        return None
    header_bytes, _, data = opened[att["item"]].partition(b"\n")
    header = _sealed_json(errors, f"{prefix}filename", header_bytes)
    _name, sniffed = attachments.check_file(errors, header.get("filename"), data, prefix=prefix)
    limit = current_app.config["HUB"].max_attachment_bytes
    size = checks.count(errors, f"{prefix}size", att.get("size"), maximum=limit)
    if size is not None and (size != len(data) or header.get("size") != len(data)):
        errors.add(f"{prefix}size", _l("The declared size is not the file's size."))
    declared = (att.get("media_type"), header.get("media_type"))
    if sniffed and any(value != sniffed for value in declared):
        errors.add(f"{prefix}media_type", _l("The declared type is not what the file holds."))
    return _CleanAttachment(sniffed, len(data), by_digest[att["item"]])


def _clean_entry(
    errors: checks.Errors,
    entry: dict[str, Any],
    by_digest: dict[str, Sealed],
    opened: dict[str, bytes],
    now: datetime,
) -> _CleanExchange | None:
    """The rules of local input, applied to one exchange of a partner's package."""
    sealed = _sealed_json(errors, "body", opened[entry["item"]])
    sent_at = _package_time(errors, "sent_at", entry.get("sent_at"))
    # The package's values as they came: validation below refuses a wrong type.
    raw: dict[str, Any] = dict(
        agreement=entry["agreement"],
        recipient=entry["recipient"],
        kind=entry.get("kind"),
        subject=entry.get("subject"),
        body=sealed.get("body"),
        classification=entry.get("classification"),
        reliability=entry.get("reliability"),
        credibility=entry.get("credibility"),
        handling=entry.get("handling"),
        handling_note=entry.get("handling_note", ""),
        sent_at=sent_at,
        fields=sealed.get("fields", {}),
        language=entry.get("language"),
    )
    data = exchanges.NewExchange(**raw)
    # An unreadable sent_at is named above; check_fields then measures from now.
    own = exchanges.check_fields(errors, data, now)
    if sealed.get("language", data.language) != data.language:
        errors.add("language", _l("Unknown language."))
    due = _package_time(errors, "due_at", entry.get("due_at"))
    if due is not None and "sent_at" not in errors:
        if due < own.sent_at:
            errors.add("due_at", _l("A due time cannot be before the time it was sent."))
        else:
            checks.moment(errors, "due_at", due)
    onward = checks.flag(errors, "onward_sharing_permitted", entry.get("onward_sharing_permitted"))
    court = checks.flag(errors, "court_use_permitted", entry.get("court_use_permitted"))
    granted = entry.get("permission_granted")
    if granted is not None:
        checks.flag(errors, "permission_granted", granted)
    agreement = checks.agreement_by_code(errors, "agreement", entry["agreement"])
    sender = checks.organisation_by_code(errors, "sender", entry["sender"])
    recipient = checks.organisation_by_code(errors, "recipient", entry["recipient"])
    if agreement is not None:
        parties = {p.id for p in agreement.parties}
        if sender is not None and sender.id not in parties:
            errors.add("sender", _l("The sender is not a party to this agreement."))
        if recipient is not None and recipient.id not in parties:
            errors.add("recipient", _l("The recipient is not a party to this agreement."))
        allowed = agreement.classifications
        if (
            allowed
            and data.classification in CLASSIFICATIONS
            and data.classification not in allowed
        ):
            errors.add(
                "classification", _l("This agreement does not share information at this level.")
            )
    files = [
        _clean_attachment(errors, f"attachments[{j}].", att, by_digest, opened)
        for j, att in enumerate(entry["attachments"])
    ]
    if errors or agreement is None or sender is None or recipient is None:
        return None  # each missing one added its error
    return _CleanExchange(
        ref=entry["ref"],
        in_reply_to=entry.get("in_reply_to"),
        agreement=agreement,
        sender=sender,
        recipient=recipient,
        data=data,
        fields=own,
        onward_sharing_permitted=onward,
        court_use_permitted=court,
        permission_granted=granted,
        item=by_digest[entry["item"]],
        attachments=[f for f in files if f is not None],
    )


def _clean(
    pkg: Package,
    opened: dict[str, bytes],
    entries: list[dict[str, Any]],
    updates: list[dict[str, Any]],
) -> list[_CleanExchange]:
    """Every exchange and every update of the package through the rules local input
    passes; a refusal names each field (``exchanges[0].credibility``,
    ``updates[1].at``) and nothing is stored. Updates are corrected in place: an
    attached file's type and size become what its bytes are."""
    by_digest = {i.digest: i for i in pkg.items}
    now = checks.now()
    problems: list[str] = []
    cleaned: list[_CleanExchange] = []
    for i, entry in enumerate(entries):
        errors = checks.Errors()
        if not isinstance(entry, dict):
            raise _refuse(_l("The package's index does not match its items."))
        row = _clean_entry(errors, entry, by_digest, opened, now)
        for field, messages in errors.items():
            problems.append(f"exchanges[{i}].{field}: {' '.join(str(m) for m in messages)}")
        if row is not None:
            cleaned.append(row)
    for i, update in enumerate(updates):
        errors = checks.Errors()
        _clean_update(errors, update, by_digest, opened, now)
        for field, messages in errors.items():
            problems.append(f"updates[{i}].{field}: {' '.join(str(m) for m in messages)}")
    if problems:
        raise _refuse(
            _l(
                "The package is refused and nothing was stored: %(problems)s",
                problems="; ".join(problems),
            )
        )
    return cleaned


def _clean_update(
    errors: checks.Errors,
    update: dict[str, Any],
    by_digest: dict[str, Sealed],
    opened: dict[str, bytes],
    now: datetime,
) -> None:
    """An update's time passes the time bounds of a local one; an attached file passes
    the upload rules (`_clean_attachment`), and its stored type and size are the sniffed ones."""
    at = _package_time(errors, "at", update.get("at"))
    if at is not None:
        checks.when(errors, "at", at, now=now)
    if update.get("type") == package_updates.ATTACHMENT:
        clean = _clean_attachment(errors, "", update, by_digest, opened)
        if clean is not None and not errors:
            update["media_type"], update["size"] = clean.media_type, clean.size


def _store(actor: Actor, pkg: Package, cleaned: list[_CleanExchange]) -> list[int]:
    local: dict[str, Exchange] = {}
    ids = []
    for entry in cleaned:
        data, own = entry.data, entry.fields
        sender, recipient = entry.sender, entry.recipient
        ref = entry.in_reply_to
        parent = (local.get(ref) if isinstance(ref, str) else None) or package_updates.resolve(ref)
        if parent is not None and not stays_between(parent, sender.id, recipient.id):
            raise _refuse(
                _l("In the package, a reply goes between other organisations than what it answers.")
            )
        row = Exchange(
            agreement_id=entry.agreement.id,
            sender_id=entry.sender.id,
            recipient_id=entry.recipient.id,
            kind=data.kind,
            status="sent",
            classification=data.classification,
            handling=data.handling,
            handling_note=own.note,
            onward_sharing_permitted=entry.onward_sharing_permitted,
            court_use_permitted=entry.court_use_permitted,
            reliability=data.reliability,
            credibility=data.credibility,
            subject=own.subject,
            subject_key=fold(own.subject)[: exchanges.SUBJECT_MAX],
            language=own.language or COUNTRY_LANGUAGE.get(entry.sender.country, "vi"),
            in_reply_to_id=parent.id if parent else None,
            permission_granted=entry.permission_granted,
            sent_at=own.sent_at,
            # Derived here as for every exchange (the agreement's response_time), not
            # taken from the package: the package's due_at was only checked for sense.
            due_at=exchanges.due_at(entry.agreement, data.kind, own.sent_at),
        )
        store_sealed(row, entry.item, record_type="exchange")
        for att in entry.attachments:
            attachment = Attachment(exchange_id=row.id, media_type=att.media_type, size=att.size)
            store_sealed(attachment, att.item, record_type="attachment")
        local[entry.ref] = row
        ids.append(row.id)
        if parent is not None:
            package_updates.replied(actor, parent, row)
    return ids


# --- receipts ----------------------------------------------------------------


@operation
def record_receipt(actor: Actor, data: str | bytes) -> PackageReceipt:
    """Record a partner's signed receipt against the exchange whose package it names."""
    if not _is_system(actor):
        checks.require_officer(actor)
    try:
        receipt = verify_receipt(data, app_keyring.keyring().known_signers())
    except UnknownSigner as exc:
        raise _refuse(
            _l(
                "The receipt is signed by a key this hub does not know (%(reason)s).",
                reason=str(exc),
            )
        ) from exc
    except (BadSignature, PackageError, ValueError) as exc:
        raise _refuse(
            _l("This is not a valid signed receipt (%(reason)s).", reason=str(exc))
        ) from exc
    exported = db.session.scalar(
        select(ExportedPackage).where(ExportedPackage.package_sha256 == receipt.package_sha256)
    )
    if exported is None or exported.recipient_org != receipt.recipient:
        raise NotFound(_l("This hub exported no package with the digest the receipt names."))
    if not _is_system(actor) and actor.organisation_code != exported.exporter_org:
        raise NotFound(_l("This hub exported no package with the digest the receipt names."))
    if db.session.scalar(
        select(PackageReceipt.id).where(PackageReceipt.package_sha256 == receipt.package_sha256)
    ):
        raise Conflict(_l("This receipt was recorded already."))
    received = _parse_time(receipt.received)
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    row = PackageReceipt(
        exchange_id=exported.exchange_id,
        package_sha256=receipt.package_sha256,
        recipient_org=receipt.recipient,
        receipt_json=text,
        received_at=received,
    )
    db.session.add(row)
    exchange = db.session.get(Exchange, exported.exchange_id)
    if exchange is None:  # an export's exchange is never deleted
        raise NotFound()
    if exchange.receipt_at is None:
        exchange.receipt_at = received
    outbox.receipt_recorded(receipt.package_sha256)  # the same record online or by USB
    audit.record(
        "package_receipt_recorded",
        actor=actor,
        target_type="exchange",
        target_id=exported.exchange_id,
        logs=[exchange.agreement.code],
        details={
            "package_sha256": receipt.package_sha256,
            "recipient": receipt.recipient,
            "signer_fingerprint": receipt.signer_fingerprint,
            "received": receipt.received,
        },
    )
    return row


def exports_of(exchange_id: int) -> list[ExportedPackage]:
    return list(
        db.session.scalars(
            select(ExportedPackage)
            .where(ExportedPackage.exchange_id == exchange_id)
            .order_by(ExportedPackage.id)
        )
    )


def receipts_of(exchange_id: int) -> list[PackageReceipt]:
    return list(
        db.session.scalars(
            select(PackageReceipt)
            .where(PackageReceipt.exchange_id == exchange_id)
            .order_by(PackageReceipt.id)
        )
    )


def imported_receipt(actor: Actor, digest: str) -> str:
    """The signed receipt this hub wrote for an imported package, for its recipient's
    users only; NotFound otherwise (another organisation's imports are not revealed)."""
    row: ImportedPackage | None = db.session.scalar(
        select(ImportedPackage).where(ImportedPackage.package_sha256 == digest[:64])
    )
    if row is None or not row.receipt_json:
        raise NotFound()
    if json.loads(row.receipt_json).get("recipient") != actor.organisation_code:
        raise NotFound()
    return row.receipt_json
