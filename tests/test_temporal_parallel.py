"""Data-parallel DynaGraph training: 2 gloo processes give the loss curve of one process with
the same global batch (float64)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import gnnkit.temporal as T
from gnnkit.temporal.parallel import train_data_parallel


@pytest.fixture(autouse=True)
def _one_thread():
    # The tensors here are tiny: a second thread only adds fork/join overhead (and stalls
    # badly on a busy machine).
    torch.set_num_threads(1)
    yield


def _problem():
    gen = torch.Generator().manual_seed(0)
    n = 7
    adj = torch.rand(n, n, generator=gen) * (torch.rand(n, n, generator=gen) < 0.4)
    adj[torch.arange(n), (torch.arange(n) + 1) % n] = 1.0
    t = torch.arange(60, dtype=torch.float32)
    series = 50 + 10 * torch.sin(t[:, None] / 4 + torch.arange(n)[None]) + torch.rand(60, n, generator=gen)
    series[5, 2] = 0.0  # a missing reading, masked in the loss
    data = T.SlidingWindowDataset(series, 4, 3, zero_is_missing=True)
    return data, T.GraphOperators.from_dense(adj)


def _build():
    return T.GCRN(1, 1, 5, num_layers=2, cell="gru", K=2)


def _worker(rank, world, port, out_path):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    data, ops = _problem()
    losses = train_data_parallel(_build, data, ops, steps=4, global_batch_size=8, lr=0.05, dtype=torch.float64)
    if rank == 0:
        torch.save(torch.tensor(losses, dtype=torch.float64), out_path)
    dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_loss_curve_matches_single_process(tmp_path):
    data, ops = _problem()
    single = train_data_parallel(_build, data, ops, steps=4, global_batch_size=8, lr=0.05, dtype=torch.float64)
    assert single[-1] < single[0]  # it learns
    out_path = os.fspath(tmp_path / "losses.pt")
    # fork: the workers inherit the imported modules instead of importing torch again.
    mp.start_processes(_worker, args=(2, _free_port(), out_path), nprocs=2, join=True, start_method="fork")
    parallel = torch.load(out_path)
    assert torch.allclose(parallel, torch.tensor(single, dtype=torch.float64), rtol=0, atol=1e-9), (parallel, single)


def test_global_batch_must_split_evenly():
    data, ops = _problem()
    # One process: any batch size works; the divisibility rule is checked against the world size.
    assert len(train_data_parallel(_build, data, ops, steps=1, global_batch_size=3)) == 1
    with pytest.raises(ValueError, match="divisible"):
        from unittest import mock

        with mock.patch("gnnkit.temporal.parallel._world", return_value=(0, 2)):
            train_data_parallel(_build, data, ops, steps=1, global_batch_size=3)
