"""Readers for the public temporal graph datasets, in their published raw formats.

* PyTorch Geometric Temporal JSON sets: Chickenpox Hungary, England COVID (edges change every
  day), Montevideo bus, PedalMe London, Twitter tennis (rg17 / uo17, one graph per step). The
  ``load_*`` functions build the same lagged signals as PyG-Temporal's loaders, so results are
  comparable with that library's examples.
* DCRNN sensor graphs (``adj_mx.pkl`` of METR-LA and PEMS-BAY) and their speed tensors
  (``metr-la.h5`` / ``pems-bay.h5``, pandas HDF5 written by DCRNN; read here with h5py and
  downloaded on request with an integrity check).
* T-GCN Los-loop (``los_speed.csv``, ``los_adj.csv``) and SZ-taxi (``SZ_taxi.npz``, ``sz_adj.csv``).

Every reader takes the folder holding the raw files (``root``) and rejects a missing or
malformed file with a message naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .propagation import GraphOperators
from .signals import DynamicGraphTemporalSignal, StaticGraphTemporalSignal

__all__ = [
    "load_chickenpox",
    "load_england_covid",
    "load_montevideo_bus",
    "load_pedalme",
    "load_twitter_tennis",
    "SensorGraph",
    "read_dcrnn_adj",
    "read_speed_h5",
    "load_metr_la",
    "load_pems_bay",
    "load_los_loop",
    "load_sz_taxi",
    "download",
    "SPEED_FILES",
]

# Published locations of the DCRNN speed tensors. Integrity: the git blob id recorded for
# metr-la.h5 in the datasets README (SHA-1 over "blob <size>\0" + bytes); pass ``sha256`` to
# :func:`download` to check a SHA-256 as well.
SPEED_FILES = {
    "metr-la.h5": {
        "url": "https://raw.githubusercontent.com/lehaifeng/T-GCN/master/data/metr-la.h5",
        "git_blob_sha1": "7df0003054d1bccd255d38949b2ef011dcadad3f",
        "sha256": None,
    },
    "pems-bay.h5": {
        "url": "https://raw.githubusercontent.com/liyaguang/DCRNN/master/data/pems-bay.h5",
        "git_blob_sha1": None,
        "sha256": None,
    },
}


def _file(root, name: str) -> Path:
    path = Path(root) / name
    if not path.is_file():
        raise FileNotFoundError(f"{name} not found in {root!s} (expected the published raw file there)")
    return path


def _json(root, name: str) -> dict:
    with open(_file(root, name)) as handle:
        return json.load(handle)


def _lagged(series: np.ndarray, lags: int):
    """PyG-Temporal's lag features: x_t = series[t : t + lags].T, y_t = series[t + lags]."""
    if not isinstance(lags, int) or lags < 1 or lags >= series.shape[0]:
        raise ValueError(f"lags must be an int in [1, {series.shape[0] - 1}], got {lags!r}")
    steps = series.shape[0] - lags
    features = np.stack([series[t : t + lags].T for t in range(steps)])
    targets = np.stack([series[t + lags] for t in range(steps)])
    return features, targets


def _standardize(values: np.ndarray) -> np.ndarray:
    return (values - values.mean(axis=0)) / (values.std(axis=0) + 1e-10)


def load_chickenpox(root, lags: int = 4) -> StaticGraphTemporalSignal:
    """Chickenpox cases in 20 Hungarian counties, weekly (``chickenpox.json``); 521 - lags steps."""
    data = _json(root, "chickenpox.json")
    series = np.asarray(data["FX"], dtype=np.float64)  # [T, N]
    edges = np.asarray(data["edges"], dtype=np.int64).T
    features, targets = _lagged(series, lags)
    return StaticGraphTemporalSignal(edges, np.ones(edges.shape[1]), features, targets)


def load_england_covid(root, lags: int = 8) -> DynamicGraphTemporalSignal:
    """England COVID cases per region with daily mobility graphs (``england_covid.json``).

    Cases are standardised per region over the whole period and the graph of day ``t`` goes
    with the window starting at ``t``, as in PyG-Temporal's ``EnglandCovidDatasetLoader``.
    """
    data = _json(root, "england_covid.json")
    series = _standardize(np.asarray(data["y"], dtype=np.float64))  # [T, N]
    features, targets = _lagged(series, lags)
    mapping = data["edge_mapping"]
    edge_indices = [np.asarray(mapping["edge_index"][str(t)], dtype=np.int64).T for t in range(features.shape[0])]
    edge_weights = [np.asarray(mapping["edge_weight"][str(t)], dtype=np.float64) for t in range(features.shape[0])]
    return DynamicGraphTemporalSignal(edge_indices, edge_weights, features, targets, num_nodes=series.shape[1])


def load_montevideo_bus(root, lags: int = 4) -> StaticGraphTemporalSignal:
    """Hourly passenger inflow at 675 Montevideo bus stops (networkx node-link JSON)."""
    data = _json(root, "montevideo_bus.json")
    node_ids = [node["bus_stop"] for node in data["nodes"]]
    index = {nid: i for i, nid in enumerate(node_ids)}
    edges = np.asarray([(index[link["source"]], index[link["target"]]) for link in data["links"]], dtype=np.int64).T
    weights = np.asarray([link["weight"] for link in data["links"]], dtype=np.float64)
    inflow = np.stack([np.asarray(node["X"]["y"], dtype=np.float64) for node in data["nodes"]]).T  # [T, N]
    target = np.stack([np.asarray(node["y"], dtype=np.float64) for node in data["nodes"]]).T
    features, _ = _lagged(_standardize(inflow), lags)
    _, targets = _lagged(_standardize(target), lags)
    return StaticGraphTemporalSignal(edges, weights, features, targets)


def load_pedalme(root, lags: int = 4) -> StaticGraphTemporalSignal:
    """PedalMe London bicycle deliveries in 15 areas, weekly (``pedalme_london.json``)."""
    data = _json(root, "pedalme_london.json")
    series = np.asarray(data["X"], dtype=np.float64)  # [T, N]
    edges = np.asarray(data["edges"], dtype=np.int64).T
    features, targets = _lagged(series, lags)
    return StaticGraphTemporalSignal(edges, np.asarray(data["weights"], dtype=np.float64), features, targets)


def _encode_tennis_features(raw: np.ndarray, degree_cutoff: int = 4) -> np.ndarray:
    # One-hot of the log-binned degree (0..cutoff) and of the transitivity decile (0..10).
    degree_bin = np.minimum(np.ceil(np.log(raw[:, 0] + 1.0)), degree_cutoff).astype(np.int64)
    trans_bin = np.floor(raw[:, 1] * 10).astype(np.int64)
    return np.concatenate([np.eye(degree_cutoff + 1)[degree_bin], np.eye(11)[trans_bin]], axis=1)


def load_twitter_tennis(root, event: str = "rg17", feature_mode: str | None = "encoded", target_offset: int = 1) -> DynamicGraphTemporalSignal:
    """Twitter mention graphs of a 2017 tennis tournament (``twitter_tennis_{event}.json``).

    ``feature_mode``: ``None`` (raw degree and transitivity), ``'encoded'`` (one-hot bins) or
    ``'diagonal'`` (identity); targets are ``log(1 + mentions)`` ``target_offset`` steps ahead.
    """
    if event not in ("rg17", "uo17"):
        raise ValueError(f"load_twitter_tennis: event must be 'rg17' or 'uo17', got {event!r}")
    if feature_mode not in (None, "encoded", "diagonal"):
        raise ValueError(f"load_twitter_tennis: feature_mode must be None, 'encoded' or 'diagonal', got {feature_mode!r}")
    data = _json(root, f"twitter_tennis_{event}.json")
    steps = int(data["time_periods"])
    edge_indices, edge_weights, features, targets = [], [], [], []
    for t in range(steps):
        snap = data[str(t)]
        edges = np.asarray(snap["edges"], dtype=np.int64).reshape(-1, 2).T
        edge_indices.append(edges)
        edge_weights.append(np.asarray(snap["weights"], dtype=np.float64))
        raw = np.asarray(snap["X"], dtype=np.float64)
        if feature_mode == "encoded":
            raw = _encode_tennis_features(raw)
        elif feature_mode == "diagonal":
            raw = np.eye(raw.shape[0])
        features.append(raw)
        future = data[str(min(t + target_offset, steps - 1))]
        targets.append(np.log1p(np.asarray(future["y"], dtype=np.float64)))
    return DynamicGraphTemporalSignal(edge_indices, edge_weights, np.stack(features), np.stack(targets))


@dataclass
class SensorGraph:
    """A traffic sensor network: ids in column order, dense adjacency, operators and speeds.

    ``speed`` is ``[T, N]`` (zeros are missing readings in METR-LA / PEMS-BAY) or ``None``.
    """

    sensor_ids: list
    adj: torch.Tensor
    speed: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return self.adj.shape[0]

    def operators(self) -> GraphOperators:
        return GraphOperators.from_dense(self.adj)


def read_dcrnn_adj(path) -> SensorGraph:
    """DCRNN's ``adj_mx.pkl`` (python-2 pickle ``[sensor_ids, id_to_index, adj]``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_dcrnn_adj: {path} does not exist")
    with open(path, "rb") as handle:
        payload = pickle.load(handle, encoding="latin1")
    if not (isinstance(payload, (list, tuple)) and len(payload) == 3):
        raise ValueError(f"read_dcrnn_adj: {path} should hold [sensor_ids, sensor_id_to_ind, adj_mx], got {type(payload).__name__}")
    sensor_ids, _, adj = payload
    adj = np.asarray(adj, dtype=np.float32)
    if adj.shape != (len(sensor_ids), len(sensor_ids)):
        raise ValueError(f"read_dcrnn_adj: adjacency shape {adj.shape} does not match {len(sensor_ids)} sensor ids")
    return SensorGraph([str(s) for s in sensor_ids], torch.from_numpy(adj))


def read_speed_h5(path):
    """A DCRNN speed file (pandas ``to_hdf`` fixed format, key ``df``) read with h5py.

    Returns ``(speed [T, N] float32, sensor ids [N] as str, timestamps [T] int64 ns)``.
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"read_speed_h5: {path} does not exist")
    with h5py.File(path, "r") as handle:
        if "df" not in handle:
            raise ValueError(f"read_speed_h5: {path} has no 'df' group (keys: {list(handle.keys())}); expected DCRNN's pandas layout")
        group = handle["df"]
        for key in ("axis0", "axis1", "block0_values"):
            if key not in group:
                raise ValueError(f"read_speed_h5: {path} lacks df/{key}; expected DCRNN's pandas layout")
        columns = [c.decode() if isinstance(c, bytes) else str(c) for c in group["axis0"][()]]
        timestamps = np.asarray(group["axis1"][()], dtype=np.int64)
        values = np.asarray(group["block0_values"][()], dtype=np.float32)
    if values.shape != (timestamps.shape[0], len(columns)):
        raise ValueError(f"read_speed_h5: values {values.shape} do not match {timestamps.shape[0]} times x {len(columns)} sensors")
    return values, columns, timestamps


def _git_blob_sha1(path: Path) -> str:
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, dest, sha256: str | None = None, git_blob_sha1: str | None = None) -> Path:
    """Downloads ``url`` to ``dest`` through a temp file; checks the digests given, then renames."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, suffix=".part")
    os.close(fd)
    tmp = Path(tmp)
    try:
        with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
        if sha256 is not None and _sha256(tmp) != sha256:
            raise ValueError(f"download: SHA-256 of {url} is {_sha256(tmp)}, expected {sha256}")
        if git_blob_sha1 is not None and _git_blob_sha1(tmp) != git_blob_sha1:
            raise ValueError(f"download: git blob id of {url} is {_git_blob_sha1(tmp)}, expected {git_blob_sha1}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def _sensor_set(root, adj_name: str, speed_name: str, download_speed: bool, sha256: str | None) -> SensorGraph:
    graph = read_dcrnn_adj(_file(root, adj_name))
    speed_path = Path(root) / speed_name
    if not speed_path.is_file() and download_speed:
        info = SPEED_FILES[speed_name]
        download(info["url"], speed_path, sha256=sha256 or info["sha256"], git_blob_sha1=info["git_blob_sha1"])
    if speed_path.is_file():
        values, columns, _ = read_speed_h5(speed_path)
        order = {sid: i for i, sid in enumerate(columns)}
        missing = [s for s in graph.sensor_ids if s not in order]
        if missing:
            raise ValueError(f"{speed_name}: sensors {missing[:5]} of {adj_name} are not columns of the speed file")
        graph.speed = torch.from_numpy(values[:, [order[s] for s in graph.sensor_ids]])
    return graph


def load_metr_la(root, download_speed: bool = False, sha256: str | None = None) -> SensorGraph:
    """METR-LA: 207 loop detectors in Los Angeles (``adj_mx.pkl`` + ``metr-la.h5`` if present or downloaded)."""
    return _sensor_set(root, "adj_mx.pkl", "metr-la.h5", download_speed, sha256)


def load_pems_bay(root, download_speed: bool = False, sha256: str | None = None) -> SensorGraph:
    """PEMS-BAY: 325 sensors in the Bay Area (``adj_mx_bay.pkl`` + ``pems-bay.h5``)."""
    return _sensor_set(root, "adj_mx_bay.pkl", "pems-bay.h5", download_speed, sha256)


def load_los_loop(root) -> SensorGraph:
    """T-GCN's Los-loop: a week of METR-LA speeds (2016 x 207, 5-minute steps) and its adjacency."""
    import pandas as pd

    speed = pd.read_csv(_file(root, "los_speed.csv"))
    adj = np.loadtxt(_file(root, "los_adj.csv"), delimiter=",", dtype=np.float32)
    if adj.shape != (speed.shape[1], speed.shape[1]):
        raise ValueError(f"load_los_loop: los_adj.csv is {adj.shape}, expected ({speed.shape[1]}, {speed.shape[1]})")
    return SensorGraph([str(c) for c in speed.columns], torch.from_numpy(adj), torch.from_numpy(speed.to_numpy(np.float32)))


def load_sz_taxi(root) -> SensorGraph:
    """SZ-taxi: 156 Shenzhen roads, 2976 fifteen-minute steps (``SZ_taxi.npz`` + ``sz_adj.csv``)."""
    with np.load(_file(root, "SZ_taxi.npz")) as archive:
        data = np.asarray(archive["data"], dtype=np.float32)
    if data.ndim == 3:
        data = data[..., 0]
    adj = np.loadtxt(_file(root, "sz_adj.csv"), delimiter=",", dtype=np.float32)
    if adj.shape != (data.shape[1], data.shape[1]):
        raise ValueError(f"load_sz_taxi: sz_adj.csv is {adj.shape}, expected ({data.shape[1]}, {data.shape[1]})")
    return SensorGraph([str(i) for i in range(data.shape[1])], torch.from_numpy(adj), torch.from_numpy(data))


def metr_la_with_los_loop_speeds(metr_root, los_root) -> SensorGraph:
    """The METR-LA graph with the Los-loop week of speeds, columns matched by sensor id."""
    graph = read_dcrnn_adj(_file(metr_root, "adj_mx.pkl"))
    los = load_los_loop(los_root)
    order = {sid: i for i, sid in enumerate(los.sensor_ids)}
    missing = [s for s in graph.sensor_ids if s not in order]
    if missing:
        raise ValueError(f"metr_la_with_los_loop_speeds: sensors {missing[:5]} are not in los_speed.csv")
    graph.speed = los.speed[:, [order[s] for s in graph.sensor_ids]]
    return graph
