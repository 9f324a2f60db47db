"""Art. 278 of the Civil Code, in exact arithmetic: does an owners' vote pass?

The estate's owners decide a full takeover at a meeting where at least 2/3 of the building
area and of the owners take part, and more than 1/2 of the participating area and of the
participating owners approve. ``art278_result`` gives the four ratios as exact fractions and
their tests; ``art278_errors`` turns the failed tests into field errors. No database access.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from flask_babel import lazy_gettext as _l


def percent(ratio: Fraction) -> str:
    """``Fraction(2, 3)`` → ``"66.67"``: a ratio as a percentage, 2 decimals, half up, exact."""
    scaled = ratio * 10000  # hundredths of a percent
    hundredths = (2 * scaled.numerator + scaled.denominator) // (2 * scaled.denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _ratio(numerator, denominator) -> Fraction:
    return Fraction(numerator) / Fraction(denominator) if denominator else Fraction(0)


@dataclass(frozen=True)
class Art278Check:
    """One of the four tests: ``numerator / denominator`` against ``threshold``."""

    name: str
    numerator: int | Decimal
    denominator: int | Decimal
    ratio: Fraction
    threshold: str  # "2/3" (at least) or "1/2" (more than)
    passed: bool

    @property
    def percent(self) -> str:
        return percent(self.ratio)

    @property
    def rule(self) -> str:
        return f"≥ {self.threshold}" if self.threshold == "2/3" else f"> {self.threshold}"


@dataclass(frozen=True)
class Art278Result:
    """Whether an owners' vote passes art. 278: participation of at least 2/3 of the area
    and of the owners, approval by more than 1/2 of the participating area and owners.

    Ratios are exact fractions (a zero denominator gives 0); ``percent(ratio)`` shows one."""

    participation_area: Fraction
    participation_owners: Fraction
    approval_area: Fraction
    approval_owners: Fraction
    participation_area_passed: bool
    participation_owners_passed: bool
    approval_area_passed: bool
    approval_owners_passed: bool
    passed: bool
    checks: dict[str, Art278Check] = field(compare=False, repr=False)

    @property
    def percents(self) -> dict[str, str]:
        return {name: check.percent for name, check in self.checks.items()}


ART278_LABELS = {
    "participation_area": _l("Participating area / total area"),
    "participation_owners": _l("Participating owners / all owners"),
    "approval_area": _l("Approving area / participating area"),
    "approval_owners": _l("Approving owners / participating owners"),
}


def art278_result(
    total_owners,
    total_area,
    participating_owners,
    participating_area,
    approving_owners,
    approving_area,
) -> Art278Result:
    """The four ratios and tests, in exact arithmetic (integer cross-multiplication on the
    decimal amounts, never floats). Totals are not checked here: see ``rules.check_vote``."""
    values = {
        "total_owners": int(total_owners),
        "participating_owners": int(participating_owners),
        "approving_owners": int(approving_owners),
        "total_area": exact_decimal(total_area),
        "participating_area": exact_decimal(participating_area),
        "approving_area": exact_decimal(approving_area),
    }
    t_o, p_o, a_o = (values[f"{k}_owners"] for k in ("total", "participating", "approving"))
    t_a, p_a, a_a = (values[f"{k}_area"] for k in ("total", "participating", "approving"))
    tests = {
        # ≥ 2/3  ⇔  3·part ≥ 2·total;   > 1/2  ⇔  2·approving > participating
        "participation_area": (p_a, t_a, "2/3", t_a > 0 and 3 * p_a >= 2 * t_a),
        "participation_owners": (p_o, t_o, "2/3", t_o > 0 and 3 * p_o >= 2 * t_o),
        "approval_area": (a_a, p_a, "1/2", p_a > 0 and 2 * a_a > p_a),
        "approval_owners": (a_o, p_o, "1/2", p_o > 0 and 2 * a_o > p_o),
    }
    checks = {
        name: Art278Check(name, num, den, _ratio(num, den), threshold, bool(ok))
        for name, (num, den, threshold, ok) in tests.items()
    }
    return Art278Result(
        participation_area=checks["participation_area"].ratio,
        participation_owners=checks["participation_owners"].ratio,
        approval_area=checks["approval_area"].ratio,
        approval_owners=checks["approval_owners"].ratio,
        participation_area_passed=checks["participation_area"].passed,
        participation_owners_passed=checks["participation_owners"].passed,
        approval_area_passed=checks["approval_area"].passed,
        approval_owners_passed=checks["approval_owners"].passed,
        passed=all(check.passed for check in checks.values()),
        checks=checks,
    )


def exact_decimal(value) -> Decimal:
    """``value`` as a ``Decimal``, exactly (a float as the shortest decimal that reads back)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))  # the shortest decimal that reads back as this float
    return Decimal(str(value))


# The vote fields, in the order of ``art278_result``'s arguments.
ART278_ARGS = (
    "total_owners",
    "total_area",
    "participating_owners",
    "participating_area",
    "approving_owners",
    "approving_area",
)


def art278_errors(result: Art278Result) -> dict:
    """The failed tests as field errors, each naming its ratio."""
    errors = {}
    for name, check in result.checks.items():
        if check.passed:
            continue
        value = check.percent
        if name == "participation_area":
            message = _l(
                "Participating area is %(percent)s%% of the total area: art. 278 needs at "
                "least 2/3.",
                percent=value,
            )
        elif name == "participation_owners":
            message = _l(
                "Participating owners are %(percent)s%% of all owners: art. 278 needs at "
                "least 2/3.",
                percent=value,
            )
        elif name == "approval_area":
            message = _l(
                "Approving area is %(percent)s%% of the participating area: art. 278 needs "
                "more than half.",
                percent=value,
            )
        else:
            message = _l(
                "Approving owners are %(percent)s%% of the participating owners: art. 278 "
                "needs more than half.",
                percent=value,
            )
        errors[name] = [message]
    return errors
