"""Handover API schemas: transitions in (with their evidence) and out (with the vote's
art. 278 ratios). Areas travel as decimal strings; the service re-checks every rule."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import marshmallow as ma

from ruihe_saas.estates.models import HandoverStage
from ruihe_saas.handover.models import ChecklistStatus, TransitionKind
from ruihe_saas.handover.rules import (
    MAX_AREA,
    MAX_CHECKLIST_ITEMS,
    MAX_COUNTERPARTY,
    MAX_ITEM_NOTE,
    MAX_NOTE,
    MAX_OWNERS,
    MAX_RESPONSIBLE,
    MAX_TITLE,
    CaretakingService,
)


def _text(max_length: int, **kwargs):
    return ma.fields.String(validate=ma.validate.Length(max=max_length), **kwargs)


def _name(max_length: int, **kwargs):
    """A required, non-blank text."""
    return ma.fields.String(
        validate=[
            ma.validate.Length(min=1, max=max_length),
            ma.validate.Regexp(r"\S", error="Must not be blank."),
        ],
        **kwargs,
    )


def _area_in_range(value) -> None:
    if not Decimal(0) <= value <= MAX_AREA:
        raise ma.ValidationError(f"Must be between 0 and {MAX_AREA} m².")


# Floor areas as decimal strings ("12345.67"), never binary floats; 0 is allowed here (no
# participants), the service requires a total above 0.
VOTE_AREA = {
    "as_string": True,
    "places": 2,
    "rounding": ROUND_HALF_UP,
    "validate": _area_in_range,
    "metadata": {"type": "string", "format": "decimal", "example": "48210.50"},
}
OWNERS = {"validate": ma.validate.Range(min=0, max=MAX_OWNERS)}


class AgreementSchema(ma.Schema):
    """A caretaking agreement (代管协议), the evidence for partial caretaking."""

    counterparty = _name(
        MAX_COUNTERPARTY,
        required=True,
        metadata={"description": "Usually the estate's competent unit (主管单位)."},
    )
    services = ma.fields.List(
        ma.fields.String(validate=ma.validate.OneOf([s.value for s in CaretakingService])),
        required=True,
        validate=ma.validate.Length(min=1, max=len(CaretakingService)),
        metadata={"description": "Services in scope."},
    )
    start_date = ma.fields.Date(required=True)
    term_months = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=600))
    notes = _text(MAX_NOTE, load_default="")


class RatioSchema(ma.Schema):
    """One art. 278 test: ``numerator / denominator`` against its threshold."""

    numerator = ma.fields.String(required=True)
    denominator = ma.fields.String(required=True)
    percent = ma.fields.String(
        required=True, metadata={"description": "The ratio in %, 2 decimals (display only)."}
    )
    rule = ma.fields.String(required=True, metadata={"example": "≥ 2/3"})
    passed = ma.fields.Boolean(required=True)


class Art278Schema(ma.Schema):
    """Art. 278 of the Civil Code, computed exactly from the vote's totals."""

    participation_area = ma.fields.Nested(
        RatioSchema, attribute="checks.participation_area", required=True
    )
    participation_owners = ma.fields.Nested(
        RatioSchema, attribute="checks.participation_owners", required=True
    )
    approval_area = ma.fields.Nested(RatioSchema, attribute="checks.approval_area", required=True)
    approval_owners = ma.fields.Nested(
        RatioSchema, attribute="checks.approval_owners", required=True
    )
    passed = ma.fields.Boolean(required=True)


class VoteSchema(ma.Schema):
    """The mobilisation meeting's vote on full takeover, with the totals art. 278 needs."""

    meeting_date = ma.fields.Date(required=True)
    total_owners = ma.fields.Integer(required=True, **OWNERS)
    total_area = ma.fields.Decimal(required=True, **VOTE_AREA)
    participating_owners = ma.fields.Integer(required=True, **OWNERS)
    participating_area = ma.fields.Decimal(required=True, **VOTE_AREA)
    approving_owners = ma.fields.Integer(required=True, **OWNERS)
    approving_area = ma.fields.Decimal(required=True, **VOTE_AREA)
    art278 = ma.fields.Nested(Art278Schema, dump_only=True)


class ChecklistItemSchema(ma.Schema):
    """One item of the handover checklist (承接查验)."""

    title = _name(MAX_TITLE, required=True)
    status = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([s.value for s in ChecklistStatus]),
        metadata={"description": "done, carried_over (needs responsible + due_date) or n/a."},
    )
    responsible = _text(MAX_RESPONSIBLE, load_default="")
    due_date = ma.fields.Date(allow_none=True, load_default=None)
    note = _text(MAX_ITEM_NOTE, load_default="")

    @ma.post_dump(pass_original=True)
    def _status_value(self, data, original, **kwargs):
        status = getattr(original, "status", None)
        if status is not None:
            data["status"] = getattr(status, "value", status)
        return data


class TransitionCreateSchema(ma.Schema):
    """Move an estate to its next stage, with the evidence that move needs."""

    to_stage = ma.fields.Enum(HandoverStage, by_value=True, required=True)
    effective_date = ma.fields.Date(
        required=True,
        metadata={"description": "On or after the last transition's date; not in the future."},
    )
    note = _text(MAX_NOTE, load_default="")
    agreement = ma.fields.Nested(
        AgreementSchema,
        allow_none=True,
        load_default=None,
        metadata={"description": "Required for partial_caretaking only."},
    )
    vote = ma.fields.Nested(
        VoteSchema,
        allow_none=True,
        load_default=None,
        metadata={"description": "Required for full_takeover only; must pass art. 278."},
    )
    checklist = ma.fields.List(
        ma.fields.Nested(ChecklistItemSchema),
        allow_none=True,
        load_default=None,
        validate=ma.validate.Length(max=MAX_CHECKLIST_ITEMS),
        metadata={
            "description": "Required for full_takeover only: every template item, none open."
        },
    )
    settlement_acknowledged = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Required (true) for terminated: the settlement summary."},
    )


class ReversalSchema(ma.Schema):
    """Undo the latest transition in effect by a dated record with a reason."""

    effective_date = ma.fields.Date(
        required=True, metadata={"description": "On or after the last transition's date."}
    )
    reason = _name(MAX_NOTE, required=True)


class SourceSummarySchema(ma.Schema):
    available = ma.fields.Boolean(
        required=True, metadata={"description": "False until the feature exists (zeros)."}
    )
    count = ma.fields.Integer(required=True)
    amount = ma.fields.String(required=True, metadata={"format": "decimal", "example": "0.00"})


class CarriedOverItemSchema(ma.Schema):
    title = ma.fields.String(required=True)
    responsible = ma.fields.String(required=True)
    due_date = ma.fields.String(allow_none=True, metadata={"format": "date"})
    note = ma.fields.String()


class SettlementSchema(ma.Schema):
    """What an exit must settle: open bills, prepaid balances, carried-over items."""

    open_bills = ma.fields.Nested(SourceSummarySchema, required=True)
    prepaid_balances = ma.fields.Nested(SourceSummarySchema, required=True)
    carried_over_items = ma.fields.List(ma.fields.Nested(CarriedOverItemSchema), required=True)


class TransitionSchema(ma.Schema):
    id = ma.fields.UUID(required=True)
    estate_id = ma.fields.UUID(required=True)
    kind = ma.fields.Enum(TransitionKind, by_value=True, required=True)
    from_stage = ma.fields.Enum(HandoverStage, by_value=True, required=True)
    to_stage = ma.fields.Enum(HandoverStage, by_value=True, required=True)
    effective_date = ma.fields.Date(required=True)
    note = ma.fields.String(required=True, metadata={"description": "For a reversal: the reason."})
    reverses_id = ma.fields.UUID(allow_none=True, required=True)
    reversed_by_id = ma.fields.UUID(allow_none=True, required=True)
    recorded_by = ma.fields.UUID(allow_none=True, required=True)
    recorded_by_name = ma.fields.String(allow_none=True, required=True)
    recorded_at = ma.fields.DateTime(required=True)
    agreement = ma.fields.Nested(AgreementSchema, allow_none=True, required=True)
    vote = ma.fields.Nested(VoteSchema, allow_none=True, required=True)
    checklist = ma.fields.List(ma.fields.Nested(ChecklistItemSchema), required=True)
    settlement = ma.fields.Nested(SettlementSchema, allow_none=True, required=True)


class ChecklistTemplateItemSchema(ma.Schema):
    title = ma.fields.String(required=True)
    position = ma.fields.Integer(required=True)
