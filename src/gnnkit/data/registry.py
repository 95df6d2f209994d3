"""The dataset registry: names -> readers, canonical URLs, ``load_dataset`` and ``dataset_info``.

Every dataset has a folder under the data root (see :mod:`gnnkit.data._download`) laid out as
its files are published. ``load_dataset(name, root, download=True)`` fetches missing files from
the canonical URL (pinned to a commit where the host is a git repository) and checks each one
against :data:`gnnkit.data._checksums.CHECKSUMS` before it is moved into place.

What is verified: every file a reader parses. TU datasets come as zips from the TU Dortmund
server, which publishes no checksum for the zip; the reader's members are checked after
extraction instead. Amazon/Coauthor npz files had no reference copy to hash: they download with
a warning that prints their SHA-256 instead of a check.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ._download import DatasetNotFoundError, download_file, download_zip_members, missing_files, resolve_root
from .dataset import Dataset, GraphDataset, NodeDataset
from .gin import GIN_NAMES, gin_files, read_gin
from .geomgcn import WEBKB_NAMES, actor_files, read_actor, read_webkb, webkb_files
from .karate import karate_club
from .npz import NPZ_FILES, read_npz
from .planetoid import PLANETOID_NAMES, geom_gcn_split_files, planetoid_files, read_planetoid
from .tu import TU_NAMES, read_tu, tu_files

__all__ = ["DatasetSpec", "DATASETS", "load_dataset", "dataset_info", "list_datasets", "get_spec"]

PLANETOID_URL = "https://raw.githubusercontent.com/kimiyoung/planetoid/af6abf468a772cc055bec88c52e4d6f51b7c37e3/data"
GEOM_GCN_URL = "https://raw.githubusercontent.com/graphdml-uiuc-jlu/geom-gcn/f1fc0d14b3b019c562737240d06ec83b07d16a8f"
NPZ_URL = "https://raw.githubusercontent.com/shchur/gnn-benchmark/1e72912a0810cdf27ae54fd589a3b43358a2b161/data/npz"
TU_URL = "https://www.chrsmrrs.com/graphkerneldatasets"
GIN_URL = "https://raw.githubusercontent.com/weihua916/powerful-gnns/master/dataset.zip"


@dataclass(frozen=True)
class DatasetSpec:
    """How to find, fetch and read one dataset.

    ``folder``: its folder under the root ('' for embedded sets); ``files``: the files the reader
    needs there; ``urls``: file -> URL for single-file downloads; ``zip_url``: an archive holding
    all ``files`` instead; ``read``: ``read(folder_path, **options) -> Dataset``.
    """

    name: str
    kind: str
    format: str
    folder: str
    files: tuple[str, ...]
    read: Callable[..., Dataset]
    urls: dict = field(default_factory=dict)
    zip_url: str | None = None
    optional_files: dict = field(default_factory=dict)

    @property
    def embedded(self) -> bool:
        return not self.files

    def missing(self, root: Path, options: dict | None = None) -> list[str]:
        return missing_files(root / self.folder, list(self.files) + self._extra(options))

    def _extra(self, options: dict | None) -> list[str]:
        # Files needed only with some reader options (Planetoid's geom-gcn splits).
        options = options or {}
        return [f for key, value in options.items() for f in self.optional_files.get((key, value), ())]

    def fetch(self, root: Path, options: dict | None = None) -> None:
        """Downloads whatever is missing; every file is checksummed before it becomes visible."""
        wanted = self.missing(root, options)
        if not wanted:
            return
        if self.zip_url is not None:
            download_zip_members(self.zip_url, root, self.folder, list(self.files))
            return
        for name in wanted:
            download_file(self.urls[name], root, f"{self.folder}/{name}")

    def __call__(self, root=None, download: bool = False, **options) -> Dataset:
        return load_dataset(self.name, root=root, download=download, **options)


def _planetoid_spec(key: str) -> DatasetSpec:
    name = PLANETOID_NAMES[key]
    files = tuple(planetoid_files(key))
    splits = tuple(geom_gcn_split_files(key))
    urls = {f: f"{PLANETOID_URL}/{f}" for f in files}
    urls.update({f: f"{GEOM_GCN_URL}/splits/{Path(f).name}" for f in splits})
    return DatasetSpec(
        name, "node", "Planetoid (ind.*)", name, files,
        lambda folder, split="public": read_planetoid(folder, name, split=split),
        urls=urls, optional_files={("split", "geom-gcn"): splits},
    )


def _tu_spec(name: str) -> DatasetSpec:
    return DatasetSpec(
        name, "graph", "TUDataset text", name, tuple(tu_files(name)),
        lambda folder, use_node_attr=False, use_edge_attr=False: read_tu(folder, name, use_node_attr, use_edge_attr),
        zip_url=f"{TU_URL}/{name}.zip",
    )


def _gin_spec(name: str) -> DatasetSpec:
    return DatasetSpec(
        f"GIN-{name}", "graph", "GIN text (+10 folds)", f"GINDataset/{name}", tuple(gin_files(name)),
        lambda folder, degree_as_tag=False: read_gin(folder, name, degree_as_tag),
        zip_url=GIN_URL,
    )


def _webkb_spec(key: str) -> DatasetSpec:
    name = WEBKB_NAMES[key]
    files = tuple(webkb_files(key))
    urls = {f: f"{GEOM_GCN_URL}/new_data/{key}/{f}" for f in files[:2]}
    urls.update({f: f"{GEOM_GCN_URL}/splits/{f}" for f in files[2:]})
    return DatasetSpec(name, "node", "geom-gcn WebKB", f"WebKB/{name}", files, lambda folder: read_webkb(folder, name), urls=urls)


def _actor_spec() -> DatasetSpec:
    files = tuple(actor_files())
    urls = {f: f"{GEOM_GCN_URL}/new_data/film/{f}" for f in files[:2]}
    urls.update({f: f"{GEOM_GCN_URL}/splits/{f}" for f in files[2:]})
    return DatasetSpec("Actor", "node", "geom-gcn Actor", "Actor", files, read_actor, urls=urls)


def _npz_spec(key: str) -> DatasetSpec:
    name, filename = NPZ_FILES[key]
    return DatasetSpec(
        name, "node", "gnn-benchmark npz", "GNNBenchmark-npz", (filename,),
        lambda folder, split_seed=0: read_npz(Path(folder) / filename, name, split_seed=split_seed),
        urls={filename: f"{NPZ_URL}/{filename}"},
    )


def _karate_spec() -> DatasetSpec:
    return DatasetSpec("KarateClub", "node", "embedded (networkx)", "", (), lambda folder: karate_club())


def _build_registry() -> dict[str, DatasetSpec]:
    specs = [_karate_spec()]
    specs += [_planetoid_spec(k) for k in PLANETOID_NAMES]
    specs += [_webkb_spec(k) for k in WEBKB_NAMES] + [_actor_spec()]
    specs += [_npz_spec(k) for k in NPZ_FILES]
    specs += [_tu_spec(n) for n in TU_NAMES]
    specs += [_gin_spec(n) for n in GIN_NAMES]
    return {spec.name: spec for spec in specs}


DATASETS: dict[str, DatasetSpec] = _build_registry()
_BY_KEY = {name.lower(): name for name in DATASETS}
_BY_KEY.update({"film": "Actor", "karate": "KarateClub", "karate_club": "KarateClub"})


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name`` (case-insensitive); a ``ValueError`` lists the known names."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name (str), got {type(name).__name__}")
    key = _BY_KEY.get(name.lower())
    if key is None:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return DATASETS[key]


def load_dataset(name: str, root=None, download: bool = False, **options) -> Dataset:
    """Loads dataset ``name`` (case-insensitive) from ``root`` (default ``$GNNKIT_DATA`` or
    ``~/.gnnkit/data``); with ``download=True`` missing files are fetched and checksummed first.

    ``options`` go to the reader: ``split='public'|'geom-gcn'`` (Planetoid),
    ``use_node_attr``/``use_edge_attr`` (TU), ``split_seed`` (npz sets), ``degree_as_tag``
    (GIN-format sets).
    """
    spec = get_spec(name)
    accepted = list(inspect.signature(spec.read).parameters)[1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(f"load_dataset: {spec.name} takes no option(s) {unknown}; its options are {accepted or 'none'}")
    root_path = resolve_root(root)
    if spec.embedded:
        return spec.read(None, **options)
    if download:
        spec.fetch(root_path, options)
    missing = spec.missing(root_path, options)
    if missing:
        raise DatasetNotFoundError(
            f"{spec.name}: {len(missing)} file(s) missing under {root_path / spec.folder}: {', '.join(missing)}; "
            "pass download=True (--download) to fetch them, or point root (--root) at a folder that has them"
        )
    return spec.read(root_path / spec.folder, **options)


def list_datasets(root=None) -> list[dict]:
    """One row per registered dataset: name, kind, format and where it stands under ``root``."""
    root_path = resolve_root(root)
    rows = []
    for spec in DATASETS.values():
        if spec.embedded:
            status = "embedded"
        else:
            missing = spec.missing(root_path)
            status = "found" if not missing else ("partial" if len(missing) < len(spec.files) else "not found")
        rows.append({"name": spec.name, "kind": spec.kind, "format": spec.format, "folder": spec.folder, "status": status})
    return rows


def dataset_info(name: str, root=None, download: bool = False, **options) -> dict:
    """Statistics of a dataset: sizes, features, classes and balance, splits (node sets) or
    per-graph sizes (graph sets)."""
    dataset = load_dataset(name, root=root, download=download, **options)
    info = {"name": dataset.name, "kind": dataset.kind, **{k: v for k, v in dataset.meta.items() if k in ("format", "split", "feature_source")}}
    if isinstance(dataset, NodeDataset):
        info.update(_node_stats(dataset))
    elif isinstance(dataset, GraphDataset):
        info.update(_graph_stats(dataset))
    return info


def _node_stats(dataset: NodeDataset) -> dict:
    g = dataset.graph
    src, dst = g.edges()
    n = g.num_nodes()
    degree = torch.bincount(torch.cat([src, dst]), minlength=n)
    key = src * n + dst
    reverse_key = dst * n + src
    stats = {
        "num_nodes": n,
        "num_edges": g.num_edges(),
        "num_features": dataset.num_features,
        "num_classes": dataset.num_classes,
        "class_counts": torch.bincount(g.ndata["label"], minlength=dataset.num_classes).tolist(),
        "avg_degree": round(g.num_edges() / max(n, 1), 3),
        "self_loops": int((src == dst).sum()),
        "isolated_nodes": int((degree == 0).sum()),
        "undirected": bool(torch.isin(reverse_key, key).all()),
        "num_splits": dataset.num_splits,
    }
    if dataset.num_splits:
        train, val, test = dataset.split(0)
        stats["split_sizes"] = {"train": int(train.sum()), "val": int(val.sum()), "test": int(test.sum())}
    return stats


def _graph_stats(dataset: GraphDataset) -> dict:
    nodes = torch.tensor([g.num_nodes() for g in dataset.graphs], dtype=torch.float64)
    edges = torch.tensor([g.num_edges() for g in dataset.graphs], dtype=torch.float64)
    return {
        "num_graphs": len(dataset),
        "num_nodes": int(nodes.sum()),
        "num_edges": int(edges.sum()),
        "nodes_per_graph": {"min": int(nodes.min()), "max": int(nodes.max()), "mean": round(float(nodes.mean()), 2)},
        "edges_per_graph_mean": round(float(edges.mean()), 2),
        "num_features": dataset.num_features,
        "num_edge_features": dataset.num_edge_features,
        "num_classes": dataset.num_classes,
        "class_counts": torch.bincount(dataset.labels, minlength=dataset.num_classes).tolist(),
    }
