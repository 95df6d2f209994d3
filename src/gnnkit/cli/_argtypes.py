"""argparse types for numeric options: a bad value becomes argparse's one-line usage error."""

from __future__ import annotations

import argparse
import math


def _number(text: str, parse, minimum, inclusive: bool, what: str):
    try:
        value = parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value) or value < minimum or (value == minimum and not inclusive):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return _number(text, int, 1, True, "a positive integer")


def non_negative_int(text: str) -> int:
    return _number(text, int, 0, True, "a non-negative integer")


def positive_float(text: str) -> float:
    return _number(text, float, 0.0, False, "a positive number")
