"""BiGG: batched exact likelihood vs sequential replay, cells, Fenwick tree, sampling, training."""

import math
import os

import networkx as nx
import numpy as np
import pytest
import torch

import gnnkit as gk
from gnnkit.generative.bigg import BiGG, train_bigg
from gnnkit.generative.bigg import fenwick
from gnnkit.generative.bigg.cells import _Gather, _TableGather, lstm_step, tree_step
from gnnkit.generative.bigg.sample import replay_log_likelihood
from gnnkit.generative.bigg.tree import build_forest


def _random_graphs(seed=0):
    rng = np.random.default_rng(seed)
    graphs = [nx.empty_graph(1), nx.path_graph(2), nx.empty_graph(3), nx.complete_graph(5)]
    for n in (7, 13, 24):
        graphs.append(nx.gnp_random_graph(n, float(rng.uniform(0.05, 0.4)), seed=int(rng.integers(1 << 30))))
    graphs.append(nx.random_lobster(6, 0.7, 0.7, seed=3))
    graphs.append(nx.grid_2d_graph(3, 4))
    return graphs


def _model(dim=16, seed=0, **kw):
    torch.manual_seed(seed)
    return BiGG(embed_dim=dim, **kw).double()


@pytest.mark.parametrize("order", ["dfs", "bfs", "dfs_min_degree", "bfs_min_degree", "given"])
def test_batched_likelihood_equals_sequential_replay(order):
    model = _model(node_order=order)
    rows = model.prepare(_random_graphs())
    batched = model.log_likelihood(rows)
    replay = [replay_log_likelihood(model, rg) for rg in rows]
    total = sum(ll for ll, _ in replay)
    assert math.isfinite(total) and total < 0
    assert abs(float(batched) - total) <= 1e-5 * abs(total)
    # one graph at a time gives the same numbers (batching does not mix graphs)
    for rg, (ll, _) in zip(rows, replay):
        assert float(model.log_likelihood([rg])) == pytest.approx(ll, rel=1e-9, abs=1e-12)
    # the batched layout counts exactly the decisions the sequential path takes
    assert build_forest(rows).num_decisions == sum(k for _, k in replay)


def test_likelihood_accepts_gnnkit_and_networkx_graphs_alike():
    model = _model(node_order="dfs")
    g = nx.random_lobster(5, 0.7, 0.7, seed=11)
    g = nx.convert_node_labels_to_integers(g)
    src, dst = zip(*g.edges())
    src, dst = torch.tensor(src + dst), torch.tensor(dst + src)
    gg = gk.graph((src, dst), num_nodes=g.number_of_nodes())
    assert float(model.log_likelihood([gg])) == pytest.approx(float(model.log_likelihood([g])), rel=1e-12)
    with pytest.raises(TypeError, match="graphs"):
        model.log_likelihood([np.zeros((3, 3))])
    with pytest.raises(ValueError, match="embed_dim"):
        BiGG(embed_dim=7)


def test_likelihood_changes_with_structure_and_is_a_distribution_on_tiny_graphs():
    # over all 2^3 simple graphs on 3 nodes (given order), probabilities sum to 1
    model = _model(dim=8, node_order="given")
    total = 0.0
    edges = [(1, 0), (2, 0), (2, 1)]
    for mask in range(8):
        g = nx.empty_graph(3)
        g.add_edges_from(e for i, e in enumerate(edges) if mask >> i & 1)
        total += math.exp(float(model.log_likelihood([g])))
    assert total == pytest.approx(1.0, abs=1e-10)


def test_fused_cells_gradcheck():
    torch.manual_seed(0)
    gates = torch.randn(6, 12, dtype=torch.float64, requires_grad=True)
    c = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lstm_step, (gates, c))
    gates5 = torch.randn(6, 15, dtype=torch.float64, requires_grad=True)
    c2 = torch.randn(6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tree_step, (gates5, c, c2))
    assert torch.autograd.gradcheck(lambda g, a, b: tree_step(g, a, b)[0], (gates5, c, c2))
    # against the textbook formulas
    d = 3
    i, f, o, g = gates[:, :d], gates[:, d:2 * d], gates[:, 2 * d:3 * d], gates[:, 3 * d:]
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h, c_new = lstm_step(gates, c)
    assert torch.allclose(c_new, c_ref) and torch.allclose(h, torch.sigmoid(o) * torch.tanh(c_ref))
    table = torch.randn(7, 4, dtype=torch.float64, requires_grad=True)
    index = torch.tensor([0, 1, 1, 0, 3, 5, 2, 6, 1])
    assert torch.autograd.gradcheck(lambda t: _TableGather.apply(t, index, 3), (table,))
    assert torch.autograd.gradcheck(lambda t: _Gather.apply(t, index), (table,))


def test_fenwick_prefix_covers_exactly_the_previous_rows():
    sizes = np.array([1, 5, 16, 37])
    plan = fenwick.build_plan(sizes)
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    rows = [frozenset([r]) for r in range(offsets[-1])]
    levels = [rows]
    for left, right in plan:
        levels.append([levels[-1][a] | levels[-1][b] for a, b in zip(left, right)])
    row_graph = np.repeat(np.arange(len(sizes)), sizes)
    row_index = np.arange(offsets[-1]) - offsets[row_graph]
    ctx = [frozenset() for _ in range(offsets[-1])]
    for k, rs, nodes in fenwick.prefix_plan(row_graph, row_index, sizes, len(levels)):
        for r, node in zip(rs, nodes):
            assert not (ctx[r] & levels[k][node])
            ctx[r] = ctx[r] | levels[k][node]
    for r in range(offsets[-1]):
        g, u = row_graph[r], row_index[r]
        assert ctx[r] == frozenset(range(offsets[g], offsets[g] + u))
        assert bin(u).count("1") <= max(1, int(u).bit_length())
    # the incremental version agrees (sets again) and keeps O(log n) slots
    inc = fenwick.IncrementalFenwick(lambda a, b: a | b, lambda a, b: a | b, frozenset())
    for u in range(37):
        assert inc.context() == frozenset(range(u))
        inc.append(frozenset([u]))
        assert len(inc.slots) <= 6


def test_sqrt_blocking_matches_full_gradients():
    model = _model()
    g = nx.random_lobster(8, 0.7, 0.7, seed=5)
    ll = model.log_likelihood([g])
    model.zero_grad()
    (-ll).backward()
    full = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    blocked = model.blocked_backward(g, num_blocks=4)
    assert blocked == pytest.approx(float(ll), rel=1e-12)
    for name, p in model.named_parameters():
        assert torch.allclose(p.grad, full[name], rtol=1e-9, atol=1e-11), name


def _check_simple_undirected(g, n):
    assert g.num_nodes() == n
    src, dst = g.edges()
    assert bool((src != dst).all())
    pairs = set(zip(src.tolist(), dst.tolist()))
    assert len(pairs) == len(src)  # no multi-edges
    assert all((v, u) in pairs for u, v in pairs)  # both directions


def test_sampling_gives_simple_undirected_graphs_with_requested_size():
    torch.manual_seed(0)
    model = BiGG(embed_dim=16)
    model.fit_node_counts([nx.path_graph(n) for n in (4, 9, 15)])
    for seed in range(6):
        gen = torch.Generator().manual_seed(seed)
        n = [1, 2, 9, 30, None, None][seed]
        g = model.sample(num_nodes=n, generator=gen)
        _check_simple_undirected(g, n if n is not None else g.num_nodes())
        if n is None:
            assert g.num_nodes() in (4, 9, 15)
    a = model.sample(20, generator=torch.Generator().manual_seed(3))
    b = model.sample(20, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.edges()[0], b.edges()[0]) and torch.equal(a.edges()[1], b.edges()[1])
    nxg = model.sample(12, generator=torch.Generator().manual_seed(4), as_networkx=True)
    assert isinstance(nxg, nx.Graph) and nxg.number_of_nodes() == 12 and nx.number_of_selfloops(nxg) == 0
    with pytest.raises(ValueError, match="num_nodes"):
        model.sample(0)
    with pytest.raises(ValueError, match="fit_node_counts"):
        BiGG(embed_dim=4).sample()


def test_complete_keeps_the_partial_rows():
    torch.manual_seed(1)
    model = BiGG(embed_dim=16)
    part = nx.path_graph(6)
    g = model.complete(part, num_nodes=20, generator=torch.Generator().manual_seed(0))
    _check_simple_undirected(g, 20)
    src, dst = g.edges()
    inside = (src < 6) & (dst < 6)
    got = {(min(a, b), max(a, b)) for a, b in zip(src[inside].tolist(), dst[inside].tolist())}
    assert got == {(i, i + 1) for i in range(5)}
    with pytest.raises(ValueError, match="num_nodes"):
        model.complete(part, num_nodes=3)


def test_train_bigg_learns_and_resumes_from_atomic_checkpoint(tmp_path):
    torch.manual_seed(0)
    graphs = [nx.path_graph(n) for n in (6, 8, 10, 12)]
    model = BiGG(embed_dim=16)
    ckpt = str(tmp_path / "bigg.pt")
    logged = []
    hist = train_bigg(model, graphs, epochs=30, batch_size=4, lr=2e-2, checkpoint=ckpt, progress=False,
                      log=logged.append)
    assert len(hist) == 30 and len(logged) == 30
    first, last = np.mean([h["loss"] for h in hist[:4]]), np.mean([h["loss"] for h in hist[-4:]])
    assert last < 0.6 * first
    assert os.path.exists(ckpt) and not [p for p in os.listdir(tmp_path) if p.startswith(".bigg-ckpt")]
    # resume: a fresh model continues from the checkpoint's history
    model2 = BiGG(embed_dim=16)
    hist2 = train_bigg(model2, graphs, epochs=32, batch_size=4, lr=2e-2, checkpoint=ckpt, resume=True,
                       progress=False, log=str(tmp_path / "log.jsonl"))
    assert len(hist2) == 32 and hist2[:30] == hist
    assert (tmp_path / "log.jsonl").read_text().count("\n") == 2
    # a model trained on paths samples path-like graphs (sparse, mostly degree <= 2)
    g = model2.sample(10, generator=torch.Generator().manual_seed(0), as_networkx=True)
    assert g.number_of_edges() <= 15
    with pytest.raises(ValueError, match="epochs"):
        train_bigg(model2, graphs, progress=False)
    # every entry carries cumulative CPU time; a CPU budget already spent stops a resumed run at once
    cpu = [h["cpu_s"] for h in hist2]
    assert all(b >= a for a, b in zip(cpu, cpu[1:])) and cpu[-1] > 0
    hist3 = train_bigg(model2, graphs, cpu_budget_s=cpu[-1] * 0.5, checkpoint=ckpt, resume=True, progress=False)
    assert len(hist3) == 32
    with pytest.raises(ValueError, match="cpu_budget_s"):
        train_bigg(model2, graphs, cpu_budget_s=-1.0, progress=False)


def test_train_bigg_cosine_schedule_and_best_validation_weights(tmp_path):
    graphs = [nx.path_graph(n) for n in (6, 8, 10, 12)]
    val = [nx.path_graph(9)]
    model = BiGG(embed_dim=16)
    ckpt = str(tmp_path / "bigg.pt")
    hist = train_bigg(model, graphs, epochs=20, batch_size=4, lr=2e-2, checkpoint=ckpt, progress=False,
                      lr_schedule="cosine", lr_final_factor=0.1, validation_graphs=val, validate_every=5)
    lrs = [h["lr"] for h in hist]
    # cosine from lr (step 0) down towards lr * 0.1 at the end, never increasing
    assert lrs[0] == pytest.approx(2e-2) and all(b <= a + 1e-12 for a, b in zip(lrs, lrs[1:]))
    assert lrs[-1] == pytest.approx(2e-2 * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 19 / 20))))
    validated = [h for h in hist if "val_loss" in h]
    assert [h["step"] for h in validated] == [0, 5, 10, 15, 19]
    best = min(validated, key=lambda h: h["val_loss"])
    assert hist[-1]["best_step"] == best["step"]
    # the returned model carries the best weights: its validation loss is the best one recorded
    with torch.no_grad():
        val_loss = -float(model.log_likelihood(val)) / 9
    assert val_loss == pytest.approx(best["val_loss"], rel=1e-5)
    # the checkpoint keeps the latest weights and the best ones; a resumed run that spikes keeps them
    state = torch.load(ckpt, weights_only=False)
    assert state["best"]["step"] == best["step"]
    model2 = BiGG(embed_dim=16)
    hist2 = train_bigg(model2, graphs, epochs=22, batch_size=4, lr=50.0, checkpoint=ckpt, resume=True,
                       progress=False, validation_graphs=val, validate_every=1)
    assert len(hist2) == 22 and "val_loss" in hist2[-1]
    with torch.no_grad():
        val_loss2 = -float(model2.log_likelihood(val)) / 9
    assert val_loss2 == pytest.approx(min(h["val_loss"] for h in hist2 if "val_loss" in h), rel=1e-5)
    assert val_loss2 <= best["val_loss"] + 1e-6
    with pytest.raises(ValueError, match="lr_schedule"):
        train_bigg(model2, graphs, epochs=1, lr_schedule="linear", progress=False)
    with pytest.raises(ValueError, match="validate_every"):
        train_bigg(model2, graphs, epochs=1, validate_every=0, progress=False)


def test_split_products_with_a_worker_process_give_the_same_numbers_and_graphs():
    model = _model()
    for rg in model.prepare(_random_graphs())[-3:]:
        one, two = replay_log_likelihood(model, rg), replay_log_likelihood(model, rg, workers=2)
        assert one[1] == two[1] and two[0] == pytest.approx(one[0], rel=1e-12)
    model = model.float()
    a = model.sample(60, generator=torch.Generator().manual_seed(5))
    b = model.sample(60, generator=torch.Generator().manual_seed(5), workers=2)
    assert torch.equal(a.edges()[0], b.edges()[0]) and torch.equal(a.edges()[1], b.edges()[1])
    c = model.complete(nx.path_graph(5), num_nodes=30, generator=torch.Generator().manual_seed(2), workers=2)
    _check_simple_undirected(c, 30)
    with pytest.raises(ValueError, match="workers"):
        model.sample(10, workers=3)


def test_min_degree_dfs_walks_a_grid_as_a_boustrophedon_and_keeps_every_edge():
    from gnnkit.generative.bigg.tree import prepare_graph

    g = nx.convert_node_labels_to_integers(nx.grid_2d_graph(4, 5))  # 4 rows of 5, row-major ids
    rg = prepare_graph(g, "dfs_min_degree")
    offsets = {}
    for r, c in zip(rg.rows, rg.cols):
        offsets.setdefault(int(r), []).append(int(r - c))
    # from corner 0 along the first row, back along the second, ...: row u links to u - 1 and to
    # the node above it, 1, 3, 5, ... places back
    expected = [[]] + [[1]] * 5 + [[3, 1], [5, 1], [7, 1], [9, 1], [1]] + [[3, 1], [5, 1], [7, 1], [9, 1], [1]] \
        + [[3, 1], [5, 1], [7, 1], [9, 1]]
    assert [sorted(offsets.get(u, []), reverse=True) for u in range(20)] == expected
    # it is a relabelling: same edge count, isomorphic graph; the highest-degree orders start inside
    h = nx.Graph(list(zip(rg.rows.tolist(), rg.cols.tolist())))
    assert h.number_of_nodes() == 20 and nx.is_isomorphic(g, h)
    first = prepare_graph(g, "dfs")
    assert sorted(first.cols[first.rows == 1].tolist()) == [0]
    bfs = prepare_graph(nx.path_graph(6), "bfs_min_degree")
    assert (bfs.rows - bfs.cols == 1).all()  # a path from its end: every row links to the previous node


def test_train_bigg_linear_warmup(tmp_path):
    graphs = [nx.path_graph(n) for n in (6, 8, 10, 12)]
    model = BiGG(embed_dim=8)
    hist = train_bigg(model, graphs, epochs=20, batch_size=4, lr=1e-2, progress=False, lr_warmup=0.25)
    lrs = [h["lr"] for h in hist]
    # epochs-based progress p = step / 20; warm-up over p < 0.25 (steps 0-4) from 1% of the rate
    assert lrs[0] == pytest.approx(1e-4)
    assert lrs[2] == pytest.approx(1e-2 * (0.01 + 0.99 * 0.1 / 0.25))
    assert all(b > a for a, b in zip(lrs[:5], lrs[1:6])) and lrs[5:] == [pytest.approx(1e-2)] * 15
    cos = train_bigg(BiGG(embed_dim=8), graphs, epochs=20, batch_size=4, lr=1e-2, progress=False,
                     lr_warmup=0.25, lr_schedule="cosine", lr_final_factor=0.1)
    assert cos[2]["lr"] == pytest.approx(lrs[2] * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * 0.1))))
    with pytest.raises(ValueError, match="lr_warmup"):
        train_bigg(model, graphs, epochs=1, lr_warmup=1.0, progress=False)


def test_train_bigg_builds_adam_with_the_given_betas(tmp_path):
    graphs = [nx.path_graph(n) for n in (5, 7)]
    ckpt = tmp_path / "state.pt"
    train_bigg(BiGG(embed_dim=8), graphs, epochs=1, batch_size=2, progress=False, checkpoint=str(ckpt),
               adam_betas=(0.9, 0.95))
    assert torch.load(ckpt, weights_only=False)["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.95)
    for bad in ((0.9, 1.0), (0.9,), 0.95, (0.9, "0.95")):
        with pytest.raises(ValueError, match="adam_betas: expected two decay rates in"):
            train_bigg(BiGG(embed_dim=8), graphs, epochs=1, progress=False, adam_betas=bad)
    model = BiGG(embed_dim=8)
    with pytest.raises(ValueError, match="adam_betas: only for the optimiser train_bigg builds"):
        train_bigg(model, graphs, epochs=1, progress=False, adam_betas=(0.9, 0.95),
                   optimizer=torch.optim.SGD(model.parameters(), lr=0.1))


def test_train_bigg_flushes_subnormals_only_while_training():
    graphs = [nx.path_graph(n) for n in (5, 7)]
    tiny = torch.tensor([1e-39], dtype=torch.float32)  # subnormal in float32
    seen = []
    supported = torch.set_flush_denormal(False)

    def log(entry):
        seen.append(float(tiny * 1.5))

    train_bigg(BiGG(embed_dim=8), graphs, epochs=2, batch_size=2, progress=False, log=log)
    if supported:
        assert seen == [0.0, 0.0]  # flushed inside the loop
    assert float(tiny * 1.5) > 0  # and back to PyTorch's default afterwards
    seen.clear()
    train_bigg(BiGG(embed_dim=8), graphs, epochs=1, batch_size=2, progress=False, log=log, flush_denormal=False)
    assert seen[0] > 0
