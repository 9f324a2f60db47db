"""Amounts of money in Chinese capital numerals (人民币大写), as on receipts and notices:
``rmb_upper(Decimal("123.45"))`` → 壹佰贰拾叁元肆角伍分, ``100`` → 壹佰元整, ``0.05`` → 伍分."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

DIGITS = "零壹贰叁肆伍陆柒捌玖"
SMALL_UNITS = ("", "拾", "佰", "仟")
GROUP_UNITS = ("", "万", "亿", "万亿")


def _group(number: int) -> str:
    """0 < number < 10,000 in capitals, with 零 for inner zeros ("壹仟零伍")."""
    text, zero = "", False
    for position in range(3, -1, -1):
        digit = number // 10**position % 10
        if digit == 0:
            zero = bool(text)
            continue
        if zero:
            text += DIGITS[0]
            zero = False
        text += DIGITS[digit] + SMALL_UNITS[position]
    return text


def rmb_upper(amount: Decimal) -> str:
    """``amount`` yuan in Chinese capital numerals: 1234.50 → 壹仟贰佰叁拾肆元伍角整."""
    cents = int((Decimal(amount) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if cents < 0:
        return "负" + rmb_upper(Decimal(-cents) / 100)
    yuan, jiao, fen = cents // 100, cents // 10 % 10, cents % 10
    text = ""
    if yuan:
        groups = []
        while yuan:
            groups.append(yuan % 10_000)
            yuan //= 10_000
        zero = False
        for index in range(len(groups) - 1, -1, -1):
            group = groups[index]
            if group == 0:
                zero = bool(text)
                continue
            if text and (zero or group < 1000):
                text += DIGITS[0]
            text += _group(group) + GROUP_UNITS[index]
            zero = False
        text += "元"
    if not jiao and not fen:
        return (text or "零元") + "整"
    if jiao:
        text += DIGITS[jiao] + "角"
    elif text:
        text += DIGITS[0]
    if fen:
        text += DIGITS[fen] + "分"
    else:
        text += "整"
    return text
