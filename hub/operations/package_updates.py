"""What a package says about exchanges the partner holds already: a reply to one of them,
its acknowledgement, its closing, a translation or an attachment added later.

A package's bundle index (hub.operations.packages) lists new exchanges under
``exchanges``; this module adds the optional ``updates`` list beside it (format in
schemas/README.md). Each update names its exchange by the *global* id it was
given where it was made (``"<hub id>/<local id>"``, the record id its payload's
binding carries), so both hubs name the same exchange the same way. The index is
sealed and signed by the exporting organisation, so every update is its signed
statement; on import each is checked against the exchange as this hub holds it
(the exporter must be the party that may do it) before anything is written.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from hub.crypto.package import Package
from hub.crypto.sealing import Sealed
from hub.errors import Message
from hub.extensions import db
from hub.i18n import LOCALES
from hub.models import Attachment, Exchange, ExchangeTranslation, SealedPayload
from hub.models.identity import hub_id
from hub.operations import audit, payloads

if TYPE_CHECKING:  # packages imports this module
    from hub.operations.packages import PackageRefused
from hub.operations.actor import Actor
from hub.operations.permissions import REQUEST_KINDS

ACKNOWLEDGED: Final = "acknowledged"
CLOSED: Final = "closed"
TRANSLATION: Final = "translation"
ATTACHMENT: Final = "attachment"
TYPES: Final = (ACKNOWLEDGED, CLOSED, TRANSLATION, ATTACHMENT)

_GID: Final = re.compile(r"^[0-9a-f-]{36}/[0-9]{1,18}$")
_TIME: Final = "%Y-%m-%dT%H:%M:%SZ"
_TIME_FRACTION: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


def stamp(moment: datetime) -> str:
    """UTC, to the second, or to the microsecond when it has a fraction."""
    moment = moment.astimezone(UTC)
    return moment.strftime(_TIME_FRACTION if moment.microsecond else _TIME)


def parse_stamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a time is a string")
    form = _TIME_FRACTION if "." in value else _TIME
    return datetime.strptime(value, form).replace(tzinfo=UTC)


# --- naming an exchange on both hubs ----------------------------------------------


def origin_id(exchange: Exchange) -> str:
    """The exchange's global id where it was made: its payload's bound record id."""
    if exchange.payload is not None:
        return str(json.loads(exchange.payload.binding_json)["record_id"])
    return payloads.global_record_id(exchange.id)


def resolve(gid: Any) -> Exchange | None:
    """The exchange this hub holds under that global id (made here, or imported)."""
    if not isinstance(gid, str) or not _GID.match(gid):
        return None
    hub, _, local = gid.partition("/")
    if hub == hub_id():
        row = db.session.get(Exchange, int(local))
        if row is not None and row.payload is not None and not row.payload.imported:
            return row
        return None
    # An exchange imported from its maker: its payload's binding names it.
    needle = f'%"record_id":"{gid}"%'
    return db.session.scalar(
        select(Exchange)
        .join(SealedPayload, SealedPayload.id == Exchange.payload_id)
        .where(
            SealedPayload.imported.is_(True),
            SealedPayload.record_type == "exchange",
            SealedPayload.binding_json.like(needle),
        )
    )


# --- the updates an outbox package carries ---------------------------------------


def acknowledged(exchange: Exchange) -> dict[str, Any]:
    if exchange.acknowledged_at is None:
        raise ValueError("the exchange is not acknowledged")
    return {
        "type": ACKNOWLEDGED,
        "exchange": origin_id(exchange),
        "at": stamp(exchange.acknowledged_at),
    }


def closed(exchange: Exchange) -> dict[str, Any]:
    if exchange.closed_at is None:
        raise ValueError("the exchange is not closed")
    return {"type": CLOSED, "exchange": origin_id(exchange), "at": stamp(exchange.closed_at)}


def translation(exchange: Exchange, row: ExchangeTranslation) -> tuple[dict[str, Any], Sealed]:
    sealed = payloads.to_sealed(row.payload)
    update = {
        "type": TRANSLATION,
        "exchange": origin_id(exchange),
        "language": row.language,
        "item": sealed.digest,
        "at": stamp(row.created_at),
    }
    return update, sealed


def attachment(exchange: Exchange, row: Attachment) -> tuple[dict[str, Any], Sealed]:
    sealed = payloads.to_sealed(row.payload)
    update = {
        "type": ATTACHMENT,
        "exchange": origin_id(exchange),
        "media_type": row.media_type,
        "size": row.size,
        "item": sealed.digest,
        "at": stamp(row.created_at),
    }
    return update, sealed


# --- import: check, then apply ------------------------------------------------------


def parse(raw: Any, pkg: Package, by_digest: dict[str, Sealed]) -> list[dict[str, Any]]:
    """The index's updates, each of a known shape naming items of the package (ValueError)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValueError("updates must be a list")
    updates = []
    for value in raw:
        if not isinstance(value, dict) or value.get("type") not in TYPES:
            raise ValueError("an update of an unknown type")
        if not isinstance(value.get("exchange"), str) or not _GID.match(value["exchange"]):
            raise ValueError("an update names no exchange")
        parse_stamp(value.get("at"))
        kind = value["type"]
        expected = {"type", "exchange", "at"}
        if kind in (TRANSLATION, ATTACHMENT):
            item = by_digest[value["item"]]
            if (
                item.binding["record_type"]
                != {TRANSLATION: "exchange_translation", ATTACHMENT: "attachment"}[kind]
                or item.binding["sender"] != pkg.exporter_org
            ):
                raise ValueError("an update's item is not what it says")
            expected.add("item")
        if kind == TRANSLATION:
            if value.get("language") not in LOCALES:
                raise ValueError("a translation's language")
            expected.add("language")
        if kind == ATTACHMENT:
            if not isinstance(value.get("media_type"), str) or type(value.get("size")) is not int:
                raise ValueError("an attachment's type and size")
            expected |= {"media_type", "size"}
        if set(value) != expected:
            raise ValueError("an update has unknown fields")
        updates.append(dict(value))
    return updates


def _refused(message: Message) -> PackageRefused:
    from hub.operations.packages import PackageRefused

    # Raised inside the import's unit, which rolls every stored row back as it passes.
    return PackageRefused(message)


def apply(actor: Actor, pkg: Package, updates: list[dict[str, Any]]) -> list[int]:
    """Write each update to the exchange it names; refuse the whole package (nothing
    stored) when one names an exchange we do not hold or comes from the wrong party."""
    from hub.operations import exchanges  # exchanges -> outbox -> this module

    by_digest = {i.digest: i for i in pkg.items}
    ids: list[int] = []
    for update in updates:
        exchange = resolve(update["exchange"])
        if exchange is None:
            raise _refused(_l("The package updates an exchange this hub does not hold."))
        sender, recipient = exchange.sender.code, exchange.recipient.code
        exporter, kind = pkg.exporter_org, update["type"]
        may = {
            ACKNOWLEDGED: exporter == recipient,
            CLOSED: exporter == sender,
            TRANSLATION: exporter in (sender, recipient),
            ATTACHMENT: exporter == sender,
        }[kind]
        if not may or pkg.recipient not in (sender, recipient):
            raise _refused(_l("The package updates an exchange for a party that may not."))
        item = by_digest.get(update.get("item", ""))
        if item is not None and item.binding["agreement"] != exchange.agreement.code:
            raise _refused(_l("The package updates an exchange for a party that may not."))
        at = parse_stamp(update["at"])
        logs = [exchange.agreement.code]
        update["_log"] = exchange.agreement.code
        if kind == ACKNOWLEDGED and (
            exchange.acknowledged_at is None or at < exchange.acknowledged_at
        ):
            # Earlier than what we hold only when the answer came first (the
            # acknowledgement refused, then sent again): the partner's signed time wins,
            # so both hubs measure the same acknowledgement time.
            exchanges.mark_acknowledged(actor, exchange, at, by_org=exporter)
        elif kind == CLOSED and exchange.status != "closed":
            exchanges.mark_closed(actor, exchange, at, by_org=exporter)
        elif kind == TRANSLATION:
            if item is None:  # parse() found it among the package's items
                raise _refused(_l("The package's index does not match its items."))
            row = ExchangeTranslation(exchange_id=exchange.id, language=update["language"])
            db.session.add(row)
            db.session.flush()
            stored = payloads.store(
                item, record_type="exchange_translation", record_id=row.id, imported=True
            )
            row.payload_id = stored.id
            audit.record(
                "exchange_translated",
                actor=actor,
                target_type="exchange",
                target_id=exchange.id,
                logs=logs,
                details={
                    "translation": row.id,
                    "language": update["language"],
                    "payload_sha256": item.ciphertext_sha256,
                },
            )
        elif kind == ATTACHMENT:
            if item is None:  # parse() found it among the package's items
                raise _refused(_l("The package's index does not match its items."))
            row = Attachment(
                exchange_id=exchange.id, media_type=update["media_type"][:100], size=update["size"]
            )
            db.session.add(row)
            db.session.flush()
            stored = payloads.store(item, record_type="attachment", record_id=row.id, imported=True)
            row.payload_id = stored.id
            audit.record(
                "attachment_added",
                actor=actor,
                target_type="exchange",
                target_id=exchange.id,
                logs=logs,
                details={
                    "attachment": row.id,
                    "media_type": row.media_type,
                    "size": row.size,
                    "payload_sha256": item.ciphertext_sha256,
                },
            )
        ids.append(exchange.id)
    return ids


def logs_of(updates: list[dict[str, Any]]) -> set[str]:
    return {u["_log"] for u in updates if "_log" in u}


def replied(actor: Actor, parent: Exchange, row: Exchange) -> None:
    """An imported response answers the request it replies to, as `exchanges.send` does."""
    if (
        row.kind == "response"
        and parent.kind in REQUEST_KINDS
        and row.sender_id == parent.recipient_id
        and parent.status != "closed"
    ):
        from hub.operations.exchanges import answer_request

        answer_request(actor, parent, row, [parent.agreement.code])
