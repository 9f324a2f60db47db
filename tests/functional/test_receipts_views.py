"""Receipt pages: the receipt with its print button, the PDF (original, then 副本),
cancelling with a reason; permissions, bad input, tenant isolation and estate scope."""

from __future__ import annotations

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.payments.models import Receipt, ReceiptStatus
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member
from tests.unit.receipts.builders import first_page_text, make_desk


@pytest.fixture
def world(db):
    desk = make_desk()
    desk.bill(0, "2024-05")
    payment, receipt = desk.pay(0, "100.00")
    stranger = make_desk("FOREIGN")
    foreign_payment, _ = stranger.pay(0, "10")
    return desk, payment, receipt, stranger, foreign_payment


def signed_in(client, membership) -> str:
    login(client, membership.user.email, PASSWORD)
    return f"/t/{membership.tenant.slug}/receipts"


def text(response) -> str:
    return response.get_data(as_text=True)


def receipt_row(desk, payment) -> Receipt:
    from ruihe_saas.extensions import db as database
    from ruihe_saas.receipts.services import get_receipt

    with tenant_context(desk.tenant_id):
        receipt = get_receipt(payment)
        database.session.refresh(receipt)
        return receipt


def test_receipt_page_and_print_button(client, world):
    desk, payment, receipt, _stranger, _foreign = world
    base = signed_in(client, desk.cashier)
    page = client.get(f"{base}/{payment.id}/")
    assert page.status_code == 200
    html = text(page)
    assert receipt.number in html and "壹佰元整" in html
    assert f'href="{base}/{payment.id}.pdf"' in html and 'data-testid="print-receipt"' in html
    assert 'data-testid="cancel-receipt"' not in html  # cashiers cannot cancel
    first = client.get(f"{base}/{payment.id}.pdf")
    assert first.status_code == 200 and first.mimetype == "application/pdf"
    assert first.headers["Content-Disposition"].startswith("inline;")
    first_text = first_page_text(first.data)
    assert "壹佰元整" in first_text and receipt.number in first_text and "副本" not in first_text
    second = client.get(f"{base}/{payment.id}.pdf")
    assert "副本" in first_page_text(second.data)
    assert receipt_row(desk, payment).print_count == 2


def test_cancel_form(client, world):
    desk, payment, receipt, _stranger, _foreign = world
    finance = member(Role.FINANCE, tenant=desk.owner.tenant)
    base = signed_in(client, finance)
    shown = text(client.get(f"{base}/{payment.id}/"))
    assert 'data-testid="cancel-receipt"' in shown
    form_url = f"{base}/{payment.id}/cancel"
    token = csrf_from(client, form_url)
    empty = client.post(form_url, data={"reason": "  ", "csrf_token": token})
    assert empty.status_code == 422
    assert 'role="alert"' in text(empty)
    assert receipt_row(desk, payment).status == ReceiptStatus.ISSUED
    too_long = client.post(form_url, data={"reason": "x" * 201, "csrf_token": token})
    assert too_long.status_code == 422
    done = client.post(form_url, data={"reason": "重复录入", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/{payment.id}/")
    after = receipt_row(desk, payment)
    assert (after.number, after.status, after.cancel_reason) == (
        receipt.number,
        ReceiptStatus.CANCELLED,
        "重复录入",
    )
    page = text(client.get(f"{base}/{payment.id}/"))
    assert "重复录入" in page and 'data-testid="cancel-receipt"' not in page
    again = client.post(form_url, data={"reason": "again", "csrf_token": token})
    assert again.status_code == 409
    assert 'data-testid="already-cancelled"' in text(again)
    assert "作废" in first_page_text(client.get(f"{base}/{payment.id}.pdf").data)


def test_cancel_without_csrf_changes_nothing(client, world):
    desk, payment, _receipt, _stranger, _foreign = world
    base = signed_in(client, desk.owner)
    response = client.post(f"{base}/{payment.id}/cancel", data={"reason": "x"})
    assert response.status_code in (400, 422)
    assert receipt_row(desk, payment).status == ReceiptStatus.ISSUED


def test_permissions(client, world):
    desk, payment, _receipt, _stranger, _foreign = world
    viewer = member(Role.VIEWER, tenant=desk.owner.tenant)
    base = signed_in(client, viewer)
    for path in (f"/{payment.id}/", f"/{payment.id}.pdf", f"/{payment.id}/cancel"):
        assert client.get(base + path).status_code == 403, path
    client = client.application.test_client()  # a new browser, signed out
    base = signed_in(client, desk.cashier)
    assert client.get(f"{base}/{payment.id}/cancel").status_code == 403
    assert receipt_row(desk, payment).print_count == 0


def test_other_tenants_and_estates_get_404(client, world):
    desk, payment, _receipt, stranger, foreign_payment = world
    base = signed_in(client, desk.owner)
    for path in (f"/{foreign_payment.id}/", f"/{foreign_payment.id}.pdf"):
        assert client.get(base + path).status_code == 404, path
    token = csrf_from(client, f"{base}/{payment.id}/cancel")
    response = client.post(
        f"{base}/{foreign_payment.id}/cancel", data={"reason": "x", "csrf_token": token}
    )
    assert response.status_code == 404
    assert client.get(f"/t/{stranger.owner.tenant.slug}/receipts/{payment.id}/").status_code == 404
    assert client.get(f"{base}/not-a-uuid/").status_code == 404
    client = client.application.test_client()  # a new browser, signed out
    elsewhere = estate_with_households(desk.tenant_id, "ELSE", buildings=1, rooms=1)
    scoped = member(Role.CASHIER, tenant=desk.owner.tenant)
    scope_member(scoped, elsewhere)
    base = signed_in(client, scoped)
    for path in (f"/{payment.id}/", f"/{payment.id}.pdf"):
        assert client.get(base + path).status_code == 404, path
