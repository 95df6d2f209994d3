"""DEQGNN: a deep-equilibrium (implicit, infinitely deep weight-tied) GNN (Bai et al. 2019 "Deep
Equilibrium Models"; Gu et al. 2020 "Implicit Graph Neural Networks").

    u  = Linear(Dropout(x))                                   (input injection, [N, H])
    z* = f(z*)  with  f(z) = tanh( gamma * Â z W~ + u )      (the equilibrium, [N, H])
    y  = Linear(Dropout(z*))

Â = D^{-1/2}(A + I)D^{-1/2} (||Â||_2 <= 1 for a symmetric graph) and W~ = W / max(1, ||W||_2), so
f is a gamma-contraction in z and the fixed point exists and is unique. The forward pass finds z*
with a root solver (``'anderson'`` or ``'broyden'``) under ``no_grad``, then applies f once more
with autograd on. Backward uses the implicit function theorem: the gradient at z* is the solution
of the linear fixed point

    g = J_f(z*)^T g + dL/dz*

found by the same solver from vector-Jacobian products of that one application of f. Memory is
therefore that of two applications of f, independent of the number of solver iterations; the
parameters are those of one layer.
"""

from __future__ import annotations

import torch
from torch import nn

from ..dropout import functional_dropout

from ... import ops
from .solvers import SOLVERS, fixed_point_solve

__all__ = ["DEQGNN"]


class DEQGNN(nn.Module):
    def __init__(
        self,
        in_feats: int,
        hidden: int,
        out_feats: int,
        gamma: float = 0.8,
        solver: str = "anderson",
        max_iter: int = 40,
        tol: float = 1e-4,
        backward_solver: str | None = None,
        backward_max_iter: int | None = None,
        backward_tol: float | None = None,
        dropout: float = 0.0,
        input_dropout: float = 0.0,
    ):
        super().__init__()
        for name, value in (("in_feats", in_feats), ("hidden", hidden), ("out_feats", out_feats), ("max_iter", max_iter)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"DEQGNN: {name} must be a positive int, got {value!r}")
        if not 0.0 < gamma < 1.0:
            raise ValueError(f"DEQGNN: gamma must lie in (0, 1) for a contraction, got {gamma}")
        for name, value in (("solver", solver), ("backward_solver", backward_solver or solver)):
            if value not in SOLVERS:
                raise ValueError(f"DEQGNN: {name} must be one of {sorted(SOLVERS)}, got {value!r}")
        self.hidden, self.gamma = hidden, float(gamma)
        self.solver, self.max_iter, self.tol = solver, max_iter, float(tol)
        self.backward_solver = backward_solver or solver
        self.backward_max_iter = backward_max_iter or max_iter
        self.backward_tol = float(backward_tol if backward_tol is not None else tol)
        self.dropout, self.input_dropout = float(dropout), float(input_dropout)
        self.encoder = nn.Linear(in_feats, hidden)
        self.weight = nn.Parameter(torch.empty(hidden, hidden))
        self.decoder = nn.Linear(hidden, out_feats)
        self.last_forward_info: dict = {}
        self.last_backward_info: dict = {}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        self.encoder.reset_parameters()
        self.decoder.reset_parameters()
        nn.init.orthogonal_(self.weight)

    def contractive_weight(self) -> torch.Tensor:
        """W / max(1, ||W||_2): spectral norm at most one."""
        sigma = torch.linalg.matrix_norm(self.weight, ord=2)
        return self.weight / torch.clamp(sigma, min=1.0)

    @staticmethod
    def _propagate(g, z: torch.Tensor) -> torch.Tensor:
        # Â z with Â = D^{-1/2} (A + I) D^{-1/2}; z: [N, H]
        adj = g.sparse
        norm = (adj.in_degrees() + 1).to(z.dtype).rsqrt().view(-1, 1)
        h = z * norm
        return (ops.gspmm(adj, "copy_u", "sum", ufeat=h) + h) * norm

    def layer(self, g, z: torch.Tensor, u: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """f(z) = tanh(gamma * Â z W~ + u)."""
        return torch.tanh(self.gamma * self._propagate(g, z @ weight) + u)

    def equilibrium(self, g, x: torch.Tensor) -> torch.Tensor:
        """z* [N, hidden] with gradients by implicit differentiation."""
        if g.num_src_nodes() != g.num_dst_nodes():
            raise ValueError("DEQGNN: needs a square graph (num_src == num_dst), not a block")
        u = self.encoder(functional_dropout(x, self.input_dropout, self.training))
        weight = self.contractive_weight()
        with torch.no_grad():
            z_star, info = fixed_point_solve(self.solver, lambda z: self.layer(g, z, u, weight), torch.zeros_like(u), self.max_iter, self.tol)
        self.last_forward_info = info
        if not torch.is_grad_enabled():
            return z_star
        # One application with autograd: gives the gradients of u and the weights at z*.
        z = self.layer(g, z_star, u, weight)
        if z.requires_grad:
            z_leaf = z_star.detach().requires_grad_(True)
            f_at_leaf = self.layer(g, z_leaf, u, weight)

            def implicit_backward(grad: torch.Tensor) -> torch.Tensor:
                def vjp_step(v):
                    return torch.autograd.grad(f_at_leaf, z_leaf, v, retain_graph=True)[0] + grad

                solution, back_info = fixed_point_solve(self.backward_solver, vjp_step, grad, self.backward_max_iter, self.backward_tol)
                self.last_backward_info = back_info
                return solution

            z.register_hook(implicit_backward)
        return z

    def forward(self, g, x: torch.Tensor) -> torch.Tensor:
        # x: [N, in_feats] -> [N, out_feats]
        z = self.equilibrium(g, x)
        return self.decoder(functional_dropout(z, self.dropout, self.training))

    def extra_repr(self) -> str:
        return f"hidden={self.hidden}, gamma={self.gamma}, solver={self.solver!r}, max_iter={self.max_iter}, tol={self.tol}"
