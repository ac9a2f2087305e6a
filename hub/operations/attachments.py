"""Attachments: a size limit and a type allow-list decided by the file's own bytes.

Allowed: PDF, JPEG, PNG, plain text (UTF-8), DOCX, XLSX, ODT.  The type is
recognised from magic bytes (and, for the zip-based office formats, from the
archive's table of contents); the file name's extension must agree, so a file
cannot pass for another type.  The bytes and the file name are sealed
(content.attachment_content); only the type and size stay plain.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

from hub.errors import NotFound
from hub.extensions import db
from hub.models import Attachment, Exchange
from hub.operations import checks, content, outbox, sealed
from hub.operations.actor import Actor
from hub.operations.checks import Errors
from hub.operations.exchanges import is_reader, logs_for
from hub.operations.permissions import exchange_for, visible_exchange
from hub.operations.unit import operation, operation_keeping_loaded

#: media type -> file name extensions it may carry.
ALLOWED = {
    "application/pdf": (".pdf",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/png": (".png",),
    "text/plain": (".txt",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (".docx",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (".xlsx",),
    "application/vnd.oasis.opendocument.text": (".odt",),
}
FILENAME_MAX = 200


def sniff(data: bytes) -> str | None:
    """The media type the bytes really are, among the allowed ones; None otherwise."""
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"PK\x03\x04"):
        return _sniff_zip(data)
    if b"\x00" in data:
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/plain"


def _sniff_zip(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.getinfo("mimetype").file_size < 100:
                declared = archive.read("mimetype").strip()
                if declared == b"application/vnd.oasis.opendocument.text":
                    return "application/vnd.oasis.opendocument.text"
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        return None
    if "[Content_Types].xml" in names:
        if "word/document.xml" in names:
            return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        if "xl/workbook.xml" in names:
            return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return None


def check_file(
    errors: Errors, filename: object, data: bytes, *, prefix: str = ""
) -> tuple[str, str]:
    """The rules of an attached file, uploaded here or arriving in a partner's package:
    a clean file name without folders, not empty, within the size limit, of an allowed
    type recognised from its bytes, the name's extension agreeing. Returns the clean
    name and the sniffed media type (errors under `prefix` + "filename" / "file")."""
    name_field, file_field = f"{prefix}filename", f"{prefix}file"
    filename = checks.text(errors, name_field, filename, max_length=FILENAME_MAX)
    if "/" in filename or "\\" in filename or filename in (".", ".."):
        errors.add(name_field, _l("Give a file name without folders."))
    limit = current_app.config["HUB"].max_attachment_bytes
    media_type = ""
    if not data:
        errors.add(file_field, _l("The file is empty."))
    elif len(data) > limit:
        errors.add(
            file_field,
            _l("The file is larger than the limit of %(mb)s MB.", mb=f"{limit / 1048576:.1f}"),
        )
    else:
        media_type = sniff(data) or ""
        if not media_type:
            errors.add(
                file_field,
                _l("This type of file is not accepted (PDF, JPEG, PNG, TXT, DOCX, XLSX, ODT)."),
            )
        elif filename and not filename.lower().endswith(ALLOWED[media_type]):
            errors.add(name_field, _l("The file name's extension does not match its content."))
    return filename, media_type


@operation
def add(actor: Actor, exchange_id: int, *, filename: str, data: bytes) -> Attachment:
    """Attach a file to an exchange the actor's organisation sent.

    Called inside another operation (an exchange sent with several files), it joins
    that one's unit: all of them are committed, or none.
    """
    exchange = exchange_for(actor, exchange_id, "attach")
    errors = Errors()
    filename, media_type = check_file(errors, filename, data)
    errors.raise_if_any()
    row = Attachment(exchange_id=exchange.id, media_type=media_type, size=len(data))
    sealed.add(
        actor,
        row,
        record_type="attachment",
        agreement=exchange.agreement.code,
        recipient=exchange.recipient.code,
        readers=[exchange.sender.code, exchange.recipient.code],
        content=content.attachment_content(filename, media_type, data),
        action="attachment_added",
        target_type="exchange",
        target_id=exchange.id,
        logs=logs_for(exchange),
        details=lambda attachment: {
            "attachment": attachment,
            "media_type": media_type,
            "size": len(data),
        },
    )
    outbox.attachment_added(actor, exchange, row)
    return row


@dataclass
class OpenedAttachment:
    filename: str
    media_type: str
    data: bytes


@operation_keeping_loaded
def open_attachment(actor: Actor, exchange_id: int, attachment_id: int) -> OpenedAttachment:
    exchange: Exchange = visible_exchange(actor, exchange_id)
    if not checks.valid_id(attachment_id):
        raise NotFound()
    row = db.session.get(Attachment, attachment_id)
    if row is None or row.exchange_id != exchange.id or row.payload is None:
        raise NotFound()
    if not is_reader(actor, exchange):
        raise NotFound()
    header, data = content.split_attachment(
        content.open_bytes(
            actor, row.payload, record_type="attachment", record_id=row.id, logs=logs_for(exchange)
        )
    )
    return OpenedAttachment(filename=header["filename"], media_type=row.media_type, data=data)
