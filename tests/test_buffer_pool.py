"""BufferPool and gk.batch's reuse of dropped outputs: a buffer is written again only when no
tensor, view, autograd record or shared-memory consumer can still see it."""

import sys

import pytest
import torch

import gnnkit as gk
from gnnkit.data import GraphDataLoader, GraphDataset
from gnnkit.graph.buffer_pool import _UNREFERENCED, BufferPool

pytestmark = pytest.mark.skipif(_UNREFERENCED is None, reason="this PyTorch exposes no storage use count")

N = 1 << 18  # 2 MB of float64: above the pool's 1 MB floor


def _same_storage(a, b):
    return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()


def test_a_dropped_buffer_is_reused_and_a_live_one_is_not():
    pool = BufferPool(slots=2)
    a = pool.empty(N, torch.float64, "cpu")
    b = pool.empty(N, torch.float64, "cpu")
    assert not _same_storage(a, b)
    address = a.data_ptr()
    del a
    c = pool.empty(N, torch.float64, "cpu")
    assert c.data_ptr() == address and c.numel() == N


def test_views_numpy_arrays_and_autograd_records_keep_a_buffer_alive():
    pool = BufferPool(slots=1)
    a = pool.empty(N, torch.float64, "cpu")
    tail = a[10:]
    array = a.numpy()
    del a
    assert not _same_storage(pool.empty(N, torch.float64, "cpu"), tail)
    del tail
    assert not _same_storage(pool.empty(N, torch.float64, "cpu"), torch.from_numpy(array))
    del array
    x = pool.empty(N, torch.float64, "cpu").fill_(2.0)
    w = torch.ones((), dtype=torch.float64, requires_grad=True)
    y = (x * w).sum()  # saves x for the backward pass
    address = x.data_ptr()
    del x
    assert pool.empty(N, torch.float64, "cpu").data_ptr() != address
    y.backward()
    assert w.grad.item() == 2.0 * N


def test_shared_memory_buffers_leave_the_pool():
    pool = BufferPool(slots=1)
    a = pool.empty(N, torch.float64, "cpu")
    a.share_memory_()
    address = a.data_ptr()
    del a
    assert pool.empty(N, torch.float64, "cpu").data_ptr() != address


def test_sizes_dtypes_small_requests_and_zero_slots():
    pool = BufferPool(slots=3)
    a = pool.empty(N, torch.float64, "cpu")
    kept = a.data_ptr()
    del a
    other_dtype = pool.empty(N, torch.int64, "cpu")
    much_smaller = pool.empty(N // 2 - 1, torch.float64, "cpu")  # would leave over half unused
    assert kept not in (other_dtype.data_ptr(), much_smaller.data_ptr())
    assert pool.empty(N // 2, torch.float64, "cpu").data_ptr() == kept
    small = pool.empty(10, torch.float64, "cpu")  # below min_bytes: a plain tensor, not pooled
    assert small.numel() == 10 and len(pool) == 2  # the float64 and int64 buffers
    full = BufferPool(slots=1)
    c = full.empty(N, torch.float64, "cpu")
    del c
    d = full.empty(N, torch.int64, "cpu")  # the free float64 buffer makes room
    assert len(full) == 1 and full._buffers[0].dtype == torch.int64 and d.dtype == torch.int64
    off = BufferPool(slots=0)
    b = off.empty(N, torch.float64, "cpu")
    del b
    assert len(off) == 0
    with pytest.raises(ValueError, match="slots must be >= 0"):
        BufferPool(slots=-1)


def _graphs(count=300, nodes=100, edges=600, seed=0, width=16):
    gen = torch.Generator().manual_seed(seed)
    graphs = []
    for _ in range(count):
        g = gk.graph((torch.randint(0, nodes, (edges,), generator=gen), torch.randint(0, nodes, (edges,), generator=gen)),
                     num_nodes=nodes)
        g.ndata["h"] = torch.randn(nodes, width, generator=gen)
        graphs.append(g)
    return graphs


def test_batch_outputs_stay_intact_while_held_and_reuse_gives_the_same_values():
    pool = sys.modules["gnnkit.graph.batch"].BATCH_BUFFERS
    pool.clear()
    first, second = _graphs(seed=1), _graphs(seed=2)
    a = gk.batch(first)
    a_edges, a_feat = torch.stack(a.edges()).clone(), a.ndata["h"].clone()
    b = gk.batch(second)  # a is alive: b must not be written into a's buffers
    assert torch.equal(torch.stack(a.edges()), a_edges) and torch.equal(a.ndata["h"], a_feat)
    b_edges, b_feat = torch.stack(b.edges()).clone(), b.ndata["h"].clone()
    address = a.ndata["h"].data_ptr()
    del a
    c = gk.batch(first)
    assert c.ndata["h"].data_ptr() == address  # written into the dropped batch's memory
    assert torch.equal(torch.stack(c.edges()), a_edges) and torch.equal(c.ndata["h"], a_feat)
    assert torch.equal(torch.stack(b.edges()), b_edges) and torch.equal(b.ndata["h"], b_feat)


def test_batch_of_features_that_need_gradients_keeps_the_graph():
    graphs = _graphs(count=200)
    for g in graphs:
        g.ndata["h"].requires_grad_(True)
    bg = gk.batch(graphs)
    bg.ndata["h"].sum().backward()
    assert all(torch.equal(g.ndata["h"].grad, torch.ones(100, 16)) for g in graphs)


def test_loader_with_worker_processes_gives_the_batches_of_the_main_process():
    # Each worker makes three batches of 2.6 MB of edges and 3.3 MB of features (pooled sizes);
    # every batch is held to the end, so a worker writing into memory it has sent would show.
    graphs = _graphs(count=240, nodes=200, edges=2000, width=100)
    dataset = GraphDataset("pooled", graphs, torch.arange(240) % 2)
    expected = [(torch.stack(bg.edges()).clone(), bg.ndata["h"].clone()) for bg, _ in GraphDataLoader(dataset, batch_size=40)]
    got = [(torch.stack(bg.edges()), bg.ndata["h"]) for bg, _ in GraphDataLoader(dataset, batch_size=40, num_workers=2)]
    assert len(got) == len(expected)
    for (e1, h1), (e2, h2) in zip(expected, got):
        assert torch.equal(e1, e2) and torch.equal(h1, h2)
