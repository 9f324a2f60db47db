"""The handover lifecycle of an estate: dated transitions and their evidence.

``prospect → partial_caretaking (代管) → full_takeover (全面接管) → terminated``. A transition
is never edited: a mistake is undone by a reversal, itself a dated record with a reason.
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
from ruihe_saas.estates.models import HandoverStage
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class TransitionKind(enum.StrEnum):
    ADVANCE = "advance"  # moves the estate to a new stage
    REVERSAL = "reversal"  # undoes the latest transition, with a reason


class HandoverTransition(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "handover_transitions"
    __audit_type__ = "transition"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["reverses_id"], "handover_transitions"),
        UniqueConstraint("tenant_id", "reverses_id"),  # a transition is reversed at most once
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    kind: Mapped[TransitionKind] = mapped_column(
        enum_column(TransitionKind, "transition_kind"), default=TransitionKind.ADVANCE
    )
    from_stage: Mapped[HandoverStage] = mapped_column(
        enum_column(HandoverStage, "transition_from_stage")
    )
    to_stage: Mapped[HandoverStage] = mapped_column(
        enum_column(HandoverStage, "transition_to_stage")
    )
    effective_date: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # To terminated: the settlement summary the user acknowledged (open bills, prepaid
    # balances, carried-over items), kept as it was shown.
    settlement: Mapped[dict | None] = mapped_column(JSON_DOCUMENT)
    recorded_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class CaretakingAgreement(TenantScoped, EstateScoped, db.Model):
    """The agreement behind partial caretaking (代管协议), usually with the competent unit."""

    __tablename__ = "caretaking_agreements"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["transition_id"], "handover_transitions"),
        CheckConstraint("term_months BETWEEN 1 AND 600", "term_months"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    transition_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=False, index=True)
    counterparty: Mapped[str] = mapped_column(String(200))
    services: Mapped[list] = mapped_column(JSON_DOCUMENT)  # ["cleaning", "greening", …]
    start_date: Mapped[date] = mapped_column(Date)
    term_months: Mapped[int] = mapped_column(Integer)
    notes: Mapped[str] = mapped_column(Text, default="")


class OwnersVote(TenantScoped, EstateScoped, db.Model):
    """A mobilisation meeting's vote on full takeover, with the totals art. 278 needs."""

    __tablename__ = "owners_votes"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["transition_id"], "handover_transitions"),
        CheckConstraint(
            "total_owners > 0 AND total_area > 0"
            " AND participating_owners BETWEEN 0 AND total_owners"
            " AND participating_area BETWEEN 0 AND total_area"
            " AND approving_owners BETWEEN 0 AND participating_owners"
            " AND approving_area BETWEEN 0 AND participating_area",
            "totals",
        ),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    transition_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    meeting_date: Mapped[date] = mapped_column(Date)
    total_owners: Mapped[int] = mapped_column(Integer)
    total_area: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    participating_owners: Mapped[int] = mapped_column(Integer)
    participating_area: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    approving_owners: Mapped[int] = mapped_column(Integer)
    approving_area: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    passed: Mapped[bool] = mapped_column(Boolean)


class ChecklistTemplateItem(Audited, TenantScoped, db.Model):
    """A tenant's handover checklist (承接查验) template: one item per row."""

    __tablename__ = "checklist_template_items"
    __audit_type__ = "checklist_template_item"
    __table_args__ = (UniqueConstraint("tenant_id", "title"),)

    title: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class ChecklistStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    CARRIED_OVER = "carried_over"  # 遗留: with an owner and a due date
    NOT_APPLICABLE = "n/a"


class HandoverChecklistItem(TenantScoped, EstateScoped, db.Model):
    """One checked item of the handover to full takeover."""

    __tablename__ = "handover_checklist_items"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["transition_id"], "handover_transitions"),
        CheckConstraint(
            "status <> 'carried_over' OR (responsible <> '' AND due_date IS NOT NULL)",
            "carried_over_has_owner",
        ),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    transition_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    title: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[ChecklistStatus] = mapped_column(
        enum_column(ChecklistStatus, "checklist_status")
    )
    responsible: Mapped[str] = mapped_column(String(100), default="")
    due_date: Mapped[date | None] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
