"""Checkpoints written atomically: a crash mid-write never leaves a truncated file behind.

The state is serialised to a temporary file in the destination folder, flushed to disk, and then
moved over the destination with ``os.replace`` (atomic on POSIX and Windows when both paths are on
the same file system, which a sibling temporary file guarantees).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

LAST_CHECKPOINT = "checkpoint_last.pt"
BEST_MODEL = "best_model.pt"


def atomic_write_bytes(path: str | os.PathLike, write) -> Path:
    """Call ``write(file_object)`` on a temporary sibling of ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        # Leave no half-written temporary behind, whatever interrupted the write.
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write_bytes(path, lambda handle: handle.write(text.encode("utf-8")))


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Save ``state`` (state dicts, epoch, RNG state, ...) with ``torch.save``, atomically."""
    return atomic_write_bytes(path, lambda handle: torch.save(state, handle))


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load a checkpoint written by :func:`save_checkpoint`.

    Loaded with ``weights_only=True``: checkpoints hold only tensors and plain Python values, so no
    arbitrary object is unpickled.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location=map_location, weights_only=True)
