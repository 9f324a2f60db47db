"""Receipt PDF (content, 大写, 副本, 作废), print counting and cancelling."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import ReceiptStatus
from ruihe_saas.payments.services import record_payment
from ruihe_saas.receipts import services
from ruihe_saas.receipts.pdf import PAGE, receipt_content, receipt_pdf
from ruihe_saas.tenancy import tenant_context
from tests.unit.receipts.builders import first_page_text, make_desk, pdf_text


@pytest.fixture
def desk(db):
    return make_desk()


def test_pdf_shows_the_receipt(desk):
    desk.bill(0, "2024-05", service="100.00", garbage="10.00")
    desk.bill(0, "2024-06", service="3.45", garbage="10.00")
    # 110 + 13.45 settles both bills; 0.00 left: no prepaid part
    payment, receipt = desk.pay(0, "123.45", "wechat_qr", reference="WX-778")
    with tenant_context(desk.tenant_id):
        text = first_page_text(receipt_pdf(payment, receipt, copy=False))
    assert receipt.number == "RH-2024-000001"
    for expected in (
        "收据",
        "RH-2024-000001",
        desk.owner.tenant.name,
        desk.estate.name,
        "1栋1单元101",
        desk.households[0].owner_names,
        "2024年06月10日",
        "2024-05",
        "2024-06",
        "物业服务费",
        "垃圾清运费",
        "¥123.45",
        "壹佰贰拾叁元肆角伍分",
        "微信支付",
        "WX-778",
        "收银员小王",
    ):
        assert expected in text, expected
    assert "副本" not in text
    assert "作废" not in text
    assert "预收" not in text


def test_pdf_is_a5_and_opens(desk):
    payment, receipt = desk.pay(0, "100")
    with tenant_context(desk.tenant_id):
        data = receipt_pdf(payment, receipt, copy=False)
    assert data.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(data))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == tuple(round(x) for x in PAGE)


@pytest.mark.parametrize(
    ("amount", "figures", "upper"),
    [
        ("100", "¥100.00", "壹佰元整"),
        ("0.05", "¥0.05", "伍分"),
        ("1234.50", "¥1,234.50", "壹仟贰佰叁拾肆元伍角整"),
    ],
)
def test_amount_in_figures_and_capitals(desk, amount, figures, upper):
    payment, receipt = desk.pay(1, amount)  # no bills: all prepaid credit
    with tenant_context(desk.tenant_id):
        text = first_page_text(receipt_pdf(payment, receipt, copy=False))
    assert figures in text and upper in text
    assert "预收" in text


def test_prepaid_part_is_shown(desk):
    desk.bill(0, "2024-05")  # 110.00
    payment, receipt = desk.pay(0, "150.00")
    with tenant_context(desk.tenant_id):
        content = receipt_content(payment, receipt)
        text = first_page_text(receipt_pdf(payment, receipt, copy=False))
    assert content.prepaid == Decimal("40.00")
    assert [line.amount for line in content.lines] == [Decimal("100.00"), Decimal("10.00")]
    assert "预收" in text and "¥40.00" in text and "¥150.00" in text


def test_first_print_is_original_then_copies(desk):
    payment, receipt = desk.pay(0, "88.00")
    with tenant_context(desk.tenant_id):
        first, first_copy = services.print_receipt(payment)
        second, second_copy = services.print_receipt(payment)
        third, _ = services.print_receipt(payment)
        assert services.get_receipt(payment).print_count == 3
        audit = db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.object_type == "receipt", AuditEvent.action == "update")
            .order_by(AuditEvent.id)
        ).all()
    assert (first_copy, second_copy) == (False, True)
    assert "副本" not in first_page_text(first)
    assert "副本" in first_page_text(second) and "副本" in first_page_text(third)
    assert receipt.number in first_page_text(second)
    assert [event.changes["print_count"] for event in audit] == [[0, 1], [1, 2], [2, 3]]


def test_cancel_keeps_the_number_and_stamps_the_pdf(desk):
    payment, receipt = desk.pay(0, "50.00")
    with tenant_context(desk.tenant_id):
        cancelled = services.cancel_receipt(payment.id, "  录错住户  ")
        assert (cancelled.number, cancelled.status) == (receipt.number, ReceiptStatus.CANCELLED)
        assert cancelled.cancel_reason == "录错住户" and cancelled.cancelled_at is not None
        data, copy = services.print_receipt(payment)
    text = first_page_text(data)
    assert not copy
    assert "作废" in text and receipt.number in text and "录错住户" in text


def test_cancel_needs_a_reason_and_happens_once(desk):
    payment, _receipt = desk.pay(0, "50.00")
    with tenant_context(desk.tenant_id):
        for reason in ("", "   ", None, "x" * 201):
            with pytest.raises(ValidationFailed) as error:
                services.cancel_receipt(payment.id, reason)
            assert "reason" in error.value.fields
        assert services.get_receipt(payment).status == ReceiptStatus.ISSUED
        services.cancel_receipt(payment.id, "重复\x00收款\n")
        with pytest.raises(Conflict) as conflict:
            services.cancel_receipt(payment.id, "again")
        assert conflict.value.code == "receipt_cancelled"
        assert services.get_receipt(payment).cancel_reason == "重复收款"


def test_other_tenants_payments_are_not_found(desk):
    payment, _receipt = desk.pay(0, "50.00")
    other = make_desk("OTHER")
    with tenant_context(other.tenant_id):
        with pytest.raises(NotFound):
            services.get_payment(payment.id)
        with pytest.raises(NotFound):
            services.cancel_receipt(payment.id, "x")
        with pytest.raises(NotFound):
            services.get_payment("not-a-uuid")


def test_a_payment_without_receipt_has_nothing_to_print(desk):
    with tenant_context(desk.tenant_id):
        payment = record_payment(desk.households[0].id, "10", "cash")
        with pytest.raises(NotFound):
            services.print_receipt(payment)


def test_markup_and_control_characters_in_names_are_printed_as_text(desk):
    with tenant_context(desk.tenant_id):
        desk.households[0].owner_names = "<b>张三</b> & 李四\x07😀"
        db.session.flush()
    payment, receipt = desk.pay(0, "10.00", reference="<i>REF")
    with tenant_context(desk.tenant_id):
        text = pdf_text(receipt_pdf(payment, receipt, copy=True))
    assert "<b>张三</b> & 李四" in text and "<i>REF" in text and "副本" in text


def test_many_lines_flow_onto_more_pages(desk):
    for month in range(1, 13):
        for year in (2022, 2023):
            desk.bill(0, f"{year}-{month:02d}", service="1.00", garbage="1.00")
    payment, receipt = desk.pay(0, "48.00")
    with tenant_context(desk.tenant_id):
        data = receipt_pdf(payment, receipt, copy=True)
    reader = PdfReader(io.BytesIO(data))
    assert len(reader.pages) >= 2
    text = pdf_text(data)
    assert "肆拾捌元整" in text and "2023-12" in text
    assert all("副本" in page.extract_text() for page in reader.pages)
