"""The billing section of the household file (一户一册): recent bills and the statement."""

from __future__ import annotations

from dataclasses import dataclass

from ruihe_saas.billing.bills import list_bills
from ruihe_saas.billing.statements import Statement, household_statement
from ruihe_saas.estates.models import Household
from ruihe_saas.web.pagination import Page

RECENT_BILLS = 24


@dataclass
class HouseholdBilling:
    bills: Page  # the latest bills, newest period first
    statement: Statement


def household_billing(household: Household) -> HouseholdBilling:
    return HouseholdBilling(
        bills=list_bills(household_id=household.id, page=1, per_page=RECENT_BILLS),
        statement=household_statement(household),
    )
