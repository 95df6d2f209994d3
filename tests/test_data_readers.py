"""Dataset readers against the verified counts of ../shared/datasets/README.md, and against PyG
2.8 (when installed) for the exact tensors."""

import shutil

import numpy as np
import pytest
import torch

import gnnkit as gk
from gnnkit.data import (
    DatasetNotFoundError,
    GraphDataset,
    NodeDataset,
    dataset_info,
    load_dataset,
    read_planetoid,
)


def _edge_pairs(g):
    src, dst = g.edges()
    return torch.stack([src, dst])


def _is_symmetric(g):
    src, dst = g.edges()
    n = g.num_nodes()
    return bool(torch.isin(dst * n + src, src * n + dst).all())


def _mask_sizes(ds, split=0):
    return tuple(int(m.sum()) for m in ds.split(split))


# ----------------------------------------------------------------------------------------------
# Planetoid


@pytest.mark.parametrize(
    "name, nodes, edges, feats, classes, masks, geom_split0",
    [
        ("Cora", 2708, 10556, 1433, 7, (140, 500, 1000), (1192, 796, 497)),
        ("CiteSeer", 3327, 9104, 3703, 6, (120, 500, 1000), (1596, 1065, 666)),
    ],
)
def test_planetoid_counts(shared_datasets, name, nodes, edges, feats, classes, masks, geom_split0):
    ds = load_dataset(name.lower(), root=shared_datasets)
    g = ds.graph
    assert isinstance(ds, NodeDataset) and ds.name == name
    assert (g.num_nodes(), g.num_edges(), ds.num_features, ds.num_classes) == (nodes, edges, feats, classes)
    assert g.ndata["feat"].shape == (nodes, feats) and g.ndata["feat"].dtype == torch.float32
    assert g.ndata["label"].dtype == torch.int64 and int(g.ndata["label"].max()) == classes - 1
    assert _mask_sizes(ds) == masks and ds.num_splits == 1
    train, val, test = ds.split(0)
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    src, dst = g.edges()
    assert not bool((src == dst).any()) and _is_symmetric(g)
    # Sorted by (dst, src) as in PyG, no duplicates.
    key = dst * nodes + src
    assert bool((key[1:] > key[:-1]).all())

    geom = load_dataset(name, root=shared_datasets, split="geom-gcn")
    assert geom.num_splits == 10 and geom.graph.ndata["train_mask"].shape == (nodes, 10)
    assert _mask_sizes(geom, 0) == geom_split0


def test_cora_facts(shared_datasets):
    g = load_dataset("Cora", root=shared_datasets).graph
    degree = g.in_degrees() + g.out_degrees()
    assert int((degree == 0).sum()) == 0
    # The public split trains on the first 140 nodes and validates on the next 500.
    assert g.ndata["train_mask"][:140].all() and not g.ndata["train_mask"][140:].any()
    assert g.ndata["val_mask"][140:640].all()
    assert int(g.ndata["test_mask"][1708:].sum()) == 1000


def test_citeseer_isolated_padding(shared_datasets):
    g = load_dataset("CiteSeer", root=shared_datasets).graph
    test_index = np.loadtxt(shared_datasets / "CiteSeer" / "ind.citeseer.test.index", dtype=np.int64)
    missing = np.setdiff1d(np.arange(test_index.min(), test_index.max() + 1), test_index)
    assert missing.size == 15  # 3327 = 3312 + 15 padded nodes
    pad = torch.from_numpy(missing)
    assert float(g.ndata["feat"][pad].abs().sum()) == 0.0
    assert not g.ndata["test_mask"][pad].any() and not g.ndata["train_mask"][pad].any()
    assert int(((g.in_degrees() + g.out_degrees()) == 0).sum()) > 0  # CiteSeer has isolated nodes


def test_pubmed_missing_allx_is_named(shared_datasets, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"ind\.pubmed\.allx"):
        read_planetoid(shared_datasets / "PubMed-partial", "PubMed")
    # Through the registry: a root whose PubMed folder has the 7 published files.
    (tmp_path / "PubMed").mkdir()
    for f in (shared_datasets / "PubMed-partial").glob("ind.pubmed.*"):
        (tmp_path / "PubMed" / f.name).symlink_to(f)
    with pytest.raises(DatasetNotFoundError, match=r"1 file\(s\) missing under .*: ind\.pubmed\.allx;"):
        load_dataset("PubMed", root=tmp_path)


def test_missing_root_and_unknown_name(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="ind.cora.x"):
        load_dataset("Cora", root=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'Coraa'"):
        load_dataset("Coraa", root=tmp_path)
    with pytest.raises(TypeError, match="takes no option"):
        load_dataset("KarateClub", bogus=1)
    with pytest.raises(TypeError, match="takes no option"):
        load_dataset("Cora", root=tmp_path, use_node_attr=True)


# ----------------------------------------------------------------------------------------------
# TU datasets (README table: graphs, nodes, directed edges, features, classes and their counts)

TU_EXPECTED = {
    "MUTAG": (188, 3371, 7442, 7, [63, 125], 4),
    "PROTEINS": (1113, 43471, 162088, 3, [663, 450], 0),
    "ENZYMES": (600, 19580, 74564, 3, [100] * 6, 0),
    "NCI1": (4110, 122747, 265506, 37, [2053, 2057], 0),
    "IMDB-BINARY": (1000, 19773, 193062, None, [500, 500], 0),
    "IMDB-MULTI": (1500, 19502, 197806, None, [500, 500, 500], 0),
    "PTC_MR": (344, 4915, 10108, 18, [192, 152], 4),
    "AIDS": (2000, 31385, 64780, 38, [400, 1600], 3),
    "FIRSTMM_DB": (41, 56468, 252048, None, None, 0),
}


def _tu_totals(ds):
    return sum(g.num_nodes() for g, _ in ds), sum(g.num_edges() for g, _ in ds)


@pytest.mark.parametrize("name", list(TU_EXPECTED))
def test_tu_counts(shared_datasets, name):
    graphs, nodes, edges, feats, balance, edge_feats = TU_EXPECTED[name]
    ds = load_dataset(name, root=shared_datasets)
    assert isinstance(ds, GraphDataset) and len(ds) == graphs
    assert _tu_totals(ds) == (nodes, edges)
    if feats is not None:
        assert ds.num_features == feats
    if balance is not None:
        assert torch.bincount(ds.labels).tolist() == balance
    assert ds.num_edge_features == edge_feats
    g, label = ds[0]
    assert g.ndata["feat"].shape == (g.num_nodes(), ds.num_features)
    assert label.dtype == torch.int64 and label.dim() == 0
    assert bool((g.ndata["feat"].sum(1) >= 1).all())  # every node has a one-hot label or degree
    for g, _ in list(ds)[:50]:
        src, dst = g.edges()
        assert not bool((src == dst).any())


def test_tu_details(shared_datasets):
    protein_attr = load_dataset("PROTEINS", root=shared_datasets, use_node_attr=True)
    assert protein_attr.num_features == 4
    enzymes_attr = load_dataset("ENZYMES", root=shared_datasets, use_node_attr=True)
    assert enzymes_attr.num_features == 21
    assert enzymes_attr.meta["num_node_attributes"] == 18
    # Attributes come first, then the one-hot labels (PyG's order).
    first = enzymes_attr[0][0].ndata["feat"]
    assert torch.allclose(first[0, :3], torch.tensor([11.0, 15.887014, 37.78]))
    assert torch.equal(first[:, 18:], load_dataset("ENZYMES", root=shared_datasets)[0][0].ndata["feat"])
    sizes = [g.num_nodes() for g, _ in enzymes_attr]
    assert (min(sizes), max(sizes)) == (2, 126)

    mutag = load_dataset("MUTAG", root=shared_datasets)
    assert mutag.meta["raw_class_values"] == [-1, 1]
    # IMDB lists every edge twice; the reader keeps one copy and gives one-hot degree features.
    imdb = load_dataset("IMDB-BINARY", root=shared_datasets)
    g = imdb[0][0]
    assert torch.equal(g.ndata["feat"].argmax(1), g.in_degrees())
    assert "degree" in imdb.meta["feature_source"]
    fm = load_dataset("FIRSTMM_DB", root=shared_datasets, use_edge_attr=True)
    assert fm.num_classes == 11 and fm.num_edge_features == 2
    sizes = [g.num_nodes() for g, _ in fm]
    assert (min(sizes), max(sizes)) == (134, 5037)


def test_dd_once(shared_datasets):
    ds = load_dataset("DD", root=shared_datasets)
    assert len(ds) == 1178 and ds.num_features == 89
    assert _tu_totals(ds) == (334925, 1686092)
    assert torch.bincount(ds.labels).tolist() == [691, 487]
    sizes = torch.tensor([g.num_nodes() for g, _ in ds])
    assert int(((sizes >= 100) & (sizes <= 500)).sum()) == 918
    assert (int(sizes.min()), int(sizes.max())) == (30, 5748)


def test_graph_dataset_indexing(shared_datasets):
    ds = load_dataset("MUTAG", root=shared_datasets)
    sub = ds[torch.tensor([3, 1, 4])]
    assert isinstance(sub, GraphDataset) and len(sub) == 3 and sub.graphs[0] is ds.graphs[3]
    assert torch.equal(sub.labels, ds.labels[[3, 1, 4]])
    assert len(ds[:10]) == 10 and len(ds[ds.labels == 0]) == 63
    with pytest.raises(IndexError, match="bool mask"):
        ds[torch.ones(5, dtype=torch.bool)]


# ----------------------------------------------------------------------------------------------
# geom-gcn WebKB / Actor, Shchur npz, Karate


@pytest.mark.parametrize(
    "name, nodes, edges, split0",
    [("Cornell", 183, 298, (87, 59, 37)), ("Texas", 183, 325, None), ("Wisconsin", 251, 515, (120, 80, 51))],
)
def test_webkb_counts(shared_datasets, name, nodes, edges, split0):
    ds = load_dataset(name, root=shared_datasets)
    g = ds.graph
    assert (g.num_nodes(), g.num_edges(), ds.num_features, ds.num_classes) == (nodes, edges, 1703, 5)
    assert ds.num_splits == 10 and g.ndata["val_mask"].shape == (nodes, 10)
    if split0:
        assert _mask_sizes(ds, 0) == split0
    if name in ("Cornell", "Texas"):
        assert torch.bincount(g.ndata["label"]).tolist() == [33, 1, 18, 101, 30]


def test_actor_counts(shared_datasets):
    ds = load_dataset("Actor", root=shared_datasets)
    g = ds.graph
    assert (g.num_nodes(), g.num_edges(), ds.num_features, ds.num_classes) == (7600, 30019, 932, 5)
    assert _mask_sizes(ds, 0) == (3648, 2432, 1520)
    assert load_dataset("film", root=shared_datasets).name == "Actor"


@pytest.mark.parametrize("name, nodes, edges, feats, classes", [("cora_npz", 2708, 10556, 1433, 7), ("citeseer_npz", 3312, 9072, 3703, 6)])
def test_npz_counts(shared_datasets, name, nodes, edges, feats, classes):
    ds = load_dataset(name, root=shared_datasets)
    g = ds.graph
    assert (g.num_nodes(), g.num_edges(), ds.num_features, ds.num_classes) == (nodes, edges, feats, classes)
    assert _is_symmetric(g)
    assert _mask_sizes(ds) == (20 * classes, 500, 1000)
    train = g.ndata["train_mask"]
    assert torch.bincount(g.ndata["label"][train]).tolist() == [20] * classes
    again = load_dataset(name, root=shared_datasets)
    assert torch.equal(again.graph.ndata["train_mask"], train)  # the split is seeded


def test_karate_club_is_networkx_graph():
    nx = pytest.importorskip("networkx")
    ds = load_dataset("KarateClub")
    g = ds.graph
    assert (g.num_nodes(), g.num_edges(), ds.num_classes, ds.num_features) == (34, 156, 2, 34)
    ref = nx.karate_club_graph()
    src, dst = g.edges()
    ours = {(int(u), int(v)) for u, v in zip(src, dst)}
    assert ours == {(u, v) for u, v in ref.edges()} | {(v, u) for u, v in ref.edges()}
    clubs = [ref.nodes[v]["club"] for v in range(34)]
    assert g.ndata["label"].tolist() == [0 if c == "Mr. Hi" else 1 for c in clubs]
    assert torch.bincount(g.ndata["label"]).tolist() == [17, 17]
    assert _mask_sizes(ds) == (6, 8, 20)
    assert g.ndata["train_mask"][[0, 33]].all()
    assert float(g.edata["weight"].sum()) == 2 * sum(d["weight"] for _, _, d in ref.edges(data=True))


def test_dataset_info(shared_datasets):
    info = dataset_info("cora", root=shared_datasets)
    assert info["num_nodes"] == 2708 and info["split_sizes"] == {"train": 140, "val": 500, "test": 1000}
    assert info["undirected"] and info["self_loops"] == 0 and info["isolated_nodes"] == 0
    info = dataset_info("PROTEINS", root=shared_datasets)
    assert info["num_graphs"] == 1113 and info["class_counts"] == [663, 450]
    assert info["nodes_per_graph"] == {"min": 4, "max": 620, "mean": 39.06}


# ----------------------------------------------------------------------------------------------
# Cross-checks against PyG's own readers, run on a temporary copy of the raw files


@pytest.fixture(scope="module")
def pyg():
    return pytest.importorskip("torch_geometric.datasets")


def _copy(files, dest):
    dest.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy(f, dest / f.name)


def _assert_same_graph(ours: "gk.Graph", edge_index, x):
    assert torch.equal(_edge_pairs(ours), edge_index)
    assert torch.equal(ours.ndata["feat"], x.to(torch.float32))


@pytest.mark.parametrize("name", ["Cora", "CiteSeer"])
def test_planetoid_matches_pyg(shared_datasets, tmp_path, pyg, name):
    _copy(sorted((shared_datasets / name).glob("ind.*")), tmp_path / name / "raw")
    ref = pyg.Planetoid(str(tmp_path), name)[0]
    g = load_dataset(name, root=shared_datasets).graph
    _assert_same_graph(g, ref.edge_index, ref.x)
    assert torch.equal(g.ndata["label"], ref.y)
    for mask in ("train_mask", "val_mask", "test_mask"):
        assert torch.equal(g.ndata[mask], ref[mask])


@pytest.mark.parametrize("name, use_node_attr", [("MUTAG", False), ("ENZYMES", True), ("PTC_MR", False)])
def test_tu_matches_pyg(shared_datasets, tmp_path, pyg, name, use_node_attr):
    _copy(sorted((shared_datasets / name).glob(f"{name}_*.txt")), tmp_path / name / "raw")
    ref = pyg.TUDataset(str(tmp_path), name, use_node_attr=use_node_attr)
    ds = load_dataset(name, root=shared_datasets, use_node_attr=use_node_attr)
    assert len(ds) == len(ref)
    assert torch.equal(ds.labels, ref.y)
    for i in (0, 1, len(ds) // 2, len(ds) - 1):
        g, _ = ds[i]
        assert torch.equal(_edge_pairs(g), ref[i].edge_index)
        if ref.num_node_features:
            assert torch.equal(g.ndata["feat"], ref[i].x)
        if ref[i].edge_attr is not None:
            assert torch.equal(g.edata["feat"], ref[i].edge_attr)


def test_geom_gcn_matches_pyg(shared_datasets, tmp_path, pyg):
    _copy(sorted((shared_datasets / "WebKB" / "Cornell").iterdir()), tmp_path / "cornell" / "raw")
    ref = pyg.WebKB(str(tmp_path), "Cornell")[0]
    g = load_dataset("Cornell", root=shared_datasets).graph
    _assert_same_graph(g, ref.edge_index, ref.x)
    assert torch.equal(g.ndata["train_mask"], ref.train_mask)
    _copy(sorted((shared_datasets / "Actor").iterdir()), tmp_path / "actor" / "raw")
    ref = pyg.Actor(str(tmp_path / "actor"))[0]
    g = load_dataset("Actor", root=shared_datasets).graph
    _assert_same_graph(g, ref.edge_index, ref.x)
    assert torch.equal(g.ndata["label"], ref.y) and torch.equal(g.ndata["test_mask"], ref.test_mask)


def test_npz_matches_pyg(shared_datasets, pyg):
    read_npz = pytest.importorskip("torch_geometric.io").read_npz
    ref = read_npz(str(shared_datasets / "GNNBenchmark-npz" / "cora.npz"))
    g = load_dataset("cora_npz", root=shared_datasets).graph
    _assert_same_graph(g, ref.edge_index, ref.x)
    assert torch.equal(g.ndata["label"], ref.y)


def test_planetoid_pickles_cannot_run_code(tmp_path, shared_datasets):
    import os
    import pickle

    for f in (shared_datasets / "Cora").glob("ind.cora.*"):
        (tmp_path / f.name).symlink_to(f)
    (tmp_path / "ind.cora.x").unlink()
    (tmp_path / "ind.cora.x").write_bytes(pickle.dumps(os.getcwd, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="never holds"):
        read_planetoid(tmp_path, "Cora")


# ----------------------------------------------------------------------------------------------
# GIN text format (README: graphs / nodes / adjacency entries; MUTAG fold 1 is 170/18)

GIN_EXPECTED = {
    "MUTAG": (188, 3371, 7442, [63, 125]),
    "PTC": (344, 8792, 17862, [192, 152]),
    "NCI1": (4110, 122747, 265506, [2053, 2057]),
    "PROTEINS": (1113, 43471, 162088, [663, 450]),
    "IMDBBINARY": (1000, 19773, 193062, [500, 500]),
    "IMDBMULTI": (1500, 19502, 197806, [500, 500, 500]),
}


@pytest.mark.parametrize("name", ["MUTAG", "PTC", "PROTEINS", "IMDBMULTI"])
def test_gin_counts(shared_datasets, name):
    graphs, nodes, edges, balance = GIN_EXPECTED[name]
    ds = load_dataset(f"gin-{name}", root=shared_datasets)
    assert ds.name == f"GIN-{name}" and len(ds) == graphs
    assert _tu_totals(ds) == (nodes, edges)
    assert torch.bincount(ds.labels).tolist() == balance
    folds = ds.meta["folds"]
    assert len(folds) == 10
    for train, test in folds:
        assert train.numel() + test.numel() == graphs and not bool(torch.isin(train, test).any())
    # The published test folds are disjoint; they need not cover every graph (MUTAG: 10 x 18 of 188).
    tests = torch.cat([test for _, test in folds])
    assert torch.unique(tests).numel() == tests.numel() and int(tests.max()) < graphs
    if name == "MUTAG":
        assert ds.meta["raw_class_values"] == [0, 2] and [len(x) for x in folds[0]] == [170, 18]
    if name == "PTC":
        assert ds.num_features == 19  # GIN's PTC keeps hydrogens, unlike TU PTC_MR (18 labels)


def test_gin_agrees_with_tu(shared_datasets):
    gin = load_dataset("GIN-PROTEINS", root=shared_datasets)
    tu = load_dataset("PROTEINS", root=shared_datasets)
    assert torch.equal(gin.labels, tu.labels)
    gin_tags, tu_tags = [], []
    for i in (0, 500, 1112):
        assert torch.equal(_edge_pairs(gin[i][0]), _edge_pairs(tu[i][0]))
        gin_tags += gin[i][0].ndata["feat"].argmax(1).tolist()
        tu_tags += tu[i][0].ndata["feat"].argmax(1).tolist()
    # Tags are numbered by first appearance, TU labels by value: a one-to-one renaming.
    assert len(set(zip(gin_tags, tu_tags))) == len(set(gin_tags)) == len(set(tu_tags)) == 3
    mutag_gin = load_dataset("GIN-MUTAG", root=shared_datasets)
    mutag_tu = load_dataset("MUTAG", root=shared_datasets)
    assert sorted((g.num_nodes(), g.num_edges(), int(y)) for g, y in mutag_gin) == sorted(
        (g.num_nodes(), g.num_edges(), int(y)) for g, y in mutag_tu
    )
    imdb = load_dataset("GIN-IMDBBINARY", root=shared_datasets, degree_as_tag=True)
    g = imdb[3][0]
    assert torch.equal(g.ndata["feat"].argmax(1), g.in_degrees()) and imdb.num_features == 136
