"""Dated occupancy changes of a household (vacant → occupied …), which billing prorates.

The occupancy on a day is ``to_occupancy`` of the latest change on or before it, else
``from_occupancy`` of the first change, else ``Household.occupancy`` (see
``OccupancyChange``). ``change_occupancy`` records a change (``from_occupancy``: the
occupancy on that day) and, when it is effective by today, updates ``Household.occupancy``
to today's occupancy. A change may be back-dated between two others: the later change's
``from_occupancy`` then follows it (refused, 409, when that would make the later change a
change to the same occupancy). One change per household per day (409).
"""

from __future__ import annotations

import uuid
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound
from ruihe_saas.estates.forms import OCCUPANCY_LABELS
from ruihe_saas.estates.models import Household, Occupancy, OccupancyChange
from ruihe_saas.extensions import db
from ruihe_saas.fees.parsing import REQUIRED, Errors, blank, local_today, parse_date, parse_enum
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned


def _household(household_id: uuid.UUID | str | Household) -> Household:
    if isinstance(household_id, Household):
        return household_id
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    return household


def occupancy_history(household_id: uuid.UUID | str | Household) -> list[OccupancyChange]:
    """The household's occupancy changes, oldest first."""
    household = _household(household_id)
    return list(
        db.session.scalars(
            select(OccupancyChange)
            .where(OccupancyChange.household_id == household.id)
            .order_by(OccupancyChange.effective_date)
        )
    )


def occupancy_on(household: Household, day: date, history: list[OccupancyChange] | None = None):
    history = occupancy_history(household) if history is None else history
    current = None
    for change in history:
        if change.effective_date <= day:
            current = change.to_occupancy
    if current is not None:
        return Occupancy(current)
    if history:
        return Occupancy(history[0].from_occupancy)
    return Occupancy(household.occupancy)


def change_occupancy(
    household_id: uuid.UUID | str | Household, to_occupancy, effective_date
) -> OccupancyChange:
    household = _household(household_id)
    errors = Errors()
    to = (
        errors.add("to_occupancy", REQUIRED)
        if blank(to_occupancy)
        else parse_enum(Occupancy, to_occupancy, "to_occupancy", errors)
    )
    day = (
        errors.add("effective_date", REQUIRED)
        if blank(effective_date)
        else parse_date(effective_date, "effective_date", errors)
    )
    errors.raise_if_any(_l("The occupancy change has invalid values; nothing was saved."))
    history = occupancy_history(household)
    if any(change.effective_date == day for change in history):
        raise Conflict(
            _l("The household already has an occupancy change on this day."),
            fields={"effective_date": [_l("One change per day.")]},
        )
    before = occupancy_on(household, day, history)
    if before == to:
        raise Conflict(
            _l(
                "The household is already %(occupancy)s on this day.",
                occupancy=OCCUPANCY_LABELS[to],
            ),
            fields={"to_occupancy": [_l("No change.")]},
        )
    later = next((c for c in history if c.effective_date > day), None)
    if later is not None:
        if Occupancy(later.to_occupancy) == to:
            raise Conflict(
                _l(
                    "A later change (%(date)s) already makes the household %(occupancy)s.",
                    date=later.effective_date.isoformat(),
                    occupancy=OCCUPANCY_LABELS[to],
                ),
                fields={"effective_date": [_l("Conflicts with a later change.")]},
            )
        later.from_occupancy = to
    change = OccupancyChange(
        estate_id=household.estate_id,
        household_id=household.id,
        effective_date=day,
        from_occupancy=before,
        to_occupancy=to,
        recorded_by=current_actor_user_id(),
    )
    db.session.add(change)
    db.session.flush()
    today = local_today()
    if day <= today:
        ordered = sorted([*history, change], key=lambda c: c.effective_date)
        household.occupancy = occupancy_on(household, today, ordered)
        db.session.flush()
    return change


def recent_changes(estate_id: uuid.UUID, limit: int = 20) -> list[OccupancyChange]:
    """The estate's latest recorded occupancy changes, newest first."""
    return list(
        db.session.scalars(
            select(OccupancyChange)
            .where(OccupancyChange.estate_id == estate_id)
            .order_by(OccupancyChange.created_at.desc(), OccupancyChange.id.desc())
            .limit(limit)
        )
    )
