"""Progress bars for training loops, showing the latest metrics beside the bar."""

from __future__ import annotations

import sys


class ProgressBar:
    """A tqdm bar over ``total`` steps whose postfix shows the latest metrics.

    With ``enabled=False``, or when tqdm is not installed, every method is a no-op, so loops call
    it unconditionally.
    """

    def __init__(self, total: int, desc: str = "", enabled: bool = True, initial: int = 0, unit: str = "epoch"):
        self._bar = None
        if not enabled:
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm is part of the 'full' extra
            return
        self._bar = tqdm(
            total=total, initial=initial, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=False
        )

    def update(self, steps: int = 1, **metrics) -> None:
        """Advance by ``steps`` and show ``metrics`` (floats are shown with 4 significant digits)."""
        if self._bar is None:
            return
        if metrics:
            self._bar.set_postfix({k: _short(v) for k, v in metrics.items()}, refresh=False)
        self._bar.update(steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _short(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return value
