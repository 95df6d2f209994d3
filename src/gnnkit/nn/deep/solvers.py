"""Root solvers for fixed points z = f(z): Anderson acceleration and (limited-memory) Broyden.

Both take ``f`` on tensors of any shape and a start ``z0``, work on the flattened vector, stop
when the relative residual ``||f(z) - z|| / (||f(z)|| + 1e-9)`` drops below ``tol`` or after
``max_iter`` evaluations, and return ``(z, info)`` with ``info = {'iterations', 'residual',
'residuals'}`` (the best iterate is returned). They run whatever autograd mode the caller is in;
:class:`~gnnkit.nn.deep.deq.DEQGNN` calls them under ``torch.no_grad()``.

* Anderson (Walker & Ni 2011): mixes the last ``m`` iterates with weights alpha minimising
  ``||sum_j alpha_j (f(z_j) - z_j)||`` subject to ``sum_j alpha_j = 1`` (a ridge ``lam`` keeps the
  small least-squares system well posed, relative to its scale): ``z_{k+1} = beta sum alpha_j f(z_j) + (1 - beta) sum alpha_j z_j``.
* Broyden ("good" Broyden on g(z) = f(z) - z): keeps an inverse-Jacobian estimate
  ``B = -I + U V^T`` as at most ``memory`` rank-one terms and steps ``z <- z - B g(z)``.
"""

from __future__ import annotations

import torch

__all__ = ["anderson", "broyden", "fixed_point_solve", "SOLVERS"]


def _residual(fz: torch.Tensor, z: torch.Tensor) -> float:
    return float((fz - z).norm() / (fz.norm() + 1e-9))


def anderson(f, z0: torch.Tensor, max_iter: int = 50, tol: float = 1e-5, m: int = 5, lam: float = 1e-4, beta: float = 1.0):
    shape = z0.shape

    def flat_f(v):
        return f(v.view(shape)).reshape(-1)

    x0 = z0.reshape(-1)
    dim = x0.numel()
    X = x0.new_zeros(m, dim)  # past iterates
    F = x0.new_zeros(m, dim)  # f of the past iterates
    X[0], F[0] = x0, flat_f(x0)
    X[1], F[1] = F[0], flat_f(F[0])
    residuals = [_residual(F[0], X[0]), _residual(F[1], X[1])]
    best, best_res, iterations = X[1].clone(), residuals[1], 2
    if residuals[0] < best_res:
        best, best_res = X[0].clone(), residuals[0]
    H = x0.new_zeros(m + 1, m + 1)
    H[0, 1:] = H[1:, 0] = 1
    rhs = x0.new_zeros(m + 1, 1)
    rhs[0] = 1
    for k in range(2, max_iter):
        if best_res < tol:
            break
        n = min(k, m)
        G = F[:n] - X[:n]
        gram = G @ G.T
        # The ridge is relative to the Gram matrix: near convergence its entries are tiny.
        ridge = lam * float(gram.diagonal().max()) + 1e-300
        H[1 : n + 1, 1 : n + 1] = gram + ridge * torch.eye(n, dtype=x0.dtype, device=x0.device)
        alpha = torch.linalg.solve(H[: n + 1, : n + 1], rhs[: n + 1])[1 : n + 1, 0]
        slot = k % m
        X[slot] = beta * (alpha @ F[:n]) + (1 - beta) * (alpha @ X[:n])
        F[slot] = flat_f(X[slot])
        iterations = k + 1
        res = _residual(F[slot], X[slot])
        residuals.append(res)
        if res < best_res:
            # f(z) is one plain iteration further, and at least as close for a contraction.
            best, best_res = F[slot].clone(), res
    return best.view(shape), {"iterations": iterations, "residual": best_res, "residuals": residuals}


def broyden(f, z0: torch.Tensor, max_iter: int = 50, tol: float = 1e-5, memory: int = 30):
    shape = z0.shape

    def g(v):
        return f(v.view(shape)).reshape(-1) - v

    z = z0.reshape(-1).clone()
    gz = g(z)
    dim = z.numel()
    U = z.new_zeros(memory, dim)
    V = z.new_zeros(memory, dim)
    used = 0

    def apply_inverse(vec):  # B vec with B = -I + U^T V (rows are the rank-one terms)
        out = -vec
        if used:
            out = out + U[:used].T @ (V[:used] @ vec)
        return out

    def apply_inverse_t(vec):  # vec^T B
        out = -vec
        if used:
            out = out + V[:used].T @ (U[:used] @ vec)
        return out

    res0 = float(gz.norm() / ((gz + z).norm() + 1e-9))
    residuals = [res0]
    best, best_res = z.clone(), res0
    iterations = 1
    for _ in range(1, max_iter):
        if best_res < tol:
            break
        step = -apply_inverse(gz)
        z_new = z + step
        gz_new = g(z_new)
        iterations += 1
        delta_g = gz_new - gz
        z, gz = z_new, gz_new
        res = float(gz.norm() / ((gz + z).norm() + 1e-9))
        residuals.append(res)
        if res < best_res:
            best, best_res = z.clone(), res
        # Good Broyden update of the inverse: B += (s - B y) (s^T B) / (s^T B y).
        v = apply_inverse_t(step)
        denom = float(v @ delta_g)
        if abs(denom) < 1e-30:
            continue
        u = (step - apply_inverse(delta_g)) / denom
        if used == memory:  # forget the oldest term
            U[:-1], V[:-1] = U[1:].clone(), V[1:].clone()
            used -= 1
        U[used], V[used] = u, v
        used += 1
    return best.view(shape), {"iterations": iterations, "residual": best_res, "residuals": residuals}


SOLVERS = {"anderson": anderson, "broyden": broyden}


def fixed_point_solve(solver: str, f, z0: torch.Tensor, max_iter: int, tol: float):
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {sorted(SOLVERS)}, got {solver!r}")
    return SOLVERS[solver](f, z0, max_iter=max_iter, tol=tol)
