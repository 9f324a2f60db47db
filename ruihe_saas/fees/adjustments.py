"""Fee adjustments (减免): a discount or exemption for one household or a household category,
in % (100 = exemption) or a fixed amount off per month, with a reason and validity dates,
for every item or the items of one code. Ending an adjustment sets ``valid_to``; nothing is
deleted."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from ruihe_saas.errors import Conflict, NotFound
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.estates.services import get_estate
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import AdjustmentKind, FeeAdjustment, FeeItem
from ruihe_saas.fees.parsing import (
    CODE_RE,
    MAX_MONEY,
    REQUIRED,
    Errors,
    blank,
    local_today,
    parse_date,
    parse_decimal,
    parse_enum,
    parse_text,
    parse_uuid,
    resolve_categories,
)
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate


def _estate(estate: Estate | uuid.UUID | str) -> Estate:
    return estate if isinstance(estate, Estate) else get_estate(estate)


def get_adjustment(adjustment_id: uuid.UUID | str) -> FeeAdjustment:
    adjustment = get_owned(FeeAdjustment, adjustment_id)
    if adjustment is None:
        raise NotFound(_l("Adjustment not found."))
    return adjustment


def create_adjustment(estate_id: uuid.UUID | Estate, data: Mapping) -> FeeAdjustment:
    """``{household_id | category (id or code), kind, value, reason, valid_from,
    valid_to?, fee_item_code?}``; 422 listing every bad value, nothing stored."""
    estate = _estate(estate_id)
    errors = Errors()
    fields: dict = {"household_id": None, "category_id": None}
    household_value = data.get("household_id")
    category_value = data.get("category_id") or data.get("category")
    if blank(household_value) == blank(category_value):
        errors.add("household_id", _l("Choose a household or a household category (not both)."))
    elif not blank(household_value):
        household_id = parse_uuid(household_value)
        household = get_owned(Household, household_id) if household_id else None
        if household is None or household.estate_id != estate.id:
            errors.add("household_id", _l("Not a household of this estate."))
        else:
            fields["household_id"] = household.id
    else:
        found = resolve_categories([category_value], "category_id", errors)
        fields["category_id"] = uuid.UUID(found[0]) if found else None
    kind = None
    if blank(data.get("kind")):
        errors.add("kind", REQUIRED)
    else:
        kind = parse_enum(AdjustmentKind, data.get("kind"), "kind", errors)
    fields["kind"] = kind
    if blank(data.get("value")):
        errors.add("value", REQUIRED)
    else:
        high = Decimal("100") if kind == AdjustmentKind.PERCENT else MAX_MONEY
        fields["value"] = parse_decimal(
            data.get("value"), "value", errors, high=high, low_open=True
        )
    fields["reason"] = parse_text(
        data.get("reason"), "reason", errors, max_length=200, required=True
    )
    fields["valid_from"] = (
        errors.add("valid_from", REQUIRED)
        if blank(data.get("valid_from"))
        else parse_date(data.get("valid_from"), "valid_from", errors)
    )
    fields["valid_to"] = (
        None
        if blank(data.get("valid_to"))
        else parse_date(data.get("valid_to"), "valid_to", errors)
    )
    if fields["valid_from"] and fields["valid_to"] and fields["valid_to"] < fields["valid_from"]:
        errors.add("valid_to", _l("Must be on or after the start date."))
    fields["fee_item_code"] = _item_code(estate, data.get("fee_item_code"), errors)
    errors.raise_if_any(_l("The adjustment has invalid values; nothing was saved."))
    adjustment = FeeAdjustment(estate_id=estate.id, created_by=current_actor_user_id(), **fields)
    db.session.add(adjustment)
    db.session.flush()
    return adjustment


def _item_code(estate: Estate, value, errors: Errors) -> str | None:
    if blank(value):
        return None
    code = str(value).strip()
    if not CODE_RE.match(code):
        errors.add("fee_item_code", _l("Lowercase letters, digits and _ only."))
        return None
    exists = db.session.scalar(
        select(FeeItem.id).where(FeeItem.estate_id == estate.id, FeeItem.code == code).limit(1)
    )
    if exists is None:
        errors.add("fee_item_code", _l("No fee item of this estate has this code."))
        return None
    return code


def list_adjustments(
    estate_id: uuid.UUID | Estate,
    page: int = 1,
    per_page: int = 50,
    *,
    household_id: uuid.UUID | None = None,
    active_on: date | None = None,
) -> Page:
    """The estate's adjustments, newest first; optionally one household's (its own and its
    category's) or those valid on a day."""
    estate = _estate(estate_id)
    statement = (
        select(FeeAdjustment)
        .where(FeeAdjustment.estate_id == estate.id)
        .order_by(FeeAdjustment.valid_from.desc(), FeeAdjustment.id.desc())
    )
    if household_id is not None:
        household = get_owned(Household, household_id)
        targets = [FeeAdjustment.household_id == household_id]
        if household is not None and household.category_id is not None:
            targets.append(FeeAdjustment.category_id == household.category_id)
        statement = statement.where(or_(*targets))
    if active_on is not None:
        statement = statement.where(*_valid_on(active_on))
    return paginate(statement, page, per_page)


def _valid_on(day: date) -> tuple:
    return (
        FeeAdjustment.valid_from <= day,
        FeeAdjustment.valid_to.is_(None) | (FeeAdjustment.valid_to >= day),
    )


def adjustments_for(household: Household, on_date: date) -> list[FeeAdjustment]:
    """The adjustments valid on ``on_date`` for the household: its own and its category's."""
    targets = [FeeAdjustment.household_id == household.id]
    if household.category_id is not None:
        targets.append(FeeAdjustment.category_id == household.category_id)
    return list(
        db.session.scalars(
            select(FeeAdjustment)
            .where(
                FeeAdjustment.estate_id == household.estate_id,
                or_(*targets),
                *_valid_on(on_date),
            )
            .order_by(FeeAdjustment.valid_from, FeeAdjustment.id)
        )
    )


def end_adjustment(adjustment_id: uuid.UUID | str, valid_to: date | str | None = None):
    """End an adjustment on ``valid_to`` (default: today). It can end earlier than planned,
    never later (409), and not before it starts (422)."""
    adjustment = get_adjustment(adjustment_id)
    errors = Errors()
    day = local_today() if blank(valid_to) else parse_date(valid_to, "valid_to", errors)
    if day is not None and day < adjustment.valid_from:
        errors.add("valid_to", _l("Must be on or after the start date."))
    errors.raise_if_any(_l("The end date is invalid."))
    if adjustment.valid_to is not None and day > adjustment.valid_to:
        raise Conflict(
            _l("The adjustment already ends on %(date)s.", date=adjustment.valid_to.isoformat()),
            fields={"valid_to": [_l("Must be on or before the current end date.")]},
        )
    adjustment.valid_to = day
    db.session.flush()
    return adjustment
