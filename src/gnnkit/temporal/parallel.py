"""Data-parallel training over windows with ``torch.distributed`` (gloo on CPU, NCCL on GPU).

Every rank walks the same shuffled sequence of global batches (same seed) and takes every
``world_size``-th window of each; gradients are averaged by ``DistributedDataParallel``. The
loss of a rank is its share of the *global* masked MAE (its summed error over the global mask
count, times the world size to undo DDP's averaging), so the updates, and the loss curve, equal
single-process training with the same global batch.

Launch with torchrun::

    torchrun --nproc_per_node 2 -m gnnkit.temporal.parallel --dataset-root ../shared/datasets --steps 20
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

import torch
import torch.distributed as dist

from .propagation import GraphOperators
from .windows import SlidingWindowDataset

__all__ = ["train_data_parallel", "main"]


def _world():
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def train_data_parallel(
    build_model: Callable[[], torch.nn.Module],
    data: SlidingWindowDataset,
    ops: GraphOperators,
    *,
    steps: int,
    global_batch_size: int,
    lr: float = 0.01,
    seed: int = 0,
    caching: bool = True,
    dtype: torch.dtype = torch.float32,
) -> list[float]:
    """Runs ``steps`` optimisation steps; returns the global loss of each step (same on all ranks).

    Works unchanged without a process group (one process holds the whole global batch).
    """
    rank, world = _world()
    if global_batch_size % world:
        raise ValueError(f"train_data_parallel: global_batch_size {global_batch_size} must be divisible by the world size {world}")
    torch.manual_seed(seed)
    model = build_model().to(dtype)
    model.set_caching(caching)
    wrapped = model
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    starts = data.split_starts["train"]
    losses: list[float] = []
    order = starts[torch.randperm(starts.numel(), generator=gen)]
    position = 0
    while len(losses) < steps:
        if position + global_batch_size > order.numel():
            order, position = starts[torch.randperm(starts.numel(), generator=gen)], 0
        batch = order[position : position + global_batch_size]
        position += global_batch_size
        x, y, ids = data.window(batch[rank::world])
        x, y = x.to(dtype), y.to(dtype)
        out = data.denormalize(wrapped(ops, x, data.horizon, snapshot_ids=ids if caching else None))
        mask = (y != 0).to(dtype)
        local_sum = ((out - y).abs() * mask).sum()
        count = mask.sum().detach()
        stats = torch.stack([local_sum.detach(), count])
        if world > 1:
            dist.all_reduce(stats)
        loss = local_sum * world / stats[1].clamp(min=1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(stats[0] / stats[1].clamp(min=1)))
    return losses


def main(argv=None) -> None:
    from .models import DCRNN, GCRN
    from .readers import metr_la_with_los_loop_speeds

    parser = argparse.ArgumentParser(description="Data-parallel DynaGraph training (launch with torchrun)")
    parser.add_argument("--dataset-root", default=os.path.join("..", "shared", "datasets"))
    parser.add_argument("--model", choices=["gcrn-lstm", "gcrn-gru", "dcrnn"], default="gcrn-gru")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    if "RANK" in os.environ:
        dist.init_process_group(backend)
    sensors = metr_la_with_los_loop_speeds(os.path.join(args.dataset_root, "METR-LA"), os.path.join(args.dataset_root, "LosLoop"))
    data = SlidingWindowDataset(sensors.speed, 12, 12, zero_is_missing=True, time_of_day=288)

    def build():
        if args.model == "dcrnn":
            return DCRNN(data.in_feats, 1, args.hidden, 2)
        return GCRN(data.in_feats, 1, args.hidden, 2, cell=args.model.split("-")[1])

    losses = train_data_parallel(build, data, sensors.operators(), steps=args.steps, global_batch_size=args.batch_size, caching=not args.no_cache)
    rank, world = _world()
    if rank == 0:
        print(f"world size {world}: loss per step " + " ".join(f"{v:.4f}" for v in losses))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
