"""Cash-up days (日结). A closed day of a cashier takes no new payment or refund dated into
it: ``ensure_day_open`` is called by every service that records money at the desk.
Services flush, never commit.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import CashUpDay
from ruihe_saas.payments.services import local_zone


def business_date_of(moment: datetime) -> date:
    """The tenant-local date a payment or refund taken at ``moment`` belongs to."""
    return moment.astimezone(local_zone()).date()


def closed_day(cashier_id: uuid.UUID | None, business_date: date) -> CashUpDay | None:
    if cashier_id is None:
        return None
    return db.session.scalar(
        select(CashUpDay).where(
            CashUpDay.cashier_id == cashier_id, CashUpDay.business_date == business_date
        )
    )


def ensure_day_open(
    cashier_id: uuid.UUID | None, business_date: date, field: str = "paid_at"
) -> None:
    """422 on ``field`` when the cashier's day ``business_date`` is already closed."""
    if closed_day(cashier_id, business_date) is not None:
        raise ValidationFailed(
            _l("This cashier's day is closed (cash-up done); date it on an open day."),
            fields={field: [_l("The cash-up of %(day)s is closed.", day=business_date)]},
        )
