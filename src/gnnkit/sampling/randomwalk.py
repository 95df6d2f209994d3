"""Random walks over out-edges: uniform, node2vec (p, q) and with restart.

* uniform: from ``v`` go to a uniformly chosen out-neighbour (or along an out-edge chosen with
  probability proportional to ``prob``);
* node2vec (Grover & Leskovec, 2016): the unnormalised probability of stepping from ``v`` to ``x``
  after coming from ``t`` is ``1/p`` if ``x = t``, ``1`` if ``x`` is a neighbour of ``t``, ``1/q``
  otherwise. Drawn by rejection: propose a uniform neighbour, accept with that weight divided
  by ``max(1/p, 1, 1/q)``, repeat for the rejected walkers only;
* restart: before each step, with probability ``restart_prob`` the walker jumps back to its start.

All walkers move together (the Python loop runs over steps, not nodes). A walker at a node
without out-edges stops; the rest of its trace is ``-1``.
"""

from __future__ import annotations

import torch

from ..graph import Graph
from ._utils import check_graph, check_node_ids

__all__ = ["random_walk", "node2vec_random_walk"]

_MAX_REJECTION_ROUNDS = 100


def _sorted_edge_keys(g: Graph) -> torch.Tensor:
    view = g.sparse.out_csr()
    return torch.sort(view.rows * g.num_nodes() + view.indices).values


def random_walk(
    g: Graph,
    nodes,
    length: int,
    p: float = 1.0,
    q: float = 1.0,
    restart_prob: float = 0.0,
    prob=None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Walks ``length`` steps from every node in ``nodes``; returns traces ``[len(nodes), length + 1]``
    (the start node first, ``-1`` after a dead end)."""
    check_graph(g, "random_walk: g")
    nodes = check_node_ids(nodes, g.num_nodes(), "random_walk: nodes", g.device)
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise ValueError(f"random_walk: length must be a non-negative int, got {length!r}")
    for name, value in (("p", p), ("q", q)):
        if not float(value) > 0:
            raise ValueError(f"random_walk: {name} must be > 0, got {value!r}")
    if not 0.0 <= float(restart_prob) < 1.0:
        raise ValueError(f"random_walk: restart_prob must be in [0, 1), got {restart_prob!r}")
    node2vec = p != 1.0 or q != 1.0
    if node2vec and prob is not None:
        raise ValueError("random_walk: prob (weighted steps) cannot be combined with node2vec p/q")
    view = g.sparse.out_csr()
    weights_cum = None
    if prob is not None:
        if isinstance(prob, str):
            prob = g.edata[prob]
        if not isinstance(prob, torch.Tensor) or prob.shape != (g.num_edges(),):
            raise ValueError(f"random_walk: prob must be a [{g.num_edges()}] tensor of edge weights")
        weights_cum = torch.cumsum(view.permute(prob.to(torch.float64)), 0)
    edge_keys = _sorted_edge_keys(g) if node2vec else None
    num_walkers = nodes.numel()
    traces = torch.full((num_walkers, length + 1), -1, dtype=torch.int64, device=g.device)
    traces[:, 0] = nodes
    current = nodes.clone()
    previous = torch.full_like(nodes, -1)
    alive = torch.ones(num_walkers, dtype=torch.bool, device=g.device)
    for step in range(1, length + 1):
        if restart_prob > 0:
            jump = torch.rand(num_walkers, device=g.device, generator=generator) < restart_prob
            current = torch.where(jump & alive, nodes, current)
            previous = torch.where(jump, -1, previous)
        start = view.indptr.index_select(0, current.clamp(min=0))
        degree = view.indptr.index_select(0, current.clamp(min=0) + 1) - start
        alive = alive & (degree > 0)
        if weights_cum is not None:
            nxt = _weighted_step(view, weights_cum, start, degree, generator)
        else:
            nxt = _uniform_step(view, start, degree, generator)
        if node2vec:
            nxt = _node2vec_correct(view, edge_keys, g.num_nodes(), start, degree, previous, nxt, alive, p, q, generator)
        nxt = torch.where(alive, nxt, -1)
        previous = torch.where(alive, current, -1)
        current = nxt
        traces[:, step] = nxt
    return traces


def _uniform_step(view, start, degree, generator):
    draw = torch.rand(start.numel(), dtype=torch.float64, device=start.device, generator=generator)
    offset = (draw * degree.to(torch.float64)).to(torch.int64).clamp(max=(degree - 1).clamp(min=0))
    return view.indices.index_select(0, (start + offset).clamp(max=max(view.indices.numel() - 1, 0)))


def _weighted_step(view, weights_cum, start, degree, generator):
    before = torch.where(start > 0, weights_cum.index_select(0, (start - 1).clamp(min=0)), torch.zeros_like(weights_cum[:1]).expand(start.numel()))
    end = (start + degree - 1).clamp(min=0)
    total = weights_cum.index_select(0, end) - before
    target = before + torch.rand(start.numel(), dtype=torch.float64, device=start.device, generator=generator) * total
    pick = torch.searchsorted(weights_cum, target, right=True)
    pick = torch.minimum(torch.maximum(pick, start), end)
    return view.indices.index_select(0, pick.clamp(max=max(view.indices.numel() - 1, 0)))


def _node2vec_correct(view, edge_keys, n, start, degree, previous, proposal, alive, p, q, generator):
    """Rejection sampling of the node2vec second-order step for walkers that have a previous node."""
    max_weight = max(1.0 / p, 1.0, 1.0 / q)
    result = proposal.clone()
    pending = torch.nonzero(alive & (previous >= 0)).squeeze(1)
    for _ in range(_MAX_REJECTION_ROUNDS):
        if pending.numel() == 0:
            break
        x = result.index_select(0, pending)
        t = previous.index_select(0, pending)
        key = t * n + x
        pos = torch.searchsorted(edge_keys, key).clamp(max=max(edge_keys.numel() - 1, 0))
        is_neighbour = edge_keys.index_select(0, pos) == key
        weight = torch.where(x == t, 1.0 / p, torch.where(is_neighbour, 1.0, 1.0 / q))
        accept = torch.rand(pending.numel(), dtype=torch.float64, device=x.device, generator=generator) * max_weight < weight
        pending = pending[~accept]
        if pending.numel():
            result[pending] = _uniform_step(view, start.index_select(0, pending), degree.index_select(0, pending), generator)
    return result


def node2vec_random_walk(g: Graph, nodes, length: int, p: float, q: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """node2vec walks (``random_walk`` with return parameter ``p`` and in-out parameter ``q``)."""
    return random_walk(g, nodes, length, p=p, q=q, generator=generator)
