"""The schedule form ↔ the services' data: what a filled-in form means (``schedule_payload``),
a stored version as form data to revise (``schedule_form_data``), and the services' field
errors back on the form's rows (``show_errors``)."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from flask_babel import lazy_gettext as _l

from ruihe_saas.errors import DomainError
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import Estate
from ruihe_saas.fees.forms import ITEM_ROWS, MAX_ITEM_ROWS, ScheduleForm

LABEL_SPLIT = re.compile(r"[,，、;；\s]+")
SUGGESTED_CODES = {
    "物业服务费": "property_service",
    "物业费": "property_service",
    "电梯费": "lift",
    "电梯运行费": "lift",
    "停车费": "parking",
    "车位费": "parking",
    "充电费": "ebike_charging",
    "电动车充电费": "ebike_charging",
    "垃圾清运费": "garbage",
    "垃圾费": "garbage",
    "水费": "water",
    "电费": "electricity",
    "燃气费": "gas",
    "公摊电费": "shared_electricity",
    "公摊水费": "shared_water",
    "二次供水费": "secondary_water",
}
SCHEDULE_KEYS = (
    "name", "stages", "effective_from", "effective_to", "prepay_months",
    "prepay_discount_percent", "prepay_free_months", "late_fee_enabled", "late_fee_daily_rate",
    "late_fee_grace_days", "late_fee_cap_percent", "notes",
)  # fmt: skip
ITEM_KEYS = (
    "code", "name", "charge_kind", "rate", "revenue_category", "frequency", "due_day",
    "due_days", "unit", "fixed_part", "meter_kind", "shared_meter_id", "split_basis",
    "occupied_only", "charge_period", "building_ids", "lift_only", "min_floor",
    "category_ids", "occupancies", "vacant_rate_percent",
)  # fmt: skip
FORM_FIELD = {"household_ids": "households"}  # service key → the row's field


def _code_for(name: str, index: int, taken: set[str]) -> str:
    base = SUGGESTED_CODES.get((name or "").strip(), f"item_{index + 1}")
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


def schedule_payload(form: ScheduleForm, estate: Estate) -> tuple[dict, list[int], bool]:
    """``(data for the service, form row of each item, every household label known)``."""
    data = {key: getattr(form, key).data for key in SCHEDULE_KEYS}
    rows = [i for i, entry in enumerate(form.items) if not entry.form.is_blank()]
    taken = {form.items[i].form.code.data for i in rows if form.items[i].form.code.data}
    labels_ok = True
    items = []
    for i in rows:
        row = form.items[i].form
        item = {key: getattr(row, key).data for key in ITEM_KEYS}
        for key in ("meter_kind", "shared_meter_id", "split_basis", "charge_period"):
            item[key] = item[key] or None
        if not item["code"]:
            item["code"] = _code_for(item["name"], i, taken)
            taken.add(item["code"])
        item["household_ids"] = None
        if item["charge_kind"] == "one_off":
            item["household_ids"], unknown = _households(estate, row.households.data)
            if unknown:
                labels_ok = False
                row.households.errors = [
                    *row.households.errors,
                    *(_l("No household %(label)s in the estate.", label=u) for u in unknown[:10]),
                ]
        items.append(item)
    data["items"] = items
    return data, rows, labels_ok


def _households(estate: Estate, text: str | None) -> tuple[list[str], list[str]]:
    """The ids of the households a text names by label, and the labels not found."""
    ids, unknown = [], []
    for label in (label for label in LABEL_SPLIT.split(text or "") if label):
        household = estate_services.find_household_by_label(estate, label)
        if household is None:
            unknown.append(label)
        else:
            ids.append(str(household.id))
    return ids, unknown


def _number_text(value) -> str:
    if value is None:
        return ""
    value = Decimal(value).normalize()
    text = format(value, "f")
    if "." in text and len(text.split(".")[1]) == 1:
        text += "0"
    return text


def schedule_form_data(schedule, items, estate: Estate) -> dict:
    """A stored version as the schedule form's data (to revise it)."""
    categories = {str(c.id): c.code for c in estate_services.categories()}
    data = {key: getattr(schedule, key) for key in SCHEDULE_KEYS}
    for key in ("prepay_months", "prepay_free_months", "late_fee_grace_days"):
        data[key] = "" if data[key] is None else str(data[key])
    for key in ("prepay_discount_percent", "late_fee_daily_rate", "late_fee_cap_percent"):
        data[key] = _number_text(data[key])
    data["stages"] = schedule.stages.value
    households = estate_services.households_by_ids(
        estate, (_uuid(h) for i in items for h in (i.household_ids or []))
    )
    rows = []
    for item in items:
        row = {key: getattr(item, key) for key in ITEM_KEYS}
        for key in ("charge_kind", "revenue_category", "frequency", "meter_kind", "split_basis"):
            row[key] = row[key].value if row[key] is not None else ""
        for key in ("rate", "fixed_part", "vacant_rate_percent"):
            row[key] = _number_text(row[key])
        for key in ("due_day", "due_days", "min_floor"):
            row[key] = "" if row[key] is None else str(row[key])
        row["shared_meter_id"] = str(item.shared_meter_id) if item.shared_meter_id else ""
        row["charge_period"] = item.charge_period or ""
        row["building_ids"] = item.building_ids or []
        row["category_ids"] = [categories[c] for c in item.category_ids or [] if c in categories]
        row["occupancies"] = item.occupancies or []
        ids = (_uuid(h) for h in item.household_ids or [])
        row["households"] = "，".join(households[h].label for h in ids if h in households)
        rows.append(row)
    blank_rows = max(ITEM_ROWS - len(rows), 2)
    data["items"] = (rows + [{}] * blank_rows)[:MAX_ITEM_ROWS]
    return data


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def show_errors(form: ScheduleForm, error: DomainError, rows: list[int]) -> None:
    """The service's errors on the form: ``items.<k>.<field>`` on row ``rows[k]``."""
    form.form_errors.append(error.message)
    for key, messages in (error.fields or {}).items():
        messages = list(messages) if isinstance(messages, list | tuple) else [messages]
        parts = key.split(".")
        field = None
        if parts[0] == "items" and len(parts) == 3 and parts[1].isdigit():
            k = int(parts[1])
            if k < len(rows):
                row = form.items[rows[k]].form
                field = getattr(row, FORM_FIELD.get(parts[2], parts[2]), None)
        elif len(parts) == 1 and key != "items":
            field = getattr(form, key, None)
        if field is not None and hasattr(field, "errors") and key != "csrf_token":
            field.errors = [*field.errors, *messages]
        else:
            form.form_errors.extend(messages)
