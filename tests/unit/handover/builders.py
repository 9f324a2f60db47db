"""Estates and handover evidence for the handover tests (unit and functional)."""

from __future__ import annotations

from datetime import date

from ruihe_saas.estates.models import Estate, MembershipEstate
from ruihe_saas.extensions import db
from ruihe_saas.handover.checklists import DEFAULT_CHECKLIST
from ruihe_saas.tenancy import tenant_context


def make_estate(tenant_id, code: str = "E1", **fields) -> Estate:
    with tenant_context(tenant_id):
        estate = Estate(name=f"测试小区{code}", code=code, competent_unit="云南模二机械有限公司")
        for key, value in fields.items():
            setattr(estate, key, value)
        db.session.add(estate)
        db.session.flush()
    return estate


def scope_to(membership, *estates) -> None:
    """Limit an estate admin or cashier to ``estates``."""
    with tenant_context(membership.tenant_id):
        for estate in estates:
            db.session.add(MembershipEstate(membership_id=membership.id, estate_id=estate.id))
        db.session.flush()


def agreement(**changes) -> dict:
    data = {
        "counterparty": "云南模二机械有限公司",
        "services": ["cleaning", "greening", "fee_collection"],
        "start_date": date(2023, 12, 1),
        "term_months": 12,
        "notes": "",
    }
    data.update(changes)
    return data


def vote(**changes) -> dict:
    """A vote that passes art. 278 comfortably (976 owners, 62,000 m²)."""
    data = {
        "meeting_date": date(2024, 11, 20),
        "total_owners": 976,
        "total_area": "62000.00",
        "participating_owners": 800,
        "participating_area": "52000.50",
        "approving_owners": 700,
        "approving_area": "45000.00",
    }
    data.update(changes)
    return data


def checklist(status: str = "done", **by_title) -> list[dict]:
    """Every default template item with ``status``; ``by_title`` overrides single items."""
    items = []
    for title in DEFAULT_CHECKLIST:
        item = {"title": title, "status": status}
        item.update(by_title.get(title, {}))
        items.append(item)
    return items


def json_ready(value):
    """Dates as ISO strings (for JSON request bodies)."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_ready(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value
