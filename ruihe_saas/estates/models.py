"""Estates (小区) and what they are made of: buildings, households (房屋/户), parking spaces."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, synonym

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class HandoverStage(enum.StrEnum):
    PROSPECT = "prospect"
    PARTIAL_CARETAKING = "partial_caretaking"  # 代管
    FULL_TAKEOVER = "full_takeover"  # 全面接管
    TERMINATED = "terminated"


class BuildingKind(enum.StrEnum):
    LOW_RISE = "low_rise"  # 多层 (no lift)
    SMALL_HIGH_RISE = "small_high_rise"  # 小高层
    HIGH_RISE = "high_rise"  # 高层
    BUNGALOW = "bungalow"  # 平房
    OTHER = "other"


class Occupancy(enum.StrEnum):
    OCCUPIED = "occupied"
    VACANT = "vacant"
    RENTED = "rented"


class ChargingModel(enum.StrEnum):
    """How the property-service surplus is shared (applied by the ledger's period close)."""

    REMUNERATION = (
        "remuneration"  # 酬金制: the company takes an agreed share, the rest is the estate's
    )
    LUMP_SUM = "lump_sum"  # 包干制: the company keeps the surplus (to the collective economy)


class ParkingKind(enum.StrEnum):
    SURFACE = "surface"
    UNDERGROUND = "underground"
    GARAGE = "garage"
    EBIKE = "ebike"


class Estate(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "estates"
    __audit_type__ = "estate"
    __audit_exclude__ = frozenset({"tenant_id", "created_at", "stage", "stage_since"})
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("year_built IS NULL OR year_built BETWEEN 1900 AND 2100", "year_built"),
        CheckConstraint(
            "remuneration_percent BETWEEN 0 AND 100 AND surplus_to_fund_percent BETWEEN 0 AND 100",
            "surplus_shares",
        ),
    )

    name: Mapped[str] = mapped_column(String(100))
    code: Mapped[str] = mapped_column(String(20))
    address: Mapped[str] = mapped_column(String(200), default="")
    year_built: Mapped[int | None] = mapped_column(Integer)
    competent_unit: Mapped[str] = mapped_column(String(200), default="")  # 主管单位
    previous_manager: Mapped[str] = mapped_column(String(200), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    # The current stage and since when: a cache of the transition history, written only by
    # the handover service in the same transaction as the transition.
    stage: Mapped[HandoverStage] = mapped_column(
        enum_column(HandoverStage, "handover_stage"), default=HandoverStage.PROSPECT
    )
    stage_since: Mapped[date | None] = mapped_column(Date)
    # the collection rate (收缴率) the estate aims for, in % (Mo'er: 90)
    collection_target_percent: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    # the charging model and the shares the monthly close applies to the surplus
    charging_model: Mapped[ChargingModel] = mapped_column(
        enum_column(ChargingModel, "charging_model"),
        default=ChargingModel.REMUNERATION,
        server_default=ChargingModel.REMUNERATION.value,
    )
    # 酬金制: the company's remuneration, % of the month's property-service income
    remuneration_percent: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal("0"), server_default="0"
    )
    # 酬金制: the share of what is left that goes to the improvement fund (the rest: the
    # collective economy); Ruihe's estates: 100
    surplus_to_fund_percent: Mapped[Decimal] = mapped_column(
        Numeric(5, 2), default=Decimal("100"), server_default="100"
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())

    estate_id = synonym("id")

    def __repr__(self) -> str:
        return f"<Estate {self.code}>"


class Building(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "buildings"
    __audit_type__ = "building"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        UniqueConstraint("tenant_id", "estate_id", "name"),
        # lets households reference (estate, building) together: a household's estate is
        # always its building's estate
        UniqueConstraint("tenant_id", "estate_id", "id"),
        CheckConstraint("floors BETWEEN 1 AND 200", "floors"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    name: Mapped[str] = mapped_column(String(40))  # 楼栋: "1栋", "A座"
    position: Mapped[int] = mapped_column(Integer, default=0)  # display order
    floors: Mapped[int] = mapped_column(Integer)
    has_lift: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[BuildingKind] = mapped_column(
        enum_column(BuildingKind, "building_kind"), default=BuildingKind.LOW_RISE
    )


class HouseholdCategory(TenantScoped, db.Model):
    """A tenant's list of household categories (普通, 低保, 独居老人 …)."""

    __tablename__ = "household_categories"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    code: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(50))
    position: Mapped[int] = mapped_column(Integer, default=0)


class Household(Audited, TenantScoped, EstateScoped, db.Model):
    """One dwelling (房屋/户) and who lives there: the root of "one household, one file"."""

    __tablename__ = "households"
    __audit_type__ = "household"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "estate_id", "building_id"],
            ["buildings.tenant_id", "buildings.estate_id", "buildings.id"],
        ),
        tenant_fk(["category_id"], "household_categories"),
        UniqueConstraint("tenant_id", "building_id", "unit", "room"),
        CheckConstraint("area > 0", "area_positive"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    building_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    unit: Mapped[str] = mapped_column(String(10), default="")  # 单元
    room: Mapped[str] = mapped_column(String(20))  # 房号
    floor: Mapped[int | None] = mapped_column(Integer)
    area: Mapped[Decimal] = mapped_column(Numeric(10, 2))  # m², 建筑面积
    occupancy: Mapped[Occupancy] = mapped_column(
        enum_column(Occupancy, "occupancy"), default=Occupancy.OCCUPIED
    )
    owner_names: Mapped[str] = mapped_column(String(200), default="")
    phones: Mapped[str] = mapped_column(String(100), default="")
    category_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())

    building: Mapped[Building] = relationship(
        viewonly=True,
        primaryjoin="and_(Household.tenant_id == Building.tenant_id,"
        " Household.building_id == Building.id)",
        foreign_keys="[Household.tenant_id, Household.building_id]",
        lazy="joined",
    )
    category: Mapped[HouseholdCategory | None] = relationship(
        viewonly=True,
        primaryjoin="and_(Household.tenant_id == HouseholdCategory.tenant_id,"
        " Household.category_id == HouseholdCategory.id)",
        foreign_keys="[Household.tenant_id, Household.category_id]",
        lazy="joined",
    )

    @property
    def label(self) -> str:
        """ "3栋2单元502" — how residents and staff name a dwelling."""
        unit = f"{self.unit}单元" if self.unit else ""
        return f"{self.building.name}{unit}{self.room}"


class ParkingSpace(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "parking_spaces"
    __audit_type__ = "parking_space"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        UniqueConstraint("tenant_id", "estate_id", "number"),
        CheckConstraint("area IS NULL OR area > 0", "area_positive"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    number: Mapped[str] = mapped_column(String(20))
    kind: Mapped[ParkingKind] = mapped_column(
        enum_column(ParkingKind, "parking_kind"), default=ParkingKind.SURFACE
    )
    area: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    household_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)


class MembershipEstate(Audited, TenantScoped, db.Model):
    """One estate in a member's estate scope (estate admins and cashiers)."""

    __tablename__ = "membership_estates"
    __audit_type__ = "member_estate"
    __table_args__ = (
        tenant_fk(["membership_id"], "memberships", ondelete="CASCADE"),
        tenant_fk(["estate_id"], "estates"),
        UniqueConstraint("tenant_id", "membership_id", "estate_id"),
    )

    membership_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid)


class OccupancyChange(Audited, TenantScoped, EstateScoped, db.Model):
    """A dated change of a household's occupancy (vacant → occupied …): billing prorates
    the lines whose rate or applicability depends on occupancy. The occupancy on a day is
    ``to_occupancy`` of the latest change on or before it, else ``from_occupancy`` of the
    first change, else ``Household.occupancy``."""

    __tablename__ = "occupancy_changes"
    __audit_type__ = "occupancy_change"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        UniqueConstraint("tenant_id", "household_id", "effective_date"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    effective_date: Mapped[date] = mapped_column(Date)
    from_occupancy: Mapped[Occupancy] = mapped_column(enum_column(Occupancy, "occupancy_from"))
    to_occupancy: Mapped[Occupancy] = mapped_column(enum_column(Occupancy, "occupancy_to"))
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
