"""argparse types for numeric options: a bad value becomes argparse's one-line usage error."""

from __future__ import annotations

import argparse
import math


def _checked(text: str, parse, low, high, low_open: bool, high_open: bool, what: str):
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    too_low = value < low or (low_open and value == low)
    too_high = value > high or (high_open and value == high)
    if not math.isfinite(value) or too_low or too_high:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def bounded_float(low: float, high: float, what: str, low_open: bool = False, high_open: bool = False):
    """An argparse type accepting floats in [low, high] (an end excluded when it is open)."""
    def parse(text: str) -> float:
        return _checked(text, float, low, high, low_open, high_open, what)
    parse.__name__ = what
    return parse


def positive_int(text: str) -> int:
    return _checked(text, int, 1, math.inf, False, False, "a positive integer")


def non_negative_int(text: str) -> int:
    return _checked(text, int, 0, math.inf, False, False, "a non-negative integer")


positive_float = bounded_float(0.0, math.inf, "a positive number", low_open=True)
