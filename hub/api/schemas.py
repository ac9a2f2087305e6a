"""Marshmallow schemas of the JSON API: what each route accepts and answers.

Every input schema rejects unknown fields.  Marshmallow's own messages are
replaced by translatable ones (fields below and BaseSchema), so an error
answers in the token owner's language like the operations' messages do.
The OpenAPI document (hub.api.openapi) is generated from these classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from hub.models.case import CASE_STATUSES, DRUG_TYPES, UNITS
from hub.models.exchange import (
    CLASSIFICATIONS,
    CREDIBILITY,
    EXCHANGE_KINDS,
    EXCHANGE_STATUSES,
    HANDLING_CODES,
    RELIABILITY,
)
from hub.operations import checks
from hub.operations.checks import MAX_ID
from hub.operations.listing import MAX_PAGE, MAX_PER_PAGE, PER_PAGE
from hub.web.errors import CODES

LANGUAGES = ("vi", "lo", "en")

_COMMON = {
    "required": _l("Missing data for required field."),
    "null": _l("Field may not be null."),
    "validator_failed": _l("Invalid value."),
}


def one_of(choices: Iterable[object]) -> validate.OneOf:
    return validate.OneOf(choices, error=_l("Must be one of: {choices}."))


def length(minimum: int | None = None, maximum: int | None = None) -> validate.Length:
    if minimum is not None and maximum is not None:
        error = _l("Length must be between {min} and {max}.")
    elif maximum is not None:
        error = _l("Length must be at most {max}.")
    else:
        error = _l("Length must be at least {min}.")
    return validate.Length(min=minimum, max=maximum, error=error)


def page_range(maximum: int) -> validate.Range:
    return validate.Range(min=1, max=maximum, error=_l("Must be between {min} and {max}."))


def ident_range() -> validate.Range:
    return validate.Range(min=1, max=MAX_ID, error=_l("Must be between {min} and {max}."))


class String(fields.String):
    """A string the database can hold: valid UTF-8, no NUL character."""

    default_error_messages = {
        **_COMMON,
        "invalid": _l("Not a valid string."),
        "invalid_utf8": _l("Not a valid utf-8 string."),
        "unstorable": _l("The text holds characters that cannot be stored."),
    }

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> str:
        value = super()._deserialize(value, attr, data, **kwargs)
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.make_error("unstorable") from None
        if "\x00" in value:
            raise self.make_error("unstorable")
        return value


class Integer(fields.Integer):
    default_error_messages = {
        **_COMMON,
        "invalid": _l("Not a valid integer."),
        "too_large": _l("Number too large."),
    }


class Boolean(fields.Boolean):
    default_error_messages = {**_COMMON, "invalid": _l("Not a valid boolean.")}


class Date(fields.Date):
    default_error_messages = {
        **_COMMON,
        "invalid": _l("Not a valid date."),
        "format": _l('"{input}" cannot be formatted as a date.'),
    }


class AwareDateTime(fields.AwareDateTime):
    default_error_messages = {
        **_COMMON,
        "invalid": _l("Not a valid date and time (ISO 8601)."),
        "invalid_awareness": _l("Give the time zone (e.g. +07:00 or Z)."),
        "format": _l('"{input}" cannot be formatted as a date and time.'),
    }


class List(fields.List):
    default_error_messages = {**_COMMON, "invalid": _l("Not a valid list.")}


class Nested(fields.Nested):
    default_error_messages = {**_COMMON, "type": _l("Invalid type.")}


class Dict(fields.Dict):
    default_error_messages = {**_COMMON, "invalid": _l("Not a valid mapping type.")}


class Quantity(fields.Field):
    """An exact decimal: a JSON string ("2.5", dot as the decimal point) or a JSON number."""

    default_error_messages = {**_COMMON, "invalid": _l("Give the quantity as a decimal number.")}

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.make_error("invalid")
        try:
            text = value.strip() if isinstance(value, str) else repr(value)
            if not text or any(ch in text for ch in "eE_ ") or len(text) > 40:
                raise InvalidOperation(text)
            number = Decimal(text)
        except (InvalidOperation, ValueError):
            raise self.make_error("invalid") from None
        if not number.is_finite():
            raise self.make_error("invalid")
        return number

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else str(value)


def _json_fields(value: dict) -> None:
    """The one rule of structured fields (hub.operations.checks.structured)."""
    errors = checks.Errors()
    checks.structured(errors, "fields", value)
    if errors:
        # A list: marshmallow iterates a lazy string given alone, one message per character.
        raise ValidationError(list(errors["fields"]))


class BaseSchema(Schema):
    """Unknown fields are refused; messages are translatable."""

    error_messages = {
        "type": _l("Invalid input type."),
        "unknown": _l("Unknown field."),
    }

    class Meta:
        unknown = RAISE
        ordered = True


def _id(**kwargs: Any) -> Integer:
    return Integer(strict=True, validate=ident_range(), **kwargs)


# --- exchanges ---------------------------------------------------------------


class ExchangeCreate(BaseSchema):
    agreement = String(required=True, validate=length(1, 32), metadata={"description": "Code"})
    recipient = String(required=True, validate=length(1, 16), metadata={"description": "Code"})
    kind = String(required=True, validate=one_of(EXCHANGE_KINDS))
    subject = String(required=True, validate=length(1, 200))
    body = String(required=True, validate=length(1, 200_000))
    classification = String(required=True, validate=one_of(CLASSIFICATIONS))
    reliability = String(required=True, validate=one_of(RELIABILITY))
    credibility = Integer(strict=True, required=True, validate=one_of(CREDIBILITY))
    handling = String(required=True, validate=one_of(HANDLING_CODES))
    handling_note = String(load_default="", validate=length(maximum=500))
    sent_at = AwareDateTime(load_default=None, allow_none=True)
    case = _id(load_default=None, allow_none=True)
    in_reply_to = _id(load_default=None, allow_none=True)
    fields_ = Dict(
        data_key="fields",
        keys=String(validate=length(1, 64)),
        load_default=dict,
        validate=_json_fields,
        metadata={"description": "Structured fields, sealed with the body"},
    )
    language = String(load_default=None, allow_none=True, validate=one_of(LANGUAGES))
    permission_granted = Boolean(
        load_default=None,
        allow_none=True,
        metadata={"description": "Only in a response to a permission_request"},
    )


class ExchangeListQuery(BaseSchema):
    agreement = String(validate=length(1, 32))
    partner = String(validate=length(1, 16))
    kind = String(validate=one_of(EXCHANGE_KINDS))
    status = String(validate=one_of(EXCHANGE_STATUSES))
    classification = String(validate=one_of(CLASSIFICATIONS))
    case = Integer(validate=ident_range())  # query strings are text: not strict
    date_from = Date()
    date_to = Date()
    overdue = Boolean()
    direction = String(validate=one_of(("in", "out")))
    q = String(validate=length(1, 100))
    page = Integer(validate=page_range(MAX_PAGE))
    per_page = Integer(load_default=PER_PAGE, validate=page_range(MAX_PER_PAGE))
    cursor = String(validate=length(1, 200))


class TranslationCreate(BaseSchema):
    language = String(required=True, validate=one_of(LANGUAGES))
    body = String(required=True, validate=length(1, 200_000))


class ForwardCreate(BaseSchema):
    agreement = String(required=True, validate=length(1, 32))
    recipient = String(required=True, validate=length(1, 16))


class CaseLink(BaseSchema):
    case = _id(required=True, allow_none=True)


class AttachmentOut(Schema):
    id = fields.Integer(required=True)
    media_type = fields.String(required=True)
    size = fields.Integer(required=True)


class TextOut(Schema):
    language = fields.String(required=True)
    body = fields.String(required=True)
    original = fields.Boolean(required=True)
    translator = fields.String(allow_none=True)
    translated_at = fields.AwareDateTime(allow_none=True)


class DeliveryOut(Schema):
    state = fields.String(
        required=True, validate=validate.OneOf(("queued", "delivered", "received", "refused"))
    )
    peer = fields.String(required=True, metadata={"description": "The partner hub's name"})
    queued = fields.Integer(required=True, metadata={"description": "Packages still queued"})
    refused = fields.Integer(
        required=True,
        metadata={
            "description": "Packages the partner's hub refused (not sent again on their own)"
        },
    )
    refused_kind = fields.String(
        required=True,
        allow_none=True,
        metadata={"description": "What the last refused one carried"},
    )
    refused_answer = fields.String(
        required=True, allow_none=True, metadata={"description": "The partner hub's answer to it"}
    )
    packages = fields.Integer(required=True)
    attempts = fields.Integer(required=True)
    last_error = fields.String(required=True, allow_none=True)
    last_attempt_at = fields.AwareDateTime(required=True, allow_none=True)
    delivered_at = fields.AwareDateTime(required=True, allow_none=True)
    received_at = fields.AwareDateTime(required=True, allow_none=True)


class ExchangeOut(Schema):
    id = fields.Integer(required=True)
    agreement = fields.String(required=True)
    sender = fields.String(required=True)
    recipient = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(EXCHANGE_KINDS))
    subject = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(EXCHANGE_STATUSES))
    classification = fields.String(required=True)
    handling = fields.String(required=True)
    handling_note = fields.String(required=True)
    reliability = fields.String(required=True)
    credibility = fields.Integer(required=True)
    language = fields.String(required=True)
    sent_at = fields.AwareDateTime(required=True)
    due_at = fields.AwareDateTime(required=True, allow_none=True)
    acknowledged_at = fields.AwareDateTime(required=True, allow_none=True)
    answered_at = fields.AwareDateTime(required=True, allow_none=True)
    closed_at = fields.AwareDateTime(required=True, allow_none=True)
    overdue = fields.Boolean(required=True)
    case = fields.Integer(required=True, allow_none=True)
    in_reply_to = fields.Integer(required=True, allow_none=True)
    forwarded_from = fields.Integer(required=True, allow_none=True)
    onward_sharing_permitted = fields.Boolean(required=True)
    court_use_permitted = fields.Boolean(required=True)
    court_use_marked_at = fields.AwareDateTime(required=True, allow_none=True)
    permission_granted = fields.Boolean(required=True, allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentOut), metadata={"description": "Detail only"})
    replies = fields.List(fields.Integer(), metadata={"description": "Detail only"})
    body = fields.String(
        allow_none=True, metadata={"description": "Only for the sender and recipient"}
    )
    fields_ = fields.Dict(data_key="fields", allow_none=True)
    texts = fields.List(
        fields.Nested(TextOut),
        metadata={"description": "Original and translations, the reader's language first"},
    )
    delivery = fields.Nested(
        DeliveryOut,
        allow_none=True,
        metadata={"description": "Detail only: its packages for the partner's hub, if it has one"},
    )


class PageOut(Schema):
    page = fields.Integer(required=True, allow_none=True)
    per_page = fields.Integer(required=True)
    has_next = fields.Boolean(required=True)
    next_cursor = fields.String(required=True, allow_none=True)


class ExchangePageOut(PageOut):
    items = fields.List(fields.Nested(ExchangeOut), required=True)


# --- cases --------------------------------------------------------------------


class SeizureIn(BaseSchema):
    drug_type = String(required=True, validate=one_of(DRUG_TYPES))
    quantity = Quantity(
        required=True,
        metadata={"anyOf": [{"type": "string"}, {"type": "number"}], "example": "2.5"},
    )
    unit = String(required=True, validate=one_of(UNITS))
    seized_on = Date(load_default=None, allow_none=True)


class SuspectIn(BaseSchema):
    name = String(required=True, validate=length(1, 200))
    date_of_birth = Date(load_default=None, allow_none=True)
    nationality = String(load_default="", validate=length(maximum=64))
    identity_document = String(load_default="", validate=length(maximum=64))


class _CaseFields(BaseSchema):
    reference = String(allow_none=True, validate=length(1, 64))
    title = String(validate=length(1, 255))
    opened_on = Date(allow_none=True)
    province = String(allow_none=True, validate=length(maximum=32))
    district = String(allow_none=True, validate=length(maximum=32))
    locality = String(allow_none=True, validate=length(maximum=32))
    border_gate = String(allow_none=True, validate=length(maximum=32))
    place_note = String(validate=length(maximum=255))
    organisations = List(String(validate=length(1, 16)), validate=length(maximum=20))
    agreements = List(String(validate=length(1, 32)), validate=length(maximum=20))


class CaseCreate(_CaseFields):
    title = String(required=True, validate=length(1, 255))
    seizures = List(Nested(SeizureIn), load_default=list, validate=length(maximum=50))
    suspects = List(Nested(SuspectIn), load_default=list, validate=length(maximum=50))


class CaseUpdate(_CaseFields):
    """Only the fields given change."""


class CaseStatusChange(BaseSchema):
    status = String(required=True, validate=one_of(CASE_STATUSES))


class CaseListQuery(BaseSchema):
    agreement = String(validate=length(1, 32))
    partner = String(validate=length(1, 16))
    status = String(validate=one_of(CASE_STATUSES))
    date_from = Date()
    date_to = Date()
    q = String(validate=length(1, 100))
    suspect_name = String(validate=length(1, 200))
    suspect_document = String(validate=length(1, 64))
    page = Integer(validate=page_range(MAX_PAGE))
    per_page = Integer(load_default=PER_PAGE, validate=page_range(MAX_PER_PAGE))
    cursor = String(validate=length(1, 200))


class SeizureOut(Schema):
    id = fields.Integer(required=True)
    drug_type = fields.String(required=True)
    quantity = fields.String(required=True, metadata={"example": "2.5"})
    unit = fields.String(required=True)
    seized_on = fields.Date(required=True, allow_none=True)


class SuspectOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    date_of_birth = fields.String(required=True)
    nationality = fields.String(required=True)
    identity_document = fields.String(required=True)


class ExchangeRefOut(Schema):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    subject = fields.String(required=True)
    sent_at = fields.AwareDateTime(required=True)
    overdue = fields.Boolean(required=True)


class CaseOut(Schema):
    id = fields.Integer(required=True)
    reference = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(CASE_STATUSES))
    allowed_statuses = fields.List(fields.String(), required=True)
    opened_on = fields.Date(required=True)
    closed_on = fields.Date(required=True, allow_none=True)
    owner = fields.String(required=True)
    organisations = fields.List(fields.String(), required=True)
    agreements = fields.List(fields.String(), required=True)
    province = fields.String(required=True, allow_none=True)
    district = fields.String(required=True, allow_none=True)
    locality = fields.String(required=True, allow_none=True)
    border_gate = fields.String(required=True, allow_none=True)
    place_note = fields.String(required=True)
    seizures = fields.List(fields.Nested(SeizureOut), required=True)
    suspects = fields.List(
        fields.Nested(SuspectOut),
        metadata={"description": "Opened for the case's organisations (detail only)"},
    )
    exchanges = fields.List(fields.Nested(ExchangeRefOut))
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)


class CasePageOut(PageOut):
    items = fields.List(fields.Nested(CaseOut), required=True)


class ErrorOut(Schema):
    errors = fields.Dict(
        required=True,
        metadata={"description": "field -> messages (nested objects for list items)"},
    )
    code = fields.String(
        required=True,
        metadata={
            "description": (
                "by status: "
                + ", ".join(f"{k} {v}" for k, v in sorted(CODES.items()))
                + "; a refused operation may name its own (e.g. payload_unreadable)"
            )
        },
    )
    request_id = fields.String(required=True)


# --- reference data (hub.api.reference) -----------------------------------------


class NamesOut(Schema):
    vi = fields.String(required=True)
    lo = fields.String(required=True)
    en = fields.String(required=True)


class OrganisationOut(Schema):
    code = fields.String(required=True)
    country = fields.String(required=True)
    kind = fields.String(required=True)
    name = fields.String(required=True)
    names = fields.Nested(NamesOut, required=True)


class OrganisationListOut(Schema):
    items = fields.List(fields.Nested(OrganisationOut), required=True)


class ObligationOut(Schema):
    kind = fields.String(required=True)
    params = fields.Dict(required=True)


class AgreementOut(Schema):
    code = fields.String(required=True)
    kind = fields.String(required=True)
    title = fields.String(required=True)
    titles = fields.Nested(NamesOut, required=True)
    sample = fields.Boolean(required=True)
    signed_on = fields.Date(required=True, allow_none=True)
    effective_from = fields.Date(required=True, allow_none=True)
    effective_to = fields.Date(required=True, allow_none=True)
    parties = fields.List(fields.String(), required=True)
    obligations = fields.List(fields.Nested(ObligationOut), required=True)


class AgreementListOut(Schema):
    items = fields.List(fields.Nested(AgreementOut), required=True)


class AttachmentCreatedOut(AttachmentOut):
    pass
