"""Handover pages: the lifecycle timeline and the transition forms of an estate
(``/t/<slug>/estates/<estate_id>/handover``): the caretaking agreement, the takeover's vote
calculator (art. 278) and checklist, the termination's settlement summary, the reversal.

Each form posts to its own URL; bad input re-renders the page with the form's errors
(422, or the service's 409 for an illegal move or back-dating) and changes nothing."""

from __future__ import annotations

import uuid

from flask import flash, g, redirect, render_template, url_for
from flask_babel import gettext as _

from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.errors import DomainError
from ruihe_saas.estates.models import Estate, HandoverStage
from ruihe_saas.estates.services import get_estate
from ruihe_saas.handover import services
from ruihe_saas.handover.forms import (
    CaretakingForm,
    ReversalForm,
    TakeoverForm,
    TerminationForm,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint

bp = tenant_html_blueprint("handover", __name__, "/estates")

FORM_STAGES = {
    "caretaking": HandoverStage.PARTIAL_CARETAKING,
    "takeover": HandoverStage.FULL_TAKEOVER,
    "termination": HandoverStage.TERMINATED,
}


def _fresh_forms(estate: Estate, history: list) -> dict:
    """Empty forms for the moves allowed from the estate's stage (and the reversal)."""
    today = services.local_today()
    allowed = services.ALLOWED_MOVES[estate.stage]
    forms: dict = {}
    if HandoverStage.PARTIAL_CARETAKING in allowed:
        forms["caretaking"] = CaretakingForm(
            formdata=None,
            prefix="caretaking",
            data={
                "effective_date": today,
                "start_date": today,
                "counterparty": estate.competent_unit,
            },
        )
    if HandoverStage.FULL_TAKEOVER in allowed:
        forms["takeover"] = TakeoverForm(
            formdata=None,
            prefix="takeover",
            data={
                "effective_date": today,
                "checklist": [
                    {"title": item.title, "status": "open"}
                    for item in services.checklist_template()
                ],
            },
        )
    if HandoverStage.TERMINATED in allowed:
        forms["termination"] = TerminationForm(
            formdata=None, prefix="termination", data={"effective_date": today}
        )
    latest = services.latest_reversible(history)
    if latest is not None:
        forms["reversal"] = ReversalForm(
            formdata=None,
            prefix="reversal",
            data={"reverses_id": str(latest.id), "effective_date": today},
        )
    return forms


def _vote_result(form: TakeoverForm | None):
    """The art. 278 result of the form's six numbers, when all are there."""
    if form is None:
        return None
    values = [getattr(form, name).data for name in services.ART278_ARGS]
    if any(value is None for value in values):
        return None
    return services.art278_result(*values)


def _render(estate: Estate, status: int = 200, **posted):
    history = services.transitions_of(estate)
    can_manage = role_allows(g.membership.role, Permission.MANAGE_HANDOVER)
    forms = _fresh_forms(estate, history) if can_manage else {}
    forms.update(posted)
    takeover = forms.get("takeover")
    return render_template(
        "handover/page.html",
        estate=estate,
        transitions=history,
        forms=forms,
        reversible=services.latest_reversible(history),
        settlement=services.settlement_summary(estate) if "termination" in forms else None,
        art278=_vote_result(takeover),
        art278_labels=services.ART278_LABELS,
        days_in_stage=(services.local_today() - estate.stage_since).days
        if estate.stage_since
        else None,
    ), status


# A failed art. 278 test, shown on the input it depends on.
ART278_INPUTS = {
    "participation_area": "participating_area",
    "participation_owners": "participating_owners",
    "approval_area": "approving_area",
    "approval_owners": "approving_owners",
}


def _show_errors(form, error: DomainError) -> None:
    """Put the service's field errors on the form's fields (nested evidence included)."""
    form.form_errors.append(error.message)
    for name, value in (error.fields or {}).items():
        if name == "vote_ratios":
            continue  # the page shows the ratios it computes itself
        if name == "checklist" and isinstance(value, dict):
            _show_checklist_errors(form, value)
        elif isinstance(value, dict):
            for sub_name, messages in value.items():
                _add(form, ART278_INPUTS.get(sub_name, sub_name), messages)
        else:
            _add(form, name, value)


def _add(form, name: str, messages, fallback: list | None = None) -> None:
    """Messages onto the visible field ``name``, else onto ``fallback`` (the form's)."""
    messages = list(messages) if isinstance(messages, list | tuple) else [messages]
    field = form._fields.get(name) if name not in {"csrf_token", "checklist"} else None
    if field is None or field.type == "HiddenField":
        (form.form_errors if fallback is None else fallback).extend(messages)
    else:
        field.errors = list(field.errors) + messages


def _show_checklist_errors(form, errors: dict) -> None:
    form.checklist_errors = list(errors.get("_schema", []))
    rows = form.checklist.entries
    for key, row_errors in errors.items():
        if key == "_schema":
            continue
        index = int(key) if str(key).isdigit() else -1
        if not 0 <= index < len(rows):
            form.checklist_errors.extend(
                message for messages in row_errors.values() for message in messages
            )
            continue
        row = rows[index].form
        for field_name, messages in row_errors.items():
            titled = [f"{row.title.data}: {message}" for message in messages]
            _add(
                row,
                field_name,
                messages if field_name != "title" else titled,
                fallback=form.checklist_errors,
            )


def _done(estate: Estate, message: str):
    flash(message, "success")
    return redirect(url_for(".page", estate_id=estate.id))


@bp.get("/<uuid:estate_id>/handover")
@require_permission(Permission.VIEW_ESTATES)
def page(estate_id: uuid.UUID):
    """The estate's lifecycle and, for those who may, the forms of its next moves."""
    return _render(get_estate(estate_id))


def _record_move(estate_id, form_class, slot: str, stage: HandoverStage, evidence, message):
    """One transition form: validate, record with its evidence, or re-render with errors."""
    estate = get_estate(estate_id)
    form = form_class(prefix=slot)
    if not form.validate_on_submit():
        return _render(estate, 422, **{slot: form})
    try:
        services.record_transition(
            estate, stage, form.effective_date.data, note=form.note.data or "", **evidence(form)
        )
    except DomainError as error:
        _show_errors(form, error)
        return _render(estate, error.status, **{slot: form})
    return _done(estate, message)


@bp.post("/<uuid:estate_id>/handover/caretaking")
@require_permission(Permission.MANAGE_HANDOVER)
def to_caretaking(estate_id: uuid.UUID):
    return _record_move(
        estate_id,
        CaretakingForm,
        "caretaking",
        HandoverStage.PARTIAL_CARETAKING,
        lambda form: {"agreement": form.evidence()},
        _("Partial caretaking recorded."),
    )


@bp.post("/<uuid:estate_id>/handover/takeover")
@require_permission(Permission.MANAGE_HANDOVER)
def to_takeover(estate_id: uuid.UUID):
    return _record_move(
        estate_id,
        TakeoverForm,
        "takeover",
        HandoverStage.FULL_TAKEOVER,
        lambda form: {"vote": form.vote(), "checklist": form.checklist_items()},
        _("Full takeover recorded."),
    )


@bp.post("/<uuid:estate_id>/handover/termination")
@require_permission(Permission.MANAGE_HANDOVER)
def to_terminated(estate_id: uuid.UUID):
    return _record_move(
        estate_id,
        TerminationForm,
        "termination",
        HandoverStage.TERMINATED,
        lambda form: {"settlement_acknowledged": bool(form.settlement_acknowledged.data)},
        _("Termination recorded."),
    )


@bp.post("/<uuid:estate_id>/handover/reversal")
@require_permission(Permission.MANAGE_HANDOVER)
def reverse(estate_id: uuid.UUID):
    estate = get_estate(estate_id)
    form = ReversalForm(prefix="reversal")
    if not form.validate_on_submit():
        return _render(estate, 422, reversal=form)
    try:
        transition_id = uuid.UUID(form.reverses_id.data)
    except ValueError:
        form.form_errors.append(_("Choose the transition to reverse."))
        return _render(estate, 422, reversal=form)
    try:
        services.reverse_transition(
            estate, transition_id, form.effective_date.data, form.reason.data or ""
        )
    except DomainError as error:
        _show_errors(form, error)
        return _render(estate, error.status, reversal=form)
    return _done(estate, _("Transition reversed."))
