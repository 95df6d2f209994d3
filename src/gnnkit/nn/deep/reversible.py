"""Grouped reversible residual connections (Li et al. 2021, "Training Graph Neural Networks with 1000
Layers", RevGNN), and the deep and weight-tied reversible GNNs built on them.

``GroupRevRes(block, groups=C)`` splits the channels of x [N, D] into C groups x_1..x_C and computes

    y_0 = sum_{i >= 2} x_i;     y_i = f_i(y_{i-1}, A) + x_i     for i = 1..C;     y = [y_1, ..., y_C]

which is invertible: x_i = y_i - f_i(y_{i-1}) for i = C..2, then y_0 = sum_{i >= 2} x_i and
x_1 = y_1 - f_1(y_0). The custom autograd function runs the forward pass without keeping any
intermediate activation and, when its input came from another reversible layer, frees the input's
memory as well; the backward pass rebuilds each input from the output while it backpropagates
(one forward and one backward evaluation of every f_i, the RevNet schedule), so the memory of a
stack of L layers is that of one layer, whatever L.

Exact reconstruction despite randomness and normalisation:
* every f_i call runs under its own seed drawn from the global generator in the forward pass, so
  dropout masks are replayed bit for bit in the backward pass (and the non-reversible reference
  path, ``reversible=False``, draws the same seeds);
* normalisation in training mode uses the batch statistics of its input, which the replay
  reproduces; the running statistics the replay would update a second time are snapshotted and
  restored, so BatchNorm buffers end up as after one ordinary training step.

Rule of use: the output of a reversible layer may feed another reversible layer (which will free
it) or anything else, but not both. Set ``preserve_input=True`` on a layer whose input is also
used elsewhere.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ..dropout import functional_dropout

from ..conv.gen_conv import make_norm
from .models import GCNLayer

__all__ = ["GroupRevRes", "RevGNN", "WeightTiedRevGNN", "PreActBlock"]

_SEED_BOUND = 2**62


def _seeded(seed: int | None, device: torch.device):
    """A context that runs under ``seed`` and leaves the global generator as it was."""
    if seed is None:
        return torch.enable_grad() if torch.is_grad_enabled() else torch.no_grad()
    devices = [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    fork = torch.random.fork_rng(devices=devices)

    class _Ctx:
        def __enter__(self):
            fork.__enter__()
            if device.type == "cuda":
                torch.cuda.manual_seed(seed)
            else:
                torch.default_generator.manual_seed(seed)

        def __exit__(self, *exc):
            return fork.__exit__(*exc)

    return _Ctx()


class GroupRevRes(nn.Module):
    def __init__(self, block, groups: int = 2, reversible: bool = True, preserve_input: bool = False):
        super().__init__()
        if isinstance(block, (nn.ModuleList, list, tuple)):
            blocks = nn.ModuleList(block)
        else:
            if not isinstance(groups, int) or groups < 2:
                raise ValueError(f"GroupRevRes: groups must be an int >= 2, got {groups!r}")
            blocks = nn.ModuleList([block])
            for _ in range(groups - 1):
                clone = copy.deepcopy(block)
                if hasattr(clone, "reset_parameters"):
                    clone.reset_parameters()
                blocks.append(clone)
        if len(blocks) < 2:
            raise ValueError(f"GroupRevRes: needs at least 2 groups, got {len(blocks)}")
        self.blocks = blocks
        self.reversible = bool(reversible)
        self.preserve_input = bool(preserve_input)

    @property
    def groups(self) -> int:
        return len(self.blocks)

    def reset_parameters(self) -> None:
        for block in self.blocks:
            if hasattr(block, "reset_parameters"):
                block.reset_parameters()

    def forward(self, g, x: torch.Tensor, *args) -> torch.Tensor:
        # x: [N, D] with D divisible by groups -> [N, D]
        if x.dim() != 2 or x.shape[-1] % self.groups != 0:
            raise ValueError(f"GroupRevRes: x must be [N, D] with D divisible by groups={self.groups}, got {tuple(x.shape)}")
        # Seeds only matter when something random runs; drawing them keeps both paths identical.
        seeds = torch.randint(0, _SEED_BOUND, (self.groups,)).tolist() if self.training else [None] * self.groups
        if not (self.reversible and torch.is_grad_enabled()):
            return self._coupled_forward(g, x, args, seeds)
        params = tuple(p for p in self.parameters() if p.requires_grad)
        in_state = getattr(x, "_gk_reversible_state", None)
        free_input = in_state is not None and not self.preserve_input
        out_state = {"freed": False}
        y = _GroupRevFunction.apply(self, g, args, seeds, free_input, in_state, out_state, x, *params)
        y._gk_reversible_state = out_state
        return y

    def _run_block(self, i: int, g, h: torch.Tensor, args, seed) -> torch.Tensor:
        with _seeded(seed, h.device):
            return self.blocks[i](g, h, *args)

    def _coupled_forward(self, g, x, args, seeds, release_input=None) -> torch.Tensor:
        xs = x.chunk(self.groups, -1)
        h = sum(xs[1:])
        outs = []
        for i in range(self.groups):
            h = xs[i] + self._run_block(i, g, h, args, seeds[i])
            outs.append(h)
        del xs, h
        if release_input is not None:
            release_input()  # x is no longer read: free it before the concatenation allocates y
        return torch.cat(outs, -1)

    def extra_repr(self) -> str:
        return f"groups={self.groups}, reversible={self.reversible}"


def _snapshot_buffers(module: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(buf, buf.clone()) for buf in module.buffers()]


def _restore_buffers(snapshot) -> None:
    with torch.no_grad():
        for buf, saved in snapshot:
            buf.copy_(saved)


def _owns_storage(t: torch.Tensor, *others) -> bool:
    """Whether ``t`` is a plain tensor whose memory no tensor in ``others`` (or lists of them) shares.

    autograd.grad may hand back an incoming gradient itself when a block passes it straight
    through; such a result must not be updated in place.
    """
    if t._base is not None or not t.is_contiguous():
        return False
    ptr = t.untyped_storage().data_ptr()
    for other in others:
        for o in other if isinstance(other, (list, tuple)) else (other,):
            if o is not None and o.untyped_storage().data_ptr() == ptr:
                return False
    return True


class _GroupRevFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, module, g, args, seeds, free_input, in_state, out_state, x, *params):
        def release_input():
            x.untyped_storage().resize_(0)
            in_state["freed"] = True

        with torch.no_grad():
            y = module._coupled_forward(g, x, args, seeds, release_input if free_input else None)
        ctx.module, ctx.g, ctx.args, ctx.seeds = module, g, args, seeds
        ctx.in_state, ctx.out_state, ctx.free_input = in_state, out_state, free_input
        # Aliases share storage with x and y but not their autograd history: no reference cycle.
        ctx.x_alias, ctx.y_alias = x.detach(), y.detach()
        ctx.x_bytes = x.numel() * x.element_size()
        ctx.params = params
        return y

    @staticmethod
    def backward(ctx, grad_y):
        module, seeds, g, args = ctx.module, ctx.seeds, ctx.g, ctx.args
        y = ctx.y_alias
        if y.untyped_storage().size() == 0:
            raise RuntimeError(
                "GroupRevRes: the output of this reversible layer was freed before its backward pass; "
                "it was probably used both by another reversible layer and elsewhere (set preserve_input=True there)"
            )
        groups = module.groups
        x_alias = ctx.x_alias
        if ctx.free_input:
            x_alias.untyped_storage().resize_(ctx.x_bytes)  # refilled group by group below
        # Group views; only the block inputs are made contiguous (batch norm is slow on strided views).
        ys, xs, grad_ys = y.chunk(groups, -1), x_alias.chunk(groups, -1), grad_y.chunk(groups, -1)
        # The gradient of x_i is that of y_i (grad_out below); gathered at the end, so no [N, D]
        # buffer is held while the blocks are recomputed (the top group's is a view of grad_y).
        grad_xs: list[torch.Tensor | None] = [None] * groups
        position = {id(p): k for k, p in enumerate(ctx.params)}
        param_grads: list[torch.Tensor | None] = [None] * len(ctx.params)
        carry = None  # gradient reaching y_{i} through f_{i+1}
        release_output = ctx.out_state["freed"]  # the next reversible layer rebuilt y for us alone
        y_parked = False
        for i in reversed(range(groups)):
            if carry is None:
                grad_out = grad_ys[i]
            elif _owns_storage(carry, grad_y, grad_xs):
                grad_out = carry.add_(grad_ys[i])  # reuse the carry's buffer: one [N, D/C] fewer at the peak
            else:
                grad_out = grad_ys[i] + carry
            carry = None
            # x_2..x_C are rebuilt by now (or were never freed), so y_0 is available for i = 0.
            block_input = ys[i - 1].contiguous() if i > 0 else sum(xs[1:])
            block = module.blocks[i]
            block_params = [p for p in block.parameters() if id(p) in position]
            snapshot = _snapshot_buffers(block)
            with torch.enable_grad():
                h = block_input.detach().requires_grad_(True)
                f = module._run_block(i, g, h, args, seeds[i])
            if ctx.free_input:
                with torch.no_grad():
                    if y_parked:  # i == 0: x_0's slot already holds y_0 (parked below)
                        xs[0].sub_(f.detach())
                    else:
                        xs[i].copy_(ys[i]).sub_(f.detach())
                if i == 1 and release_output:
                    # y_0 is the last part of y still needed (for x_0 = y_0 - f_0): park it in
                    # x_0's slot and free y now, so group 0 is recomputed without the [N, D] output.
                    with torch.no_grad():
                        xs[0].copy_(ys[0])
                    y_parked = True
            if release_output and (y_parked or i == 0):
                # y is used up; the next reversible layer rebuilt it for us alone.
                del ys
                y.untyped_storage().resize_(0)
                release_output = False
            grads = torch.autograd.grad(f, [h, *block_params], grad_out, allow_unused=True)
            # After the gradient: batch norm saves its running buffers for its backward pass.
            _restore_buffers(snapshot)
            del f, h, block_input
            carry = grads[0]
            grad_xs[i] = grad_out
            del grad_out
            for p, grad in zip(block_params, grads[1:]):
                if grad is None:
                    continue
                k = position[id(p)]
                param_grads[k] = grad if param_grads[k] is None else param_grads[k] + grad
        # carry is now the gradient of y_0 = sum_{i >= 2} x_i.
        grad_x = torch.cat(grad_xs, -1)
        del grad_xs
        if carry is not None:
            for part in grad_x.chunk(groups, -1)[1:]:
                part.add_(carry)
        return (None, None, None, None, None, None, None, grad_x, *param_grads)


class PreActBlock(nn.Module):
    """``f(x) = Conv(Dropout(ReLU(Norm(x))))``, the pre-activation block RevGNN couples."""

    def __init__(self, conv: nn.Module, channels: int, norm: str | None = "batch", dropout: float = 0.0):
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"PreActBlock: dropout must lie in [0, 1), got {dropout}")
        self.norm = make_norm(norm, channels)
        self.conv = conv
        self.dropout = float(dropout)

    def reset_parameters(self) -> None:
        for module in (self.norm, self.conv):
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, g, x: torch.Tensor, *args) -> torch.Tensor:
        return self.conv(g, functional_dropout(F.relu(self.norm(x)), self.dropout, self.training), *args)


def _block_factory(conv, norm, dropout):
    if conv == "gcn":
        make_conv = lambda c: GCNLayer(c, c)  # noqa: E731
    elif callable(conv) and not isinstance(conv, str):
        make_conv = conv
    else:
        raise ValueError(f"conv must be 'gcn' or a callable channels -> module, got {conv!r}")
    return lambda c: PreActBlock(make_conv(c), c, norm, dropout)


class RevGNN(nn.Module):
    """Deep reversible GNN: ``Linear -> L x GroupRevRes(PreActBlock) -> Norm -> ReLU -> Linear``.

    Training memory is independent of ``num_layers`` (one layer's activations plus the input and
    output); parameters grow with it. ``reversible=False`` runs the same network with ordinary
    autograd (the reference).
    """

    def __init__(self, in_feats: int, hidden: int, out_feats: int, num_layers: int, groups: int = 2, conv="gcn", norm: str | None = "batch", dropout: float = 0.0, reversible: bool = True):
        super().__init__()
        for name, value in (("in_feats", in_feats), ("hidden", hidden), ("out_feats", out_feats), ("num_layers", num_layers)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{type(self).__name__}: {name} must be a positive int, got {value!r}")
        if hidden % groups != 0:
            raise ValueError(f"{type(self).__name__}: hidden ({hidden}) must be divisible by groups ({groups})")
        self.num_layers, self.dropout = num_layers, float(dropout)
        make_block = _block_factory(conv, norm, dropout)
        self.encoder = nn.Linear(in_feats, hidden)
        self.layers = self._build_layers(make_block, hidden, groups, num_layers, reversible)
        self.final_norm = make_norm(norm, hidden)
        self.decoder = nn.Linear(hidden, out_feats)

    def _build_layers(self, make_block, hidden, groups, num_layers, reversible):
        width = hidden // groups
        return nn.ModuleList([GroupRevRes([make_block(width) for _ in range(groups)], reversible=reversible) for _ in range(num_layers)])

    def _layer_sequence(self):
        return self.layers

    def set_reversible(self, reversible: bool) -> None:
        for layer in self.modules():
            if isinstance(layer, GroupRevRes):
                layer.reversible = bool(reversible)

    def reset_parameters(self) -> None:
        for module in self.modules():
            if module is not self and hasattr(module, "reset_parameters"):
                module.reset_parameters()

    def forward(self, g, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in_feats] -> [N, out_feats]
        h = self.encoder(x)
        # Only the first reversible layer reads the encoder output (the encoder's backward needs
        # x, not h): let that layer free it and rebuild it, as it does for every later input.
        h._gk_reversible_state = {"freed": False}
        for layer in self._layer_sequence():
            h = layer(g, h)
        h = functional_dropout(F.relu(self.final_norm(h)), self.dropout, self.training)
        return self.decoder(h)


class WeightTiedRevGNN(RevGNN):
    """A reversible GNN whose ``num_layers`` layers share one set of block weights.

    Parameters are O(D^2) and training memory O(N D), both independent of depth: the one
    ``GroupRevRes`` is applied ``num_layers`` times (each application draws fresh dropout seeds;
    the gradients of the shared weights add up over the applications).
    """

    def _build_layers(self, make_block, hidden, groups, num_layers, reversible):
        width = hidden // groups
        return nn.ModuleList([GroupRevRes([make_block(width) for _ in range(groups)], reversible=reversible)])

    def _layer_sequence(self):
        return [self.layers[0]] * self.num_layers
