"""Where datasets live on disk, and how they get there: checked downloads with atomic writes.

A *data root* holds one folder per dataset, laid out like the project's shared dataset folder
(``ROOT/Cora/ind.cora.x``, ``ROOT/MUTAG/MUTAG_A.txt``, ``ROOT/WebKB/Cornell/...``). The default
root is ``$GNNKIT_DATA`` or ``~/.gnnkit/data``.

Every downloaded byte is hashed before it becomes visible: a file is streamed into a temporary
file beside its destination and only ``os.replace``d into place once its checksum matches. A
mismatch deletes the temporary file and raises :class:`ChecksumError`, so a failed or tampered
download never leaves a half-written cache behind. Zip archives are extracted into a temporary
folder; every member the reader needs is checked there, and only then moved into the root.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import urllib.request
import warnings
import zipfile
from pathlib import Path

from ._checksums import CHECKSUMS

__all__ = ["default_root", "resolve_root", "ChecksumError", "DatasetNotFoundError", "file_digest", "download_file"]

_CHUNK = 1 << 20


class ChecksumError(RuntimeError):
    """A downloaded file does not have the published checksum (nothing was written)."""


class DatasetNotFoundError(FileNotFoundError):
    """The files a dataset needs are not under the data root (and no download was asked for)."""


def default_root() -> Path:
    """``$GNNKIT_DATA`` if set, else ``~/.gnnkit/data``."""
    env = os.environ.get("GNNKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".gnnkit" / "data"


def resolve_root(root) -> Path:
    if root is None:
        return default_root()
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root: expected a folder path (str or Path) or None, got {type(root).__name__}")
    return Path(root).expanduser()


def file_digest(path: Path, spec: str) -> str:
    """The digest of ``path`` in the algorithm that ``spec`` names (``sha256:`` or ``gitsha1:``)."""
    kind = spec.partition(":")[0]
    if kind == "gitsha1":
        hasher = hashlib.sha1(b"blob %d\0" % os.path.getsize(path))
    elif kind == "sha256":
        hasher = hashlib.sha256()
    else:
        raise ValueError(f"checksum spec {spec!r}: expected 'sha256:<hex>' or 'gitsha1:<hex>'")
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(_CHUNK), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def _urlopen(url: str):
    """Opens ``url`` for streaming; a seam that tests replace to serve local bytes."""
    request = urllib.request.Request(url, headers={"User-Agent": "gnnkit"})
    return urllib.request.urlopen(request, timeout=60)


def _fetch_to_temp(url: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(handle, "wb") as out, _urlopen(url) as response:
            shutil.copyfileobj(response, out, _CHUNK)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, Exception):
            raise OSError(f"download of {url} failed: {err}") from err
        raise
    return tmp


def _verify(path: Path, key: str, url: str) -> None:
    spec = CHECKSUMS.get(key)
    if spec is None:
        warnings.warn(
            f"{key}: no published checksum is known for {url}; the file was kept unverified "
            f"(sha256 {file_digest(path, 'sha256:')})",
            stacklevel=3,
        )
        return
    actual = file_digest(path, spec)
    expected = spec.partition(":")[2]
    if actual != expected:
        raise ChecksumError(
            f"{key}: checksum mismatch for {url}: expected {spec}, got {spec.partition(':')[0]}:{actual}; "
            "the download was discarded and nothing was written"
        )


def download_file(url: str, root: Path, key: str) -> Path:
    """Downloads ``url`` to ``root / key`` after checking it against ``CHECKSUMS[key]``."""
    dest = root / key
    tmp = _fetch_to_temp(url, dest.parent)
    try:
        _verify(tmp, key, url)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def download_zip_members(url: str, root: Path, folder: str, members: list[str]) -> None:
    """Downloads a zip, checks each wanted member, then moves them into ``root / folder``.

    ``members`` are paths relative to ``folder``; each is found in the archive as the entry whose
    path ends with ``<last part of folder>/<member>`` (the TU zips hold ``NAME/NAME_A.txt``, GIN's
    zip ``dataset/NAME/NAME.txt``). Missing or mismatching members abort the whole download
    before anything is moved into place.
    """
    dest_dir = root / folder
    dest_dir.mkdir(parents=True, exist_ok=True)
    leaf = Path(folder).name
    archive = _fetch_to_temp(url, dest_dir)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=dest_dir))
    try:
        if not zipfile.is_zipfile(archive):
            raise ChecksumError(f"{url}: the download is not a zip archive; nothing was written")
        with zipfile.ZipFile(archive) as zf:
            entries = {re.sub("/+", "/", info.filename): info for info in zf.infolist() if not info.is_dir()}
            found = {}
            for member in members:
                suffix = f"{leaf}/{member}"
                matches = [info for path, info in entries.items() if path == suffix or path.endswith("/" + suffix)]
                if matches:
                    found[member] = matches[0]
            missing = [m for m in members if m not in found]
            if missing:
                raise ChecksumError(f"{url}: the archive lacks {', '.join(missing)}; nothing was written")
            for member in members:
                (staging / member).parent.mkdir(parents=True, exist_ok=True)
                with zf.open(found[member]) as src, open(staging / member, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
                _verify(staging / member, f"{folder}/{member}", url)
        for member in members:
            (dest_dir / member).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / member, dest_dir / member)
    finally:
        archive.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)


def missing_files(folder: Path, names: list[str]) -> list[str]:
    return [name for name in names if not (folder / name).is_file()]


def require_files(dataset: str, folder: Path, names: list[str], hint: str = "") -> None:
    """Raises :class:`DatasetNotFoundError` naming every file of ``names`` absent from ``folder``."""
    missing = missing_files(folder, names)
    if missing:
        raise DatasetNotFoundError(
            f"{dataset}: {len(missing)} file(s) missing under {folder}: {', '.join(missing)}"
            + (f"; {hint}" if hint else "")
        )
