"""Ledger API: reports on a hand-computed two-estate fixture (JSON, CSV, XLSX), period
close and reopen, accounts, manual entries and reversals; permissions, bad input (422 and
nothing stored), tenant isolation and the estate scope (no collective-economy lines)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger import services
from ruihe_saas.ledger.models import Account, EntrySource, JournalEntry, JournalLine
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member

D = Decimal
JULY = "from=2024-07-01&to=2024-07-31"


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def build_books(owner):
    """Two estates N and S and the collective economy, July 2024 (as
    tests/unit/ledger/test_reports.py): N 1000 property income, 200 public revenue, 400
    wages, 50 management fee to the collective (inter-entity); S 500 caretaking income, 100
    cleaning; the collective 300 canteen takings; N 999 property income on 2 August."""
    north = estate_with_households(owner.tenant_id, "N", buildings=1, rooms=1)
    south = estate_with_households(owner.tenant_id, "S", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        services.ensure_chart()
        for estate in (north, south):
            estate.remuneration_percent = D("0")
        database.session.flush()

        def post(pairs, day=date(2024, 7, 10), pair=None):
            services.post_entry(
                day,
                [Posting(role=r, estate_id=e, debit=D(d), credit=D(c)) for r, e, d, c in pairs],
                source=EntrySource.MANUAL,
                pair_id=pair,
                reference="T",
            )

        post([("bank", north.id, "1000", "0"), ("property_income", north.id, "0", "1000")])
        post([("bank", north.id, "200", "0"), ("public_revenue", north.id, "0", "200")])
        post([("wages", north.id, "400", "0"), ("bank", north.id, "0", "400")])
        post([("bank", south.id, "500", "0"), ("caretaking_income", south.id, "0", "500")])
        post([("cleaning", south.id, "100", "0"), ("bank", south.id, "0", "100")])
        post([("bank", None, "300", "0"), ("canteen_income", None, "0", "300")])
        post(
            [
                ("repairs", north.id, "50", "0"),
                ("inter_entity", north.id, "0", "50"),
                ("inter_entity", None, "50", "0"),
                ("other_income", None, "0", "50"),
            ],
            pair=uuid.uuid4(),
        )
        post([("bank", north.id, "999", "0"), ("property_income", north.id, "0", "999")],
             day=date(2024, 8, 2))  # fmt: skip
    return north, south


@pytest.fixture
def world(db):
    owner = member(Role.OWNER)
    north, south = build_books(owner)
    finance = member(Role.FINANCE, tenant=owner.tenant)
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, north)
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    stranger = member(Role.OWNER)
    foreign = estate_with_households(stranger.tenant_id, "F", buildings=1, rooms=1)
    return owner, finance, admin, cashier, north, south, stranger, foreign


def url(membership, path: str) -> str:
    return f"/api/v1/t/{membership.tenant.slug}{path}"


def get(client, membership, path):
    return client.get(url(membership, path), headers=auth(membership))


def post(client, membership, path, body):
    return client.post(url(membership, path), json=body, headers=auth(membership))


def account_id(membership, role: str) -> str:
    with tenant_context(membership.tenant_id):
        return str(database.session.scalar(select(Account.id).where(Account.role == role)))


def counts(membership) -> tuple[int, int]:
    with tenant_context(membership.tenant_id):
        return (
            database.session.scalar(select(func.count()).select_from(JournalEntry)),
            database.session.scalar(select(func.count()).select_from(JournalLine)),
        )


# --- reports -------------------------------------------------------------------------------


def test_consolidated_income_statement(client, world):
    _owner, finance, _admin, _cashier, north, south, *_ = world
    response = get(client, finance, f"/reports/income-statement?{JULY}")
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["income"], body["expenses"], body["net_income"]) == ("2000.00", "500.00",
                                                                     "1500.00")  # fmt: skip
    assert body["consolidated"] is True
    names = [e["name"] for e in body["entities"]]
    assert names[-1] == "社区集体经济" and set(names[:2]) == {north.name, south.name}
    nets = {e["name"]: e["net_income"] for e in body["entities"]}
    assert nets == {north.name: "750.00", south.name: "400.00", "社区集体经济": "350.00"}
    other = next(line for line in body["income_lines"] if line["code"] == "5301")
    assert (other["elimination"], other["total"]) == ("50.00", "0.00")
    assert (body["income_eliminations"], body["expense_eliminations"]) == ("50.00", "50.00")
    one = get(client, finance, f"/reports/income-statement?{JULY}&estate_id={north.id}").json
    assert (one["income"], one["expenses"], one["consolidated"]) == ("1200.00", "450.00", False)
    collective = get(client, finance, f"/reports/income-statement?{JULY}&estate_id=collective")
    assert collective.json["net_income"] == "350.00"


def test_trial_balance_and_balance_sheet(client, world):
    _owner, finance, _admin, _cashier, north, *_ = world
    trial = get(client, finance, "/reports/trial-balance?from=2024-08-01&to=2024-08-31").json
    assert trial["debits"] == trial["credits"] == "999.00"
    assert trial["closing"] == "0.00"
    bank = next(row for row in trial["rows"] if row["code"] == "1002")
    assert (bank["opening"], bank["debits"], bank["closing"]) == ("1500.00", "999.00", "2499.00")
    north_trial = get(client, finance, f"/reports/trial-balance?{JULY}&estate_id={north.id}")
    assert north_trial.json["debits"] == "1650.00"
    sheet = get(client, finance, "/reports/balance-sheet?as_of=2024-07-31").json
    assert sheet["total_assets"] == sheet["total_liabilities_and_equity"] == "1500.00"
    assert all(item["code"] != "1221" for item in sheet["assets"])
    assert sheet["current_earnings"] == "1500.00"


def test_improvement_fund_and_public_revenue(client, world):
    owner, finance, _admin, _cashier, north, *_ = world
    closed = post(client, finance, "/periods/2024-07/close", {"estate_id": str(north.id)})
    assert closed.status_code == 201, closed.json
    assert (closed.json["income"], closed.json["surplus"]) == ("1200.00", "550.00")
    spend = post(client, finance, "/journal-entries", {
        "entry_date": "2024-08-20", "estate_id": str(north.id), "reference": "GZ-1",
        "memo": "新建凉亭",
        "lines": [{"account_id": account_id(owner, "improvement_fund"), "debit": "300"},
                  {"account_id": account_id(owner, "bank"), "credit": "300"}],
    })  # fmt: skip
    assert spend.status_code == 201, spend.json
    fund = get(client, finance, f"/reports/improvement-fund?estate_id={north.id}"
                                "&from=2024-07-01&to=2024-08-31").json  # fmt: skip
    assert (fund["opening"], fund["total_in"], fund["total_out"], fund["closing"]) == (
        "0.00", "550.00", "300.00", "250.00")  # fmt: skip
    assert [m["period"] for m in fund["months"]] == ["2024-07", "2024-08"]
    public = get(client, finance, f"/reports/public-revenue?estate_id={north.id}&{JULY}").json
    assert (public["total_in"], public["closing"]) == ("200.00", "200.00")
    assert public["account"]["name"] == "公共收益"
    missing = get(client, finance, f"/reports/public-revenue?{JULY}")
    assert missing.status_code == 422 and "estate_id" in missing.json["error"]["fields"]
    collective = get(client, finance, f"/reports/public-revenue?{JULY}&estate_id=collective")
    assert collective.status_code == 422


def test_csv_and_xlsx_exports_carry_chinese_headers(client, world):
    _owner, finance, _admin, _cashier, north, *_ = world
    for path, header in (
        (f"/reports/income-statement?{JULY}", "科目编码"),
        (f"/reports/trial-balance?{JULY}", "本期借方"),
        ("/reports/balance-sheet?as_of=2024-07-31", "科目名称"),
        (f"/reports/improvement-fund?estate_id={north.id}&{JULY}", "凭证号"),
        (f"/reports/public-revenue?estate_id={north.id}&{JULY}", "摘要"),
    ):
        response = get(client, finance, f"{path}&format=csv")
        assert response.status_code == 200, (path, response.data[:200])
        assert response.mimetype == "text/csv"
        raw = response.get_data()
        assert raw.startswith("\ufeff".encode())
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert header in [cell for row in rows for cell in row]
        xlsx = get(client, finance, f"{path}&format=xlsx")
        assert xlsx.status_code == 200
        book = load_workbook(io.BytesIO(xlsx.get_data()), read_only=True)
        cells = [c for sheet in book for row in sheet.iter_rows(values_only=True) for c in row]
        assert header in cells
    statement = get(client, finance, f"/reports/income-statement?{JULY}&format=csv")
    rows = list(csv.reader(io.StringIO(statement.get_data().decode("utf-8-sig"))))
    assert rows[0][-2:] == ["抵销", "合并"] and "社区集体经济" in rows[0]
    assert rows[-1][1] == "净收益" and rows[-1][-1] == "1500.00"
    bad = get(client, finance, f"/reports/income-statement?{JULY}&format=pdf")
    assert bad.status_code == 422


@pytest.mark.parametrize(
    "query",
    [
        "from=2024-13-01",
        "to=yesterday",
        "from=2024-08-01&to=2024-07-01",
        "from=1900-01-01&to=2024-01-01",
        "estate_id=not-a-uuid",
        "from=" + "9" * 30,
    ],
)
def test_bad_report_filters_are_422(client, world, query):
    finance = world[1]
    response = get(client, finance, f"/reports/income-statement?{query}")
    assert response.status_code == 422, response.json
    assert response.json["error"]["fields"]


def test_unknown_and_foreign_estates_are_404(client, world):
    *_, finance = world[:2]
    foreign = world[-1]
    for estate_id in (uuid.uuid4(), foreign.id):
        response = get(client, finance, f"/reports/trial-balance?estate_id={estate_id}")
        assert response.status_code == 404
        response = get(client, finance, f"/reports/improvement-fund?estate_id={estate_id}")
        assert response.status_code == 404


def test_estate_admin_sees_only_their_estates_and_no_collective_lines(client, world):
    owner, _finance, admin, _cashier, north, south, *_ = world
    body = get(client, admin, f"/reports/income-statement?{JULY}").json
    assert [e["estate_id"] for e in body["entities"]] == [str(north.id)]
    assert body["income"] == "1200.00"  # nothing of South or the collective economy
    assert (body["expenses"], body["consolidated"], body["eliminations"]) == (
        "450.00",  # North's own books: the management fee stays an expense
        False,
        "0.00",
    )
    trial = get(client, admin, f"/reports/trial-balance?{JULY}").json
    assert trial["debits"] == "1650.00"
    for path in (
        f"/reports/trial-balance?estate_id={south.id}",
        "/reports/trial-balance?estate_id=collective",
        f"/reports/public-revenue?estate_id={south.id}",
    ):
        assert get(client, admin, path).status_code == 404, path
    listed = get(client, admin, "/journal-entries?per_page=100").json
    assert listed["total"] == 5  # North's entries, the inter-entity one included
    for item in listed["items"]:
        entry = get(client, admin, f"/journal-entries/{item['id']}").json
        assert all(line["estate_id"] == str(north.id) for line in entry["lines"])
    with tenant_context(owner.tenant_id):
        canteen = database.session.scalar(
            select(JournalLine.entry_id).where(JournalLine.estate_id.is_(None)).where(
                JournalLine.account_id == select(Account.id).where(
                    Account.role == "canteen_income").scalar_subquery()))  # fmt: skip
    assert get(client, admin, f"/journal-entries/{canteen}").status_code == 404
    assert get(client, admin, "/periods").status_code == 200
    assert post(client, admin, "/periods/2024-07/close", {"estate_id": str(north.id)}
                ).status_code == 403  # fmt: skip
    assert post(client, admin, "/accounts", {"code": "6409", "name": "安保", "type": "expense"}
                ).status_code == 403  # fmt: skip


def test_permissions(client, world):
    owner, finance, admin, cashier, north, *_ = world
    assert get(client, cashier, f"/reports/income-statement?{JULY}").status_code == 403
    assert get(client, cashier, "/journal-entries").status_code == 403
    assert get(client, owner, f"/reports/income-statement?{JULY}").status_code == 200
    body = {"entry_date": "2024-07-15", "estate_id": str(north.id), "reference": "X",
            "lines": [{"account_id": account_id(owner, "wages"), "debit": "1"},
                      {"account_id": account_id(owner, "cash"), "credit": "1"}]}  # fmt: skip
    assert post(client, admin, "/journal-entries", body).status_code == 403
    assert post(client, cashier, "/journal-entries", body).status_code == 403
    assert post(client, finance, "/journal-entries", body).status_code == 201


def test_cross_tenant_is_404(client, world):
    owner, finance, *_rest = world
    stranger = world[-2]
    assert get(client, stranger, f"/reports/income-statement?{JULY}").json["income"] == "0.00"
    with tenant_context(owner.tenant_id):
        entry_id = database.session.scalar(select(JournalEntry.id).limit(1))
    assert get(client, stranger, f"/journal-entries/{entry_id}").status_code == 404
    assert post(client, stranger, f"/journal-entries/{entry_id}/reverse", {"reason": "x"}
                ).status_code == 404  # fmt: skip
    assert get(client, finance, f"/journal-entries/{uuid.uuid4()}").status_code == 404
    account = account_id(owner, "wages")
    patch = client.patch(url(stranger, f"/accounts/{account}"), json={"active": False},
                         headers=auth(stranger))  # fmt: skip
    assert patch.status_code == 404
    response = client.get(f"/api/v1/t/{owner.tenant.slug}/reports/trial-balance",
                          headers=auth(stranger))  # fmt: skip
    assert response.status_code == 404


# --- periods -------------------------------------------------------------------------------


def test_close_and_reopen(client, world):
    owner, finance, _admin, _cashier, north, *_ = world
    path = "/periods/2024-07/close"
    first = post(client, finance, path, {"estate_id": str(north.id)})
    assert first.status_code == 201, first.json
    assert first.json["surplus"] == "550.00" and first.json["entry_id"]
    assert post(client, finance, path, {"estate_id": str(north.id)}).status_code == 409
    collective = post(client, finance, path, {"estate_id": None})
    assert collective.status_code == 201 and collective.json["estate_id"] is None
    listed = get(client, finance, "/periods").json
    assert listed["total"] == 2
    assert get(client, finance, f"/periods?estate_id={north.id}").json["total"] == 1
    assert get(client, finance, "/periods?estate_id=collective").json["total"] == 1
    # a manual entry into the closed month is refused, and nothing is stored
    before = counts(owner)
    late = post(client, finance, "/journal-entries", {
        "entry_date": "2024-07-20", "estate_id": str(north.id), "reference": "L",
        "lines": [{"account_id": account_id(owner, "wages"), "debit": "5"},
                  {"account_id": account_id(owner, "cash"), "credit": "5"}]})  # fmt: skip
    assert late.status_code == 422 and "entry_date" in late.json["error"]["fields"]
    assert counts(owner) == before
    reopen = "/periods/2024-07/reopen"
    assert post(client, finance, reopen, {"estate_id": str(north.id), "reason": "漏记"}
                ).status_code == 403  # fmt: skip
    no_reason = post(client, owner, reopen, {"estate_id": str(north.id), "reason": ""})
    assert no_reason.status_code == 422
    done = post(client, owner, reopen, {"estate_id": str(north.id), "reason": "漏记维修费"})
    assert done.status_code == 200, done.json
    assert done.json["reopen_reason"] == "漏记维修费" and done.json["reopened_at"]
    assert post(client, owner, reopen, {"estate_id": str(north.id), "reason": "x"}
                ).status_code == 409  # fmt: skip


@pytest.mark.parametrize(
    ("period", "body", "status"),
    [
        ("2024-13", {"estate_id": None}, 422),
        ("July", {"estate_id": None}, 422),
        ("2024-7", {"estate_id": None}, 422),
        ("2999-01", {"estate_id": None}, 422),  # not ended
        ("2024-07", {"estate_id": "nope"}, 422),
        ("2024-07", {"estate_id": str(uuid.UUID(int=5))}, 404),
    ],
)
def test_bad_closes(client, world, period, body, status):
    finance = world[1]
    response = post(client, finance, f"/periods/{period}/close", body)
    assert response.status_code == status, response.json


# --- accounts ------------------------------------------------------------------------------


def test_accounts(client, world):
    owner, finance, *_ = world
    listed = get(client, finance, "/accounts").json
    assert [a["code"] for a in listed][:2] == ["1001", "1002"]
    added = post(client, finance, "/accounts", {"code": "6409", "name": "安保", "type": "expense"})
    assert added.status_code == 201, added.json
    assert added.json["role"] is None and added.json["active"] is True
    for body, field in (
        ({"code": "6409", "name": "重复", "type": "expense"}, "code"),
        ({"code": "12", "name": "短", "type": "expense"}, "code"),
        ({"code": "1409", "name": "错类", "type": "expense"}, "code"),
        ({"code": "6410", "name": " ", "type": "expense"}, "name"),
        ({"code": "6410", "name": "x" * 101, "type": "expense"}, "name"),
        ({"code": "6410", "name": "x", "type": "revenue"}, "type"),
    ):
        response = post(client, finance, "/accounts", body)
        assert response.status_code == 422, body
        assert field in response.json["error"]["fields"], response.json
    wages = account_id(owner, "wages")
    assert client.patch(url(finance, f"/accounts/{wages}"), json={"active": False},
                        headers=auth(finance)).status_code == 409  # fmt: skip
    new = added.json["id"]
    off = client.patch(url(finance, f"/accounts/{new}"), json={"active": False},
                       headers=auth(finance))  # fmt: skip
    assert off.status_code == 200 and off.json["active"] is False
    refused = post(client, finance, "/journal-entries", {
        "entry_date": "2024-07-15", "reference": "A",
        "lines": [{"account_id": new, "debit": "1"},
                  {"account_id": account_id(owner, "cash"), "credit": "1"}]})  # fmt: skip
    assert refused.status_code == 422 and "lines.0.account_id" in refused.json["error"]["fields"]
    assert len(get(client, finance, "/accounts?active=false").json) == 1


# --- manual entries ------------------------------------------------------------------------


def test_manual_entry_and_reversal(client, world):
    owner, finance, _admin, _cashier, north, *_ = world
    body = {
        "entry_date": "2024-08-05", "estate_id": str(north.id), "reference": "FP-0805",
        "memo": "8月保洁外包",
        "lines": [{"account_id": account_id(owner, "cleaning"), "debit": "120.50", "memo": "外包"},
                  {"account_id": account_id(owner, "bank"), "credit": "120.50"}],
    }  # fmt: skip
    created = post(client, finance, "/journal-entries", body)
    assert created.status_code == 201, created.json
    entry = created.json
    assert entry["number"].startswith("JZ2024-") and entry["source"] == "manual"
    assert (entry["debits"], entry["credits"], entry["reference"]) == ("120.50", "120.50",
                                                                     "FP-0805")  # fmt: skip
    listed = get(client, finance, "/journal-entries?reference=FP-08").json
    assert [e["id"] for e in listed["items"]] == [entry["id"]]
    assert get(client, finance, "/journal-entries?source=billing").json["total"] == 0
    assert get(client, finance, "/journal-entries?estate_id=collective").json["total"] == 2
    assert get(client, finance, "/journal-entries?from=2024-08-01").json["total"] == 2
    assert get(client, finance, "/journal-entries?source=nope").status_code == 422
    reversed_ = post(client, finance, f"/journal-entries/{entry['id']}/reverse",
                     {"reason": "重复录入"})  # fmt: skip
    assert reversed_.status_code == 201, reversed_.json
    assert reversed_.json["reverses_id"] == entry["id"]
    assert reversed_.json["lines"][0]["debit"] == "120.50"  # bank back
    again = post(client, finance, f"/journal-entries/{entry['id']}/reverse", {"reason": "x"})
    assert again.status_code == 409
    shown = get(client, finance, f"/journal-entries/{entry['id']}").json
    assert shown["reversed_by"] == reversed_.json["id"]
    assert post(client, finance, f"/journal-entries/{reversed_.json['id']}/reverse",
                {"reason": ""}).status_code == 422  # fmt: skip


def _lines(owner, debit="10", credit="10"):
    return [
        {"account_id": account_id(owner, "wages"), "debit": debit},
        {"account_id": account_id(owner, "cash"), "credit": credit},
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"entry_date": "2024-02-30"}, "entry_date"),
        ({"entry_date": "2999-01-01"}, "entry_date"),
        ({"entry_date": 17}, "entry_date"),
        ({"reference": ""}, "reference"),
        ({"reference": "r" * 101}, "reference"),
        ({"memo": "m" * 301}, "memo"),
        ({"estate_id": "nope"}, "estate_id"),
        ({"estate_id": str(uuid.UUID(int=9))}, "estate_id"),
        ({"lines": []}, "lines"),
        ({"lines": "x"}, "lines"),
        ("unbalanced", "lines"),
        ("both", "lines.0"),
        ("negative", "lines.0.debit"),
        ("three decimals", "lines.0.debit"),
        ("NaN", "lines.0.debit"),
        ("receivable", "lines.1.account_id"),
        ("unknown account", "lines.0.account_id"),
    ],
)
def test_manual_entry_422s_store_nothing(client, world, change, field):
    owner, finance, _admin, _cashier, north, *_ = world
    body = {"entry_date": "2024-08-05", "estate_id": str(north.id), "reference": "R",
            "memo": "", "lines": _lines(owner)}  # fmt: skip
    if change == "unbalanced":
        body["lines"] = _lines(owner, credit="9")
    elif change == "both":
        body["lines"][0]["credit"] = "10"
    elif change == "negative":
        body["lines"] = _lines(owner, debit="-10")
    elif change == "three decimals":
        body["lines"] = _lines(owner, debit="10.001")
    elif change == "NaN":
        body["lines"] = _lines(owner, debit="NaN")
    elif change == "receivable":
        body["lines"][1]["account_id"] = account_id(owner, "receivable")
    elif change == "unknown account":
        body["lines"][0]["account_id"] = str(uuid.uuid4())
    else:
        body.update(change)
    before = counts(owner)
    response = post(client, finance, "/journal-entries", body)
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json
    assert counts(owner) == before


def test_only_manual_entries_are_reversed_here(client, world):
    owner, finance, _admin, _cashier, north, *_ = world
    close = post(client, finance, "/periods/2024-07/close", {"estate_id": str(north.id)}).json
    response = post(client, finance, f"/journal-entries/{close['entry_id']}/reverse",
                    {"reason": "试试"})  # fmt: skip
    assert response.status_code == 409


# --- receivables reconciled to the ledger --------------------------------------------------


def test_receivables_reconciliation(client, world):
    owner, finance, admin, cashier, north, south, stranger, foreign = world
    response = get(client, finance, "/reports/receivables")
    assert response.status_code == 200, response.json
    body = response.json
    assert [row["code"] for row in body["estates"]] == ["N", "S"]
    assert body["reconciled"] is True  # no bills, no receivables: nothing to disagree
    assert body["totals"]["receivable_difference"] == "0.00"
    one = get(client, finance, f"/reports/receivables?estate_id={north.id}").json
    assert [row["code"] for row in one["estates"]] == ["N"]
    assert [row["code"] for row in get(client, admin, "/reports/receivables").json["estates"]] == [
        "N"
    ]
    assert get(client, admin, f"/reports/receivables?estate_id={south.id}").status_code == 404
    assert get(client, finance, f"/reports/receivables?estate_id={foreign.id}").status_code == 404
    assert get(client, stranger, f"/reports/receivables?estate_id={north.id}").status_code == 404
    assert get(client, finance, "/reports/receivables?estate_id=nope").status_code == 422
    assert get(client, cashier, "/reports/receivables").status_code == 403
    csv_file = get(client, finance, "/reports/receivables?format=csv")
    assert csv_file.status_code == 200
    rows = list(csv.reader(io.StringIO(csv_file.data.decode("utf-8-sig"))))
    assert "账面应收" in rows[0] and rows[-1][1] == "合计"
    with tenant_context(owner.tenant_id):  # a posting the records do not explain
        services.post_entry(
            date(2024, 7, 20),
            [
                Posting(role="receivable", estate_id=north.id, debit=D("12.50")),
                Posting(role="prepaid", estate_id=north.id, credit=D("12.50")),
            ],
            source=EntrySource.MANUAL,
            reference="wrong",
        )
    body = get(client, finance, "/reports/receivables").json
    assert body["reconciled"] is False
    north_row = body["estates"][0]
    assert (north_row["receivable"], north_row["receivable_difference"]) == ("12.50", "12.50")
    assert (north_row["prepaid"], north_row["prepaid_difference"]) == ("12.50", "12.50")
