"""A QR code of a pay link, drawn with reportlab (no CDN, no extra dependency): an SVG
embedded in the page as a ``data:`` image (allowed by the CSP, prints as vector)."""

from __future__ import annotations

import base64

from reportlab.graphics import renderSVG
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing

SIZE = 220  # points; the widget scales its modules into this square


def qr_svg(text: str, size: int = SIZE) -> str:
    """The QR code of ``text`` as an SVG document."""
    widget = QrCodeWidget(text, barLevel="M")
    widget.barWidth = size
    widget.barHeight = size
    drawing = Drawing(size, size)
    drawing.add(widget)
    return renderSVG.drawToString(drawing)


def qr_data_uri(text: str, size: int = SIZE) -> str:
    """``data:image/svg+xml;base64,…`` for an ``<img src>``."""
    svg = qr_svg(text, size).encode("utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")
