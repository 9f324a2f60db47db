"""The receipt (收据) as a PDF, in Chinese, with reportlab's built-in CJK font.

``receipt_pdf(payment, receipt, copy)`` lays out one A5 page (more if the payment settled
many bill lines): tenant, receipt number, estate, household and owners, the tenant-local
date, the bill lines the payment settled (period, fee item, amount) and its prepaid part
(预收), the amount in figures and in Chinese capital numerals (大写), method, reference and
cashier. A reprint carries 副本 in its heading and across every page; a cancelled receipt
says 作废 the same way.

The receipt is a Chinese document whatever the reader's interface language (like the
Chinese export headers), so its labels are written here in Chinese. The font is
``STSong-Light`` (a CID font every PDF reader has): nothing is downloaded or embedded, and
reportlab writes its text with the ``UniGB-UCS2-H`` encoding, which PDF text extraction maps
back to Unicode.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A5
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select

from ruihe_saas.auth.models import User
from ruihe_saas.billing.models import Bill, BillLine
from ruihe_saas.chinese_money import rmb_upper
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import (
    AllocationSource,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Receipt,
    ReceiptStatus,
)
from ruihe_saas.payments.services import ZERO, local_zone
from ruihe_saas.tenancy.models import Tenant

FONT = "STSong-Light"
PAGE = A5  # 148 × 210 mm; prints on A4 as well (scaled or centred)
MARGIN = 12 * mm

METHOD_LABELS = {
    PaymentMethod.CASH: "现金",
    PaymentMethod.BANK_TRANSFER: "银行转账",
    PaymentMethod.POS_CARD: "刷卡（POS）",
    PaymentMethod.WECHAT_QR: "微信支付",
    PaymentMethod.ALIPAY_QR: "支付宝",
    PaymentMethod.ONLINE: "在线支付",
}
COPY_MARK = "副本"
CANCELLED_MARK = "作废"
PREPAID_LABEL = "预收（预存款）"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _font() -> str:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    return FONT


def yuan(amount: Decimal) -> str:
    """¥1,234.50"""
    return f"¥{Decimal(amount):,.2f}"


def _text(value) -> str:
    """Safe inside a reportlab paragraph (its mini markup) and without control characters."""
    return escape(_CONTROL.sub(" ", str(value or "")))


@dataclass
class ReceiptLine:
    period: str
    item: str
    bill_number: str
    amount: Decimal


@dataclass
class ReceiptContent:
    """What a receipt shows, read from the database (also what the tests could check)."""

    number: str
    tenant: str
    estate: str
    household: str
    owners: str
    paid_on: str
    method: str
    reference: str
    cashier: str
    amount: Decimal
    lines: list[ReceiptLine]
    prepaid: Decimal
    cancelled: bool
    cancel_reason: str
    issued_at: str

    @property
    def amount_upper(self) -> str:
        return rmb_upper(self.amount)


def receipt_content(payment: Payment, receipt: Receipt) -> ReceiptContent:
    tenant = db.session.get(Tenant, payment.tenant_id)
    estate = db.session.get(Estate, (payment.tenant_id, payment.estate_id))
    household = db.session.get(Household, (payment.tenant_id, payment.household_id))
    cashier = db.session.get(User, payment.received_by) if payment.received_by else None
    rows = db.session.execute(
        select(PaymentAllocation.amount, BillLine.period, BillLine.name, Bill.number)
        .join(
            BillLine,
            (BillLine.tenant_id == PaymentAllocation.tenant_id)
            & (BillLine.id == PaymentAllocation.bill_line_id),
        )
        .join(
            Bill,
            (Bill.tenant_id == PaymentAllocation.tenant_id)
            & (Bill.id == PaymentAllocation.bill_id),
        )
        .where(
            PaymentAllocation.payment_id == payment.id,
            # what the payment settled when it was taken; prepaid credit it left and
            # billing spent later stays "预收" on the receipt
            PaymentAllocation.source == AllocationSource.PAYMENT,
        )
        .order_by(BillLine.period, Bill.number, PaymentAllocation.id)  # ids: allocation order
    ).all()
    lines = [ReceiptLine(period, name, number, amount) for amount, period, name, number in rows]
    settled = sum((line.amount for line in lines), ZERO)
    zone = local_zone()
    if payment.method == PaymentMethod.ONLINE:
        cashier_name = "在线支付"
    else:
        cashier_name = (cashier.name or cashier.email) if cashier is not None else "—"
    return ReceiptContent(
        number=receipt.number,
        tenant=tenant.name if tenant else "",
        estate=estate.name if estate else "",
        household=household.label if household else "",
        owners=household.owner_names if household else "",
        paid_on=_local(payment.paid_at, zone).strftime("%Y年%m月%d日"),
        method=METHOD_LABELS.get(payment.method, str(payment.method)),
        reference=payment.reference or "—",
        cashier=cashier_name,
        amount=payment.amount,
        lines=lines,
        prepaid=max(payment.amount - settled, ZERO),
        cancelled=receipt.status == ReceiptStatus.CANCELLED,
        cancel_reason=receipt.cancel_reason or "",
        issued_at=_local(receipt.issued_at or payment.paid_at, zone).strftime("%Y-%m-%d %H:%M"),
    )


def _local(moment: datetime, zone) -> datetime:
    return moment.astimezone(zone) if moment.tzinfo else moment


def receipt_pdf(payment: Payment, receipt: Receipt, copy: bool) -> bytes:
    """The receipt of ``payment`` as PDF bytes; ``copy`` marks a reprint (副本)."""
    return render_receipt(receipt_content(payment, receipt), copy)


def render_receipt(content: ReceiptContent, copy: bool) -> bytes:
    font = _font()
    styles = _styles(font)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=PAGE,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 6 * mm,
        title=f"收据 {content.number}",
        author=content.tenant,
        subject="收据" + (f" {COPY_MARK}" if copy else ""),
    )
    width = PAGE[0] - 2 * MARGIN
    marks = [m for m, on in ((COPY_MARK, copy), (CANCELLED_MARK, content.cancelled)) if on]
    heading = "收据" + "".join(f"（{m}）" for m in marks)
    story = [
        Paragraph(_text(content.tenant), styles["tenant"]),
        Paragraph(_text(heading), styles["title"]),
        Paragraph(f"收据编号：{_text(content.number)}", styles["number"]),
        Spacer(1, 3 * mm),
        _facts(content, styles, width),
        Spacer(1, 3 * mm),
        _items(content, styles, width),
        Spacer(1, 3 * mm),
        _totals(content, styles, width),
        Spacer(1, 4 * mm),
        _signature(content, styles, width),
    ]
    if content.cancelled:
        reason = f"：{_text(content.cancel_reason)}" if content.cancel_reason else ""
        story += [
            Spacer(1, 2 * mm),
            Paragraph(f"本收据已作废{reason}", styles["alert"]),
        ]

    def decorate(canvas, doc) -> None:
        canvas.saveState()
        if marks:
            canvas.setFont(font, 64)
            canvas.setFillColor(colors.Color(0.85, 0.1, 0.1, alpha=0.18))
            canvas.translate(PAGE[0] / 2, PAGE[1] / 2)
            canvas.rotate(30)
            canvas.drawCentredString(0, 0, " ".join(marks))
            canvas.rotate(-30)
            canvas.translate(-PAGE[0] / 2, -PAGE[1] / 2)
        canvas.setFont(font, 7)
        canvas.setFillColor(colors.grey)
        canvas.drawString(MARGIN, MARGIN, f"{content.number} · 第{doc.page}页")
        canvas.restoreState()

    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _styles(font: str) -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=font, fontSize=9, leading=12)
    return {
        "base": base,
        "tenant": ParagraphStyle("tenant", parent=base, fontSize=11, alignment=TA_CENTER),
        "title": ParagraphStyle(
            "title", parent=base, fontSize=20, leading=26, alignment=TA_CENTER, spaceBefore=2
        ),
        "number": ParagraphStyle("number", parent=base, alignment=TA_RIGHT),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8.5, leading=11),
        "num": ParagraphStyle("num", parent=base, fontSize=8.5, leading=11, alignment=TA_RIGHT),
        "big": ParagraphStyle("big", parent=base, fontSize=11, leading=15),
        "alert": ParagraphStyle("alert", parent=base, textColor=colors.red, fontSize=11),
    }


def _grid(data, widths, *, header: bool = False, extra=()) -> Table:
    table = Table(data, colWidths=widths, repeatRows=1 if header else 0)
    style = [
        ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)))
    table.setStyle(TableStyle(style + list(extra)))
    return table


def _facts(content: ReceiptContent, styles, width) -> Table:
    cell = styles["cell"]

    def p(value: str) -> Paragraph:
        return Paragraph(value, cell)

    label, value = width * 0.15, width * 0.35
    data = [
        [p("小区"), p(_text(content.estate)), p("房屋"), p(_text(content.household))],
        [p("业主"), p(_text(content.owners)), p("收款日期"), p(content.paid_on)],
        [p("付款方式"), p(_text(content.method)), p("参考号"), p(_text(content.reference))],
    ]
    return _grid(data, [label, value, label, value])


def _items(content: ReceiptContent, styles, width) -> Table:
    cell, num = styles["cell"], styles["num"]
    data = [[Paragraph(h, cell) for h in ("账期", "收费项目", "账单号")] + [Paragraph("金额", num)]]
    for line in content.lines:
        data.append(
            [
                Paragraph(_text(line.period), cell),
                Paragraph(_text(line.item), cell),
                Paragraph(_text(line.bill_number), cell),
                Paragraph(yuan(line.amount), num),
            ]
        )
    if content.prepaid > 0:
        data.append(
            [Paragraph("—", cell), Paragraph(PREPAID_LABEL, cell), Paragraph("—", cell)]
            + [Paragraph(yuan(content.prepaid), num)]
        )
    if len(data) == 1:
        data.append([Paragraph("—", cell)] * 3 + [Paragraph(yuan(ZERO), num)])
    return _grid(data, [width * 0.17, width * 0.38, width * 0.23, width * 0.22], header=True)


def _totals(content: ReceiptContent, styles, width) -> Table:
    big = styles["big"]
    data = [
        [Paragraph("金额（小写）", big), Paragraph(yuan(content.amount), big)],
        [Paragraph("金额（大写）", big), Paragraph(f"人民币{content.amount_upper}", big)],
    ]
    return _grid(data, [width * 0.25, width * 0.75])


def _signature(content: ReceiptContent, styles, width) -> Table:
    cell = styles["cell"]
    status = "已作废" if content.cancelled else "有效"
    data = [
        [
            Paragraph(f"收款人：{_text(content.cashier)}", cell),
            Paragraph(f"开具时间：{content.issued_at}", cell),
            Paragraph(f"状态：{status}", cell),
        ],
        [Paragraph(f"收款单位（盖章）：{_text(content.tenant)}", cell), "", ""],
    ]
    table = Table(data, colWidths=[width * 0.36, width * 0.40, width * 0.24])
    table.setStyle(
        TableStyle(
            [
                ("SPAN", (0, 1), (-1, 1)),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def pdf_response(data: bytes, number: str, copy: bool):
    """The PDF shown in the browser (inline), named after the receipt number; not cached
    (a receipt names a household and its payment)."""
    from flask import Response

    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", number) or "receipt"
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{safe}.pdf"',
            "Cache-Control": "no-store",
            "X-Receipt-Copy": "1" if copy else "0",
        },
    )
