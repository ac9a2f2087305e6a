"""Cases: opening, editing, status changes, seizures and suspects.

Status transitions (the issue's path plus the extras real cases need):

    open            -> investigating, closed           (closed: no basis found)
    investigating   -> referred, joint_operation, closed (closed: dropped)
    referred        -> prosecuted, investigating, closed (sent back for more work)
    joint_operation -> referred, prosecuted, closed
    prosecuted      -> closed
    closed          -> investigating                   (re-opened on new evidence)

Only officers of the owning organisation edit a case and change its status;
officers of the organisations involved add seizures and suspects; everyone
involved reads.  Suspects' personal data is sealed for the case's
organisations, with keyed blind indexes for exact-match search.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from hub.errors import Conflict, Forbidden, NotFound, ValidationFailed
from hub.extensions import db
from hub.models import Agreement, Case, Exchange, Organisation, Place, Seizure, Suspect
from hub.models.audit import organisation_log
from hub.models.case import CASE_STATUSES, DRUG_TYPES, UNITS
from hub.operations import audit, checks, content, sealed
from hub.operations.actor import Actor
from hub.operations.checks import Errors
from hub.operations.permissions import case_for
from hub.operations.permissions import visible_case as visible_case  # re-exported
from hub.operations.scope import cases_visible_to
from hub.operations.unit import operation, operation_keeping_loaded
from hub.text import QuantityError, clean, fold, parse_quantity

TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("investigating", "closed"),
    "investigating": ("referred", "joint_operation", "closed"),
    "referred": ("prosecuted", "investigating", "closed"),
    "joint_operation": ("referred", "prosecuted", "closed"),
    "prosecuted": ("closed",),
    "closed": ("investigating",),
}
REFERENCE_MAX = 64
TITLE_MAX = 255
PLACE_NOTE_MAX = 255
#: NUMERIC(18, 3): at most 15 digits before the point, 3 after.
QUANTITY_MAX = Decimal("999999999999999.999")
LOCAL = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh and Asia/Vientiane, no DST


def local_today() -> date:
    return datetime.now(UTC).astimezone(LOCAL).date()


@dataclass
class CaseInput:
    title: str
    reference: str | None = None
    opened_on: date | None = None
    province: str | None = None
    district: str | None = None
    locality: str | None = None
    border_gate: str | None = None
    place_note: str = ""
    #: Organisation codes involved besides the owner.
    organisations: list[str] = field(default_factory=list)
    #: Agreement codes the case is worked under.
    agreements: list[str] = field(default_factory=list)


@dataclass
class SeizureInput:
    drug_type: str
    #: A Decimal, or text typed in `locale` (parsed strictly).
    quantity: Decimal | str | int
    unit: str
    seized_on: date | None = None
    locale: str = "en"


@dataclass
class SuspectInput:
    name: str
    date_of_birth: date | None = None
    nationality: str = ""
    identity_document: str = ""


def involved_ids(case: Case) -> set[int]:
    """The organisations that see the case: its owner and those involved."""
    return {o.id for o in case.organisations} | {case.owner_organisation_id}


def logs_for(case: Case) -> list[str]:
    """The logs a case's entries go to: those of its agreements (and its exchanges')
    whose parties are all involved in the case; when there is none, the own log of each
    organisation involved.

    A log is read by every party of its agreement, so a case's reference, seizures,
    suspects and openings go only where every reader sees the case anyway; and never
    to the hub-wide log, which administrators read (they see no case data).
    """
    agreements = {a.id: a for a in case.agreements}
    if case.id is not None:
        linked = select(Exchange.agreement_id).where(Exchange.case_id == case.id)
        for row in db.session.scalars(
            select(Agreement)
            .where(Agreement.id.in_(linked), Agreement.id.not_in(list(agreements)))
            .options(selectinload(Agreement.parties))
        ):
            agreements[row.id] = row
    involved = involved_ids(case)
    codes = [a.code for a in agreements.values() if {p.id for p in a.parties} <= involved]
    if codes:
        return sorted(codes)
    organisations = {o.id: o.code for o in case.organisations}
    if case.owner_organisation_id not in organisations:
        organisations[case.owner_organisation_id] = case.owner.code
    return sorted(organisation_log(code) for code in organisations.values())


def _place(errors: Errors, name: str, code: object, kinds: tuple[str, ...]) -> Place | None:
    if code in (None, ""):
        return None
    if not isinstance(code, str):
        errors.add(name, _l("Unknown place."))
        return None
    row: Place | None = db.session.scalar(select(Place).where(Place.code == code))
    if row is None or row.kind not in kinds:
        errors.add(name, _l("Unknown place."))
        return None
    return row


def _within(place: Place, ancestor: Place) -> bool:
    node = place.parent
    for _ in range(5):
        if node is None:
            return False
        if node.id == ancestor.id:
            return True
        node = node.parent
    return False


def _check_case(errors: Errors, actor: Actor, data: CaseInput) -> dict[str, Any]:
    values: dict[str, Any] = {}
    values["title"] = checks.text(errors, "title", data.title, max_length=TITLE_MAX)
    if data.reference not in (None, ""):
        reference = checks.text(errors, "reference", data.reference, max_length=REFERENCE_MAX)
        values["reference"] = reference
    values["place_note"] = checks.text(
        errors, "place_note", data.place_note, max_length=PLACE_NOTE_MAX, required=False
    )
    opened_on = data.opened_on or local_today()
    checks.day(errors, "opened_on", opened_on, latest=local_today() + timedelta(days=1))
    values["opened_on"] = opened_on
    province = _place(errors, "province", data.province, ("province",))
    district = _place(errors, "district", data.district, ("district",))
    locality = _place(errors, "locality", data.locality, ("commune", "village"))
    gate = _place(errors, "border_gate", data.border_gate, ("border_gate",))
    if district is not None and (province is None or not _within(district, province)):
        errors.add("district", _l("Choose a district of the province."))
    if locality is not None and (province is None or not _within(locality, province)):
        errors.add("locality", _l("Choose a commune or village of the province."))
    if locality is not None and district is not None and not _within(locality, district):
        errors.add("locality", _l("Choose a village of the district."))
    values.update(province=province, district=district, locality=locality, border_gate=gate)

    organisations = []
    codes = data.organisations or []
    if not isinstance(codes, list | tuple):
        errors.add("organisations", _l("Give a list of organisation codes."))
        codes = []
    for code in dict.fromkeys(codes):
        org = checks.organisation_by_code(errors, "organisations", code)
        if org is not None and org.id != actor.organisation_id:
            organisations.append(org)
    values["organisations"] = organisations
    agreements = []
    codes = data.agreements or []
    if not isinstance(codes, list | tuple):
        errors.add("agreements", _l("Give a list of agreement codes."))
        codes = []
    for code in dict.fromkeys(codes):
        agreement = checks.agreement_by_code(errors, "agreements", code)
        if agreement is None:
            continue
        if actor.organisation_id not in {p.id for p in agreement.parties}:
            errors.add("agreements", _l("Your organisation is not a party to this agreement."))
        else:
            agreements.append(agreement)
    values["agreements"] = agreements
    return values


def _reference_used(owner_id: int, reference: str) -> bool:
    """Whether the owner has a case under ``reference``. References are unique per
    owning organisation: another organisation's equal one is not looked at, so the
    answer tells nothing about cases the actor does not see."""
    return (
        db.session.scalar(
            select(Case.id).where(
                Case.owner_organisation_id == owner_id, Case.reference == reference
            )
        )
        is not None
    )


def _next_reference(owner: Organisation, opened_on: date) -> str:
    prefix = f"{owner.code}-{opened_on.year}-"
    last = db.session.scalar(
        select(Case.reference)
        .where(Case.owner_organisation_id == owner.id, Case.reference.like(prefix + "%"))
        .order_by(Case.id.desc())
        .limit(1)
    )
    number = 1
    if last:
        tail = last[len(prefix) :]
        number = int(tail) + 1 if tail.isdigit() else 1
    while True:
        reference = f"{prefix}{number:05d}"
        if not _reference_used(owner.id, reference):
            return reference
        number += 1


@operation
def create_case(
    actor: Actor,
    data: CaseInput,
    *,
    seizures: Sequence[SeizureInput] = (),
    suspects: Sequence[SuspectInput] = (),
) -> Case:
    """Open a case owned by the actor's organisation."""
    org_id = checks.require_officer(actor)
    errors = Errors()
    values = _check_case(errors, actor, data)
    reference = values.get("reference")
    if reference and _reference_used(org_id, reference):
        errors.add("reference", _l("This reference is already used."))
    checked_seizures = [_check_seizure(errors, s, f"seizures.{i}") for i, s in enumerate(seizures)]
    checked_suspects = [_check_suspect(errors, s, f"suspects.{i}") for i, s in enumerate(suspects)]
    errors.raise_if_any()
    owner = db.session.get(Organisation, org_id)
    if owner is None:  # the actor's organisation is gone
        raise Forbidden()
    reference = reference or _next_reference(owner, values["opened_on"])
    case = Case(
        reference=reference,
        reference_key=fold(reference)[:REFERENCE_MAX],
        title=values["title"],
        title_key=fold(values["title"])[:TITLE_MAX],
        status="open",
        opened_on=values["opened_on"],
        place_note=values["place_note"],
        province=values["province"],
        district=values["district"],
        locality=values["locality"],
        border_gate=values["border_gate"],
        owner_organisation_id=owner.id,
        created_by_id=actor.user_id,
        organisations=[owner, *values["organisations"]],
        agreements=values["agreements"],
    )
    db.session.add(case)
    db.session.flush()
    logs = logs_for(case)
    audit.record(
        "case_opened",
        actor=actor,
        target_type="case",
        target_id=case.id,
        logs=logs,
        details={
            "reference": case.reference,
            "organisations": sorted(o.code for o in case.organisations),
            "agreements": [a.code for a in case.agreements],
        },
    )
    for item in checked_seizures:
        _store_seizure(actor, case, item, logs)
    for item in checked_suspects:
        _store_suspect(actor, case, item, logs)
    return case


@operation
def update_case(actor: Actor, case_id: int, data: CaseInput) -> Case:
    """Edit a case's details (not its status: see change_status)."""
    case = case_for(actor, case_id, "edit")
    errors = Errors()
    values = _check_case(errors, actor, data)
    reference = values.get("reference") or case.reference
    if reference != case.reference and _reference_used(case.owner_organisation_id, reference):
        errors.add("reference", _l("This reference is already used."))
    errors.raise_if_any()
    changed = []
    for name in ("title", "opened_on", "place_note", "province", "district", "locality"):
        if getattr(case, name) != values[name]:
            setattr(case, name, values[name])
            changed.append(name)
    if case.border_gate != values["border_gate"]:
        case.border_gate = values["border_gate"]
        changed.append("border_gate")
    if reference != case.reference:
        case.reference = reference
        changed.append("reference")
    case.reference_key = fold(case.reference)[:REFERENCE_MAX]
    case.title_key = fold(case.title)[:TITLE_MAX]
    owner = case.owner
    organisations = [owner, *values["organisations"]]
    if {o.id for o in case.organisations} != {o.id for o in organisations}:
        case.organisations = organisations
        changed.append("organisations")
    if {a.id for a in case.agreements} != {a.id for a in values["agreements"]}:
        # Agreements its exchanges were sent under stay linked.
        kept = [a for a in case.agreements if a.code in _exchange_agreements(case)]
        case.agreements = list({a.id: a for a in [*values["agreements"], *kept]}.values())
        changed.append("agreements")
    if changed:
        audit.record(
            "case_updated",
            actor=actor,
            target_type="case",
            target_id=case.id,
            logs=logs_for(case),
            details={"changed": changed},
        )
    return case


def _exchange_agreements(case: Case) -> set[str]:
    return set(
        db.session.scalars(
            select(Agreement.code)
            .join(Exchange, Exchange.agreement_id == Agreement.id)
            .where(Exchange.case_id == case.id)
        )
    )


def allowed_statuses(case: Case) -> tuple[str, ...]:
    return TRANSITIONS.get(case.status, ())


@operation
def change_status(actor: Actor, case_id: int, status: str) -> Case:
    case = case_for(actor, case_id, "status")
    if status not in CASE_STATUSES:
        raise ValidationFailed.one(
            "status", _l("Choose one of: %(choices)s.", choices=", ".join(CASE_STATUSES))
        )
    if status == case.status:
        raise Conflict(_l("The case already has this status."))
    if status not in allowed_statuses(case):
        raise ValidationFailed.one(
            "status",
            _l(
                "A case cannot go from %(old)s to %(new)s.",
                old=case.status,
                new=status,
            ),
        )
    old = case.status
    case.status = status
    case.closed_on = local_today() if status == "closed" else None
    audit.record(
        "case_status_changed",
        actor=actor,
        target_type="case",
        target_id=case.id,
        logs=logs_for(case),
        details={"from": old, "to": status},
    )
    return case


def parse_seizure_quantity(value: object, locale: str) -> Decimal:
    """A Decimal as given, or text parsed strictly in `locale` (raises QuantityError)."""
    if isinstance(value, bool):
        raise QuantityError(_l("Enter the quantity as digits."))
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return parse_quantity(value, locale)
    raise QuantityError(_l("Enter the quantity as digits."))


def _check_seizure(errors: Errors, data: SeizureInput, prefix: str) -> dict[str, Any]:
    checks.choice(errors, f"{prefix}.drug_type", data.drug_type, DRUG_TYPES)
    checks.choice(errors, f"{prefix}.unit", data.unit, UNITS)
    quantity = None
    try:
        quantity = parse_seizure_quantity(data.quantity, data.locale)
    except QuantityError as exc:
        errors.add(f"{prefix}.quantity", exc.message)
    except (InvalidOperation, ValueError):
        errors.add(f"{prefix}.quantity", _l("Enter the quantity as digits."))
    if quantity is not None:
        if not quantity.is_finite() or quantity <= 0:
            errors.add(f"{prefix}.quantity", _l("Enter a quantity above zero."))
            quantity = None
        elif quantity > QUANTITY_MAX:
            errors.add(f"{prefix}.quantity", _l("This quantity is too large."))
            quantity = None
        elif quantity != quantity.quantize(Decimal("0.001")):
            errors.add(f"{prefix}.quantity", _l("Use at most three decimals."))
            quantity = None
        elif data.unit == "tablets" and quantity != quantity.to_integral_value():
            errors.add(f"{prefix}.quantity", _l("Count tablets in whole numbers."))
            quantity = None
    seized_on = checks.day(
        errors, f"{prefix}.seized_on", data.seized_on, latest=local_today() + timedelta(days=1)
    )
    return {
        "drug_type": data.drug_type,
        "quantity": quantity,
        "unit": data.unit,
        "seized_on": seized_on,
    }


def _store_seizure(actor: Actor, case: Case, item: dict[str, Any], logs: list[str]) -> Seizure:
    row = Seizure(case=case, **item)
    db.session.add(row)
    db.session.flush()
    audit.record(
        "seizure_recorded",
        actor=actor,
        target_type="case",
        target_id=case.id,
        logs=logs,
        details={
            "seizure": row.id,
            "drug_type": row.drug_type,
            "quantity": str(row.quantity),
            "unit": row.unit,
        },
    )
    return row


@operation
def add_seizure(actor: Actor, case_id: int, data: SeizureInput) -> Seizure:
    case = case_for(actor, case_id, "seizure")
    errors = Errors()
    item = _check_seizure(errors, data, "")
    errors = Errors({k.lstrip("."): v for k, v in errors.items()})
    errors.raise_if_any()
    row = _store_seizure(actor, case, item, logs_for(case))
    return row


def normalise_name(value: str) -> str:
    """What a name's blind index is computed over: folded, single spaces."""
    return " ".join(fold(value).split())


def normalise_document(value: str) -> str:
    """Identity documents match whatever the spacing, dashes and letter case."""
    return "".join(ch for ch in fold(value) if ch.isalnum())


def _check_suspect(errors: Errors, data: SuspectInput, prefix: str) -> dict[str, Any]:
    return {
        "name": checks.text(errors, f"{prefix}.name", data.name, max_length=200),
        "date_of_birth": _date_of_birth(errors, f"{prefix}.date_of_birth", data.date_of_birth),
        "nationality": checks.text(
            errors, f"{prefix}.nationality", data.nationality, max_length=64, required=False
        ),
        "identity_document": checks.text(
            errors,
            f"{prefix}.identity_document",
            data.identity_document,
            max_length=64,
            required=False,
        ),
    }


def _date_of_birth(errors: Errors, name: str, value: object) -> date | None:
    return checks.day(
        errors,
        name,
        value,
        earliest=checks.EARLIEST_BIRTH,
        latest=local_today(),
        message=_l("This date of birth is not possible."),
    )


def _store_suspect(actor: Actor, case: Case, item: dict[str, Any], logs: list[str]) -> Suspect:
    from hub.operations import payloads

    row = Suspect(
        case=case,
        name_index=payloads.blind_index("name", normalise_name(item["name"])),
        document_index=payloads.blind_index(
            "document", normalise_document(item["identity_document"])
        )
        if item["identity_document"]
        else None,
    )
    sealed.add(
        actor,
        row,
        record_type="suspect",
        agreement=None,
        recipient=None,
        readers=sorted({o.code for o in case.organisations} | {case.owner.code}),
        content=content.canonical(
            {
                **item,
                "date_of_birth": item["date_of_birth"].isoformat() if item["date_of_birth"] else "",
            }
        ),
        action="suspect_recorded",
        target_type="case",
        target_id=case.id,
        logs=logs,
        details=lambda suspect: {"suspect": suspect},
    )
    return row


@operation
def add_suspect(actor: Actor, case_id: int, data: SuspectInput) -> Suspect:
    case = case_for(actor, case_id, "suspect")
    errors = Errors()
    item = _check_suspect(errors, data, "")
    errors = Errors({k.lstrip("."): v for k, v in errors.items()})
    errors.raise_if_any()
    row = _store_suspect(actor, case, item, logs_for(case))
    return row


@dataclass
class SuspectView:
    id: int
    name: str
    date_of_birth: str
    nationality: str
    identity_document: str


@operation_keeping_loaded
def read_suspects(actor: Actor, case: Case) -> list[SuspectView]:
    """Open the case's suspects for the actor (each opening audited); unreadable ones skipped."""
    from hub.errors import OperationError

    logs = logs_for(case)
    views = []
    for row in case.suspects:
        if row.payload is None:
            continue
        try:
            value = content.open_json(
                actor, row.payload, record_type="suspect", record_id=row.id, logs=logs
            )
        except OperationError:
            # Sealed before the actor's organisation joined the case.
            continue
        views.append(
            SuspectView(
                id=row.id,
                name=value.get("name", ""),
                date_of_birth=value.get("date_of_birth", ""),
                nationality=value.get("nationality", ""),
                identity_document=value.get("identity_document", ""),
            )
        )
    return views


def suspect_indexes(*, name: str | None = None, document: str | None = None) -> dict[str, str]:
    """Blind-index values to search suspects by (exact match after normalisation)."""
    from hub.operations import payloads

    found = {}
    if name and clean(name).strip():
        found["name"] = payloads.blind_index("name", normalise_name(name))
    if document and normalise_document(document):
        found["document"] = payloads.blind_index("document", normalise_document(document))
    return found


def load_for_view(actor: Actor, case_id: int) -> Case:
    if not checks.valid_id(case_id):
        raise NotFound()
    row: Case | None = db.session.scalar(
        cases_visible_to(actor)
        .where(Case.id == case_id)
        .options(
            selectinload(Case.organisations),
            selectinload(Case.agreements),
            selectinload(Case.seizures),
            selectinload(Case.suspects),
            selectinload(Case.province),
            selectinload(Case.district),
            selectinload(Case.locality),
            selectinload(Case.border_gate),
        )
    )
    if row is None:
        raise NotFound()
    return row
