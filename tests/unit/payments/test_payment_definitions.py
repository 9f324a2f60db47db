"""The ``[[payments]]`` section on a small definition: a generated payment history recorded
through the payment services, with receipts, the same on every database, once; bad entries
refused before anything is recorded."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import User
from ruihe_saas.billing.models import Bill
from ruihe_saas.estates.models import Building, Household
from ruihe_saas.payments.models import Payment, PaymentAllocation, Receipt
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.services import find_tenant

SHANGHAI = ZoneInfo("Asia/Shanghai")

SMALL = """slug = "xinyuan"
name = "新苑"
receipt_prefix = "XY"
[[users]]
email = "cashier@xinyuan.test"
name = "收银"
password = "xinyuan-cashier-1"
role = "cashier"
estates = ["A"]
[[users]]
email = "viewer@xinyuan.test"
name = "观察"
password = "xinyuan-viewer-1"
role = "viewer"
[[estates]]
code = "A"
name = "甲小区"
[estates.households]
seed = 7
occupancy = { occupied = 3, vacant = 1 }
[[estates.buildings]]
count = 2
floors = 6
area = [60, 80]
[[estates.history]]
to_stage = "partial_caretaking"
effective_date = 2024-01-01
[estates.history.agreement]
counterparty = "甲单位"
services = ["cleaning"]
term_months = 12
[[fee_schedules]]
estate = "A"
name = "甲小区收费标准"
effective_from = 2024-01-01
[[fee_schedules.items]]
code = "property_service"
name = "物业服务费"
charge_kind = "per_area"
rate = 0.5
[[billing]]
estate = "A"
until = "2024-03"
[[payments]]
estate = "A"
cashier = "cashier@xinyuan.test"
seed = 11
methods = { cash = 2, wechat_qr = 3, bank_transfer = 1 }
habit = { monthly = 2, quarterly = 1, yearly = 1 }
payer_rate = 0.8
late = 0.2
chronic_arrears = 0.1
"""


@pytest.fixture(autouse=True)
def definition_billing(app, monkeypatch):
    """The suite loads definitions without billing runs; these tests need the bills."""
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", True)


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "tenant.toml").write_text(body, encoding="utf-8")
    return tmp_path


def load(runner, path: Path) -> str:
    result = runner.invoke(args=["tenants", "load", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


def history(db, slug: str = "xinyuan") -> list[tuple]:
    """Each payment by its household's name: what the seed decides."""
    tenant = find_tenant(slug)
    with tenant_context(tenant.id):
        rows = db.session.execute(
            select(
                Building.name,
                Household.room,
                Payment.reference,
                Payment.amount,
                Payment.method,
                Payment.paid_at,
                Receipt.number,
            )
            .select_from(Payment)
            .join(
                Household,
                (Household.tenant_id == Payment.tenant_id) & (Household.id == Payment.household_id),
            )
            .join(
                Building,
                (Building.tenant_id == Household.tenant_id)
                & (Building.id == Household.building_id),
            )
            .join(
                Receipt,
                (Receipt.tenant_id == Payment.tenant_id) & (Receipt.payment_id == Payment.id),
            )
            .order_by(Payment.paid_at, Payment.reference)
        ).all()
    return [tuple(row) for row in rows]


def counts(db, slug: str = "xinyuan") -> dict[str, int]:
    with tenant_context(find_tenant(slug).id):
        return {
            model.__name__: db.session.scalar(select(func.count()).select_from(model))
            for model in (Payment, PaymentAllocation, Receipt, Bill)
        }


def test_a_definition_records_its_payment_history_with_receipts(runner, db, tmp_path):
    output = load(runner, write(tmp_path, SMALL))
    tenant = find_tenant("xinyuan")
    cashier = db.session.scalar(select(User.id).where(User.email == "cashier@xinyuan.test"))
    with tenant_context(tenant.id):
        payments = db.session.scalars(select(Payment).order_by(Payment.paid_at)).all()
        assert payments
        assert f"payments A: {len(payments)} payments recorded with receipts" in output
        assert {p.method.value for p in payments} == {"cash", "wechat_qr", "bank_transfer"}
        for payment in payments:
            assert payment.received_by == cashier
            local = payment.paid_at.astimezone(SHANGHAI)
            assert payment.business_date == local.date()
            assert "2024-01-01" <= str(local.date()) <= "2024-04-30"
            assert 8 <= local.hour <= 18
            assert payment.reference.startswith("DEMO-2024-0")
            allocated = db.session.scalar(
                select(func.sum(PaymentAllocation.amount)).where(
                    PaymentAllocation.payment_id == payment.id
                )
            )
            assert (allocated or 0) + payment.unallocated == payment.amount
        # quarterly and yearly payers paid months not billed yet: prepaid credit
        assert any(p.unallocated > 0 for p in payments)
        receipts = db.session.scalars(select(Receipt)).all()
        by_payment = {r.payment_id: r.number for r in receipts}
        assert len(receipts) == len(payments)
        # numbered in the order paid, gap-free from 1
        assert [by_payment[p.id] for p in payments] == [
            f"XY-2024-{n:06d}" for n in range(1, len(payments) + 1)
        ]
        # some bills stay unpaid: households that skipped a month or stopped paying
        unpaid = db.session.scalar(select(func.count()).where(Bill.paid < Bill.amount))
        assert 0 < unpaid < 72


def test_the_history_is_the_same_on_every_load_and_a_reload_adds_nothing(runner, db, tmp_path):
    load(runner, write(tmp_path, SMALL))
    first = history(db)
    before = counts(db)
    again = load(runner, write(tmp_path, SMALL))
    assert "payments A: kept" in again and "recorded" not in again
    assert history(db) == first and counts(db) == before

    other = tmp_path / "other"
    other.mkdir()
    load(runner, write(other, SMALL.replace('slug = "xinyuan"', 'slug = "xinyuan-b"')))
    second = history(db, "xinyuan-b")
    assert [row[:6] for row in second] == [row[:6] for row in first]  # ids differ, not data
    assert [row[6] for row in second] == [row[6] for row in first]  # the other tenant's own


def test_a_later_load_pays_only_the_months_billed_since(runner, db, tmp_path):
    load(runner, write(tmp_path, SMALL))
    first = set(history(db))
    longer = SMALL.replace('until = "2024-03"', 'until = "2024-05"')
    output = load(runner, write(tmp_path, longer))
    assert "billing A: 2 months billed (2024-04 … 2024-05)" in output
    after = set(history(db))
    assert first < after
    new = after - first
    assert {row[2][5:12] for row in new} <= {"2024-04", "2024-05"}  # monthly payers' months
    assert "payments A: kept" in load(runner, write(tmp_path, longer))


def test_with_definition_billing_off_the_entries_are_checked_and_nothing_recorded(
    runner, db, tmp_path, app, monkeypatch
):
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", False)
    output = load(runner, write(tmp_path, SMALL))
    assert "payments A: RUIHE_DEFINITION_BILLING is off" in output
    assert counts(db)["Payment"] == 0


def entry(old: str, new: str) -> str:
    before, payments = SMALL.split("[[payments]]")
    assert old in payments
    return before + "[[payments]]" + payments.replace(old, new)


BAD = [
    (entry('estate = "A"', 'estate = "Z"'), "payments[1]: estate must be the code"),
    (entry("cashier@xinyuan", "nobody@xinyuan"), "cashier nobody@xinyuan.test is not a user"),
    (entry("cashier@xinyuan", "viewer@xinyuan"), "is a viewer: not allowed to take payments"),
    (entry("cash = 2", "cash = 0"), "methods: the weights must be positive numbers (cash)"),
    (entry("cash = 2", "cash = -1"), "methods: the weights must be positive"),
    (entry("cash = 2", 'cash = "2"'), "methods: the weights must be positive"),
    (entry("cash = 2", "cheque = 2"), "methods: unknown cheque"),
    (entry("cash = 2", "online = 2"), "methods: unknown online"),
    (entry("monthly = 2", "monthly = 0"), "habit: the weights must be positive"),
    (entry("monthly = 2", "weekly = 2"), "habit: unknown weekly"),
    (entry("payer_rate = 0.8", "payer_rate = 1.2"), "payer_rate must be a share between 0 and 1"),
    (entry("payer_rate = 0.8", "payer_rate = 80"), "payer_rate must be a share"),
    (entry("payer_rate = 0.8", ""), "payer_rate is required"),
    (
        entry("payer_rate = 0.8", "payer_rate = { full_takeover = 0.9 }"),
        "payer_rate: no rate for the estate's stage partial_caretaking",
    ),
    (
        entry("payer_rate = 0.8", "payer_rate = { prospect = 0.9 }"),
        "payer_rate: unknown stages prospect",
    ),
    (
        entry("payer_rate = 0.8", "payer_rate = { partial_caretaking = -0.1 }"),
        "payer_rate.partial_caretaking must be a share",
    ),
    (entry("late = 0.2", "late = 2"), "late must be a share"),
    (entry("chronic_arrears = 0.1", "chronic_arrears = -0.1"), "chronic_arrears must be"),
    (entry("seed = 11", "seed = true"), "seed must be text or a number"),
    (entry("seed = 11", "sede = 11"), "unknown keys sede"),
    (SMALL + '[[payments]]\nestate = "A"\n', "payments: A: cashier must be the e-mail"),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_entries_are_refused_and_nothing_is_saved(
    runner, db, tmp_path, app, monkeypatch, body, message
):
    """Checked with the definition (billing off: the whole load is one transaction)."""
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", False)
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert find_tenant("xinyuan") is None


def test_a_bad_second_entry_stops_the_load_before_any_payment(runner, db, tmp_path):
    """With billing on, the bills are committed by their runs, but no payment is recorded:
    every entry is checked before the first payment."""
    body = SMALL + '[[payments]]\nestate = "A"\ncashier = "x@y.z"\n'
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert "payments: A: cashier x@y.z is not a user" in result.output, result.output
    tenant = find_tenant("xinyuan")
    if tenant is not None:  # the billing runs committed what came before
        assert counts(db)["Payment"] == 0


def test_two_entries_for_one_estate_are_refused(runner, db, tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", False)
    _, payments = SMALL.split("[[payments]]")
    body = SMALL + "[[payments]]" + payments
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert "payments: two entries name the same estate" in result.output
    assert find_tenant("xinyuan") is None
