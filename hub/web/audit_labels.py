"""How an audit entry reads on the supervisors' pages, in the reader's language.

Entries store codes (target types, detail keys, statuses, ISO times) so that they
hash the same on every hub and in every language; this module is the one place
those codes become words. A code not listed here is shown as it is, marked as
machine text, so a new operation never breaks the page.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from flask_babel import format_decimal
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

from hub.i18n import show_date, show_datetime, show_filesize
from hub.web import labels
from hub.web.auth import ROLE_NAMES

#: What an entry is about (target_type).
TARGET_TYPES = {
    "agreement": _l("Agreement"),
    "api_token": _l("API token"),
    "attachment": _l("Attachment"),
    "case": _l("Case"),
    "exchange": _l("Exchange"),
    "exchange_translation": _l("Translation"),
    "hub": _l("This hub"),
    "keyring": _l("Key store"),
    "obligation": _l("Obligation"),
    "organisation": _l("Organisation"),
    "peer": _l("Partner hub"),
    "setting": _l("Setting"),
    "suspect": _l("Suspect"),
    "user": _l("User"),
}

#: Targets named by a word rather than a number.
TARGET_IDS = {
    ("hub", "reference"): _l("reference data"),
    ("keyring", "-"): _l("keys of this hub"),
    ("setting", "totp_required_roles"): _l("roles that must use a second factor"),
    ("user", "unknown"): _l("unknown user"),
}

#: The keys of an entry's details.
DETAIL_KEYS = {
    "acknowledged_at": _l("Acknowledged at"),
    "active": _l("Active"),
    "after": _l("After"),
    "agreements": _l("Agreements"),
    "answer": _l("The partner hub's answer"),
    "answered_at": _l("Answered at"),
    "attachment": _l("Attachment"),
    "before": _l("Before"),
    "by": _l("By organisation"),
    "bytes": _l("Size"),
    "case": _l("Case"),
    "changed": _l("Changed"),
    "classification": _l("Classification"),
    "closed_at": _l("Closed at"),
    "closed_on": _l("Closed on"),
    "copy": _l("Copy"),
    "days": _l("Days"),
    "drug_type": _l("Drug type"),
    "due_at": _l("Due"),
    "enrolled": _l("Enrolled"),
    "exchanges": _l("Exchanges"),
    "exporter": _l("Exporter"),
    "exporter_fingerprint": _l("Exporter's key fingerprint"),
    "fingerprint": _l("Key fingerprint"),
    "fingerprints": _l("Key fingerprints"),
    "format": _l("Format"),
    "from": _l("From"),
    "handling": _l("Handling code"),
    "hours": _l("Hours"),
    "imported": _l("Imported from earlier records"),
    "in_reply_to": _l("In reply to"),
    "items": _l("Items"),
    "key_name": _l("Key name"),
    "keys": _l("Keys"),
    "kind": _l("Kind"),
    "language": _l("Language"),
    "locked": _l("Locked"),
    "log": _l("Audit log"),
    "marked_at": _l("Marked at"),
    "media_type": _l("File type"),
    "old_tree_size": _l("Entries at the last co-signed checkpoint"),
    "org": _l("Organisation"),
    "organisation": _l("Organisation"),
    "organisations": _l("Organisations"),
    "origin": _l("Log origin"),
    "original": _l("Original"),
    "package": _l("Package"),
    "package_sha256": _l("Package digest (SHA-256)"),
    "params": _l("Parameters"),
    "parties": _l("Parties"),
    "partner": _l("Partner"),
    "payload": _l("Sealed content"),
    "payload_sha256": _l("Sealed content digest (SHA-256)"),
    "peer": _l("Partner hub"),
    "places": _l("Places"),
    "quantity": _l("Quantity"),
    "queued": _l("Queued packages"),
    "reason": _l("Reason"),
    "received": _l("Received"),
    "recipient": _l("Recipient"),
    "reference": _l("Reference"),
    "replaced": _l("Replaced"),
    "replay": _l("Code used twice"),
    "response": _l("Response"),
    "rewrapped": _l("Keys re-wrapped"),
    "role": _l("Role"),
    "roles": _l("Roles"),
    "sample": _l("Sample data"),
    "second_factor": _l("Second factor"),
    "seizure": _l("Seizure"),
    "sender": _l("Sender"),
    "sent_at": _l("Sent at"),
    "sha256": _l("Digest (SHA-256)"),
    "signer_fingerprint": _l("Signer's key fingerprint"),
    "size": _l("Size"),
    "status": _l("Answer status"),
    "suspect": _l("Suspect"),
    "to": _l("To"),
    "tokens_revoked": _l("API tokens revoked"),
    "translation": _l("Translation"),
    "tree_size": _l("Entries in the log"),
    "unit": _l("Unit"),
    "url": _l("Address"),
    "version": _l("Version"),
    "warning_days": _l("Warning window (days)"),
    "warning_hours": _l("Warning window (hours)"),
}

#: A case's fields, as named in its form (case_updated's "changed").
CASE_FIELDS = {
    "reference": _l("Reference"),
    "title": _l("Title"),
    "opened_on": _l("Opened on"),
    "province": _l("Province"),
    "district": _l("District"),
    "locality": _l("Village or commune"),
    "border_gate": _l("Border gate"),
    "place_note": _l("Route or other place details"),
    "organisations": _l("Organisations involved"),
    "agreements": _l("Agreements"),
}

#: Why sealed content did not open (payload_open_failed's reason).
FAILURE_REASONS = {
    "bad_signature": _l("signature does not verify"),
    "wrong_record": _l("belongs to another record"),
    "tampered": _l("altered"),
    "malformed": _l("damaged"),
    "wrong_key": _l("key not on this hub"),
    "missing_key": _l("key not on this hub"),
    "key_unavailable": _l("keys unavailable"),
}

#: What verification found wrong first (hub.audit.verify.Problem.kind).
PROBLEM_KINDS = {
    "missing": _l("an entry is missing"),
    "beyond_head": _l("an entry lies beyond the log's head"),
    "changed": _l("an entry was changed after it was appended"),
    "moved": _l("an entry is not in its place"),
    "rewritten": _l("the log was rewritten"),
    "truncated": _l("the log was cut short"),
    "checkpoint": _l("a signed checkpoint does not match the log"),
    "head": _l("the log's head does not match its entries"),
}

#: Who acts for the hub itself, and the organisation code it writes.
SYSTEM_ACTOR = "system"
HUB_ORGANISATION = "HUB"

_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")
_SIZES = {"bytes", "size"}
#: Detail keys whose value is a code with a label table.
_CODE_LABELS = {
    "classification": labels.CLASSIFICATION,
    "drug_type": labels.DRUG_TYPE,
    "unit": labels.UNIT,
    "role": ROLE_NAMES,
    "roles": ROLE_NAMES,
    "language": labels.LANGUAGE,
    "reason": FAILURE_REASONS,
    "changed": CASE_FIELDS,
    "package": labels.PACKAGE_KIND,
}


def who_label(actor: str, organisation: str) -> str:
    """ "qb.officer (QB)"; the hub's own entries say "System"."""
    if actor == SYSTEM_ACTOR:
        return _("System")
    return f"{actor} ({organisation_label(organisation)})"


def organisation_label(code: str) -> str:
    return str(TARGET_TYPES["hub"]) if code == HUB_ORGANISATION else code


def target_type_label(code: str) -> str:
    label = TARGET_TYPES.get(code)
    return str(label) if label is not None else code


def target_label(target_type: str, target_id: str) -> str:
    """ "Exchange 12", "Agreement QB-KM-MOU", "This hub: reference data"."""
    named = TARGET_IDS.get((target_type, str(target_id)))
    if named is not None:
        return _("%(type)s: %(name)s", type=target_type_label(target_type), name=named)
    return _("%(type)s %(id)s", type=target_type_label(target_type), id=target_id)


def verification_failure(kind: str, index: int | None) -> str:
    """The first problem verification found, for the flash message; the page keeps
    verify's own line (in English, as the command prints it) beside it."""
    what = PROBLEM_KINDS.get(kind, kind)
    if index is None:
        return _("Verification failed: %(what)s.", what=what)
    return _("Verification failed at entry %(index)s: %(what)s.", index=index, what=what)


def _machine(text: object) -> Markup:
    """Digests, fingerprints, media types: shown as they are, marked as code."""
    return Markup('<code translate="no">%s</code>') % text


def _time(text: str) -> str | None:
    try:
        return show_datetime(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def _kind(action: str, value: str) -> str:
    if action.startswith("obligation_"):
        from hub.compliance.rules import rule_for

        rule = rule_for(value)
        return str(rule.label) if rule is not None else value
    return str(labels.EXCHANGE_KIND.get(value, value))


def _params_label(key: str) -> str:
    label = DETAIL_KEYS.get(key)
    if label is None:  # an obligation parameter: the rule's own label
        from hub.compliance.rules import REGISTRY

        for rule in REGISTRY.values():
            for param in rule.params:
                if param.name == key:
                    return str(param.label)
        return key
    return str(label)


def detail_value(key: str, value: object, *, action: str = "") -> Markup:
    """One detail value, formatted for the reader (escaped HTML)."""
    if value is None or value == "":
        return Markup("—")
    if isinstance(value, bool):
        return escape(_("yes") if value else _("no"))
    if isinstance(value, list):
        return Markup(", ").join(
            detail_value(key, item, action=action) for item in value
        ) or Markup("—")
    if isinstance(value, dict):
        return detail_list(value, action=action)
    if isinstance(value, int):
        return escape(show_filesize(value) if key in _SIZES else format_decimal(value))
    text = str(value)
    table = _CODE_LABELS.get(key)
    if table is not None:
        return escape(str(table.get(text, text)))
    if key == "kind":
        return escape(_kind(action, text))
    if key in ("from", "to") and text in labels.CASE_STATUS:
        return escape(str(labels.CASE_STATUS[text]))
    if _ISO_TIME.match(text):
        shown = _time(text)
        return escape(shown) if shown is not None else _machine(text)
    if _ISO_DATE.match(text):
        try:
            return escape(show_date(date.fromisoformat(text)))
        except ValueError:
            return _machine(text)
    if key == "quantity" and _DECIMAL.match(text):
        try:
            return escape(format_decimal(Decimal(text)))
        except InvalidOperation:
            return _machine(text)
    if key == "format":
        return escape(text.upper())
    if key == "media_type" and text in labels.MEDIA_TYPE:
        return escape(labels.MEDIA_TYPE[text])
    if key.endswith(("sha256", "fingerprint", "fingerprints")) or key in (
        "keys",
        "media_type",
        "answer",
    ):
        return _machine(text)
    return escape(text)


def detail_list(details: dict, *, action: str = "") -> Markup:
    """Every detail as "label: value", in a stable order."""
    parts = []
    for key in sorted(details):
        label = escape(_params_label(key))
        value = detail_value(key, details[key], action=action)
        parts.append(Markup('<span class="detail">%s: %s</span>') % (label, value))
    return Markup("; ").join(parts)
