"""Receipts API: the PDF (original, then 副本), the receipt's JSON, cancelling with a reason;
permissions, bad input, tenant isolation and estate scope."""

from __future__ import annotations

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member
from tests.unit.receipts.builders import first_page_text, make_desk


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


@pytest.fixture
def world(db):
    """Tenant A (prefix RH) with a paid bill and its receipt; tenant B with one of its own."""
    desk = make_desk()
    desk.bill(0, "2024-05")
    payment, receipt = desk.pay(0, "123.45", reference="POS-1")
    stranger = make_desk("FOREIGN")
    foreign_payment, _ = stranger.pay(0, "10")
    return desk, payment, receipt, stranger, foreign_payment


def url(membership, path: str) -> str:
    return f"/api/v1/t/{membership.tenant.slug}{path}"


def test_pdf_original_then_copy(client, world):
    desk, payment, receipt, _stranger, _foreign = world
    first = client.get(
        url(desk.cashier, f"/payments/{payment.id}/receipt.pdf"), headers=auth(desk.cashier)
    )
    assert first.status_code == 200
    assert first.mimetype == "application/pdf"
    assert first.headers["Content-Disposition"] == f'inline; filename="{receipt.number}.pdf"'
    assert first.headers["X-Receipt-Copy"] == "0"
    text = first_page_text(first.data)
    assert receipt.number in text and "¥123.45" in text and "壹佰贰拾叁元肆角伍分" in text
    assert "副本" not in text
    second = client.get(
        url(desk.cashier, f"/payments/{payment.id}/receipt.pdf"), headers=auth(desk.cashier)
    )
    assert second.status_code == 200 and second.headers["X-Receipt-Copy"] == "1"
    assert "副本" in first_page_text(second.data)
    body = client.get(
        url(desk.owner, f"/payments/{payment.id}/receipt"), headers=auth(desk.owner)
    ).json
    assert body["number"] == receipt.number and body["print_count"] == 2
    assert body["status"] == "issued" and body["cancelled_at"] is None
    assert body["payment_id"] == str(payment.id) and body["issued_at"]


def test_cancel_keeps_the_number(client, world):
    desk, payment, receipt, _stranger, _foreign = world
    finance = member(Role.FINANCE, tenant=desk.owner.tenant)
    path = url(finance, f"/payments/{payment.id}/receipt/cancel")
    response = client.post(path, json={"reason": "收错住户"}, headers=auth(finance))
    assert response.status_code == 200, response.json
    assert response.json["number"] == receipt.number
    assert (response.json["status"], response.json["cancel_reason"]) == ("cancelled", "收错住户")
    assert response.json["cancelled_at"]
    again = client.post(path, json={"reason": "again"}, headers=auth(finance))
    assert again.status_code == 409
    assert again.json["error"]["code"] == "receipt_cancelled"
    assert "已经作废" in again.json["error"]["message"]  # Chinese unless lang=en
    pdf = client.get(url(finance, f"/payments/{payment.id}/receipt.pdf"), headers=auth(finance))
    text = first_page_text(pdf.data)
    assert "作废" in text and receipt.number in text


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "\x00\ud800"},
        {"reason": "x" * 201},
        {"reason": 5},
    ],
)
def test_cancel_needs_a_reason(client, world, body):
    desk, payment, _receipt, _stranger, _foreign = world
    response = client.post(
        url(desk.owner, f"/payments/{payment.id}/receipt/cancel"),
        json=body,
        headers=auth(desk.owner),
    )
    assert response.status_code == 422
    assert "reason" in response.json["error"]["fields"]
    status = client.get(
        url(desk.owner, f"/payments/{payment.id}/receipt"), headers=auth(desk.owner)
    )
    assert status.json["status"] == "issued"


def test_permissions(client, world):
    desk, payment, _receipt, _stranger, _foreign = world
    viewer = member(Role.VIEWER, tenant=desk.owner.tenant)
    for path in ("/receipt.pdf", "/receipt"):
        response = client.get(url(viewer, f"/payments/{payment.id}{path}"), headers=auth(viewer))
        assert response.status_code == 403, path
    cancel = client.post(
        url(desk.cashier, f"/payments/{payment.id}/receipt/cancel"),
        json={"reason": "x"},
        headers=auth(desk.cashier),
    )
    assert cancel.status_code == 403
    body = client.get(
        url(desk.owner, f"/payments/{payment.id}/receipt"), headers=auth(desk.owner)
    ).json
    assert body["print_count"] == 0 and body["status"] == "issued"


def test_other_tenants_and_other_estates_get_404(client, world):
    desk, payment, _receipt, stranger, foreign_payment = world
    # another tenant's payment, through our tenant
    for method, path in (
        ("get", f"/payments/{foreign_payment.id}/receipt.pdf"),
        ("get", f"/payments/{foreign_payment.id}/receipt"),
        ("post", f"/payments/{foreign_payment.id}/receipt/cancel"),
    ):
        response = getattr(client, method)(
            url(desk.owner, path),
            json={"reason": "x"} if method == "post" else None,
            headers=auth(desk.owner),
        )
        assert response.status_code == 404, path
    # our payment through the stranger's tenant URL: not a member there
    response = client.get(
        url(stranger.owner, f"/payments/{payment.id}/receipt"), headers=auth(desk.owner)
    )
    assert response.status_code == 404
    # a cashier limited to another estate of the same tenant
    elsewhere = estate_with_households(desk.tenant_id, "ELSE", buildings=1, rooms=1)
    scoped = member(Role.CASHIER, tenant=desk.owner.tenant)
    scope_member(scoped, elsewhere)
    for path in ("/receipt.pdf", "/receipt"):
        response = client.get(url(scoped, f"/payments/{payment.id}{path}"), headers=auth(scoped))
        assert response.status_code == 404, path
    missing = client.get(
        url(desk.owner, "/payments/01234567-89ab-7def-8123-456789abcdef/receipt"),
        headers=auth(desk.owner),
    )
    assert missing.status_code == 404


def test_payment_without_receipt_is_404(client, world):
    desk = world[0]
    from ruihe_saas.payments.services import record_payment

    with tenant_context(desk.tenant_id):
        payment = record_payment(desk.households[1].id, "10", "cash")
    database.session.flush()
    response = client.get(
        url(desk.owner, f"/payments/{payment.id}/receipt.pdf"), headers=auth(desk.owner)
    )
    assert response.status_code == 404


def test_openapi_documents_the_pdf(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/t/{tenant_slug}/payments/{payment_id}/receipt.pdf"]["get"]
    assert "application/pdf" in operation["responses"]["200"]["content"]
    cancel = spec["paths"]["/api/v1/t/{tenant_slug}/payments/{payment_id}/receipt/cancel"]["post"]
    assert {"403", "404", "409", "422"} <= set(cancel["responses"])
