"""Generation baselines (Erdős–Rényi, GraphRNN-S), the pipeline (runs, graph files, tables) and the
``gnnkit generate`` command."""

import json

import numpy as np
import pytest
import torch

from gnnkit.cli import main
from gnnkit.generative import pipeline as P
from gnnkit.generative.baselines import ErdosRenyi, GraphRNNS, bfs_bandwidth, train_graphrnn_s
from gnnkit.generative.datasets import graph_from_edges, grid_graphs
from gnnkit.generative.metrics import KERNELS, to_adjacency


def _simple_undirected(g):
    adj = to_adjacency(g)
    src, dst = (t.numpy() for t in g.edges())
    return (src != dst).all() and len(src) == adj.nnz  # no loops, no duplicates, both directions


def _path(n):
    return graph_from_edges(np.arange(n - 1), np.arange(1, n), n)


def test_erdos_renyi_fits_density_per_size():
    graphs = grid_graphs(10, 13)  # sizes 100..144
    er = ErdosRenyi().fit(graphs)
    assert er.edge_probability(120) == pytest.approx(np.mean([(2 * 120 - 22) / (120 * 119 / 2)] * 2))
    assert er.edge_probability(100) == pytest.approx((2 * 100 - 20) / (100 * 99 / 2))
    # an unseen size keeps the nearest seen size's mean degree
    assert er.edge_probability(1000) == pytest.approx(er.edge_probability(144) * 143 / 999)
    gen = torch.Generator().manual_seed(0)
    samples = [er.sample(num_nodes=120, generator=gen) for _ in range(40)]
    assert all(g.num_nodes() == 120 and _simple_undirected(g) for g in samples)
    density = np.mean([g.num_edges() / 2 / (120 * 119 / 2) for g in samples])
    assert density == pytest.approx(er.edge_probability(120), rel=0.1)
    sizes = {er.sample(generator=gen).num_nodes() for _ in range(40)}
    assert sizes <= {g.num_nodes() for g in graphs}
    dense = ErdosRenyi().fit([graph_from_edges(*np.triu_indices(6, 1), 6)])  # K6: p = 1
    assert dense.sample(generator=gen).num_edges() == 30
    done = er.complete(_path(5), num_nodes=9, generator=gen)
    assert done.num_nodes() == 9 and all(bool(done.has_edges_between(i, i + 1)) for i in range(4))


def test_graphrnn_s_trains_samples_completes_and_resumes(tmp_path):
    graphs = [_path(n) for n in range(6, 14)]
    assert bfs_bandwidth(graphs) <= 2  # BFS from inside a path alternates sides: links reach back 2
    torch.manual_seed(0)
    model = GraphRNNS.for_graphs(graphs, hidden_size=16, embed_size=8, num_layers=1)
    before = -model.log_likelihood(graphs, generator=torch.Generator().manual_seed(1)).sum().item()
    ckpt = tmp_path / "state.pt"
    history = train_graphrnn_s(model, graphs, epochs=2, batch_size=4, lr=0.03, checkpoint=ckpt, progress=False)
    assert [h["epoch"] for h in history] == [1, 2] and ckpt.is_file()
    history = train_graphrnn_s(model, graphs, epochs=25, batch_size=4, lr=0.05, checkpoint=ckpt, resume=True,
                               progress=False)
    assert history[0]["epoch"] == 1 and history[-1]["epoch"] == 25 and len(history) == 25
    after = -model.log_likelihood(graphs, generator=torch.Generator().manual_seed(1)).sum().item()
    assert after < 0.85 * before, (before, after)
    gen = torch.Generator().manual_seed(0)
    for _ in range(5):
        g = model.sample(num_nodes=9, generator=gen)
        assert g.num_nodes() == 9 and _simple_undirected(g)
    free = [model.sample(generator=gen) for _ in range(10)]
    assert all(1 <= g.num_nodes() <= model.max_num_nodes for g in free)
    partial = _path(4)
    done = model.complete(partial, num_nodes=8, generator=gen)
    assert done.num_nodes() == 8 and all(bool(done.has_edges_between(i, i + 1)) for i in range(3))
    with pytest.raises(ValueError, match="num_nodes"):
        model.sample(num_nodes=0)
    with pytest.raises(ValueError, match="epochs"):
        train_graphrnn_s(model, graphs, progress=False)


def test_graph_files_round_trip(tmp_path):
    graphs = [_path(5), graph_from_edges([0, 0], [1, 2], 4), graph_from_edges([], [], 3)]
    path = P.save_graphs(graphs, tmp_path / "g.npz")
    back = P.load_graphs(path)
    assert [g.num_nodes() for g in back] == [5, 4, 3]
    for a, b in zip(graphs, back):
        assert (to_adjacency(a) != to_adjacency(b)).nnz == 0
    (tmp_path / "part.txt").write_text("# a triangle\n0 1\n1 2\n2,0\n")
    part = P.read_partial_graph(tmp_path / "part.txt", num_nodes=5)
    assert part.num_nodes() == 5 and part.num_edges() == 6
    (tmp_path / "bad.txt").write_text("0 x\n")
    with pytest.raises(ValueError, match="line 1"):
        P.read_partial_graph(tmp_path / "bad.txt")


def test_table_names_the_kernel_and_results_are_saved(tmp_path):
    evaluation = {"kernels": {k: {"degree": 0.5, "clustering": 0.01, "orbit": 1e-4, "spectral": 0.2} for k in KERNELS},
                  "lobster_error": 0.25, "num_generated": 4, "num_reference": 4}
    results = {"lobster": {"Erdos-Renyi": evaluation, "BiGG": evaluation}, "grid": {"Erdos-Renyi": {**evaluation, "lobster_error": None}}}
    table = P.format_table(results, "gaussian_tv")
    assert "Gaussian-TV" in table and "Err." in table and "BiGG" in table and "1.00e-04" in table
    assert "Gaussian-EMD" in P.format_table(results, "gaussian_emd")
    json_path, csv_path = P.save_results(results, tmp_path / "out" / "cmp")
    assert json.loads(json_path.read_text())["lobster"]["BiGG"]["lobster_error"] == 0.25
    rows = csv_path.read_text().strip().splitlines()
    assert rows[0] == "dataset,method,kernel,metric,value" and len(rows) == 1 + 3 * 8 + 2
    png = P.draw_graphs_png([_path(6)], [_path(7), _path(8)], tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_train_sample_eval_complete(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["generate", "train", "--dataset", "lobster", "--model", "er", "--out", str(run), "--no-progress"]) == 0
    assert json.loads((run / "run.json").read_text())["model"] == "er"
    out = tmp_path / "s.npz"
    assert main(["generate", "sample", "--run", str(run), "--num-samples", "3", "--out", str(out), "--no-progress",
                 "--no-png"]) == 0
    assert len(P.load_graphs(out)) == 3
    prefix = tmp_path / "res" / "cmp"
    assert main(["generate", "eval", "--dataset", "lobster", "--baselines", "er", "--samples", f"mine={out}",
                 "--num-samples", "4", "--out", str(prefix), "--no-png", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "Gaussian-TV kernel (GRAN)" in printed and "Gaussian-EMD kernel (GraphRNN)" in printed and "mine" in printed
    saved = json.loads(prefix.with_suffix(".json").read_text())
    assert set(saved["lobster"]) == {"Erdos-Renyi", "mine"}
    assert saved["lobster"]["Erdos-Renyi"]["lobster_error"] > 0.5  # G(n, p) graphs are almost never lobsters
    (tmp_path / "p.txt").write_text("0 1\n1 2\n")
    done = tmp_path / "c.npz"
    assert main(["generate", "complete", "--run", str(run), "--partial", str(tmp_path / "p.txt"), "--num-nodes", "12",
                 "--out", str(done), "--no-png"]) == 0
    assert P.load_graphs(done)[0].num_nodes() == 12


@pytest.mark.parametrize("argv, message", [
    (["generate"], "expected an action"),
    (["generate", "train", "--dataset", "nope", "--out", "x"], "--dataset"),
    (["generate", "train", "--dataset", "grid", "--model", "gan", "--out", "x"], "--model"),
    (["generate", "train", "--dataset", "grid", "--model", "bigg", "--out", "x"], "--epochs/--time-budget"),
    (["generate", "eval", "--dataset", "grid", "--baselines", "none"], "nothing to evaluate"),
    (["generate", "train", "--dataset", "grid", "--model", "er", "--out", "x", "--validate-every", "5"],
     "only for --model bigg"),
    (["generate", "sample", "--run", "/nonexistent/run", "--out", "x.npz"], "not found"),
])
def test_cli_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_node_order_choices_are_the_models():
    import argparse

    from gnnkit.cli import generate as generate_cli
    from gnnkit.generative.bigg.tree import NODE_ORDERS

    parser = generate_cli.add_parser(argparse.ArgumentParser().add_subparsers())
    train = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    assert tuple(next(a for a in train._actions if a.dest == "node_order").choices) == NODE_ORDERS


def test_cli_rejects_a_warmup_or_beta2_outside_zero_one_before_loading_anything(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["generate", "train", "--dataset", "grid", "--model", "bigg", "--out", "x", "--epochs", "1",
              "--lr-warmup", "1"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "--lr-warmup: expected a fraction in [0, 1), got '1'" in err and "Traceback" not in err
    with pytest.raises(SystemExit):
        main(["generate", "train", "--dataset", "grid", "--model", "bigg", "--out", "x", "--epochs", "1",
              "--adam-beta2", "1"])
    assert "--adam-beta2: expected a decay rate in [0, 1), got '1'" in capsys.readouterr().err


def test_cli_trains_bigg_with_cosine_schedule_and_best_validation_weights(tmp_path):
    run = tmp_path / "bigg"
    assert main(["generate", "train", "--dataset", "lobster", "--model", "bigg", "--out", str(run), "--epochs", "1",
                 "--batch-size", "40", "--embed-dim", "8", "--lr-schedule", "cosine", "--grad-clip", "1",
                 "--validate-every", "1", "--adam-beta2", "0.95", "--no-progress"]) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["bigg_options"] == {"lr_schedule": "cosine", "grad_clip": 1.0, "adam_betas": [0.9, 0.95],
                                    "validate": True, "validate_every": 1}
    state = torch.load(run / "train_state.pt", weights_only=False)
    assert state["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.95)
    history = json.loads((run / "history.json").read_text())
    assert len(history) == 2 and all("val_loss" in h for h in history)
    assert info["best_step"] == min(history, key=lambda h: h["val_loss"])["step"]
    assert history[1]["lr"] < history[0]["lr"]
