"""Case pages: list, view, open (with seizures), edit, status, seizures, suspects.

Views parse the form, call hub.operations.cases, and render.  Typed seizure
quantities are parsed strictly in the reader's locale and shown back for
confirmation before anything is saved: in vi and lo "2.5" is refused, and
"1.234" means one thousand two hundred and thirty-four, which the officer
sees spelled out before it is stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import Blueprint, abort, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm

from hub.errors import ValidationFailed
from hub.i18n import current_language
from hub.models import Case
from hub.operations import cases, listing, pickers
from hub.text import QuantityError, format_quantity
from hub.web.access import login_required, role_required
from hub.web.case_forms import (
    CaseFilterForm,
    CaseForm,
    SeizureForm,
    StatusForm,
    SuspectForm,
)
from hub.web.labels import options
from hub.web.same_site import audited_read
from hub.web.show import apply_errors

bp = Blueprint("cases", __name__, url_prefix="/cases")


def _id(value: int) -> int:
    return value if value <= 2**31 - 1 else abort(404)


# --- list ----------------------------------------------------------------------------


@bp.get("/")
@login_required
def index() -> ResponseReturnValue:
    form = CaseFilterForm(request.args)
    form.validate()
    filters = listing.CaseFilters(
        q=form.q.data or None,
        status=form.status.data or None,
        date_from=form.opened_from.data if not form.opened_from.errors else None,
        date_to=form.opened_to.data if not form.opened_to.errors else None,
    )
    raw = request.args.get("page", "1")
    page, status = None, 200
    try:
        page = listing.list_cases(g.actor, filters, page=int(raw) if raw.isdigit() else 0)
    except ValidationFailed as exc:
        apply_errors(form, exc.errors, aliases={"date_from": "opened_from", "date_to": "opened_to"})
        status = 422
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("cases/list.html", form=form, page=page, args=args), status


# --- view ----------------------------------------------------------------------------


@bp.get("/<int:case_id>")
@login_required
@audited_read
def view(case_id: int) -> ResponseReturnValue:
    return _render_view(case_id)


def _render_view(case_id: int, *, status: int = 200, **forms: FlaskForm) -> ResponseReturnValue:
    actor = g.actor
    case = cases.load_for_view(actor, _id(case_id))
    suspects = cases.read_suspects(actor, case)
    linked = listing.list_exchanges(actor, listing.ExchangeFilters(case=case.id), per_page=50)
    involved = actor.organisation_id in {o.id for o in case.organisations} | {
        case.owner_organisation_id
    }
    owner = actor.is_officer and case.owner_organisation_id == actor.organisation_id
    status_form = forms.get("status_form") or StatusForm()
    status_form.status.choices = options(
        (s, _label_status(s)) for s in cases.allowed_statuses(case)
    )
    return (
        render_template(
            "cases/view.html",
            case=case,
            suspects=suspects,
            linked=linked,
            can_edit=owner,
            can_add=actor.is_officer and involved,
            status_form=status_form,
            seizure_form=forms.get("seizure_form") or SeizureForm(),
            suspect_form=forms.get("suspect_form") or SuspectForm(),
            confirm=forms.get("confirm"),
            lang=current_language(),
        ),
        status,
    )


def _label_status(code: str) -> str:
    from hub.web.labels import CASE_STATUS

    return str(CASE_STATUS.get(code, code))


# --- open / edit ---------------------------------------------------------------------


@dataclass
class Parsed:
    """A seizure row's typed quantity and what it was read as."""

    row: int
    typed: str
    value: Decimal
    unit: str
    shown: str
    whole: str
    fraction: str


def _parse_rows(form: CaseForm) -> tuple[list[tuple[int, cases.SeizureInput]], list[Parsed], bool]:
    """Seizure inputs of the non-blank rows, what each quantity reads as, and whether all parsed."""
    locale = current_language()
    inputs, parsed, ok = [], [], True
    for index, row in enumerate(form.seizures):
        sub = row.form
        if sub.is_blank():
            continue
        typed = sub.quantity.data or ""
        try:
            value = cases.parse_seizure_quantity(typed, locale)
        except QuantityError as exc:
            sub.quantity.errors = [*sub.quantity.errors, exc.message]
            ok = False
            continue
        inputs.append(
            (
                index,
                cases.SeizureInput(
                    drug_type=sub.drug_type.data or "",
                    quantity=value,
                    unit=sub.unit.data or "",
                    seized_on=sub.seized_on.data,
                    locale=locale,
                ),
            )
        )
        parsed.append(_readback(index, typed, value, sub.unit.data or "", locale))
    return inputs, parsed, ok


def _readback(row: int, typed: str, value: Decimal, unit: str, locale: str) -> Parsed:
    whole, _sep, fraction = format(value.normalize(), "f").partition(".")
    return Parsed(
        row=row,
        typed=typed,
        value=value,
        unit=unit,
        shown=format_quantity(value, unit, locale) if unit else str(value),
        whole=whole,
        fraction=fraction or "0",
    )


def _signature(parsed: list[Parsed]) -> str:
    """What the officer confirmed: every row's parsed value and unit, in order."""
    return ";".join(f"{p.row}:{p.value.normalize()}:{p.unit}" for p in parsed)


def _case_input(form: CaseForm) -> cases.CaseInput:
    return cases.CaseInput(
        title=form.title.data or "",
        reference=form.reference.data or None,
        opened_on=form.opened_on.data,
        province=form.province.data or None,
        district=form.district.data or None,
        locality=form.locality.data or None,
        border_gate=form.border_gate.data or None,
        place_note=form.place_note.data or "",
        organisations=list(form.organisations.data or []),
    )


def _fill(form: CaseForm, day: date | None) -> None:
    lang = current_language()
    form.fill_choices(
        places=pickers.places(lang, day),
        organisations=[
            (code, name)
            for code, name in pickers.organisations(lang, day)
            if code != g.actor.organisation_code
        ],
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required("officer")
def new() -> ResponseReturnValue:
    if request.method == "GET":
        form = CaseForm(formdata=None)
        _fill(form, None)
        return render_template("cases/form.html", form=form, case=None, confirm=None, errors=[])
    form = CaseForm()
    _fill(form, form.opened_on.data)
    if not form.validate_on_submit():
        return _reshow(form, None, None)
    inputs, parsed, ok = _parse_rows(form)
    if not ok:
        form.confirmed.data = ""
        return _reshow(form, None, None)
    signature = _signature(parsed)
    if parsed and form.confirmed.data != signature:
        # Show what the quantities were read as; saving needs a second, confirmed submit.
        form.confirmed.data = signature
        return render_template("cases/form.html", form=form, case=None, confirm=parsed, errors=[])
    try:
        case = cases.create_case(g.actor, _case_input(form), seizures=[s for _i, s in inputs])
    except ValidationFailed as exc:
        # The operation numbers seizures among the rows it was given.
        renamed = {}
        for name, messages in exc.errors.items():
            parts = name.split(".")
            if parts[0] == "seizures" and len(parts) > 2 and parts[1].isdigit():
                parts[1] = str(inputs[int(parts[1])][0])
            renamed[".".join(parts)] = messages
        leftover = apply_errors(form, renamed)
        return _reshow(form, None, parsed or None, leftover)
    return redirect(url_for(".view", case_id=case.id), 303)


def _reshow(
    form: CaseForm, case: Case | None, confirm: object, leftover: Iterable[str] = ()
) -> ResponseReturnValue:
    return (
        render_template(
            "cases/form.html", form=form, case=case, confirm=confirm, errors=list(leftover)
        ),
        422,
    )


@bp.route("/<int:case_id>/edit", methods=["GET", "POST"])
@role_required("officer")
def edit(case_id: int) -> ResponseReturnValue:
    case = cases.load_for_view(g.actor, _id(case_id))
    if request.method == "GET":
        form = CaseForm(
            formdata=None,
            data={
                "reference": case.reference,
                "title": case.title,
                "opened_on": case.opened_on,
                "province": case.province.code if case.province else "",
                "district": case.district.code if case.district else "",
                "locality": case.locality.code if case.locality else "",
                "border_gate": case.border_gate.code if case.border_gate else "",
                "place_note": case.place_note,
                "organisations": [
                    o.code for o in case.organisations if o.id != case.owner_organisation_id
                ],
            },
        )
        _fill(form, case.opened_on)
        return render_template("cases/form.html", form=form, case=case, confirm=None, errors=[])
    form = CaseForm()
    _fill(form, form.opened_on.data or case.opened_on)
    if not form.validate_on_submit():
        return _reshow(form, case, None)
    data = _case_input(form)
    data.agreements = [a.code for a in case.agreements]
    try:
        cases.update_case(g.actor, case.id, data)
    except ValidationFailed as exc:
        return _reshow(form, case, None, apply_errors(form, exc.errors))
    return redirect(url_for(".view", case_id=case.id), 303)


# --- status, seizures, suspects ------------------------------------------------------


@bp.post("/<int:case_id>/status")
@role_required("officer")
def change_status(case_id: int) -> ResponseReturnValue:
    form = StatusForm()
    form.status.choices = options([(form.status.data or "", form.status.data or "")])
    if not form.validate_on_submit():
        return _render_view(case_id, status=422, status_form=form)
    try:
        cases.change_status(g.actor, _id(case_id), form.status.data or "")
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _render_view(case_id, status=422, status_form=form)
    return redirect(url_for(".view", case_id=case_id), 303)


@bp.post("/<int:case_id>/seizures")
@role_required("officer")
def add_seizure(case_id: int) -> ResponseReturnValue:
    form = SeizureForm()
    if not form.validate_on_submit():
        return _render_view(case_id, status=422, seizure_form=form)
    locale = current_language()
    try:
        value = cases.parse_seizure_quantity(form.quantity.data or "", locale)
    except QuantityError as exc:
        form.quantity.errors = [*form.quantity.errors, exc.message]
        form.confirmed.data = ""
        return _render_view(case_id, status=422, seizure_form=form)
    parsed = _readback(0, form.quantity.data or "", value, form.unit.data or "", locale)
    signature = _signature([parsed])
    if form.confirmed.data != signature:
        form.confirmed.data = signature
        return _render_view(case_id, seizure_form=form, confirm=[parsed])
    try:
        cases.add_seizure(
            g.actor,
            _id(case_id),
            cases.SeizureInput(
                drug_type=form.drug_type.data or "",
                quantity=value,
                unit=form.unit.data or "",
                seized_on=form.seized_on.data,
                locale=locale,
            ),
        )
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _render_view(case_id, status=422, seizure_form=form)
    return redirect(url_for(".view", case_id=case_id) + "#seizures", 303)


@bp.post("/<int:case_id>/suspects")
@role_required("officer")
def add_suspect(case_id: int) -> ResponseReturnValue:
    form = SuspectForm()
    if not form.validate_on_submit():
        return _render_view(case_id, status=422, suspect_form=form)
    try:
        cases.add_suspect(
            g.actor,
            _id(case_id),
            cases.SuspectInput(
                name=form.name.data or "",
                date_of_birth=form.date_of_birth.data,
                nationality=form.nationality.data or "",
                identity_document=form.identity_document.data or "",
            ),
        )
    except ValidationFailed as exc:
        apply_errors(form, exc.errors)
        return _render_view(case_id, status=422, suspect_form=form)
    return redirect(url_for(".view", case_id=case_id) + "#suspects", 303)
