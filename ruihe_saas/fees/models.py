"""Fee schedules, their items and adjustments, and meter readings.

A fee schedule belongs to one estate, applies to some handover stages and is valid from
``effective_from`` (to ``effective_to``). Editing a schedule makes a new version (same
``lineage_id``, ``version + 1``); the old version is closed the day before, or superseded
when the new one starts on the same day. Rows of a version are never edited once billed.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import JSON_DOCUMENT, UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class StageApplicability(enum.StrEnum):
    PARTIAL_CARETAKING = "partial_caretaking"  # 代管 only
    FULL_TAKEOVER = "full_takeover"  # 全面接管 only
    BOTH = "both"


class RevenueCategory(enum.StrEnum):
    PROPERTY_SERVICE = "property_service"  # 物业服务收入 (the company's)
    PUBLIC_REVENUE = "public_revenue"  # 小区公共收益 (the owners', kept apart)


class BillingFrequency(enum.StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"  # billed in Jan, Apr, Jul, Oct for three months
    YEARLY = "yearly"  # billed in January for the year
    ONE_OFF = "one_off"  # billed once, in the item's ``charge_period``


class ChargeKind(enum.StrEnum):
    PER_AREA = "per_area"  # rate 元/m²/月 × floor area
    FIXED = "fixed"  # rate 元/户/月
    PER_PARKING_SPACE = "per_parking_space"  # rate 元/个/月 × assigned spaces
    METERED = "metered"  # (current − previous) × rate + fixed part
    SHARED_METER = "shared_meter"  # 公摊: a common meter's usage split over households
    ONE_OFF = "one_off"  # rate 元 once to chosen households


class MeterKind(enum.StrEnum):
    WATER = "water"
    ELECTRICITY = "electricity"
    EBIKE_CHARGING = "ebike_charging"  # the 62 e-bike charging ports, kWh
    GAS = "gas"


class SplitBasis(enum.StrEnum):
    AREA = "area"
    EQUAL = "equal"


class AdjustmentKind(enum.StrEnum):
    PERCENT = "percent"  # value % off (100 = exemption)
    FIXED = "fixed"  # value 元 off per month


class FeeSchedule(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "fee_schedules"
    __audit_type__ = "fee_schedule"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["superseded_by_id"], "fee_schedules"),
        UniqueConstraint("tenant_id", "lineage_id", "version"),
        CheckConstraint(
            "effective_to IS NULL OR effective_to >= effective_from", "effective_range"
        ),
        CheckConstraint("version >= 1", "version_positive"),
        CheckConstraint(
            "late_fee_daily_rate >= 0 AND late_fee_daily_rate <= 0.01", "late_fee_rate"
        ),
        CheckConstraint("late_fee_grace_days >= 0", "late_fee_grace"),
        CheckConstraint(
            "late_fee_cap_percent >= 0 AND late_fee_cap_percent <= 100", "late_fee_cap"
        ),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    lineage_id: Mapped[uuid.UUID] = mapped_column(Uuid)  # the first version's id
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(100))
    stages: Mapped[StageApplicability] = mapped_column(
        enum_column(StageApplicability, "fee_schedule_stages")
    )
    effective_from: Mapped[date] = mapped_column(Date)
    effective_to: Mapped[date | None] = mapped_column(Date)
    # prepayment offer: pay ``prepay_months`` ahead, get a % off or some months free
    prepay_months: Mapped[int | None] = mapped_column(Integer)
    prepay_discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    prepay_free_months: Mapped[int | None] = mapped_column(Integer)
    # late fee (滞纳金): off by default, simple daily rate on the overdue principal only
    late_fee_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    late_fee_daily_rate: Mapped[Decimal] = mapped_column(Numeric(8, 6), default=Decimal("0"))
    late_fee_grace_days: Mapped[int] = mapped_column(Integer, default=0)
    late_fee_cap_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    notes: Mapped[str] = mapped_column(Text, default="")
    copied_from_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # set when a newer version starts on the same day: this version never applies
    superseded_by_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class FeeItem(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "fee_items"
    __audit_type__ = "fee_item"
    __table_args__ = (
        tenant_fk(["schedule_id"], "fee_schedules"),
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["shared_meter_id"], "shared_meters"),
        UniqueConstraint("tenant_id", "schedule_id", "code"),
        CheckConstraint("rate >= 0", "rate_not_negative"),
        CheckConstraint("fixed_part >= 0", "fixed_part_not_negative"),
        CheckConstraint("due_day BETWEEN 1 AND 28", "due_day"),
        CheckConstraint("due_days BETWEEN 0 AND 365", "due_days"),
        CheckConstraint("vacant_rate_percent BETWEEN 0 AND 100", "vacant_rate"),
    )

    schedule_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    # stable across versions of a schedule: "property_service", "lift", "parking" …
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(50))
    revenue_category: Mapped[RevenueCategory] = mapped_column(
        enum_column(RevenueCategory, "revenue_category"),
        default=RevenueCategory.PROPERTY_SERVICE,
    )
    frequency: Mapped[BillingFrequency] = mapped_column(
        enum_column(BillingFrequency, "billing_frequency"), default=BillingFrequency.MONTHLY
    )
    # due date = first day of the period + (due_day − 1) + due_days
    due_day: Mapped[int] = mapped_column(Integer, default=1)
    due_days: Mapped[int] = mapped_column(Integer, default=30)
    charge_kind: Mapped[ChargeKind] = mapped_column(enum_column(ChargeKind, "charge_kind"))
    rate: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    fixed_part: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    unit: Mapped[str] = mapped_column(String(10), default="")  # 吨, 度 (metered)
    meter_kind: Mapped[MeterKind | None] = mapped_column(enum_column(MeterKind, "meter_kind"))
    shared_meter_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    split_basis: Mapped[SplitBasis | None] = mapped_column(enum_column(SplitBasis, "split_basis"))
    occupied_only: Mapped[bool] = mapped_column(Boolean, default=False)
    charge_period: Mapped[str | None] = mapped_column(String(7))  # one-off: "2024-07"
    household_ids: Mapped[list | None] = mapped_column(JSON_DOCUMENT)  # one-off targets
    # applicability filters (None: no filter)
    building_ids: Mapped[list | None] = mapped_column(JSON_DOCUMENT)
    lift_only: Mapped[bool] = mapped_column(Boolean, default=False)
    min_floor: Mapped[int | None] = mapped_column(Integer)
    category_ids: Mapped[list | None] = mapped_column(JSON_DOCUMENT)
    occupancies: Mapped[list | None] = mapped_column(JSON_DOCUMENT)
    # vacant units pay this % of the rate (100: no reduction)
    vacant_rate_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("100"))


class FeeAdjustment(Audited, TenantScoped, EstateScoped, db.Model):
    """A discount or exemption (减免) for a household or a household category."""

    __tablename__ = "fee_adjustments"
    __audit_type__ = "fee_adjustment"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        tenant_fk(["category_id"], "household_categories"),
        CheckConstraint("(household_id IS NULL) <> (category_id IS NULL)", "household_or_category"),
        CheckConstraint("value > 0", "value_positive"),
        CheckConstraint("kind <> 'percent' OR value <= 100", "percent_at_most_100"),
        CheckConstraint("valid_to IS NULL OR valid_to >= valid_from", "valid_range"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    fee_item_code: Mapped[str | None] = mapped_column(String(40))  # None: every item
    household_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    category_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    kind: Mapped[AdjustmentKind] = mapped_column(enum_column(AdjustmentKind, "adjustment_kind"))
    value: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    reason: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class MeterReading(Audited, TenantScoped, EstateScoped, db.Model):
    """One household meter's reading for a billing period (抄表)."""

    __tablename__ = "meter_readings"
    __audit_type__ = "meter_reading"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        UniqueConstraint("tenant_id", "household_id", "meter_kind", "period"),
        CheckConstraint("current_reading >= previous_reading", "usage_not_negative"),
        CheckConstraint("previous_reading >= 0", "previous_not_negative"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    meter_kind: Mapped[MeterKind] = mapped_column(enum_column(MeterKind, "meter_reading_kind"))
    period: Mapped[str] = mapped_column(String(7), index=True)
    previous_reading: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    current_reading: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    # a new meter: ``previous_reading`` is its start reading, not the old meter's last
    is_replacement: Mapped[bool] = mapped_column(Boolean, default=False)
    read_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class SharedMeter(Audited, TenantScoped, EstateScoped, db.Model):
    """A common meter (公摊表) whose usage is split over the households it serves: the whole
    estate, a building (``building_id``) or one unit of a building (``unit``)."""

    __tablename__ = "shared_meters"
    __audit_type__ = "shared_meter"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["building_id"], "buildings"),
        UniqueConstraint("tenant_id", "estate_id", "name"),
        CheckConstraint("unit IS NULL OR building_id IS NOT NULL", "unit_needs_building"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    name: Mapped[str] = mapped_column(String(50))
    meter_kind: Mapped[MeterKind] = mapped_column(enum_column(MeterKind, "shared_meter_kind"))
    building_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    unit: Mapped[str | None] = mapped_column(String(10))


class SharedMeterReading(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "shared_meter_readings"
    __audit_type__ = "shared_meter_reading"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["shared_meter_id"], "shared_meters"),
        UniqueConstraint("tenant_id", "shared_meter_id", "period"),
        CheckConstraint("current_reading >= previous_reading", "usage_not_negative"),
        CheckConstraint("previous_reading >= 0", "previous_not_negative"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    shared_meter_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    period: Mapped[str] = mapped_column(String(7))
    previous_reading: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    current_reading: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    is_replacement: Mapped[bool] = mapped_column(Boolean, default=False)
    read_on: Mapped[date | None] = mapped_column(Date)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
