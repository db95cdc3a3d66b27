"""Values on the command line: numbers of flags and ``key=value`` options, read strictly.

A value that does not fit is refused with a message naming the flag and what it expects;
nothing is rounded (``2.5`` is never taken for 2) or clipped.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from ..registry import LARGEST_INT, LARGEST_SEED

__all__ = ["UsageError", "integer", "number", "pairs", "parse_value", "seed"]

_INTEGER = re.compile(r"[+-]?\d+")


class UsageError(Exception):
    """A malformed command line; the message is the one line printed."""


def integer(minimum: int, maximum: int = LARGEST_INT) -> Callable[[str], int]:
    """An argparse type: a whole number in ``[minimum, maximum]``."""

    def parse(text: str) -> int:
        if not _INTEGER.fullmatch(text.strip()):
            raise argparse.ArgumentTypeError(f"expects a whole number >= {minimum}, got {text!r}")
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {text.strip()[:24]}")
        return value

    return parse


def seed(text: str) -> int:
    """An argparse type: a seed in ``[0, 2**63)``."""
    return integer(0, LARGEST_SEED)(text)


def number(positive: bool = True) -> Callable[[str], float]:
    """An argparse type: a finite number, > 0 where ``positive``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expects a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if positive and not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
        return value

    return parse


def span(kind: Callable[[str], float]) -> Callable[[str], tuple]:
    """``"A:B"`` as a pair of ``kind`` (a range of angles, rows or columns)."""

    def convert(text: str) -> tuple:
        parts = text.split(":")
        try:
            if len(parts) != 2:
                raise ValueError
            return kind(parts[0]), kind(parts[1])
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected START:END ({kind.__name__} values), got {text!r}") from None

    return convert


def parse_value(text: str) -> Any:
    """A ``key=value`` value: none/true/false, int, float, comma-separated tuple, or string.

    Registry checks downstream refuse what does not fit the parameter (a float for an
    integer, NaN, an unknown choice), naming the parameter.
    """
    low = text.strip().lower()
    if low in ("none", "null"):
        return None
    if low in ("true", "false"):
        return low == "true"
    if _INTEGER.fullmatch(text.strip()):
        return int(text)
    try:
        return float(text)
    except ValueError:
        pass
    if "," in text:
        return tuple(parse_value(t) for t in text.split(","))
    return text


def pairs(items: Sequence[str] | None, flag: str, parse: bool) -> dict:
    """``KEY=VALUE`` items of ``flag`` as a dict; malformed or repeated keys are refused."""
    out: dict = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise UsageError(f"{flag} expects key=value, got {item!r}")
        if key in out:
            raise UsageError(f"{flag} gives {key!r} twice: give each key once")
        out[key] = parse_value(value) if parse else value
    return out
