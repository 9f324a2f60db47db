"""Amounts in Chinese capital numerals (人民币大写), shared by receipts and reminder notices."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ruihe_saas.arrears import notice
from ruihe_saas.chinese_money import rmb_upper


@pytest.mark.parametrize(
    ("amount", "upper"),
    [
        ("123.45", "壹佰贰拾叁元肆角伍分"),
        ("100", "壹佰元整"),
        ("0.05", "伍分"),
        ("1234.50", "壹仟贰佰叁拾肆元伍角整"),
        ("10.05", "壹拾元零伍分"),
        ("999999999999.99", "玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分"),
        ("-3", "负叁元整"),
    ],
)
def test_rmb_upper(amount, upper):
    assert rmb_upper(Decimal(amount)) == upper


def test_reminder_notices_use_the_same_function():
    assert notice.rmb_upper is rmb_upper
