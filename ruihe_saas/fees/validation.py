"""Checking what a fee schedule is made of, before anything is stored.

``clean_schedule(estate, data)`` takes a schedule as the API or a form sends it (values may
be strings, numbers, dates, enums) and returns the columns of the schedule and of each item,
or raises ``ValidationFailed`` listing **every** problem by field: ``name``,
``effective_to`` …, ``items`` (the list as a whole), ``items.<index>.<field>`` for an item.

Rules, per charge kind (``ChargeKind``):

- every kind: ``rate`` ≥ 0 (元/m²/月, 元/户/月, 元/个/月, 元 per unit used, 元 once);
- ``metered``: ``meter_kind``, optional ``fixed_part`` (元/月) and ``unit`` (吨, 度);
- ``shared_meter``: ``shared_meter_id`` (a shared meter of the same estate), ``split_basis``
  (``area`` | ``equal``), ``occupied_only``; ``meter_kind`` is the shared meter's;
- ``one_off``: ``charge_period`` ``YYYY-MM`` and ``household_ids`` (households of the
  estate), billed once: frequency ``one_off`` (and only one-off items are);
- applicability filters for every kind: ``building_ids`` (buildings of the estate),
  ``lift_only``, ``min_floor``, ``category_ids`` (the tenant's household categories, by id
  or code), ``occupancies``, ``vacant_rate_percent`` (0–100, what vacant units pay).

Values a kind does not use are dropped. The parsers are ``parsing``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.estates.models import Building, Estate, Household, Occupancy
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import (
    BillingFrequency,
    ChargeKind,
    MeterKind,
    RevenueCategory,
    SharedMeter,
    SplitBasis,
    StageApplicability,
)
from ruihe_saas.fees.parsing import (  # noqa: F401 - Errors, local_today … are used from here too
    CODE_RE,
    MAX_ITEMS,
    MAX_MONEY,
    MAX_RATE,
    RATE_PLACES,
    REQUIRED,
    Errors,
    as_list,
    blank,
    local_today,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_enum,
    parse_int,
    parse_period,
    parse_text,
    parse_uuid,
    resolve_categories,
    resolve_ids,
)

# --- the schedule ------------------------------------------------------------------------------

SCHEDULE_DEFAULTS: dict[str, Any] = {
    "stages": StageApplicability.BOTH,
    "effective_to": None,
    "prepay_months": None,
    "prepay_discount_percent": None,
    "prepay_free_months": None,
    "late_fee_enabled": False,
    "late_fee_daily_rate": Decimal("0"),
    "late_fee_grace_days": 0,
    "late_fee_cap_percent": Decimal("0"),
    "notes": "",
}
SCHEDULE_FIELDS = ("name", "effective_from", *SCHEDULE_DEFAULTS)


def clean_schedule(estate: Estate, data: Mapping) -> tuple[dict, list[dict]]:
    """``(schedule columns, [item columns])`` or ``ValidationFailed`` listing every problem."""
    errors = Errors()
    get = lambda key: data.get(key, SCHEDULE_DEFAULTS.get(key))  # noqa: E731
    fields: dict[str, Any] = {
        "name": parse_text(get("name"), "name", errors, max_length=100, required=True)
    }
    stages = get("stages")
    fields["stages"] = (
        StageApplicability.BOTH
        if blank(stages)
        else parse_enum(StageApplicability, stages, "stages", errors)
    )
    fields["effective_from"] = (
        parse_date(get("effective_from"), "effective_from", errors)
        if not blank(get("effective_from"))
        else errors.add("effective_from", REQUIRED)
    )
    effective_to = get("effective_to")
    fields["effective_to"] = (
        None if blank(effective_to) else parse_date(effective_to, "effective_to", errors)
    )
    start, end = fields["effective_from"], fields["effective_to"]
    if start and end and end < start:
        errors.add("effective_to", _l("Must be on or after the start date."))
    fields.update(_prepayment(data, errors))
    fields.update(_late_fee(data, errors))
    fields["notes"] = parse_text(get("notes"), "notes", errors, max_length=2000)
    items = _items(estate, data.get("items"), errors)
    errors.raise_if_any(_l("The fee schedule has invalid values; nothing was saved."))
    return fields, items


def _prepayment(data: Mapping, errors: Errors) -> dict:
    months, percent, free = (
        data.get(key) for key in ("prepay_months", "prepay_discount_percent", "prepay_free_months")
    )
    out = {"prepay_months": None, "prepay_discount_percent": None, "prepay_free_months": None}
    if blank(months):
        if not blank(percent) or not blank(free):
            errors.add("prepay_months", _l("Say how many months must be paid ahead."))
        return out
    out["prepay_months"] = parse_int(months, "prepay_months", errors, low=1, high=36)
    if blank(percent) == blank(free):
        errors.add(
            "prepay_discount_percent", _l("Give either a discount (%) or a number of free months.")
        )
        return out
    if not blank(percent):
        out["prepay_discount_percent"] = parse_decimal(
            percent, "prepay_discount_percent", errors, high=Decimal("100"), low_open=True
        )
    else:
        free_months = parse_int(free, "prepay_free_months", errors, low=1, high=35)
        if free_months and out["prepay_months"] and free_months >= out["prepay_months"]:
            errors.add("prepay_free_months", _l("Must be fewer than the months paid ahead."))
        out["prepay_free_months"] = free_months
    return out


def _late_fee(data: Mapping, errors: Errors) -> dict:
    enabled = parse_bool(data.get("late_fee_enabled"), "late_fee_enabled", errors)
    out: dict[str, Any] = {"late_fee_enabled": enabled}
    rate, grace, cap = (
        data.get(key)
        for key in ("late_fee_daily_rate", "late_fee_grace_days", "late_fee_cap_percent")
    )
    out["late_fee_daily_rate"] = (
        Decimal("0")
        if blank(rate)
        else parse_decimal(
            rate, "late_fee_daily_rate", errors, high=Decimal("0.01"), places=Decimal("0.000001")
        )
    )
    out["late_fee_grace_days"] = (
        0 if blank(grace) else parse_int(grace, "late_fee_grace_days", errors, low=0, high=3650)
    )
    out["late_fee_cap_percent"] = (
        Decimal("0")
        if blank(cap)
        else parse_decimal(cap, "late_fee_cap_percent", errors, high=Decimal("100"))
    )
    if enabled:
        if out["late_fee_daily_rate"] == 0:
            errors.add("late_fee_daily_rate", _l("A late fee needs a daily rate above 0."))
        if out["late_fee_cap_percent"] == 0:
            errors.add("late_fee_cap_percent", _l("A late fee needs a cap above 0 %."))
    return out


# --- the items ---------------------------------------------------------------------------------


def _items(estate: Estate, value: Any, errors: Errors) -> list[dict]:
    if blank(value) or (isinstance(value, list | tuple) and not value):
        errors.add("items", _l("Add at least one fee item."))
        return []
    if not isinstance(value, list | tuple):
        errors.add("items", _l("Must be a list."))
        return []
    if len(value) > MAX_ITEMS:
        errors.add("items", _l("At most %(max)d fee items.", max=MAX_ITEMS))
        return []
    items = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(value):
        if not isinstance(raw, Mapping):
            errors.add(f"items.{index}", _l("Must be an object."))
            continue
        item = clean_item(estate, raw, f"items.{index}", errors)
        item["position"] = index
        code = item.get("code")
        if code:
            if code in seen:
                errors.add(f"items.{index}.code", _l("Two items have this code."))
            seen.setdefault(code, index)
        items.append(item)
    return items


def clean_item(estate: Estate, raw: Mapping, prefix: str, errors: Errors) -> dict:
    def key(name: str) -> str:
        return f"{prefix}.{name}"

    def get(name: str):
        return raw.get(name)

    item: dict[str, Any] = {}
    code = parse_text(get("code"), key("code"), errors, max_length=40, required=True)
    if code and not CODE_RE.match(code):
        errors.add(key("code"), _l("Lowercase letters, digits and _ only (e.g. property_service)."))
    item["code"] = code
    item["name"] = parse_text(get("name"), key("name"), errors, max_length=50, required=True)
    category = get("revenue_category")
    item["revenue_category"] = (
        RevenueCategory.PROPERTY_SERVICE
        if blank(category)
        else parse_enum(RevenueCategory, category, key("revenue_category"), errors)
    )
    kind = None
    if blank(get("charge_kind")):
        errors.add(key("charge_kind"), REQUIRED)
    else:
        kind = parse_enum(ChargeKind, get("charge_kind"), key("charge_kind"), errors)
    item["charge_kind"] = kind
    frequency = get("frequency")
    if blank(frequency):
        frequency = (
            BillingFrequency.ONE_OFF if kind == ChargeKind.ONE_OFF else BillingFrequency.MONTHLY
        )
    item["frequency"] = parse_enum(BillingFrequency, frequency, key("frequency"), errors)
    once = item["frequency"] == BillingFrequency.ONE_OFF
    if kind is not None and item["frequency"] is not None and (kind == ChargeKind.ONE_OFF) != once:
        errors.add(key("frequency"), _l("One-off items, and only they, are billed one-off."))
    item["due_day"] = (
        1
        if blank(get("due_day"))
        else parse_int(get("due_day"), key("due_day"), errors, low=1, high=28)
    )
    item["due_days"] = (
        30
        if blank(get("due_days"))
        else parse_int(get("due_days"), key("due_days"), errors, low=0, high=365)
    )
    if blank(get("rate")):
        errors.add(key("rate"), REQUIRED)
        item["rate"] = None
    else:
        item["rate"] = parse_decimal(
            get("rate"), key("rate"), errors, high=MAX_RATE, places=RATE_PLACES
        )
    item.update(_kind_fields(estate, kind, raw, prefix, errors))
    item.update(_filters(estate, raw, prefix, errors))
    return item


def _kind_fields(estate: Estate, kind, raw: Mapping, prefix: str, errors: Errors) -> dict:
    def key(name: str) -> str:
        return f"{prefix}.{name}"

    out: dict[str, Any] = {
        "fixed_part": Decimal("0"),
        "unit": "",
        "meter_kind": None,
        "shared_meter_id": None,
        "split_basis": None,
        "occupied_only": False,
        "charge_period": None,
        "household_ids": None,
    }
    if kind in (ChargeKind.METERED, ChargeKind.SHARED_METER):
        out["unit"] = parse_text(raw.get("unit"), key("unit"), errors, max_length=10)
    if kind == ChargeKind.METERED:
        if blank(raw.get("meter_kind")):
            errors.add(key("meter_kind"), REQUIRED)
        else:
            out["meter_kind"] = parse_enum(
                MeterKind, raw.get("meter_kind"), key("meter_kind"), errors
            )
        if not blank(raw.get("fixed_part")):
            out["fixed_part"] = parse_decimal(raw.get("fixed_part"), key("fixed_part"), errors)
    elif kind == ChargeKind.SHARED_METER:
        meter = None
        meter_id = (
            parse_uuid(raw.get("shared_meter_id"))
            if not blank(raw.get("shared_meter_id"))
            else None
        )
        if blank(raw.get("shared_meter_id")):
            errors.add(key("shared_meter_id"), REQUIRED)
        elif meter_id is not None:
            meter = db.session.scalar(
                select(SharedMeter).where(
                    SharedMeter.id == meter_id, SharedMeter.estate_id == estate.id
                )
            )
        if meter is None and not blank(raw.get("shared_meter_id")):
            errors.add(key("shared_meter_id"), _l("Not a shared meter of this estate."))
        if meter is not None:
            out["shared_meter_id"], out["meter_kind"] = meter.id, meter.meter_kind
        if blank(raw.get("split_basis")):
            errors.add(key("split_basis"), REQUIRED)
        else:
            out["split_basis"] = parse_enum(
                SplitBasis, raw.get("split_basis"), key("split_basis"), errors
            )
        out["occupied_only"] = parse_bool(raw.get("occupied_only"), key("occupied_only"), errors)
    elif kind == ChargeKind.ONE_OFF:
        if blank(raw.get("charge_period")):
            errors.add(key("charge_period"), REQUIRED)
        else:
            out["charge_period"] = parse_period(
                raw.get("charge_period"), key("charge_period"), errors
            )
        targets = as_list(raw.get("household_ids"), key("household_ids"), errors)
        if not targets:
            if not errors.fields.get(key("household_ids")):
                errors.add(key("household_ids"), _l("Choose the households to charge."))
        else:
            out["household_ids"] = resolve_ids(
                targets, key("household_ids"), errors, Household, estate,
                _l("Not households of this estate."),
            )  # fmt: skip
    return out


def _filters(estate: Estate, raw: Mapping, prefix: str, errors: Errors) -> dict:
    def key(name: str) -> str:
        return f"{prefix}.{name}"

    buildings = as_list(raw.get("building_ids"), key("building_ids"), errors)
    categories = as_list(raw.get("category_ids"), key("category_ids"), errors)
    occupancies = as_list(raw.get("occupancies"), key("occupancies"), errors)
    out: dict[str, Any] = {
        "building_ids": resolve_ids(
            buildings,
            key("building_ids"),
            errors,
            Building,
            estate,
            _l("Not buildings of this estate."),
        ),  # fmt: skip
        "lift_only": parse_bool(raw.get("lift_only"), key("lift_only"), errors),
        "min_floor": None
        if blank(raw.get("min_floor"))
        else parse_int(raw.get("min_floor"), key("min_floor"), errors, low=-10, high=200),
        "category_ids": resolve_categories(categories, key("category_ids"), errors),
        "occupancies": None,
        "vacant_rate_percent": Decimal("100")
        if blank(raw.get("vacant_rate_percent"))
        else parse_decimal(
            raw.get("vacant_rate_percent"), key("vacant_rate_percent"), errors, high=Decimal("100")
        ),
    }
    if occupancies:
        parsed = [parse_enum(Occupancy, value, key("occupancies"), errors) for value in occupancies]
        if all(parsed):
            out["occupancies"] = list(dict.fromkeys(value.value for value in parsed))
    return out
