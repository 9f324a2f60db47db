"""The printed reminder notice (催缴通知单): a household's overdue bills, their total, and the
total in Chinese capital numerals (人民币大写), as on a receipt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ruihe_saas.arrears.services import ZERO, OutstandingBill, outstanding_bills, valid_as_of
from ruihe_saas.chinese_money import rmb_upper
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.extensions import db


@dataclass
class ReminderNotice:
    household: Household
    estate: Estate
    as_of: date
    bills: list[OutstandingBill]
    total: Decimal

    @property
    def total_upper(self) -> str:
        return rmb_upper(self.total)


def reminder_notice(household: Household, as_of: date | None = None) -> ReminderNotice:
    """What a printed reminder lists: the household's overdue bills and their total."""
    as_of = valid_as_of(as_of)
    estate = db.session.get(Estate, (household.tenant_id, household.estate_id))
    bills = outstanding_bills(household, as_of, overdue_only=True)
    total = sum((b.outstanding for b in bills), ZERO)
    return ReminderNotice(household, estate, as_of, bills, total)
