"""GraphDataLoader batching and stratified k-fold splitting."""

import pytest
import torch

import gnnkit as gk
from gnnkit.data import GraphDataLoader, GraphDataset, kfold_train_val_test, load_dataset, stratified_kfold
from gnnkit.data.synthetic import erdos_renyi


def _toy_dataset(num_graphs=10):
    graphs, labels = [], []
    for i in range(num_graphs):
        g = erdos_renyi(3 + i, p=0.5, seed=i)
        g.ndata["feat"] = torch.full((g.num_nodes(), 2), float(i))
        graphs.append(g)
        labels.append(i % 3)
    return GraphDataset("toy", graphs, torch.tensor(labels))


def test_loader_batches_in_order():
    ds = _toy_dataset(10)
    loader = GraphDataLoader(ds, batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and [bg.batch_size for bg, _ in batches] == [4, 4, 2]
    bg, labels = batches[0]
    assert torch.equal(labels, ds.labels[:4])
    assert bg.batch_num_nodes().tolist() == [3, 4, 5, 6]
    assert bg.num_nodes() == 18 and bg.num_edges() == sum(ds.graphs[i].num_edges() for i in range(4))
    # Node features are concatenated in order and graph ids point back to the member graph.
    assert torch.equal(bg.ndata["feat"][:, 0], bg.node_graph_ids().float())
    # Edges stay inside their member graph.
    src, dst = bg.edges()
    assert torch.equal(bg.node_graph_ids()[src], bg.node_graph_ids()[dst])
    members = gk.unbatch(bg)
    assert torch.equal(members[2].edges()[0], ds.graphs[2].edges()[0])


def test_loader_shuffle_drop_last_and_seed():
    ds = _toy_dataset(10)
    loader = GraphDataLoader(ds, batch_size=3, shuffle=True, drop_last=True, seed=7)
    assert len(loader) == 3
    first = [labels.tolist() for _, labels in loader]
    again = [labels.tolist() for _, labels in GraphDataLoader(ds, batch_size=3, shuffle=True, drop_last=True, seed=7)]
    assert first == again and all(len(b) == 3 for b in first)
    seen = []
    for bg, _ in GraphDataLoader(ds, batch_size=3, shuffle=True, seed=1):
        seen += [int(bg.ndata["feat"][i, 0]) for i in torch.cumsum(bg.batch_num_nodes(), 0) - 1]
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    with pytest.raises(ValueError, match="batch_size must be a positive int, got 0"):
        GraphDataLoader(ds, batch_size=0)


def test_loader_on_real_dataset(shared_datasets):
    ds = load_dataset("MUTAG", root=shared_datasets)
    total_nodes = 0
    for bg, labels in GraphDataLoader(ds, batch_size=64):
        assert bg.ndata["feat"].shape == (bg.num_nodes(), 7)
        assert bg.edata["feat"].shape == (bg.num_edges(), 4)
        total_nodes += bg.num_nodes()
    assert total_nodes == 3371


def test_stratified_kfold_partitions_and_balances():
    labels = torch.tensor([0] * 63 + [1] * 125)
    folds = stratified_kfold(labels, k=10, seed=0)
    assert len(folds) == 10
    all_test = torch.cat([test for _, test in folds])
    assert torch.equal(torch.sort(all_test).values, torch.arange(188))  # the test folds partition the data
    for train, test in folds:
        assert train.numel() + test.numel() == 188
        assert not bool(torch.isin(train, test).any())
        counts = torch.bincount(labels[test], minlength=2)
        assert 6 <= int(counts[0]) <= 7 and 12 <= int(counts[1]) <= 13
        assert test.numel() in (18, 19)
    again = stratified_kfold(labels.tolist(), k=10, seed=0)
    assert all(torch.equal(a[1], b[1]) for a, b in zip(folds, again))
    other = stratified_kfold(labels, k=10, seed=1)
    assert not torch.equal(folds[0][1], other[0][1])
    with pytest.raises(ValueError, match="k must be an int >= 2"):
        stratified_kfold(labels, k=1)
    with pytest.raises(ValueError, match="at least 200 items"):
        stratified_kfold(labels, k=200)


def test_kfold_train_val_test_as_in_pyg_benchmark():
    labels = torch.randint(0, 3, (100,), generator=torch.Generator().manual_seed(0))
    rounds = kfold_train_val_test(labels, k=10)
    folds = stratified_kfold(labels, k=10)
    for i, (train, val, test) in enumerate(rounds):
        assert torch.equal(test, folds[i][1]) and torch.equal(val, folds[i - 1][1])
        union = torch.sort(torch.cat([train, val, test])).values
        assert torch.equal(union, torch.arange(100))
        assert train.numel() == 100 - val.numel() - test.numel()
