"""Numbers in sentences: one visit, two visits; never "-0.00", on the terminal or a page."""

from __future__ import annotations

import pytest

from edgeemo.text import fixed, no_negative_zero, plural


@pytest.mark.parametrize(("count", "text"), [(0, "0 visits"), (1, "1 visit"), (2, "2 visits"), (1200, "1,200 visits")])
def test_plural(count: int, text: str) -> None:
    assert plural(count, "visit") == text
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


@pytest.mark.parametrize(("value", "plus", "text"), [
    (-0.001, False, "0.00"), (-0.004, True, "+0.00"), (-0.006, False, "-0.01"), (0.0, True, "+0.00"),
    (-1.0, False, "-1.00"), (0.25, True, "+0.25"),
])
def test_fixed_has_no_negative_zero(value: float, plus: bool, text: str) -> None:
    assert fixed(value, 2, plus) == text


def test_only_whole_negative_zeros_change() -> None:
    assert no_negative_zero("-0.00 to 0.50, -0.0%, -0.001, 10-0.5, x-0") == "0.00 to 0.50, 0.0%, -0.001, 10-0.5, x-0"


def test_the_dashboards_format_filter() -> None:
    from edgeemo.hub.web.site import _format

    assert _format("%.2f", -0.0004) == "0.00" and _format("%+.2f", -0.0004) == "+0.00"
    assert _format("%.2f to %.2f", -0.004, -0.3) == "0.00 to -0.30" and _format("%d visits", 3) == "3 visits"
