"""A tenant's record of a background job: what ran, for whom, and how it ended.

The row is written in the same transaction as the work that asks for the job, so a job
exists exactly when that work committed; its id is the RQ job id. Being tenant-owned, it is
invisible (404) to every other tenant.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import Integer, String, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.db_types import JSON_DOCUMENT, UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import TenantScoped, enum_column


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"


class JobRecord(TenantScoped, db.Model):
    __tablename__ = "job_records"

    name: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(40))
    args: Mapped[list] = mapped_column(JSON_DOCUMENT, default=list)
    status: Mapped[JobStatus] = mapped_column(
        enum_column(JobStatus, "job_status"), default=JobStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict | None] = mapped_column(JSON_DOCUMENT)
    error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # The estate scope of whoever asked (None: all estates); the job runs within it.
    estate_scope: Mapped[list | None] = mapped_column(JSON_DOCUMENT)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
