"""Handover API: an estate's transitions (``/estates/<id>/transitions``).

- ``GET  …/transitions``: the history, **oldest first** (paginated), each record with its
  evidence (agreement, vote with its art. 278 ratios, checklist, settlement);
- ``POST …/transitions``: move the estate to a new stage (``{"to_stage", "effective_date",
  "note", "agreement"?, "vote"?, "checklist"?, "settlement_acknowledged"?}``);
- ``POST …/transitions/<id>/reversal``: undo the latest transition in effect
  (``{"effective_date", "reason"}``), a new dated record;
- ``GET  …/transitions/<id>``, ``…/transitions/checklist-template``,
  ``…/transitions/settlement-summary``: one record, the tenant's checklist items, what a
  termination would have to settle now.

409: an illegal move, back-dating, reversing anything but the latest transition in effect.
422: missing or invalid evidence (``fields``, nested per evidence object: ``agreement``,
``vote`` (+ ``vote_ratios`` when art. 278 fails), ``checklist`` (by index, ``_schema`` for
missing items)).
"""

from __future__ import annotations

import uuid

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.estates.services import get_estate
from ruihe_saas.handover import services
from ruihe_saas.handover.schemas import (
    ChecklistTemplateItemSchema,
    ReversalSchema,
    SettlementSchema,
    TransitionCreateSchema,
    TransitionSchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import PageArgs, page_schema

blp = tenant_api_blueprint(
    "handover_api", __name__, "/estates", description="The handover lifecycle of estates"
)
WRITE_ERRORS = (400, 409, 422)


@blp.get("/<uuid:estate_id>/transitions")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(TransitionSchema))
@require_permission(Permission.VIEW_ESTATES)
def list_transitions(args, estate_id: uuid.UUID):
    """The estate's handover history, oldest first, with the evidence of each transition."""
    estate = get_estate(estate_id)
    return services.list_transitions(estate, args["page"], args["per_page"])


@blp.post("/<uuid:estate_id>/transitions")
@blp.arguments(TransitionCreateSchema)
@blp.response(201, TransitionSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_HANDOVER)
def create_transition(data, estate_id: uuid.UUID):
    """Move the estate to a new stage, with its evidence.

    Allowed moves: prospect → partial_caretaking | full_takeover, partial_caretaking →
    full_takeover | terminated, full_takeover → terminated. Evidence: ``agreement`` (to
    partial_caretaking), ``vote`` passing art. 278 and a complete ``checklist`` (to
    full_takeover), ``settlement_acknowledged: true`` (to terminated)."""
    estate = get_estate(estate_id)
    return services.record_transition(
        estate,
        data["to_stage"],
        data["effective_date"],
        note=data["note"],
        agreement=data["agreement"],
        vote=data["vote"],
        checklist=data["checklist"],
        settlement_acknowledged=data["settlement_acknowledged"],
    )


@blp.get("/<uuid:estate_id>/transitions/checklist-template")
@blp.response(200, ChecklistTemplateItemSchema(many=True))
@require_permission(Permission.VIEW_ESTATES)
def checklist_template(estate_id: uuid.UUID):
    """The tenant's handover checklist: the items a full takeover's checklist must cover."""
    get_estate(estate_id)
    return services.checklist_template()


@blp.get("/<uuid:estate_id>/transitions/settlement-summary")
@blp.response(200, SettlementSchema)
@require_permission(Permission.VIEW_ESTATES)
def settlement_summary(estate_id: uuid.UUID):
    """What a termination would have to settle now (to show before acknowledging it)."""
    return services.settlement_summary(get_estate(estate_id))


@blp.get("/<uuid:estate_id>/transitions/<uuid:transition_id>")
@blp.response(200, TransitionSchema)
@require_permission(Permission.VIEW_ESTATES)
def get_transition(estate_id: uuid.UUID, transition_id: uuid.UUID):
    return services.get_transition(get_estate(estate_id), transition_id)


@blp.post("/<uuid:estate_id>/transitions/<uuid:transition_id>/reversal")
@blp.arguments(ReversalSchema)
@blp.response(201, TransitionSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_HANDOVER)
def reverse_transition(data, estate_id: uuid.UUID, transition_id: uuid.UUID):
    """Reverse the latest transition in effect: a new ``reversal`` record (the reversed one
    stays in the history), dated on or after the last transition, with a reason."""
    estate = get_estate(estate_id)
    return services.reverse_transition(
        estate, transition_id, data["effective_date"], data["reason"]
    )
