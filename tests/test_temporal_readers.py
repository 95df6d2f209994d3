"""Temporal dataset readers against the counts in the datasets README, the DCRNN speed file
layout (a small h5 written here with h5py), and the forecast task end to end."""

import json

import numpy as np
import pytest
import torch

import gnnkit.temporal as T


def test_chickenpox(shared_datasets):
    sig = T.load_chickenpox(shared_datasets / "ChickenpoxHungary", lags=4)
    assert len(sig) == 517 and sig.num_nodes == 20 and sig.edge_index.shape[1] == 102
    raw = json.loads((shared_datasets / "ChickenpoxHungary" / "chickenpox.json").read_text())["FX"]
    assert torch.allclose(sig.features[10, 3], torch.tensor([raw[10 + k][3] for k in range(4)], dtype=torch.float32))
    assert torch.allclose(sig.targets[10, 3], torch.tensor(raw[14][3], dtype=torch.float32))

@pytest.fixture(autouse=True)
def _one_thread():
    # The tensors here are tiny: a second thread only adds fork/join overhead (and stalls
    # badly on a busy machine).
    torch.set_num_threads(1)
    yield



def test_england_covid_has_daily_edges(shared_datasets):
    sig = T.load_england_covid(shared_datasets / "EnglandCovid", lags=8)
    assert len(sig) == 53 and sig.num_nodes == 129 and sig.features.shape == (53, 129, 8)
    assert sig.edge_indices[0].shape[1] == 2158
    assert len({e.shape[1] for e in sig.edge_indices}) > 1
    assert sig[5].ops.graph.num_edges() == sig.edge_indices[5].shape[1]


def test_montevideo_pedalme_tennis(shared_datasets):
    bus = T.load_montevideo_bus(shared_datasets / "MontevideoBus", lags=4)
    assert len(bus) == 740 and bus.num_nodes == 675 and bus.edge_index.shape[1] == 690
    ped = T.load_pedalme(shared_datasets / "PedalMeLondon", lags=4)
    assert len(ped) == 31 and ped.num_nodes == 15 and ped.edge_index.shape[1] == 225
    tennis = T.load_twitter_tennis(shared_datasets / "TwitterTennis", "rg17")
    assert len(tennis) == 120 and tennis.num_nodes == 1000
    assert sum(e.shape[1] for e in tennis.edge_indices) == 40839
    assert tennis.features.shape[-1] == 16 and torch.all(tennis.features.sum(-1) == 2)
    assert len(T.load_twitter_tennis(shared_datasets / "TwitterTennis", "uo17", feature_mode=None)) == 112


def test_sensor_graphs(shared_datasets):
    metr = T.load_metr_la(shared_datasets / "METR-LA")
    assert metr.num_nodes == 207 and int((metr.adj != 0).sum()) == 1722 and metr.speed is None
    bay = T.load_pems_bay(shared_datasets / "PEMS-BAY")
    assert bay.num_nodes == 325 and int((bay.adj != 0).sum()) == 2694
    los = T.load_los_loop(shared_datasets / "LosLoop")
    assert los.speed.shape == (2016, 207) and int((los.adj != 0).sum()) == 2833 and float(los.speed.min()) > 0
    sz = T.load_sz_taxi(shared_datasets / "SZ-taxi")
    assert sz.speed.shape == (2976, 156) and abs(float((sz.speed == 0).float().mean()) - 0.248) < 0.005
    both = T.metr_la_with_los_loop_speeds(shared_datasets / "METR-LA", shared_datasets / "LosLoop")
    column = los.sensor_ids.index(both.sensor_ids[17])
    assert torch.equal(both.speed[:, 17], los.speed[:, column])


def _write_pandas_style_h5(path, values, sensor_ids):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        g = f.create_group("df")
        g["axis0"] = np.array([s.encode() for s in sensor_ids])
        g["axis1"] = np.arange(values.shape[0], dtype=np.int64) * 300 * 10**9
        g["block0_items"] = np.array([s.encode() for s in sensor_ids])
        g["block0_values"] = values


def test_speed_h5_reader_and_column_matching(tmp_path, shared_datasets):
    metr = T.read_dcrnn_adj(shared_datasets / "METR-LA" / "adj_mx.pkl")
    ids = list(reversed(metr.sensor_ids))  # the file's column order differs from the pickle's
    values = np.random.default_rng(0).uniform(0, 70, size=(30, 207)).astype(np.float32)
    root = tmp_path / "METR-LA"
    root.mkdir()
    (root / "adj_mx.pkl").write_bytes((shared_datasets / "METR-LA" / "adj_mx.pkl").read_bytes())
    _write_pandas_style_h5(root / "metr-la.h5", values, ids)
    speed, columns, stamps = T.read_speed_h5(root / "metr-la.h5")
    assert speed.shape == (30, 207) and columns == ids and stamps[1] - stamps[0] == 300 * 10**9
    loaded = T.load_metr_la(root)
    assert torch.allclose(loaded.speed[:, 0], torch.from_numpy(values[:, 206]))
    bad = tmp_path / "bad.h5"
    import h5py

    with h5py.File(bad, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(ValueError, match="no 'df' group"):
        T.read_speed_h5(bad)


def test_download_checks_digest(tmp_path):
    from gnnkit.temporal.readers import download

    src = tmp_path / "payload.bin"
    src.write_bytes(b"speed tensor")
    import hashlib

    good = hashlib.sha256(b"speed tensor").hexdigest()
    assert download(src.as_uri(), tmp_path / "ok.bin", sha256=good).read_bytes() == b"speed tensor"
    with pytest.raises(ValueError, match="SHA-256"):
        download(src.as_uri(), tmp_path / "no.bin", sha256="0" * 64)
    assert not (tmp_path / "no.bin").exists() and not list(tmp_path.glob("*.part"))
    blob = hashlib.sha1(b"blob 12\0speed tensor").hexdigest()
    assert download(src.as_uri(), tmp_path / "git.bin", git_blob_sha1=blob).exists()


def test_missing_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="chickenpox.json"):
        T.load_chickenpox(tmp_path)
    with pytest.raises(ValueError, match="lags"):
        T.load_chickenpox(__import__("pathlib").Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "ChickenpoxHungary", lags=0)


def test_forecast_cli_end_to_end(tmp_path, shared_datasets):
    from gnnkit.cli import main

    out = tmp_path / "run"
    code = main(["train", "--task", "forecast", "--dataset", "los-loop", "--root", str(shared_datasets), "--model", "dcrnn",
                 "--epochs", "1", "--max-batches", "1", "--hidden", "4", "--layers", "1", "--batch-size", "64",
                 "--seq-len", "3", "--horizon", "2", "--out", str(out), "--no-progress", "--threads", "1"])
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["per_horizon"]["mae"]) == 2 and metrics["test_mae"] > 0 and metrics["caching"]
    for name in ("forecast.png", "checkpoint_last.pt", "best_model.pt", "metrics_log.csv"):
        assert (out / name).is_file()
    assert main(["train", "--task", "forecast", "--model", "gat", "--root", str(shared_datasets)]) == 2


def test_masked_metrics_ignore_zero_targets():
    from gnnkit.tasks.forecast import masked_metrics

    true = torch.tensor([[[[2.0], [0.0]], [[4.0], [5.0]]]])  # [B=1, H=2, N=2, F=1]
    pred = torch.tensor([[[[3.0], [9.0]], [[2.0], [5.0]]]])
    m = masked_metrics(pred, true)
    assert m["mae"] == [1.0, 1.0] and m["mape"][0] == pytest.approx(50.0) and m["rmse"][1] == pytest.approx(2 ** 0.5)
