"""Filters on an entry's hashed bytes, so that what the supervisors' pages list is
what verify checks.

The columns of ``audit_entries`` (action, organisation, target type ...) mirror
fields of the canonical bytes in ``leaf_input``; the tree covers only the bytes.
A column edited directly in the database would leave every tree whole while
moving an entry in or out of a filtered list. So a filter compares the bytes,
exactly, at the place canonical JSON puts the field (keys sorted, no spaces,
``schemas/audit-entry.md``):

- ``action`` is the first key: the entry starts ``{"action":<value>,"actor":``;
- ``target_type`` is followed by the time (always 27 characters) and the version:
  the entry ends ``,"target_type":<value>,"time":"<27>","version":1}``;
- ``organisation`` is followed by ``target_id``, whose length varies: it is the
  last ``,"organisation":`` in the entry (what follows it holds only strings, in
  which a quote is escaped), found from the end on PostgreSQL and by SQLite's
  JSON functions there.

Each is one expression evaluated by the database, no decoding in Python. The
mirror columns still serve the list of values a filter offers.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Text, case, cast, func

from hub.audit.entry import canonical
from hub.models import AuditEntry

#: What follows target_type's value: ``,"time":"`` + 27 characters + ``","version":1}``.
_AFTER_TIME = 27 + len(b'","version":1}')


def _escape_text(data: bytes) -> str:
    """``data`` as PostgreSQL's ``encode(..., 'escape')`` writes it."""
    out = []
    for byte in data:  # zero and high bytes in octal, backslashes doubled, the rest as is
        if byte == 0x5C:
            out.append("\\\\")
        elif byte == 0 or byte >= 0x80:
            out.append(f"\\{byte:03o}")
        else:
            out.append(chr(byte))
    return "".join(out)


def matches(field: str, value: str, dialect: str) -> ColumnElement[bool]:
    """True for entries whose hashed ``field`` is ``value`` (field: action,
    organisation or target_type)."""
    leaf = AuditEntry.leaf_input
    encoded = canonical(value)
    if field == "action":
        start = b'{"action":' + encoded + b',"actor":'
        return func.substr(leaf, 1, len(start)) == start
    if field == "target_type":
        end = b',"target_type":' + encoded + b',"time":"'
        return func.substr(leaf, func.length(leaf) - _AFTER_TIME - len(end) + 1, len(end)) == end
    if field != "organisation":
        raise ValueError(f"no filter on the entry field {field!r}")
    if dialect == "sqlite":
        text = cast(leaf, Text)
        found = case((func.json_valid(text) == 1, func.json_extract(text, "$.organisation")))
        return found == value
    # PostgreSQL: bytes as text that never fails (escape format), searched from the end.
    key = ',"organisation":'
    wanted = _escape_text(encoded + b',"target_id":')
    escaped = func.encode(leaf, "escape")
    from_end = func.strpos(func.reverse(escaped), key[::-1])
    at = func.length(escaped) - from_end - len(key) + 2  # where the last key starts
    return (from_end > 0) & (func.substr(escaped, at + len(key), len(wanted)) == wanted)
