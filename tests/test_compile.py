"""A model made of gnnkit layers runs under torch.compile with the same outputs as eager mode,
and calling it again on the same graph does not recompile (the Graph carries no per-call
Python state that guards would trip on). Graph breaks at the sparse kernels are allowed."""

import pytest
import torch

import gnnkit as gk

nn = pytest.importorskip("gnnkit.nn")


class TwoLayer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.GraphConv(16, 32)
        self.conv2 = nn.GATConv(32, 8, num_heads=2)

    def forward(self, g, x):
        h = torch.relu(self.conv1(g, x))
        return self.conv2(g, h).mean(1)


def _graph(seed):
    gen = torch.Generator().manual_seed(seed)
    g = gk.graph((torch.randint(0, 60, (240,), generator=gen), torch.randint(0, 60, (240,), generator=gen)), num_nodes=60)
    return gk.add_self_loop(g)


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))])
def test_compiled_model_matches_eager_without_recompiling(device):
    import torch._dynamo

    torch._dynamo.reset()
    torch.manual_seed(0)
    model = TwoLayer().to(device)
    g, x = _graph(0).to(device), torch.randn(60, 16, device=device)
    compiled = torch.compile(model)

    # forward and gradients of a training step
    eager_loss = model(g, x).pow(2).sum()
    eager_grads = torch.autograd.grad(eager_loss, list(model.parameters()))
    loss = compiled(g, x).pow(2).sum()
    grads = torch.autograd.grad(loss, list(model.parameters()))
    torch.testing.assert_close(loss, eager_loss, rtol=1e-5, atol=1e-5)
    for got, want in zip(grads, eager_grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)

    # calling again on the same graph reuses the compiled code
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    compiled(g, x)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs_before

    # a different graph of the same kind gives correct results too
    g2 = _graph(1).to(device)
    with torch.no_grad():
        torch.testing.assert_close(compiled(g2, x), model(g2, x), rtol=1e-5, atol=1e-5)
