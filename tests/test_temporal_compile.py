"""The cells' elementwise gate math through torch.compile: same outputs and gradients as eager
(float64, 1e-8), and caching still changes nothing with it on. Skipped without a C++ compiler
(inductor needs one on CPU)."""

import shutil

import pytest
import torch

import gnnkit.temporal as T
from gnnkit.temporal.cells import _gates

pytestmark = pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None, reason="torch.compile on CPU needs a C++ compiler")


@pytest.fixture(autouse=True)
def _compiled_gates():
    torch.set_num_threads(1)
    T.compile_gates(True)
    yield
    T.compile_gates(False)


def _ops(n=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    adj = torch.rand(n, n, generator=g, dtype=torch.float64) * (torch.rand(n, n, generator=g) < 0.4)
    adj.fill_diagonal_(0)
    adj[torch.arange(n), (torch.arange(n) + 1) % n] = 0.5
    return T.GraphOperators.from_dense(adj)


def test_compiled_gate_functions_equal_eager():
    assert _gates.gates_compiled()
    gen = torch.Generator().manual_seed(1)
    args = [torch.randn(10, 4, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(5)]
    peep = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    cases = [("gru_reset", args[:3]), ("gru_update", args[:3]), ("lstm_update", args[:5] + [peep])]
    for name, inputs in cases:
        compiled, eager = getattr(_gates, name)(*inputs), _gates._EAGER[name](*inputs)
        compiled, eager = (compiled, eager) if isinstance(compiled, tuple) else ((compiled,), (eager,))
        weights = [torch.randn_like(o) for o in compiled]
        grads_c = torch.autograd.grad(compiled, inputs, weights)
        grads_e = torch.autograd.grad(eager, inputs, weights)
        for a, b in zip(list(compiled) + list(grads_c), list(eager) + list(grads_e)):
            assert torch.allclose(a, b, rtol=0, atol=1e-8), name


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_caching_with_compiled_gates_changes_nothing(cell):
    torch.manual_seed(0)
    model = T.GCRN(2, 1, 4, num_layers=2, cell=cell, K=2).double()
    ops = _ops()
    series = torch.randn(7, 7, 2, dtype=torch.float64)
    ids = torch.arange(2)[:, None] + torch.arange(4)[None]
    x, y = series[ids], torch.randn(2, 3, 7, 1, dtype=torch.float64)
    results = []
    for caching in (True, False):
        model.set_caching(caching)
        model.zero_grad()
        out = model(ops, x, 3, snapshot_ids=ids if caching else None)
        ((out - y) ** 2).sum().backward()
        results.append((out.detach().clone(), [p.grad.clone() for p in model.parameters()]))
    assert torch.allclose(results[0][0], results[1][0], rtol=0, atol=1e-8)
    for g0, g1 in zip(results[0][1], results[1][1]):
        assert torch.allclose(g0, g1, rtol=0, atol=1e-8)
