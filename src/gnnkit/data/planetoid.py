"""Planetoid citation graphs (Cora, CiteSeer, PubMed) from their published raw files.

Format (Yang et al., 2016, kimiyoung/planetoid): eight Python-2 pickles ``ind.<name>.{x, y, tx,
ty, allx, ally, graph}`` and a text file ``ind.<name>.test.index``. ``allx``/``ally`` are the
features and one-hot labels of the first nodes (``x``/``y``: the labelled training prefix);
``tx``/``ty`` belong to the test nodes listed, unsorted, in ``test.index``; ``graph`` is a dict of
adjacency lists.

The result matches PyG's ``Planetoid``: features are stacked ``[allx; tx]`` and the test rows are
moved to the ids in ``test.index``; the public split is train = the first ``len(y)`` nodes, val =
the next 500, test = the ids in ``test.index``. CiteSeer's ``test.index`` has 15 gaps (isolated
papers missing from the test files): like PyG, the gaps become zero-feature nodes with label 0 in
no mask, giving 3327 nodes. Edges come from the adjacency lists with self-loops removed and
duplicates merged; the graph is stored with both directions, sorted by (dst, src) as in PyG.

``split='geom-gcn'`` uses the 10 geom-gcn 60/20/20 splits (``geom-gcn-splits/*.npz``) as
[N, 10] masks instead.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from ..graph import graph as make_graph
from ._download import require_files
from .dataset import NodeDataset, coalesce_edges

__all__ = ["read_planetoid", "planetoid_files", "geom_gcn_split_files", "PLANETOID_NAMES"]

PLANETOID_NAMES = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
_SUFFIXES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")


def planetoid_files(name: str) -> list[str]:
    return [f"ind.{name.lower()}.{suffix}" for suffix in _SUFFIXES]


def geom_gcn_split_files(name: str) -> list[str]:
    return [f"geom-gcn-splits/{name.lower()}_split_0.6_0.2_{i}.npz" for i in range(10)]


class _PlanetoidUnpickler(pickle.Unpickler):
    """Loads only the types the Planetoid pickles contain (numpy arrays, scipy CSR matrices,
    defaultdicts of lists), mapping Python-2-era module paths onto today's public ones. Anything
    else is refused, so a tampered local file cannot run code."""

    _ALLOWED = {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("collections", "defaultdict"),
        ("__builtin__", "list"),
        ("builtins", "list"),
        ("copy_reg", "_reconstructor"),
        ("__builtin__", "object"),
    }

    def find_class(self, module, name):
        if module.startswith("scipy.sparse") and name in ("csr_matrix", "csc_matrix", "coo_matrix", "lil_matrix"):
            return getattr(sp, name)
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"Planetoid file refers to {module}.{name}, which a Planetoid pickle never holds")
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)
        if module == "numpy.core.multiarray" and hasattr(np, "_core"):  # numpy >= 2 renamed numpy.core
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def _load_pickle(path: Path):
    with open(path, "rb") as handle:
        return _PlanetoidUnpickler(handle, encoding="latin1").load()


def _dense(matrix) -> np.ndarray:
    return np.asarray(matrix.todense() if sp.issparse(matrix) else matrix, dtype=np.float32)


def read_planetoid(folder, name: str, split: str = "public") -> NodeDataset:
    """Reads ``ind.<name>.*`` from ``folder``; ``split`` is ``'public'`` or ``'geom-gcn'``."""
    folder = Path(folder)
    key = name.lower()
    if key not in PLANETOID_NAMES:
        raise ValueError(f"name: expected one of {sorted(PLANETOID_NAMES.values())}, got {name!r}")
    if split not in ("public", "geom-gcn"):
        raise ValueError(f"split: expected 'public' or 'geom-gcn', got {split!r}")
    needed = planetoid_files(key) + (geom_gcn_split_files(key) if split == "geom-gcn" else [])
    require_files(PLANETOID_NAMES[key], folder, needed)

    parts = {s: _load_pickle(folder / f"ind.{key}.{s}") for s in ("x", "y", "tx", "ty", "allx", "ally", "graph")}
    test_index = np.loadtxt(folder / f"ind.{key}.test.index", dtype=np.int64).reshape(-1)
    sorted_test = np.sort(test_index)

    tx, ty = _dense(parts["tx"]), np.asarray(parts["ty"], dtype=np.float32)
    if key == "citeseer":
        # Test ids have gaps; pad so that row (id - min) of the test block belongs to node id.
        span = int(sorted_test[-1] - sorted_test[0]) + 1
        tx_full = np.zeros((span, tx.shape[1]), dtype=np.float32)
        ty_full = np.zeros((span, ty.shape[1]), dtype=np.float32)
        tx_full[sorted_test - sorted_test[0]] = tx
        ty_full[sorted_test - sorted_test[0]] = ty
        tx, ty = tx_full, ty_full

    feat = np.concatenate([_dense(parts["allx"]), tx])  # [N, F]
    onehot = np.concatenate([np.asarray(parts["ally"], dtype=np.float32), ty])  # [N, C]
    label = onehot.argmax(1)
    # The test rows are stored in sorted-id order; move them to the ids they belong to.
    feat[test_index] = feat[sorted_test]
    label[test_index] = label[sorted_test]
    num_nodes = feat.shape[0]

    adjacency = parts["graph"]
    src = np.repeat(np.fromiter(adjacency.keys(), dtype=np.int64, count=len(adjacency)), [len(v) for v in adjacency.values()])
    dst = np.fromiter((n for v in adjacency.values() for n in v), dtype=np.int64)
    # Sorted by destination, as PyG's Planetoid does; the aggregation CSR then needs no permutation.
    src, dst, _ = coalesce_edges(src, dst, num_nodes, by_dst=True)

    g = make_graph((torch.from_numpy(src), torch.from_numpy(dst)), num_nodes=num_nodes)
    g.ndata["feat"] = torch.from_numpy(feat)
    g.ndata["label"] = torch.from_numpy(label.astype(np.int64))
    if split == "public":
        num_train = np.asarray(parts["y"]).shape[0]
        for mask_name, ids in (
            ("train_mask", np.arange(num_train)),
            ("val_mask", np.arange(num_train, num_train + 500)),
            ("test_mask", sorted_test),
        ):
            mask = torch.zeros(num_nodes, dtype=torch.bool)
            mask[torch.from_numpy(ids)] = True
            g.ndata[mask_name] = mask
    else:
        masks = _read_geom_gcn_splits([folder / f for f in geom_gcn_split_files(key)], num_nodes)
        g.ndata.update(masks)
    meta = {"format": "Planetoid", "split": split}
    return NodeDataset(PLANETOID_NAMES[key], g, num_classes=onehot.shape[1], meta=meta)


def _read_geom_gcn_splits(paths: list[Path], num_nodes: int) -> dict[str, torch.Tensor]:
    """Stacks geom-gcn split files (``train_mask``/``val_mask``/``test_mask`` arrays) into [N, S] masks."""
    columns: dict[str, list[np.ndarray]] = {"train_mask": [], "val_mask": [], "test_mask": []}
    for path in paths:
        with np.load(path) as npz:
            for mask_name in columns:
                column = np.asarray(npz[mask_name]).astype(bool)
                if column.shape != (num_nodes,):
                    raise ValueError(f"{path}: {mask_name} has shape {column.shape}, expected ({num_nodes},)")
                columns[mask_name].append(column)
    return {k: torch.from_numpy(np.stack(v, axis=1)) for k, v in columns.items()}
