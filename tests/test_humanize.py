"""Token counts as the terminal and the reports print them."""

from __future__ import annotations

import pytest

from tokenomy.humanize import tokens


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (9_999, "9,999"),  # exact while it fits
        (10_000, "10.0k"),
        (14_449, "14.4k"),
        (99_950, "100k"),  # three digits after rounding, not "100.0k"
        (664_800, "665k"),
        (999_499, "999k"),
        (999_500, "1.00M"),  # not "1000k"
        (7_390_000, "7.39M"),
        (43_310_000, "43.3M"),
        (394_750_000, "395M"),
        (999_600_000, "1.00B"),
        (2_010_000_000, "2.01B"),
        (1_234_567_890_123, "1,235B"),  # no larger unit: still readable
    ],
)
def test_three_significant_digits_in_at_most_five_characters(n: int, text: str) -> None:
    assert tokens(n) == text
    if 10_000 <= n < 1_000_000_000_000:
        assert len(tokens(n)) <= 5
