"""Numbers in sentences: "1 visit", "2 visits", "1,024 faces"; and never "-0.00"."""

from __future__ import annotations

import re

NEGATIVE_ZERO = re.compile(r"(?<![\w.])-(0(?:\.0+)?%?)(?![\d.])")  # -0, -0.00, -0.0% as a whole number


def plural(count: int, word: str, many: str | None = None) -> str:
    """`count` and `word`, the plural (`many`, else word + "s") unless the count is exactly one."""
    return f"{count:,} {word if count == 1 else many or word + 's'}"


def no_negative_zero(text: str, plus: bool = False) -> str:
    """`text` with every number that rounded to zero but kept its minus sign (-0.00) made 0.00 (+0.00)."""
    return NEGATIVE_ZERO.sub(("+" if plus else "") + r"\1", text)


def fixed(value: float, places: int = 2, plus: bool = False) -> str:
    """`value` to `places` decimals (with its sign when `plus`), never "-0.00"."""
    return no_negative_zero(f"{value:{'+' if plus else ''}.{places}f}", plus)
