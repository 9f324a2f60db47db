"""What an exit must settle: the summary a termination is acknowledged against and keeps.

Open bills and prepaid balances are extension points for the billing and payment features
(until then nothing is known); the carried-over checklist items come from the estate's
takeovers still in effect.
"""

from __future__ import annotations

from sqlalchemy import select

from ruihe_saas.estates.models import Estate
from ruihe_saas.extensions import db
from ruihe_saas.handover.models import ChecklistStatus, HandoverChecklistItem, HandoverTransition


def open_bills_of(estate: Estate) -> dict:
    """Extension point: the estate's unpaid bills. Billing comes in a later issue; until then
    nothing is known (``available: False``) and the amounts are zero."""
    return {"available": False, "count": 0, "amount": "0.00"}


def prepaid_balances_of(estate: Estate) -> dict:
    """Extension point: prepayments held for the estate's households. Payments come in a
    later issue; until then nothing is known (``available: False``)."""
    return {"available": False, "count": 0, "amount": "0.00"}


def carried_over_items_of(estate: Estate) -> list[HandoverChecklistItem]:
    """Checklist items carried over by the estate's takeovers still in effect."""
    reversed_ids = select(HandoverTransition.reverses_id).where(
        HandoverTransition.estate_id == estate.id, HandoverTransition.reverses_id.is_not(None)
    )
    return list(
        db.session.scalars(
            select(HandoverChecklistItem)
            .where(
                HandoverChecklistItem.estate_id == estate.id,
                HandoverChecklistItem.status == ChecklistStatus.CARRIED_OVER,
                HandoverChecklistItem.transition_id.not_in(reversed_ids),
            )
            .order_by(HandoverChecklistItem.due_date, HandoverChecklistItem.position)
        )
    )


def settlement_summary(estate: Estate) -> dict:
    """What an exit must settle, as shown to (and acknowledged by) the user and kept with
    the termination: open bills, prepaid balances (each ``{"available", "count",
    "amount"}``) and the carried-over checklist items (title, responsible, due date, note)."""
    return {
        "open_bills": open_bills_of(estate),
        "prepaid_balances": prepaid_balances_of(estate),
        "carried_over_items": [
            {
                "title": item.title,
                "responsible": item.responsible,
                "due_date": item.due_date.isoformat() if item.due_date else None,
                "note": item.note,
            }
            for item in carried_over_items_of(estate)
        ],
    }
