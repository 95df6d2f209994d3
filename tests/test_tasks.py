"""Task loops and their infrastructure: checkpoints, RNG state, logs, plots, metrics, resume."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from gnnkit.tasks import (
    MetricsLog,
    get_rng_state,
    load_checkpoint,
    peak_rss_mb,
    plot_learning_curves,
    save_checkpoint,
    seed_everything,
    set_rng_state,
    summarize_runs,
    train_graph_classification,
    train_link_prediction,
    train_node_classification,
)
from gnnkit.tasks.graph import SELECTIONS, cross_validation_folds, select_epochs
from gnnkit.tasks.link import hits_at_k, roc_auc, sample_negative_pairs, split_edges

from _task_standins import (
    GraphDatasetStandIn,
    MeanAggregationNet,
    NodeDatasetStandIn,
    SumReadoutNet,
    planted_partition_graph,
)



@pytest.fixture(autouse=True)
def _one_thread():
    # These graphs are tiny: on a loaded 2-core machine a second intra-op thread only adds waiting.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------------------------------------
# infrastructure


def test_checkpoint_round_trip_and_failed_write_keeps_old_file(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, {"w": torch.arange(4.0), "epoch": 3, "nested": {"x": [1, 2]}})
    loaded = load_checkpoint(path)
    assert loaded["epoch"] == 3 and torch.equal(loaded["w"], torch.arange(4.0)) and loaded["nested"]["x"] == [1, 2]

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("boom mid-write")

    with pytest.raises(RuntimeError, match="boom"):
        save_checkpoint(path, {"w": torch.zeros(1000), "bad": Unpicklable()})
    # the earlier checkpoint is intact and no temporary file is left behind
    assert load_checkpoint(path)["epoch"] == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.pt"]
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_rng_state_survives_a_checkpoint(tmp_path):
    seed_everything(7)
    save_checkpoint(tmp_path / "rng.pt", {"rng": get_rng_state()})
    expected = (random.random(), np.random.rand(), torch.rand(3))
    seed_everything(99)  # scramble every generator
    set_rng_state(load_checkpoint(tmp_path / "rng.pt")["rng"])
    again = (random.random(), np.random.rand(), torch.rand(3))
    assert expected[0] == again[0] and expected[1] == again[1] and torch.equal(expected[2], again[2])


def test_seed_everything_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_metrics_log_writes_csv_and_json_and_truncates(tmp_path):
    log = MetricsLog(tmp_path)
    for epoch in range(1, 4):
        log.log(epoch=epoch, loss=torch.tensor(1.0 / epoch), acc=0.5 + epoch / 10)
    log.log(epoch=4, loss=0.2, acc=0.9, extra=1)
    log.flush()
    rows = json.loads((tmp_path / "metrics_log.json").read_text())
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4] and rows[1]["loss"] == pytest.approx(0.5)
    csv_lines = (tmp_path / "metrics_log.csv").read_text().splitlines()
    assert csv_lines[0] == "epoch,loss,acc,extra" and len(csv_lines) == 5 and csv_lines[1].endswith(",")
    reloaded = MetricsLog(tmp_path)
    reloaded.load()
    reloaded.truncate(lambda row: row["epoch"] <= 2)
    assert reloaded.column("epoch") == [1, 2]


def test_learning_curve_png(tmp_path):
    rows = [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.2 / e, "val_acc": 1 - 1 / e, "time_s": 0.1} for e in range(1, 20)]
    path = plot_learning_curves(rows, tmp_path / "curves.png", title="t")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_peak_rss_at_least_current_rss():
    psutil = pytest.importorskip("psutil")
    current = psutil.Process().memory_info().rss / 2**20
    assert peak_rss_mb() >= 0.9 * current > 0


def test_summarize_runs_mean_and_std():
    summary = summarize_runs([{"test_acc": 0.8, "model": "gcn"}, {"test_acc": 0.6, "model": "gcn"}])
    assert summary["test_acc"] == pytest.approx(0.7) and summary["test_acc_std"] == pytest.approx(0.1)
    assert summary["model"] == "gcn" and summary["num_runs"] == 2 and len(summary["runs"]) == 2


# ---------------------------------------------------------------------------------------------
# link-prediction metrics and splits


def test_roc_auc_matches_pairwise_definition():
    generator = torch.Generator().manual_seed(1)
    pos = torch.randint(0, 6, (40,), generator=generator).float()  # many ties on purpose
    neg = torch.randint(0, 5, (30,), generator=generator).float()
    pairwise = ((pos[:, None] > neg[None, :]).float() + 0.5 * (pos[:, None] == neg[None, :]).float()).mean().item()
    assert roc_auc(pos, neg) == pytest.approx(pairwise)
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0


def test_hits_at_k():
    neg = torch.tensor([0.9, 0.5, 0.4, 0.1])
    pos = torch.tensor([1.0, 0.6, 0.45, 0.0])
    assert hits_at_k(pos, neg, 1) == pytest.approx(0.25)  # only 1.0 beats 0.9
    assert hits_at_k(pos, neg, 2) == pytest.approx(0.5)  # 1.0 and 0.6 beat 0.5
    assert hits_at_k(pos, neg, 3) == pytest.approx(0.75)
    assert hits_at_k(pos, neg, 10) == 1.0


def test_split_edges_partitions_undirected_edges():
    g = planted_partition_graph()
    split = split_edges(g, 0.1, 0.2, generator=torch.Generator().manual_seed(0))
    n = g.num_nodes()
    src, dst = g.edges()
    truth = set((torch.minimum(src, dst) * n + torch.maximum(src, dst)).tolist())
    parts = {name: set((split[name][0] * n + split[name][1]).tolist()) for name in ("train", "val", "test")}
    assert parts["train"] | parts["val"] | parts["test"] == truth
    assert sum(map(len, parts.values())) == len(truth)
    assert len(parts["val"]) == round(0.1 * len(truth)) and len(parts["test"]) == round(0.2 * len(truth))
    negatives = torch.cat([split["val_neg"], split["test_neg"]], dim=1)
    keys = (negatives[0] * n + negatives[1]).tolist()
    assert len(set(keys)) == len(keys) and not set(keys) & truth and bool((negatives[0] < negatives[1]).all())


def test_negative_sampling_avoids_edges_and_rejects_impossible_requests():
    edge_keys = torch.tensor([0 * 4 + 1, 0 * 4 + 2, 0 * 4 + 3, 1 * 4 + 2, 1 * 4 + 3])  # K4 minus (2, 3)
    pairs = sample_negative_pairs(4, edge_keys, 5)
    assert pairs.tolist() == [[2] * 5, [3] * 5]
    with pytest.raises(ValueError, match="only 1"):
        sample_negative_pairs(4, edge_keys, 2, distinct=True)


# ---------------------------------------------------------------------------------------------
# node classification


def _node_run(tmp_path=None, epochs=30, resume=False, seed=0, **kwargs):
    dataset = NodeDatasetStandIn(planted_partition_graph(), 3)
    torch.manual_seed(123)  # the stand-in model's initial weights
    network = MeanAggregationNet(12, 16, 3)
    return train_node_classification(dataset, network, epochs=epochs, lr=0.05, seed=seed, out_dir=tmp_path,
                                     resume=resume, progress=False, **kwargs)


def test_node_classification_learns_and_writes_outputs(tmp_path):
    metrics = _node_run(tmp_path, epochs=40)
    assert metrics["test_acc"] > 0.85  # chance is 1/3
    for key in ("test_acc", "val_acc", "best_epoch", "epoch_time_s", "peak_rss_mb"):
        assert key in metrics
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk["test_acc"] == pytest.approx(metrics["test_acc"]) and 1 <= on_disk["best_epoch"] <= 40
    rows = json.loads((tmp_path / "metrics_log.json").read_text())
    assert [r["epoch"] for r in rows] == list(range(1, 41))
    best_row = rows[metrics["best_epoch"] - 1]
    assert best_row["val_acc"] == max(r["val_acc"] for r in rows)
    assert best_row["test_acc"] == pytest.approx(metrics["test_acc"])  # the reported model is the best epoch's
    assert (tmp_path / "learning_curves.png").read_bytes()[:4] == b"\x89PNG"
    best = load_checkpoint(tmp_path / "best_model.pt")
    assert best["epoch"] == metrics["best_epoch"]


def test_node_classification_is_repeatable_and_resumes_exactly(tmp_path):
    first = _node_run(epochs=20)
    second = _node_run(epochs=20)
    assert first["test_acc"] == second["test_acc"] and first["best_epoch"] == second["best_epoch"]

    straight = tmp_path / "straight"
    interrupted = tmp_path / "interrupted"
    full = _node_run(straight, epochs=20)
    _node_run(interrupted, epochs=8)
    resumed = _node_run(interrupted, epochs=20, resume=True)
    full_rows = json.loads((straight / "metrics_log.json").read_text())
    resumed_rows = json.loads((interrupted / "metrics_log.json").read_text())
    assert len(resumed_rows) == 20
    # dropout masks after the resume equal the uninterrupted run's, so every loss matches
    assert [r["train_loss"] for r in resumed_rows] == [r["train_loss"] for r in full_rows]
    assert resumed["test_acc"] == full["test_acc"] and resumed["best_epoch"] == full["best_epoch"]


def test_node_resume_refuses_a_different_run(tmp_path):
    _node_run(tmp_path, epochs=3)
    with pytest.raises(ValueError, match="different run"):
        _node_run(tmp_path, epochs=5, resume=True, seed=1)


def test_node_patience_stops_early():
    metrics = _node_run(epochs=200, patience=5)
    assert metrics["epochs_run"] <= metrics["best_epoch"] + 5 < 200


def test_node_rejects_bad_arguments():
    dataset = NodeDatasetStandIn(planted_partition_graph(), 3)
    with pytest.raises(ValueError, match="epochs"):
        train_node_classification(dataset, MeanAggregationNet(12, 8, 3), epochs=0, progress=False)
    with pytest.raises(ValueError, match="unknown node model 'transformer'"):
        train_node_classification(dataset, "transformer", progress=False)
    with pytest.raises(ValueError, match="dropout"):
        train_node_classification(dataset, "gcn", dropout=1.5, progress=False)
    graph = planted_partition_graph()
    del graph.ndata["train_mask"]
    with pytest.raises(ValueError, match="train_mask"):
        train_node_classification(graph, MeanAggregationNet(12, 8, 3), progress=False)


# ---------------------------------------------------------------------------------------------
# graph classification


def test_cross_validation_folds_follow_the_kernel_protocol():
    labels = np.array([0] * 30 + [1] * 20 + [2] * 10)
    splits = cross_validation_folds(labels, folds=10)
    tests = [test for _, _, test in splits]
    assert sorted(np.concatenate(tests).tolist()) == list(range(60))  # the test folds partition the data
    for i, (train, val, test) in enumerate(splits):
        assert np.array_equal(val, tests[i - 1])  # validation fold = previous test fold
        assert len(set(train) | set(val) | set(test)) == 60 and not (set(train) & (set(val) | set(test)))
        assert np.bincount(labels[test], minlength=3).tolist() == [3, 2, 1]  # stratified
    again = cross_validation_folds(labels, folds=10)
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(splits, again))
    with pytest.raises(ValueError, match="folds"):
        cross_validation_folds(labels, folds=2)


def test_graph_classification_selects_by_validation_loss(tmp_path):
    dataset = GraphDatasetStandIn()
    metrics = train_graph_classification(dataset, lambda f, c: SumReadoutNet(f, c), folds=3, epochs=25,
                                         batch_size=16, lr=0.02, out_dir=tmp_path, progress=False)
    assert metrics["test_acc"] > 0.75  # chance is 0.5
    rows = json.loads((tmp_path / "metrics_log.json").read_text())
    assert len(rows) == 3 * 25
    for fold in range(3):
        fold_rows = [r for r in rows if r["fold"] == fold]
        chosen = min(fold_rows, key=lambda r: r["val_loss"])
        assert metrics["best_epoch_per_fold"][fold] == chosen["epoch"]
        assert metrics["test_acc_per_fold"][fold] == pytest.approx(chosen["test_acc"])
    # the learning rate is halved every lr_decay_step (default 50) epochs: not within 25
    assert {r["lr"] for r in rows} == {0.02}
    # every rule's figure is the test accuracy at the epochs it picks from the logged validation curves
    val_loss = [[r["val_loss"] for r in rows if r["fold"] == f] for f in range(3)]
    val_acc = [[r["val_acc"] for r in rows if r["fold"] == f] for f in range(3)]
    test_acc = [[r["test_acc"] for r in rows if r["fold"] == f] for f in range(3)]
    assert set(metrics["test_acc_by_selection"]) == set(SELECTIONS) and metrics["selection"] == "fold_val_loss"
    for rule in SELECTIONS:
        chosen = select_epochs(val_loss, val_acc, rule)
        expected = np.mean([test_acc[f][i] for f, i in enumerate(chosen)])
        assert metrics["test_acc_by_selection"][rule] == pytest.approx(expected)
    assert metrics["test_acc_by_selection"]["fold_val_loss"] == pytest.approx(metrics["test_acc"])
    assert json.loads((tmp_path / "metrics.json").read_text())["test_acc"] == pytest.approx(metrics["test_acc"])


def test_select_epochs_rules():
    # 2 folds x 4 epochs; fold 0's loss is lowest at epoch 1, fold 1's at epoch 3
    val_loss = [[0.9, 0.2, 0.5, 0.6], [0.8, 0.7, 0.6, 0.1]]
    val_acc = [[0.5, 0.7, 0.9, 0.9], [0.5, 0.9, 0.8, 0.8]]
    assert select_epochs(val_loss, val_acc, "fold_val_loss") == [1, 3]
    # mean accuracy per epoch: 0.5, 0.8, 0.85, 0.85 -> tie between epochs 2 and 3, broken by the
    # lower mean loss (0.55 vs 0.35): epoch 3 for both folds
    assert select_epochs(val_loss, val_acc, "mean_val_acc") == [3, 3]
    # mean loss per epoch: 0.85, 0.45, 0.55, 0.35
    assert select_epochs(val_loss, val_acc, "mean_val_loss") == [3, 3]
    assert select_epochs(val_loss, val_acc, "last") == [3, 3]
    # a full tie resolves to the earliest epoch
    assert select_epochs([[0.3, 0.3]], [[1.0, 1.0]], "mean_val_acc") == [0]
    with pytest.raises(ValueError, match="selection"):
        select_epochs(val_loss, val_acc, "test_acc")
    with pytest.raises(ValueError, match="shape"):
        select_epochs(val_loss, [[0.5]], "last")
    with pytest.raises(ValueError, match="selection"):
        train_graph_classification(GraphDatasetStandIn(num_graphs=30), lambda f, c: SumReadoutNet(f, c),
                                   folds=3, epochs=1, selection="best_test", progress=False)


def test_graph_classification_mean_curve_selection(tmp_path):
    dataset = GraphDatasetStandIn(num_graphs=30)
    metrics = train_graph_classification(dataset, lambda f, c: SumReadoutNet(f, c), folds=3, epochs=8, batch_size=8,
                                         lr=0.02, selection="mean_val_acc", out_dir=tmp_path, progress=False, plot=False)
    rows = json.loads((tmp_path / "metrics_log.json").read_text())
    mean_acc = [np.mean([r["val_acc"] for r in rows if r["epoch"] == e]) for e in range(1, 9)]
    assert len(set(metrics["best_epoch_per_fold"])) == 1  # one epoch for every fold
    epoch = metrics["best_epoch_per_fold"][0]
    assert mean_acc[epoch - 1] == pytest.approx(max(mean_acc))
    chosen = [r["test_acc"] for r in rows if r["epoch"] == epoch]
    assert metrics["test_acc"] == pytest.approx(np.mean(chosen))
    assert metrics["selection"] == "mean_val_acc"
    assert json.loads((tmp_path / "metrics.json").read_text())["selection"] == "mean_val_acc"


def test_weight_ema_averages_weights_and_batch_norm_statistics():
    from gnnkit.tasks.graph import _ema_update

    torch.manual_seed(0)
    network = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    averaged = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    network.train()(torch.randn(8, 3))  # moves the running statistics and the batch counter
    before = {k: v.clone() for k, v in averaged.state_dict().items()}
    _ema_update(averaged, network, 0.75)
    for name, value in averaged.state_dict().items():
        live = network.state_dict()[name]
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.75 * before[name] + 0.25 * live)
        else:
            assert int(value) == int(live) == 1  # num_batches_tracked is copied, not averaged
    with pytest.raises(ValueError, match="weight_ema"):
        train_graph_classification(GraphDatasetStandIn(num_graphs=30), lambda f, c: SumReadoutNet(f, c),
                                   folds=3, epochs=1, weight_ema=1.0, progress=False)


def test_graph_classification_evaluates_the_averaged_model(tmp_path):
    dataset = GraphDatasetStandIn(num_graphs=30)
    common = dict(folds=3, epochs=4, batch_size=8, lr=0.05, progress=False, plot=False)
    plain = train_graph_classification(dataset, lambda f, c: SumReadoutNet(f, c), **common)
    # a decay this close to 1 keeps the averaged model near its initial weights: its
    # validation loss stays near the untrained one, unlike the trained network's
    frozen = train_graph_classification(dataset, lambda f, c: SumReadoutNet(f, c), weight_ema=1 - 1e-9, **common)
    untrained = train_graph_classification(dataset, lambda f, c: SumReadoutNet(f, c), lr=1e-12,
                                           **{k: v for k, v in common.items() if k != "lr"})
    assert frozen["weight_ema"] == 1 - 1e-9 and "weight_ema" not in plain
    assert frozen["val_loss"] == pytest.approx(untrained["val_loss"], rel=1e-4)
    assert plain["val_loss"] != pytest.approx(untrained["val_loss"], rel=1e-2)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("weight_ema", [None, 0.8])
def test_graph_classification_resumes_mid_fold(tmp_path, weight_ema):
    dataset = GraphDatasetStandIn(num_graphs=30)
    calls = {"count": 0, "limit": None}

    class CrashingNet(SumReadoutNet):
        def forward(self, bg, x):
            calls["count"] += 1
            if calls["limit"] is not None and calls["count"] > calls["limit"]:
                raise _Crash
            return super().forward(bg, x)

    kwargs = dict(folds=3, epochs=6, batch_size=8, lr=0.02, lr_decay_step=4, checkpoint_every=2, progress=False, plot=False,
                  weight_ema=weight_ema)
    full = train_graph_classification(dataset, CrashingNet, out_dir=tmp_path / "full", **kwargs)
    per_epoch = calls["count"] // (3 * 6)  # forward calls per epoch: train, validation and test batches
    calls.update(count=0, limit=per_epoch * (6 + 3) + 1)  # crash inside fold 1, epoch 4
    with pytest.raises(_Crash):
        train_graph_classification(dataset, CrashingNet, out_dir=tmp_path / "crash", **kwargs)
    checkpoint = load_checkpoint(tmp_path / "crash" / "checkpoint_last.pt")
    assert (checkpoint["fold"], checkpoint["epoch"]) == (1, 2)
    calls["limit"] = None
    resumed = train_graph_classification(dataset, CrashingNet, out_dir=tmp_path / "crash", resume=True, **kwargs)
    assert resumed["test_acc_per_fold"] == full["test_acc_per_fold"]
    assert resumed["val_loss"] == full["val_loss"]  # the averaged weights were restored too
    full_rows = json.loads((tmp_path / "full" / "metrics_log.json").read_text())
    resumed_rows = json.loads((tmp_path / "crash" / "metrics_log.json").read_text())
    assert [(r["fold"], r["epoch"], r["train_loss"], r["lr"]) for r in resumed_rows] == [
        (r["fold"], r["epoch"], r["train_loss"], r["lr"]) for r in full_rows]
    assert {r["lr"] for r in full_rows} == {0.02, 0.01}  # halved after epoch 4


# ---------------------------------------------------------------------------------------------
# link prediction


def test_link_prediction_ranks_held_out_edges(tmp_path):
    g = planted_partition_graph(per_class=50, p_in=0.2)
    torch.manual_seed(5)
    encoder = MeanAggregationNet(12, 32, 16, dropout=0.0)
    metrics = train_link_prediction(g, encoder, epochs=80, lr=0.02, out_dir=tmp_path, progress=False)
    # chance is 0.5; a scorer that only knows "same block or not" reaches about 0.79 here
    assert metrics["test_auc"] > 0.75
    assert 0 <= metrics["test_hits@10"] <= metrics["test_hits@50"] <= metrics["test_hits@100"] <= 1
    rows = json.loads((tmp_path / "metrics_log.json").read_text())
    assert rows[metrics["best_epoch"] - 1]["val_auc"] == max(r["val_auc"] for r in rows)
    assert metrics["num_train_edges"] + metrics["num_val_edges"] + metrics["num_test_edges"] == g.num_edges() // 2
