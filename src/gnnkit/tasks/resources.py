"""Peak memory of the current process."""

from __future__ import annotations

import sys


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB.

    Uses ``getrusage`` where it exists (its ``ru_maxrss`` is KiB on Linux and bytes on macOS);
    elsewhere psutil's peak working set (Windows) or, failing that, the current RSS.
    """
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except ImportError:
        pass
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil is part of the 'full' extra
        return float("nan")
    info = psutil.Process().memory_info()
    return getattr(info, "peak_wset", info.rss) / (1024 * 1024)
