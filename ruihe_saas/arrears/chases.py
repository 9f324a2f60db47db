"""Chasing records (催缴记录): who was chased, when, how, what they said and promised.
Services flush, never commit."""

from __future__ import annotations

import uuid
from datetime import date

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select

from ruihe_saas.arrears.models import ArrearsChase, ChaseChannel
from ruihe_saas.arrears.services import FIRST_DAY, LAST_DAY, household_arrears_total
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.web.pagination import Page, paginate

MAX_RESULT = 2000


def create_chase(
    household: Household,
    *,
    chased_on: date | None,
    channel: ChaseChannel | str,
    result: str = "",
    promised_on: date | None = None,
) -> ArrearsChase:
    """Record one chase of the household; ``outstanding`` keeps what it owed on bills overdue
    on the day of the chase (what is outstanding now)."""
    errors: dict[str, list] = {}
    today = local_today()
    if chased_on is None:
        errors["chased_on"] = [_l("Enter the date of the chase.")]
    elif not FIRST_DAY <= chased_on <= today:
        errors["chased_on"] = [_l("Cannot be in the future or before 2000.")]
    try:
        channel = ChaseChannel(channel)
    except ValueError:
        errors["channel"] = [_l("Unknown channel.")]
    result = (result or "").strip()
    if len(result) > MAX_RESULT:
        errors["result"] = [_l("At most 2000 characters.")]
    if promised_on is not None and not (
        (chased_on is None or promised_on >= chased_on) and promised_on <= LAST_DAY
    ):
        errors["promised_on"] = [_l("Must be on or after the date of the chase.")]
    if errors:
        raise ValidationFailed(_l("The chasing record has invalid fields."), fields=errors)
    chase = ArrearsChase(
        estate_id=household.estate_id,
        household_id=household.id,
        chased_on=chased_on,
        channel=channel,
        result=result,
        promised_on=promised_on,
        outstanding=household_arrears_total(household, chased_on),
        recorded_by=current_actor_user_id(),
    )
    db.session.add(chase)
    db.session.flush()
    return chase


def chase_query(*, household: Household | None = None, estate: Estate | None = None) -> Select:
    statement = select(ArrearsChase).order_by(
        ArrearsChase.chased_on.desc(), ArrearsChase.created_at.desc(), ArrearsChase.id.desc()
    )
    if household is not None:
        statement = statement.where(ArrearsChase.household_id == household.id)
    if estate is not None:
        statement = statement.where(ArrearsChase.estate_id == estate.id)
    return statement


def list_chases(
    page: int = 1,
    per_page: int = 20,
    *,
    household: Household | None = None,
    estate: Estate | None = None,
) -> Page:
    return paginate(chase_query(household=household, estate=estate), page, per_page)


def household_labels(chases: list[ArrearsChase]) -> dict[uuid.UUID, str]:
    """``{household_id: label}`` for the households of these chasing records."""
    ids = {chase.household_id for chase in chases}
    if not ids:
        return {}
    rows = db.session.scalars(select(Household).where(Household.id.in_(ids)))
    return {household.id: household.label for household in rows}
