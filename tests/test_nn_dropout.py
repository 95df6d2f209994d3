"""gnnkit.nn.Dropout: the distribution, the scale, the gradient, eval mode and seeding."""

import pytest
import torch

import gnnkit.nn as gnn
from gnnkit.nn.dropout import functional_dropout


@pytest.fixture(autouse=True)
def _single_thread():
    # These tensors are tiny: a second OpenMP thread only adds synchronisation, which costs
    # seconds per test when the machine is oversubscribed. (conftest restores 2 threads.)
    torch.set_num_threads(1)
    yield


@pytest.mark.parametrize("p", [0.1, 0.5, 0.6, 0.9])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_drop_rate_and_scale(p, dtype):
    x = torch.ones(400, 500, dtype=dtype)
    y = functional_dropout(x, p)
    assert y.dtype == dtype and y.shape == x.shape
    dropped = (y == 0).double().mean().item()
    # 200k Bernoulli draws: the standard deviation of the rate is below 0.0012.
    assert abs(dropped - p) < 0.006
    kept = y[y != 0]
    # Kept values are scaled by 1 / q' with q' the keep probability rounded to 2^-16.
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p)), rtol=2e-4, atol=0)
    assert abs(y.double().mean().item() - 1) < 0.02


def test_expectation_is_exact_after_rounding():
    # p = 0.3 is not a multiple of 2^-8; the scale uses the rounded keep probability, so
    # E[mask * scale] = 1 exactly; check the value of the scale directly.
    y = functional_dropout(torch.ones(1000), 0.3)
    kept_value = y[y != 0][0].item()
    rounded_keep = round(0.7 * 65536) / 65536
    assert kept_value == pytest.approx(1 / rounded_keep, rel=1e-6)


def test_gradient_is_the_mask():
    x = torch.randn(300, 40, requires_grad=True)
    y = functional_dropout(x, 0.5)
    y.backward(torch.ones_like(y))
    mask = (y != 0).to(x.dtype) * 2.0
    torch.testing.assert_close(x.grad, mask)


def test_eval_identity_and_edge_probabilities():
    x = torch.randn(50, 7)
    module = gnn.Dropout(0.5)
    module.eval()
    assert module(x) is x
    assert functional_dropout(x, 0.5, training=False) is x
    assert functional_dropout(x, 0.0) is x
    torch.testing.assert_close(functional_dropout(x, 1.0), torch.zeros_like(x))
    assert "p=0.5" in repr(gnn.Dropout(0.5))
    for bad in (-0.1, 1.5, "0.5", True):
        with pytest.raises(ValueError, match="p"):
            gnn.Dropout(bad)


def test_seeded_by_torch_manual_seed():
    x = torch.randn(64, 64)
    torch.manual_seed(7)
    a = functional_dropout(x, 0.5)
    torch.manual_seed(7)
    b = functional_dropout(x, 0.5)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, functional_dropout(x, 0.5))


def test_non_float_falls_back_and_masks_are_independent_of_layout():
    x = torch.randn(20, 30).t()  # non-contiguous input
    y = functional_dropout(x, 0.5)
    assert y.shape == x.shape
    nonzero = y != 0
    torch.testing.assert_close(y[nonzero], x[nonzero] * 2)
    half = torch.randn(1000, dtype=torch.bfloat16)
    assert functional_dropout(half, 0.5).dtype == torch.bfloat16
