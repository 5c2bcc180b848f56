"""Properties over the whole token matrix, one test per property.

`every(items, check)` runs `check` on each item and fails once, listing each distinct problem
with the tokens that show it (grouped, so one broken rule reads as one line, not 378 failures).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import pytest

T = TypeVar("T")
SHOWN = 6


def every(items: Iterable[T], check: Callable[[T], object], name: Callable[[T], str] = str) -> int:
    """Check every item; fail with the problems grouped by message. Returns how many were checked."""
    problems: dict[str, list[str]] = {}
    count = 0
    for item in items:
        count += 1
        try:
            check(item)
        except AssertionError as err:
            message = (str(err) or "assertion failed").strip()
            problems.setdefault(message, []).append(name(item))
    assert count, "no item to check: a property over nothing proves nothing"
    if problems:
        lines = []
        for message, names in problems.items():
            shown = ", ".join(names[:SHOWN]) + (f" and {len(names) - SHOWN} more" if len(names) > SHOWN else "")
            lines.append(f"{len(names)} × {shown}:\n    " + message.replace("\n", "\n    "))
        pytest.fail("\n".join(lines), pytrace=False)
    return count
