"""The tenant's handover checklist template (承接查验): the items a full takeover must cover.

A tenant that has never saved a template works with ``DEFAULT_CHECKLIST``;
``ensure_default_checklist_template`` saves the defaults it lacks (flushes, never commits).
"""

from __future__ import annotations

from sqlalchemy import select

from ruihe_saas.extensions import db
from ruihe_saas.handover.models import ChecklistTemplateItem
from ruihe_saas.tenancy.context import require_tenant_id

# The default handover checklist (承接查验) of a tenant: tenant data, kept in Chinese.
DEFAULT_CHECKLIST = (
    "房屋及设施资料",  # building and facility records
    "钥匙",  # keys
    "电梯设备",  # lift equipment
    "消防设施",  # fire equipment
    "绿化",  # greening
    "管网",  # pipes and drains
    "前物业遗留欠费",  # outstanding arrears of the previous manager
    "遗留投诉",  # legacy complaints
)


def checklist_template() -> list[ChecklistTemplateItem]:
    """The tenant's active checklist items, in order. A tenant that has never saved a
    template gets the defaults (unsaved; ``ensure_default_checklist_template`` saves them),
    so a full takeover is never checked against an empty list by accident."""
    require_tenant_id()
    saved = list(
        db.session.scalars(
            select(ChecklistTemplateItem).order_by(
                ChecklistTemplateItem.position, ChecklistTemplateItem.title
            )
        )
    )
    if not saved:
        return [
            ChecklistTemplateItem(title=title, position=position, active=True)
            for position, title in enumerate(DEFAULT_CHECKLIST, start=1)
        ]
    return [item for item in saved if item.active]


def ensure_default_checklist_template() -> list[ChecklistTemplateItem]:
    """Save the default items the tenant does not have yet (by title); idempotent."""
    require_tenant_id()
    existing = set(db.session.scalars(select(ChecklistTemplateItem.title)))
    top = len(existing)
    for title in DEFAULT_CHECKLIST:
        if title not in existing:
            top += 1
            db.session.add(ChecklistTemplateItem(title=title, position=top, active=True))
    db.session.flush()
    return checklist_template()
