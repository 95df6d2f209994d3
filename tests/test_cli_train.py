"""The ``gnnkit train`` command: the offline demo, outputs, resume, repeated runs, and one-line errors."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from gnnkit.cli import main
from gnnkit.cli import train as train_cli


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def test_no_arguments_runs_the_karate_demo(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "dataset=KarateClub" in out and "model=gcn" in out and "test_acc=" in out
    folder = tmp_path / "runs" / "node-KarateClub-gcn"
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_acc", "val_acc", "best_epoch", "epoch_time_s", "peak_rss_mb"):
        assert key in metrics
    assert metrics["test_acc"] >= 0.8 and metrics["epochs"] == 200  # GCN's paper setting
    assert f"test_acc={100 * metrics['test_acc']:.2f}%" in out
    for name in ("metrics_log.csv", "metrics_log.json", "learning_curves.png", "best_model.pt", "checkpoint_last.pt"):
        assert (folder / name).is_file()
    assert torch.get_num_threads() == 1  # a tiny graph runs on one thread


def test_resume_continues_the_log(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "--model", "sage", "--no-progress", "--no-plot", "--out", str(out)]
    assert main(common + ["--epochs", "6"]) == 0
    assert main(common + ["--epochs", "12", "--resume"]) == 0
    rows = json.loads((out / "metrics_log.json").read_text())
    assert [r["epoch"] for r in rows] == list(range(1, 13))
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 12
    capsys.readouterr()


def test_runs_report_mean_and_std(tmp_path, capsys):
    out = tmp_path / "runs"
    assert main(["train", "--epochs", "5", "--runs", "2", "--seed", "3", "--no-progress", "--no-plot", "--out", str(out)]) == 0
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["num_runs"] == 2 and [r["seed"] for r in summary["runs"]] == [3, 4]
    assert summary["test_acc"] == pytest.approx(sum(r["test_acc"] for r in summary["runs"]) / 2)
    assert "test_acc_std" in summary and (out / "run1" / "metrics.json").is_file()
    assert "test_acc_std=" in capsys.readouterr().out


def test_link_and_graph_tasks(tmp_path, shared_datasets, capsys):
    assert main(["train", "--task", "link", "--epochs", "5", "--no-progress", "--no-plot", "--out", str(tmp_path / "l")]) == 0
    link = json.loads((tmp_path / "l" / "metrics.json").read_text())
    assert 0 <= link["test_auc"] <= 1 and "test_hits@50" in link
    assert main(["train", "--task", "graph", "--dataset", "MUTAG", "--root", str(shared_datasets), "--folds", "3",
                 "--epochs", "2", "--hidden", "8", "--no-progress", "--no-plot", "--out", str(tmp_path / "g")]) == 0
    graph = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert graph["num_graphs"] == 188 and len(graph["test_acc_per_fold"]) == 3
    assert "test_acc_std=" in capsys.readouterr().out


def test_graph_task_selection_options_reach_the_task(tmp_path, shared_datasets):
    from gnnkit.tasks.graph import SELECTIONS

    train_parser = train_cli.add_parser(argparse.ArgumentParser().add_subparsers())
    selection_action = next(a for a in train_parser._actions if a.dest == "selection")
    assert tuple(selection_action.choices) == SELECTIONS
    common = ["train", "--task", "graph", "--dataset", "MUTAG", "--root", str(shared_datasets), "--folds", "3",
              "--epochs", "3", "--hidden", "8", "--no-progress", "--no-plot"]
    assert main(common + ["--out", str(tmp_path / "a"), "--selection", "mean_val_acc", "--weight-ema", "0.9",
                          "--fold-seed", "7"]) == 0
    assert main(common + ["--out", str(tmp_path / "b"), "--fold-seed", "8"]) == 0
    a = json.loads((tmp_path / "a" / "metrics.json").read_text())
    b = json.loads((tmp_path / "b" / "metrics.json").read_text())
    assert a["selection"] == "mean_val_acc" and b["selection"] == "fold_val_loss"
    assert len(set(a["best_epoch_per_fold"])) == 1  # one epoch for all folds
    assert a["test_acc"] == pytest.approx(a["test_acc_by_selection"]["mean_val_acc"], abs=1e-12)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--epochs", "ten"], "--epochs: expected a positive integer, got 'ten'"),
        (["train", "--epochs", "0"], "--epochs: expected a positive integer"),
        (["train", "--lr", "-1"], "--lr: expected a positive number"),
        (["train", "--dropout", "1"], "--dropout: expected a number in [0, 1)"),
        (["train", "--task", "regression"], "--task: invalid choice"),
        (["train", "--model", "transformer"], "unknown model 'transformer' for --task node"),
        (["train", "--dataset", "NoSuchSet"], "NoSuchSet"),
        (["train", "--task", "graph", "--dataset", "KarateClub"], "--task graph needs a graph-classification dataset"),
        (["train", "--device", "tpu"], "--device"),
        (["train", "--task", "graph", "--weight-ema", "1"], "--weight-ema: expected a decay in (0, 1)"),
        (["train", "--task", "graph", "--selection", "best_test"], "--selection: invalid choice"),
    ],
)
def test_wrong_arguments_give_one_line_and_status_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        status = main(argv)
        raise SystemExit(status)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and fragment in err and "Traceback" not in err


def test_root_without_the_files(tmp_path, capsys):
    assert main(["train", "--dataset", "Cora", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Cora" in err and "missing" in err


def test_forecast_task_is_dispatched_to_its_module(capsys):
    forecast = pytest.importorskip("gnnkit.tasks.forecast")
    assert callable(forecast.run_from_args)
    assert main(["train", "--task", "forecast", "--model", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no-such-model" in err
