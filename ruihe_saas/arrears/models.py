"""Arrears-chasing records (催缴记录): who was chased, how, what they said."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Date, Index, Numeric, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class ChaseChannel(enum.StrEnum):
    PHONE = "phone"  # 电话
    VISIT = "visit"  # 上门
    NOTICE = "notice"  # 书面通知
    WECHAT_GROUP = "wechat_group"  # 微信群


class ArrearsChase(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "arrears_chases"
    __audit_type__ = "arrears_chase"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        Index("ix_arrears_chases_household", "tenant_id", "household_id"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    chased_on: Mapped[date] = mapped_column(Date)
    channel: Mapped[ChaseChannel] = mapped_column(enum_column(ChaseChannel, "chase_channel"))
    result: Mapped[str] = mapped_column(Text, default="")
    promised_on: Mapped[date | None] = mapped_column(Date)  # the date the household promised
    outstanding: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # arrears when chased
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
