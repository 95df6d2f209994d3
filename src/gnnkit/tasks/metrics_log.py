"""Per-epoch metrics log, kept as both CSV (for spreadsheets) and JSON (for programs).

Both files are rewritten atomically on :meth:`MetricsLog.flush`, so a log on disk is always complete
up to some epoch, and a resumed run can reload it and truncate it to the checkpoint's epoch.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from .checkpoint import atomic_write_text

CSV_NAME = "metrics_log.csv"
JSON_NAME = "metrics_log.json"


class MetricsLog:
    """Rows of metrics, one per epoch (or per fold and epoch), written to ``out_dir``.

    ``out_dir=None`` keeps the rows in memory only.
    """

    def __init__(self, out_dir=None, prefix: str = ""):
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.prefix = prefix
        self.rows: list[dict] = []

    @property
    def csv_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / f"{self.prefix}{CSV_NAME}"

    @property
    def json_path(self) -> Path | None:
        return None if self.out_dir is None else self.out_dir / f"{self.prefix}{JSON_NAME}"

    def log(self, **metrics) -> dict:
        """Append one row; tensors and NumPy scalars are turned into Python numbers."""
        row = {key: _plain(value) for key, value in metrics.items()}
        self.rows.append(row)
        return row

    def column(self, key: str) -> list:
        return [row.get(key) for row in self.rows]

    def truncate(self, keep) -> None:
        """Keep only the rows for which ``keep(row)`` is true (used when resuming)."""
        self.rows = [row for row in self.rows if keep(row)]

    def load(self) -> None:
        """Reload the rows from the JSON file, if it exists."""
        if self.json_path is not None and self.json_path.is_file():
            self.rows = json.loads(self.json_path.read_text(encoding="utf-8"))

    def flush(self) -> None:
        if self.out_dir is None:
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.json_path, json.dumps(self.rows, indent=1, allow_nan=True))
        columns: list[str] = []
        for row in self.rows:
            columns.extend(key for key in row if key not in columns)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.csv_path, buffer.getvalue())


def _plain(value):
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value
