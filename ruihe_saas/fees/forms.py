"""Forms of the fee pages. WTForms checks the shape (choices, dates); the services check the
rules, and their field errors are put back on the form's fields (``views.show_errors``).

The schedule form has ``ITEM_ROWS`` item rows (``items-<n>-<field>``); a row whose code,
name and rate are blank is ignored. Households are named by their label (3栋2单元502).
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    Form,
    FormField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from ruihe_saas.estates.models import Occupancy
from ruihe_saas.fees.models import (
    AdjustmentKind,
    BillingFrequency,
    ChargeKind,
    MeterKind,
    RevenueCategory,
    SplitBasis,
    StageApplicability,
)

ITEM_ROWS = 6
MAX_ITEM_ROWS = 30
REQUIRED = _l("Required.")

CHARGE_KIND_LABELS = {
    ChargeKind.PER_AREA: _l("Per m² of floor area"),
    ChargeKind.FIXED: _l("Fixed per household"),
    ChargeKind.PER_PARKING_SPACE: _l("Per parking space"),
    ChargeKind.METERED: _l("Metered (household meter)"),
    ChargeKind.SHARED_METER: _l("Shared meter (公摊)"),
    ChargeKind.ONE_OFF: _l("One-off"),
}
FREQUENCY_LABELS = {
    BillingFrequency.MONTHLY: _l("Monthly"),
    BillingFrequency.QUARTERLY: _l("Quarterly"),
    BillingFrequency.YEARLY: _l("Yearly"),
    BillingFrequency.ONE_OFF: _l("One-off"),
}
CATEGORY_LABELS = {
    RevenueCategory.PROPERTY_SERVICE: _l("Property service income"),
    RevenueCategory.PUBLIC_REVENUE: _l("Public revenue (owners')"),
}
STAGE_LABELS = {
    StageApplicability.BOTH: _l("Partial caretaking and full takeover"),
    StageApplicability.PARTIAL_CARETAKING: _l("Partial caretaking only"),
    StageApplicability.FULL_TAKEOVER: _l("Full takeover only"),
}
METER_LABELS = {
    MeterKind.WATER: _l("Water"),
    MeterKind.ELECTRICITY: _l("Electricity"),
    MeterKind.EBIKE_CHARGING: _l("E-bike charging"),
    MeterKind.GAS: _l("Gas"),
}
SPLIT_LABELS = {SplitBasis.AREA: _l("By floor area"), SplitBasis.EQUAL: _l("Equally")}
OCCUPANCY_LABELS = {
    Occupancy.OCCUPIED: _l("Occupied"),
    Occupancy.VACANT: _l("Vacant"),
    Occupancy.RENTED: _l("Rented"),
}
ADJUSTMENT_LABELS = {
    AdjustmentKind.PERCENT: _l("Percent off"),
    AdjustmentKind.FIXED: _l("Yuan off per month"),
}


def choices(labels: dict, blank: bool = False) -> list[SelectChoice]:
    out = [SelectChoice("", "—")] if blank else []
    return out + [SelectChoice(key.value, label) for key, label in labels.items()]


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _text(label, max_length: int = 40, **kwargs) -> StringField:
    return StringField(label, filters=[_strip], validators=[Length(max=max_length)], **kwargs)


def _number(label, **kwargs) -> StringField:
    """A number as typed: the service parses it (and says what is wrong with it)."""
    return StringField(label, filters=[_strip], validators=[Length(max=30)], **kwargs)


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ItemForm(Form):
    code = _text(_l("Code"), description=_l("e.g. property_service; blank: suggested"))
    name = _text(_l("Fee item"), max_length=50, description=_l("e.g. 物业服务费"))
    charge_kind = SelectField(
        _l("Charge kind"), choices=choices(CHARGE_KIND_LABELS), default=ChargeKind.PER_AREA.value
    )
    rate = _number(_l("Rate (yuan)"))
    revenue_category = SelectField(
        _l("Revenue category"),
        choices=choices(CATEGORY_LABELS),
        default=RevenueCategory.PROPERTY_SERVICE.value,
    )
    frequency = SelectField(
        _l("Billed"), choices=choices(FREQUENCY_LABELS), default=BillingFrequency.MONTHLY.value
    )
    due_day = _number(_l("Due: day of the period"), default="1")
    due_days = _number(_l("Due: days after"), default="30")
    unit = _text(_l("Unit (e.g. 吨, 度)"), max_length=10)
    fixed_part = _number(_l("Fixed part (yuan/month)"))
    meter_kind = SelectField(_l("Meter"), choices=choices(METER_LABELS, blank=True), default="")
    shared_meter_id = SelectField(_l("Shared meter"), choices=[], default="")
    split_basis = SelectField(_l("Split"), choices=choices(SPLIT_LABELS, blank=True), default="")
    occupied_only = BooleanField(_l("Occupied households only"))
    charge_period = _text(_l("Charged in (YYYY-MM)"), max_length=7)
    households = TextAreaField(
        _l("Households charged"),
        filters=[_strip],
        validators=[Length(max=5000)],
        description=_l("Labels such as 3栋2单元502, separated by commas."),
    )
    building_ids = MultiCheckboxField(_l("Only these buildings"), choices=[])
    lift_only = BooleanField(_l("Buildings with a lift only"))
    min_floor = _number(_l("From floor"))
    category_ids = MultiCheckboxField(_l("Only these household categories"), choices=[])
    occupancies = MultiCheckboxField(
        _l("Only these occupancies"), choices=choices(OCCUPANCY_LABELS)
    )
    vacant_rate_percent = _number(_l("Vacant units pay (%)"), default="100")

    def is_blank(self) -> bool:
        return not (self.code.data or self.name.data or self.rate.data)


class ScheduleForm(FlaskForm):
    """A fee schedule and its item rows; choices come from the view (``set_choices``)."""

    name = _text(_l("Schedule name"), max_length=100, description=_l("e.g. 2024年收费标准"))
    stages = SelectField(
        _l("Applies in"), choices=choices(STAGE_LABELS), default=StageApplicability.BOTH.value
    )
    effective_from = DateField(_l("Effective from"), validators=[InputRequired(message=REQUIRED)])
    effective_to = DateField(_l("Effective to (optional)"), validators=[Optional()])
    prepay_months = _number(_l("Prepayment: months paid ahead"))
    prepay_discount_percent = _number(_l("…discount (%)"))
    prepay_free_months = _number(_l("…or months free"))
    late_fee_enabled = BooleanField(_l("Charge a late fee (滞纳金)"))
    late_fee_daily_rate = _number(_l("Late fee per day (e.g. 0.0005 = 0.05 %)"))
    late_fee_grace_days = _number(_l("Grace days"))
    late_fee_cap_percent = _number(_l("Late fee cap (percent of the amount due)"))
    notes = TextAreaField(_l("Notes"), filters=[_strip], validators=[Length(max=2000)])
    items = FieldList(FormField(ItemForm), min_entries=ITEM_ROWS, max_entries=MAX_ITEM_ROWS)

    def set_choices(self, buildings, categories, meters) -> ScheduleForm:
        for entry in self.items:
            row = entry.form
            row.building_ids.choices = [SelectChoice(str(b.id), b.name) for b in buildings]
            row.category_ids.choices = [SelectChoice(c.code, c.name) for c in categories]
            row.shared_meter_id.choices = [SelectChoice("", "—")] + [
                SelectChoice(str(m.id), m.name) for m in meters
            ]
        return self


class CopyForm(FlaskForm):
    estate_id = SelectField(
        _l("To estate"), choices=[], validators=[InputRequired(message=REQUIRED)]
    )
    effective_from = DateField(_l("Effective from"), validators=[InputRequired(message=REQUIRED)])
    name = _text(_l("Name of the copy (optional)"), max_length=100)


class AdjustmentForm(FlaskForm):
    household = _text(_l("Household"), max_length=80, description=_l("e.g. 3栋2单元502"))
    category = SelectField(_l("…or household category"), choices=[], default="")
    fee_item_code = SelectField(_l("Fee item"), choices=[], default="")
    kind = SelectField(
        _l("Kind"), choices=choices(ADJUSTMENT_LABELS), default=AdjustmentKind.PERCENT.value
    )
    value = _number(_l("Value"), description=_l("% (100 = exemption) or yuan per month"))
    reason = _text(_l("Reason"), max_length=200)
    valid_from = DateField(_l("Valid from"), validators=[InputRequired(message=REQUIRED)])
    valid_to = DateField(_l("Valid to (optional)"), validators=[Optional()])


class EndAdjustmentForm(FlaskForm):
    valid_to = DateField(_l("End on"), validators=[Optional()])


class ReadingForm(FlaskForm):
    household = _text(_l("Household"), max_length=80, description=_l("e.g. 3栋2单元502"))
    meter_kind = SelectField(
        _l("Meter"), choices=choices(METER_LABELS), default=MeterKind.WATER.value
    )
    period = _text(_l("Period (YYYY-MM)"), max_length=7)
    current_reading = _number(_l("Current reading"))
    previous_reading = _number(_l("Previous reading (blank: the last one)"))
    is_replacement = BooleanField(_l("New meter (replacement)"))
    read_on = DateField(_l("Read on (optional)"), validators=[Optional()])


class ReadingImportForm(FlaskForm):
    file = FileField(
        _l("File (.xlsx or .csv)"), validators=[FileRequired(message=_l("Choose a file."))]
    )


class OccupancyForm(FlaskForm):
    household = _text(_l("Household"), max_length=80, description=_l("e.g. 3栋2单元502"))
    to_occupancy = SelectField(
        _l("New occupancy"), choices=choices(OCCUPANCY_LABELS), default=Occupancy.VACANT.value
    )
    effective_date = DateField(_l("Effective date"), validators=[InputRequired(message=REQUIRED)])


class SharedMeterForm(FlaskForm):
    name = _text(_l("Meter name"), max_length=50, description=_l("e.g. 3栋公共照明电表"))
    meter_kind = SelectField(
        _l("Meter"), choices=choices(METER_LABELS), default=MeterKind.ELECTRICITY.value
    )
    building_id = SelectField(_l("Building (blank: the whole estate)"), choices=[], default="")
    unit = _text(_l("Unit (optional)"), max_length=10)


class SharedReadingForm(FlaskForm):
    shared_meter_id = SelectField(_l("Shared meter"), choices=[])
    period = _text(_l("Period (YYYY-MM)"), max_length=7)
    current_reading = _number(_l("Current reading"))
    previous_reading = _number(_l("Previous reading (blank: the last one)"))
    is_replacement = BooleanField(_l("New meter (replacement)"))
