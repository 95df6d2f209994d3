"""Checked downloads: served from the local copies through a fake ``urlopen`` (no network).

A correct download lands in the data root and loads; a corrupted one raises ``ChecksumError``
and leaves nothing behind, not even a temporary file."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
import torch

from gnnkit.data import ChecksumError, DatasetNotFoundError, default_root, load_dataset
from gnnkit.data import _download
from gnnkit.data._checksums import CHECKSUMS
from gnnkit.data.registry import DATASETS


class _FakeServer:
    """Maps URLs to bytes; records every URL asked for."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files
        self.requested: list[str] = []

    def __call__(self, url):
        self.requested.append(url)
        if url not in self.files:
            raise OSError(f"404 {url}")
        return io.BytesIO(self.files[url])


def _all_files(folder: Path):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _cora_server(shared_datasets, corrupt: str | None = None):
    spec = DATASETS["Cora"]
    files = {}
    for name in spec.files:
        data = (shared_datasets / "Cora" / name).read_bytes()
        if name == corrupt:
            data = data[:-1] + bytes([data[-1] ^ 1])
        files[spec.urls[name]] = data
    return _FakeServer(files)


def test_download_verifies_and_loads(shared_datasets, tmp_path, monkeypatch):
    server = _cora_server(shared_datasets)
    monkeypatch.setattr(_download, "_urlopen", server)
    ds = load_dataset("Cora", root=tmp_path, download=True)
    assert ds.graph.num_nodes() == 2708 and ds.graph.num_edges() == 10556
    assert _all_files(tmp_path) == sorted(f"Cora/{f}" for f in DATASETS["Cora"].files)
    assert all(url.startswith("https://raw.githubusercontent.com/kimiyoung/planetoid/") for url in server.requested)
    # Everything present: a second call fetches nothing.
    server.requested.clear()
    load_dataset("Cora", root=tmp_path, download=True)
    assert server.requested == []


def test_checksum_mismatch_leaves_no_file(shared_datasets, tmp_path, monkeypatch):
    monkeypatch.setattr(_download, "_urlopen", _cora_server(shared_datasets, corrupt="ind.cora.x"))
    with pytest.raises(ChecksumError, match=r"Cora/ind\.cora\.x: checksum mismatch .*nothing was written"):
        load_dataset("Cora", root=tmp_path, download=True)
    files = _all_files(tmp_path)
    assert "Cora/ind.cora.x" not in files
    assert not any(".part" in f or ".download-" in f for f in files)
    # The files fetched before the bad one are complete and verified; the dataset stays unloadable.
    with pytest.raises(DatasetNotFoundError, match=r"ind\.cora\.x"):
        load_dataset("Cora", root=tmp_path)


def test_failed_transfer_leaves_no_file(tmp_path, monkeypatch):
    class Broken(io.BytesIO):
        def read(self, *args):
            raise ConnectionResetError("connection reset")

    monkeypatch.setattr(_download, "_urlopen", lambda url: Broken(b""))
    with pytest.raises(OSError, match="connection reset"):
        load_dataset("Cornell", root=tmp_path, download=True)
    assert _all_files(tmp_path) == []


def _tu_zip(shared_datasets, name, corrupt: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted((shared_datasets / name).iterdir()):
            data = path.read_bytes()
            if path.name == corrupt:
                data = data.replace(b"1", b"2", 1)
            zf.writestr(f"{name}/{path.name}", data)
    return buffer.getvalue()


def test_tu_zip_download(shared_datasets, tmp_path, monkeypatch):
    url = DATASETS["MUTAG"].zip_url
    assert url == "https://www.chrsmrrs.com/graphkerneldatasets/MUTAG.zip"
    monkeypatch.setattr(_download, "_urlopen", _FakeServer({url: _tu_zip(shared_datasets, "MUTAG")}))
    ds = load_dataset("mutag", root=tmp_path, download=True)
    assert len(ds) == 188 and torch.bincount(ds.labels).tolist() == [63, 125]
    # Only the files the reader uses are kept, and no archive or staging folder remains.
    assert _all_files(tmp_path) == sorted(f"MUTAG/{f}" for f in DATASETS["MUTAG"].files)


def test_tu_zip_with_a_bad_member_writes_nothing(shared_datasets, tmp_path, monkeypatch):
    url = DATASETS["PTC_MR"].zip_url
    bad = _tu_zip(shared_datasets, "PTC_MR", corrupt="PTC_MR_graph_labels.txt")
    monkeypatch.setattr(_download, "_urlopen", _FakeServer({url: bad}))
    with pytest.raises(ChecksumError, match="PTC_MR_graph_labels.txt: checksum mismatch"):
        load_dataset("PTC_MR", root=tmp_path, download=True)
    assert _all_files(tmp_path) == []


def test_git_blob_checksum(tmp_path):
    # The two files pinned by git blob id (no reference copy to take a SHA-256 from).
    path = tmp_path / "blob.txt"
    path.write_bytes(b"hello\n")
    # `git hash-object` of "hello\n".
    assert _download.file_digest(path, "gitsha1:") == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert CHECKSUMS["PubMed/ind.pubmed.allx"].startswith("gitsha1:")
    assert CHECKSUMS["DD/DD_A.txt"].startswith("gitsha1:")


def test_checksums_match_the_shared_copies(shared_datasets):
    # Every SHA-256 pinned for a published file equals the local copy's (PubMed's sit in -partial).
    checked = 0
    for key, spec in CHECKSUMS.items():
        if not spec.startswith("sha256:"):
            continue
        local = shared_datasets / key.replace("PubMed/", "PubMed-partial/", 1)
        if local.stat().st_size > 2_000_000:
            continue  # keep the test fast; the big ones are covered by the SHA256SUMS file itself
        assert hashlib.sha256(local.read_bytes()).hexdigest() == spec[7:], key
        checked += 1
    assert checked > 100


def test_every_registered_file_has_a_url_and_checksum():
    for spec in DATASETS.values():
        if spec.embedded:
            continue
        for name in spec.files:
            assert spec.zip_url or name in spec.urls, (spec.name, name)
            if spec.name not in ("AmazonComputers", "AmazonPhoto", "CoauthorCS", "CoauthorPhysics"):
                assert f"{spec.folder}/{name}" in CHECKSUMS, (spec.name, name)


def test_default_root(monkeypatch, tmp_path):
    monkeypatch.setenv("GNNKIT_DATA", str(tmp_path))
    assert default_root() == tmp_path
    with pytest.raises(DatasetNotFoundError, match=str(tmp_path)):
        load_dataset("MUTAG")
    monkeypatch.delenv("GNNKIT_DATA")
    assert default_root() == Path.home() / ".gnnkit" / "data"


def test_unpinned_file_downloads_with_a_warning(shared_datasets, tmp_path, monkeypatch):
    # Amazon/Coauthor npz files had no reference copy to hash: they load, with a loud warning.
    url = DATASETS["AmazonPhoto"].urls["amazon_electronics_photo.npz"]
    payload = (shared_datasets / "GNNBenchmark-npz" / "cora.npz").read_bytes()
    monkeypatch.setattr(_download, "_urlopen", _FakeServer({url: payload}))
    with pytest.warns(UserWarning, match=r"no published checksum .*\(sha256 " + hashlib.sha256(payload).hexdigest()):
        ds = load_dataset("amazonphoto", root=tmp_path, download=True)
    assert ds.name == "AmazonPhoto" and ds.graph.num_nodes() == 2708


def test_not_a_zip_is_rejected(tmp_path, monkeypatch):
    monkeypatch.setattr(_download, "_urlopen", _FakeServer({DATASETS["NCI1"].zip_url: b"<html>moved</html>"}))
    with pytest.raises(ChecksumError, match="not a zip archive"):
        load_dataset("NCI1", root=tmp_path, download=True)
    assert _all_files(tmp_path) == []


def test_gin_zip_download_picks_the_right_folder(shared_datasets, tmp_path, monkeypatch):
    # GIN's dataset.zip nests every set as dataset/NAME/...; fold files share names across sets.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in ("PTC", "MUTAG"):
            base = shared_datasets / "GINDataset" / name
            for path in sorted(base.rglob("*.txt")):
                zf.writestr(f"dataset/{name}/{path.relative_to(base).as_posix()}", path.read_bytes())
    spec = DATASETS["GIN-MUTAG"]
    monkeypatch.setattr(_download, "_urlopen", _FakeServer({spec.zip_url: buffer.getvalue()}))
    ds = load_dataset("GIN-MUTAG", root=tmp_path, download=True)
    assert len(ds) == 188 and [len(x) for x in ds.meta["folds"][0]] == [170, 18]
    assert _all_files(tmp_path) == sorted(f"GINDataset/MUTAG/{f}" for f in spec.files)
