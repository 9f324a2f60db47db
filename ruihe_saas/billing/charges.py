"""Pricing one fee item for one household: the amount, the quantity and the formula shown on
the bill line. Pure functions, no database.

Amounts are computed exactly in integers (rates ×10⁴, areas and readings ×10², weights ×10⁴)
and rounded once, half-up, to the fen (0.01 yuan) per line — never through float, and fast
enough for the billing run's inner loop. The formula says what was multiplied:
``0.60元/m²/月 × 85.20m² × 1月 × 31/31天``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from ruihe_saas.billing.periods import Span
from ruihe_saas.billing.proration import FULL_WEIGHT, Segment, days_in
from ruihe_saas.estates.models import Occupancy
from ruihe_saas.fees.models import ChargeKind, RevenueCategory, SplitBasis

RATE_SCALE = 10_000  # rates have 4 decimals
QUANTITY_SCALE = 100  # areas, readings: 2 decimals

UNIT_LABELS = {
    ChargeKind.PER_AREA: "元/m²/月",
    ChargeKind.FIXED: "元/户/月",
    ChargeKind.PER_PARKING_SPACE: "元/个/月",
}


def scaled(value: Decimal | int | str, scale: int) -> int:
    """``value × scale`` as an exact integer (``value`` has at most log10(scale) places)."""
    product = Decimal(value) * scale
    if product != product.to_integral_value():
        raise ValueError(f"{value} has more decimals than the scale {scale} allows")
    return int(product)


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half-up (both ≥ 0)."""
    return (2 * numerator + denominator) // (2 * denominator)


def fen_str(fen: int) -> str:
    """Fen as a yuan amount string: 5112 → "51.12" (negative amounts never occur)."""
    return f"{fen // 100}.{fen % 100:02d}"


def decimal_str(value: int, scale: int, min_places: int = 2) -> str:
    """A scaled integer as a short decimal: 6000 (×10⁴) → "0.60"."""
    text = str(Decimal(value) / scale)
    if "." in text:
        text = text.rstrip("0")
    whole, _, places = text.partition(".")
    places = places.ljust(min_places, "0")
    return f"{whole}.{places}" if places else whole


# --- amounts --------------------------------------------------------------------------


def time_based_fen(
    rate_e4: int, quantity_e2: int, months: int, weighted_e4: int, span_days: int
) -> int:
    """rate × quantity × months × weighted days / span days, in fen."""
    return round_half_up(rate_e4 * quantity_e2 * months * weighted_e4, 10**8 * span_days)


def metered_fen(
    usage_e2: int, rate_e4: int, fixed_fen: int, months: int, weighted_e4: int, span_days: int
) -> int:
    """usage × unit price + the fixed part prorated by days, in fen (one rounding)."""
    numerator = usage_e2 * rate_e4 * span_days + fixed_fen * months * weighted_e4
    return round_half_up(numerator, RATE_SCALE * span_days)


def shared_fen(usage_e2: int, rate_e4: int, share_num: int, share_den: int) -> int:
    """The household's share (``share_num / share_den``) of a common meter's cost."""
    return round_half_up(usage_e2 * rate_e4 * share_num, RATE_SCALE * share_den)


def one_off_fen(rate_e4: int) -> int:
    return round_half_up(rate_e4, 100)


def percent_discount_fen(gross_fen: int, percent_e2: int, overlap_days: int, days: int) -> int:
    """``percent`` % of the gross for the share of the charged days the discount covers."""
    if days == 0:
        return 0
    return round_half_up(gross_fen * percent_e2 * overlap_days, FULL_WEIGHT * days)


def fixed_discount_fen(value_fen: int, months: int, overlap_days: int, span_days: int) -> int:
    """``value`` yuan per month, for the share of the span the discount covers."""
    return round_half_up(value_fen * months * overlap_days, span_days)


# --- the plan of one item for one run ------------------------------------------------


@dataclass
class Adjustment:
    """A discount in integers: percent ×10² (100 % = 10_000) or fixed fen per month."""

    percent_e2: int | None
    fixed_fen: int | None
    valid_from: date
    valid_to: date | None
    reason: str

    def overlap(self, segments: list[Segment]) -> int:
        last = self.valid_to or date.max
        return sum(
            (min(end, last) - max(start, self.valid_from)).days + 1
            for start, end in segments
            if max(start, self.valid_from) <= min(end, last)
        )


@dataclass
class ItemPlan:
    """One fee item as the run prices it: its figures as integers and the days it is in
    force within its span (schedule validity ∩ handover stages)."""

    item_id: object
    code: str
    name: str
    revenue_category: RevenueCategory
    charge_kind: ChargeKind
    unit: str
    rate: Decimal
    span: Span
    segments: list[Segment]
    due_date: date
    fixed_part: Decimal = Decimal("0")
    meter_kind: str | None = None
    shared_meter_id: object | None = None
    split_basis: SplitBasis | None = None
    occupied_only: bool = False
    household_ids: frozenset | None = None
    building_ids: frozenset | None = None
    lift_only: bool = False
    min_floor: int | None = None
    category_ids: frozenset | None = None
    occupancies: frozenset[Occupancy] | None = None
    vacant_weight: int = FULL_WEIGHT
    # derived
    rate_e4: int = field(init=False)
    fixed_fen: int = field(init=False)
    days_in_force: int = field(init=False)
    rate_label: str = field(init=False)
    # occupancy → (days, weighted days, pieces, segments) for households without changes
    by_occupancy: dict = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.rate_e4 = scaled(self.rate, RATE_SCALE)
        self.fixed_fen = scaled(self.fixed_part, 100)
        self.days_in_force = days_in(self.segments)
        self.rate_label = decimal_str(self.rate_e4, RATE_SCALE)

    def applies_to(self, building_id, has_lift, floor, category_id) -> bool:
        """The item's filters on the dwelling (occupancy is weighed per day elsewhere)."""
        if self.building_ids is not None and building_id not in self.building_ids:
            return False
        if self.lift_only and not has_lift:
            return False
        if self.min_floor is not None and (floor is None or floor < self.min_floor):
            return False
        return self.category_ids is None or category_id in self.category_ids

    def days_formula(self, days: int, pieces: list[tuple[int, int]]) -> str:
        span_days = self.span.days
        if len(pieces) == 1 and pieces[0][1] == FULL_WEIGHT:
            return f"{days}/{span_days}天"
        terms = " + ".join(
            str(count) if weight == FULL_WEIGHT else f"{count}×{decimal_str(weight, 100, 0)}%"
            for count, weight in pieces
        )
        return f"({terms})/{span_days}天"


@dataclass
class PricedLine:
    quantity: str  # decimal text
    days: int
    gross_fen: int
    formula: str
    discount_fen: int = 0

    @property
    def amount_fen(self) -> int:
        return self.gross_fen - self.discount_fen


def price_time_based(
    plan: ItemPlan, quantity_e2: int, days: int, weighted_e4: int, pieces
) -> PricedLine:
    """per_area, fixed and per_parking_space lines."""
    months, span_days = plan.span.months, plan.span.days
    gross = time_based_fen(plan.rate_e4, quantity_e2, months, weighted_e4, span_days)
    quantity = decimal_str(quantity_e2, QUANTITY_SCALE)
    label = UNIT_LABELS[plan.charge_kind]
    if plan.charge_kind == ChargeKind.PER_AREA:
        middle = f" × {quantity}m²"
    elif plan.charge_kind == ChargeKind.PER_PARKING_SPACE:
        middle = f" × {quantity_e2 // QUANTITY_SCALE}个"
    else:
        middle = ""
    formula = f"{plan.rate_label}{label}{middle} × {months}月 × {plan.days_formula(days, pieces)}"
    return PricedLine(quantity, days, gross, formula)


def price_metered(
    plan: ItemPlan, previous_e2: int, current_e2: int, days: int, weighted_e4: int, pieces
) -> PricedLine:
    usage = current_e2 - previous_e2
    months, span_days = plan.span.months, plan.span.days
    gross = metered_fen(usage, plan.rate_e4, plan.fixed_fen, months, weighted_e4, span_days)
    unit = plan.unit or "单位"
    formula = (
        f"({decimal_str(current_e2, 100)} − {decimal_str(previous_e2, 100)}){unit}"
        f" × {plan.rate_label}元/{unit}"
    )
    if plan.fixed_fen:
        formula += (
            f" + {fen_str(plan.fixed_fen)}元/月 × {months}月 × {plan.days_formula(days, pieces)}"
        )
    return PricedLine(decimal_str(usage, QUANTITY_SCALE), days, gross, formula)


def price_shared(
    plan: ItemPlan, usage_e2: int, share_num: int, share_den: int, days: int, meter_name: str
) -> PricedLine:
    gross = shared_fen(usage_e2, plan.rate_e4, share_num, share_den)
    unit = plan.unit or "单位"
    if plan.split_basis == SplitBasis.AREA:
        share = f" × {decimal_str(share_num, 100)}/{decimal_str(share_den, 100)}m²"
        quantity = decimal_str(share_num, QUANTITY_SCALE)
    else:
        share = f" ÷ {share_den}户"
        quantity = "1.00"
    formula = f"{meter_name} {decimal_str(usage_e2, 100)}{unit} × {plan.rate_label}元/{unit}{share}"
    return PricedLine(quantity, days, gross, formula)


def price_one_off(plan: ItemPlan) -> PricedLine:
    return PricedLine("1.00", plan.span.days, one_off_fen(plan.rate_e4), f"{plan.rate_label}元")


def apply_adjustments(
    line: PricedLine, plan: ItemPlan, adjustments: list[Adjustment], segments: list[Segment]
) -> PricedLine:
    """Subtract the discounts valid on the charged days; never below zero."""
    if not adjustments or line.gross_fen == 0:
        return line
    total, reasons = 0, []
    for adjustment in adjustments:
        overlap = adjustment.overlap(segments)
        if overlap == 0:
            continue
        if adjustment.percent_e2 is not None:
            off = percent_discount_fen(line.gross_fen, adjustment.percent_e2, overlap, line.days)
            label = f"{decimal_str(adjustment.percent_e2, 100, 0)}%"
        else:
            off = fixed_discount_fen(
                adjustment.fixed_fen, plan.span.months, overlap, plan.span.days
            )
            label = f"{fen_str(adjustment.fixed_fen)}元/月"
        total += off
        reasons.append(f"{adjustment.reason} {label}")
    if not reasons:
        return line
    line.discount_fen = min(total, line.gross_fen)
    line.formula = f"{line.formula}；减免 {fen_str(line.discount_fen)}元（{'，'.join(reasons)}）"
    return line
